"""Issue 6's experiment: size vs accuracy (float and full-integer int8) of compressed GRU
students of a GRU-128 teacher on `watch` (held-out subjects 8-10).

Per seed: a GRU-128 teacher (``edgegru train`` defaults). Per hidden budget H, students trained
on the 7 training subjects:
  labels         GRU-H from the labels (``edgegru train`` defaults; the baseline)
  distill-prune  the recipe (``edgegru distill --hidden H --prune-from S``): GRU-S,
                 S = round(1.1 H), distilled from the teacher with DistillConfig's defaults
                 (function matching: teacher and student see the same jittered, mixed-up
                 inputs; KL only, T = 4, 80 epochs), then pruned to H units and fine-tuned
                 10 epochs by the teacher
and, with --methods: ``distill`` (straight to H, same settings), ``prune`` (the teacher itself
pruned to H in 3 rounds x 10 epochs, fine-tuned with it as teacher, mixup 0.5).
Every student is scored in float and after full-integer PTQ (``edgegru quantize --scheme
static`` defaults) by the NumPy int8 reference in XNNPACK's arithmetic, which is bit-exact with
LiteRT's int8 file under its default delegate (tests/export/test_tflite_int8.py).

Every run is cached as one JSON under --work, so seeds can run as separate processes and
``--collect`` writes bench/results/compress.json and docs/compression.png
(docs/compression.md's plot).

    .venv/bin/python -m bench.compress --seeds 0,1,2 && .venv/bin/python -m bench.compress --collect
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import time
from pathlib import Path
from typing import Any

import numpy as np

from bench.timing import write_results

HIDDEN = (29, 16, 48, 8)  # the 4 KB budget (b) first
METHODS = ("labels", "distill-prune")
TEACHER_H = 128
PRUNE_FROM = 1.1  # the recipe's distilled width, x H (29 -> 32)
# (b): at most 4,000 bytes of int8 parameters (as the int8 file stores them: ModelSpec.int8_bytes)
BUDGET_B_BYTES, BUDGET_B_ACC = 4000, 0.845
PLOT = Path(__file__).resolve().parent.parent / "docs" / "compression.png"


def teacher(ds, seed: int, work: Path):
    from edgegru.bundle import load_bundle
    from edgegru.train import TrainConfig, train
    from edgegru.types import ModelSpec

    out = work / f"teacher-gru{TEACHER_H}-s{seed}"
    if (out / "model.json").exists():
        return load_bundle(out)
    spec = ModelSpec("gru", ds.num_features, TEACHER_H, ds.num_outputs, task=ds.task)
    return train(spec, ds, TrainConfig(seed=seed), out).bundle


def student(method: str, hidden: int, seed: int, ds, work: Path):
    from edgegru.compress import Distillation, DistillConfig, StructuredPruneConfig, distill, prune_
    from edgegru.compress.distill import default_distill_train
    from edgegru.train import TrainConfig, train
    from edgegru.types import ModelSpec

    spec = ModelSpec("gru", ds.num_features, hidden, ds.num_outputs, task=ds.task)
    out = work / f"{method}-h{hidden}-s{seed}"
    kd_train = dataclasses.replace(default_distill_train(), seed=seed)
    if method == "labels":
        return train(spec, ds, TrainConfig(seed=seed), out).bundle
    if method == "distill":
        return distill(teacher(ds, seed, work), spec, ds, DistillConfig(train=kd_train), out).bundle
    if method == "distill-prune":
        cfg = DistillConfig(prune_from=round(PRUNE_FROM * hidden), train=kd_train)
        return distill(teacher(ds, seed, work), spec, ds, cfg, out).bundle
    if method == "prune":
        t = teacher(ds, seed, work)
        bundle = dataclasses.replace(t, weights=dict(t.weights))
        cfg = StructuredPruneConfig(hidden_size=hidden, steps=3, finetune_epochs=10)
        kd = DistillConfig()
        ft = dataclasses.replace(kd_train, lr=kd.prune_lr)
        return prune_(bundle, cfg, ds, train=ft, objective=Distillation.from_config(t, kd))
    raise ValueError(f"unknown method {method!r}")


def int8_accuracy(bundle, ds) -> dict[str, float]:
    """Full-integer PTQ with `edgegru quantize --scheme static`'s defaults, scored by the NumPy
    int8 reference: `xnnpack` is what LiteRT computes under XNNPACK (its default), `reference`
    what its reference kernels compute (`edgegru quantize` prints that one)."""
    from edgegru.quantize import QuantizeConfig, quantize_
    from edgegru.quantize.reference import predict_int8

    q = quantize_(dataclasses.replace(bundle, weights=dict(bundle.weights)), QuantizeConfig(), ds)
    return {
        f"int8_accuracy_{mode}": float(
            np.mean(predict_int8(q, ds.test.X, ds.test.lengths, mode).argmax(1) == ds.test.y)
        )
        for mode in ("xnnpack", "reference")
    }


def run(method: str, hidden: int, seed: int, ds, work: Path) -> dict[str, Any]:
    from edgegru.compress import model_sizes
    from edgegru.evaluate import evaluate

    t0 = time.perf_counter()
    bundle = student(method, hidden, seed, ds, work)
    return {
        "method": method,
        "hidden": bundle.spec.hidden_size,
        "seed": seed,
        **model_sizes(bundle.spec),
        "accuracy": evaluate(bundle, ds)["accuracy"],
        **int8_accuracy(bundle, ds),
        "seconds": round(time.perf_counter() - t0, 1),
    }


def run_seed(seed: int, work: Path, hidden: tuple[int, ...], methods: tuple[str, ...]) -> None:
    import torch

    from edgegru.datasets import load_dataset
    from edgegru.evaluate import evaluate

    torch.set_num_threads(1)
    ds = load_dataset("watch")
    t = teacher(ds, seed, work)
    cached(work / f"row-teacher-s{seed}.json", lambda: {
        "method": "teacher", "hidden": TEACHER_H, "seed": seed,
        "parameters": t.spec.num_parameters(), "float32_bytes": 4 * t.spec.num_parameters(),
        "int8_bytes": t.spec.int8_bytes(), "accuracy": evaluate(t, ds)["accuracy"],
    })  # fmt: skip
    for h in hidden:
        for method in methods:
            row = cached(
                work / f"row-{method}-h{h}-s{seed}.json",
                lambda m=method, h=h: run(m, h, seed, ds, work),
            )
            print(json.dumps(row), flush=True)


def cached(path: Path, make) -> dict[str, Any]:
    if path.exists():
        return json.loads(path.read_text())
    row = make()
    path.write_text(json.dumps(row))
    return row


def _mean(rows: list[dict[str, Any]], key: str) -> float | None:
    vals = [r[key] for r in rows if r.get(key) is not None]
    return float(np.mean(vals)) if vals else None


def summarize(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    groups: dict[tuple[str, int], list[dict[str, Any]]] = {}
    for r in rows:
        groups.setdefault((r["method"], r["hidden"]), []).append(r)
    summary = []
    for (method, hidden), group in sorted(groups.items()):
        rs = sorted(group, key=lambda r: r["seed"])
        first = rs[0]
        summary.append({
            "method": method, "hidden": hidden, "seeds": [r["seed"] for r in rs],
            "parameters": first["parameters"], "float32_bytes": first["float32_bytes"],
            "int8_bytes": first["int8_bytes"],
            "accuracies": [r["accuracy"] for r in rs],
            "accuracy_mean": _mean(rs, "accuracy"),
            "accuracy_std": float(np.std([r["accuracy"] for r in rs])),
            "int8_accuracies": [r.get("int8_accuracy_xnnpack") for r in rs],
            "int8_accuracy_mean": _mean(rs, "int8_accuracy_xnnpack"),
            "int8_reference_accuracy_mean": _mean(rs, "int8_accuracy_reference"),
        })  # fmt: skip
    return summary


def checks(summary: list[dict[str, Any]]) -> dict[str, Any]:
    """Issue 6's Done-when, on means over seeds, float AND int8."""
    t = next(s for s in summary if s["method"] == "teacher")
    students = [s for s in summary if s["method"] != "teacher" and s["int8_accuracy_mean"]]

    def meets(s: dict[str, Any], max_bytes: float, min_acc: float) -> bool:
        return s["int8_bytes"] <= max_bytes and min(
            s["accuracy_mean"], s["int8_accuracy_mean"], s["int8_reference_accuracy_mean"]
        ) >= min_acc

    budget_a, min_a = t["float32_bytes"] / 20, t["accuracy_mean"] - 0.01
    a = [s for s in students if meets(s, budget_a, min_a)]
    b = [s for s in students if meets(s, BUDGET_B_BYTES, BUDGET_B_ACC)]
    return {
        "a": {
            "rule": "int8 bytes <= teacher float32 bytes / 20 at >= teacher accuracy - 0.01 "
            "(mean over seeds; float and int8)",
            "budget_bytes": budget_a, "min_accuracy": min_a, "holds": bool(a),
            "meeting": [(s["method"], s["hidden"]) for s in a],
        },
        "b": {
            "rule": f"int8 bytes <= {BUDGET_B_BYTES} at accuracy >= {BUDGET_B_ACC} "
            "(mean over seeds; float and int8)",
            "holds": bool(b), "meeting": [(s["method"], s["hidden"]) for s in b],
        },
    }  # fmt: skip


def collect(work: Path) -> None:
    rows = [json.loads(p.read_text()) for p in sorted(work.glob("row-*.json"))]
    summary = summarize(rows)
    result = checks(summary)
    path = write_results("compress", {"summary": summary, "rows": rows, "checks": result})
    plot(summary, PLOT)
    print(path, PLOT)
    for s in summary:
        q = s["int8_accuracy_mean"]
        print(
            f"{s['method']:13} H={s['hidden']:3} int8 bytes={s['int8_bytes']:6} "
            f"float={s['accuracy_mean']:.4f}+-{s['accuracy_std']:.4f} "
            f"int8={'-' if q is None else f'{q:.4f}'} n={len(s['seeds'])}"
        )
    print(json.dumps(result, indent=1))


def plot(summary: list[dict[str, Any]], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import matplotlib.ticker

    t = next(s for s in summary if s["method"] == "teacher")
    fig, ax = plt.subplots(figsize=(7.5, 4.8))
    methods = sorted({s["method"] for s in summary} - {"teacher"})
    for k, method in enumerate(methods):
        pts = sorted((s for s in summary if s["method"] == method), key=lambda s: s["int8_bytes"])
        x = [s["int8_bytes"] / 1024 for s in pts]
        color = f"C{k}"
        ax.errorbar(x, [s["accuracy_mean"] for s in pts], yerr=[s["accuracy_std"] for s in pts],
                    marker="o", color=color, capsize=3, label=f"{method}, float")  # fmt: skip
        ax.plot(x, [s["int8_accuracy_mean"] for s in pts], "s--", color=color, mfc="none",
                label=f"{method}, int8 (full integer)")  # fmt: skip
        for s, xi in zip(pts, x, strict=True):
            ax.annotate(f"H={s['hidden']}", (xi, s["accuracy_mean"]), fontsize=7,
                        xytext=(3, 4), textcoords="offset points")  # fmt: skip
    ax.axhline(t["accuracy_mean"], color="k", ls="--", lw=1,
               label=f"GRU-128 teacher, float32 {t['float32_bytes'] / 1024:.0f} KiB "
               f"({t['accuracy_mean']:.3f})")  # fmt: skip
    ax.axhline(BUDGET_B_ACC, color="tab:purple", ls=":", lw=1, label=f"(b) {BUDGET_B_ACC}")
    ax.axvline(BUDGET_B_BYTES / 1024, color="tab:purple", ls=":", lw=1, label="(b) 4,000 B")
    ax.axvline(t["float32_bytes"] / 20 / 1024, color="tab:red", ls=":", lw=1,
               label="(a) 1/20 of the teacher's float32 bytes")  # fmt: skip
    ax.set_xscale("log")
    ax.set_xticks([0.5, 1, 2, 4, 8, 16])
    ax.xaxis.set_major_formatter(matplotlib.ticker.ScalarFormatter())
    ax.set_xlabel("int8 parameter bytes (KiB; int8 weights, int32 biases)")
    ax.set_ylabel("accuracy, held-out subjects 8-10")
    n = max(len(s["seeds"]) for s in summary)
    ax.set_title(f"watch: GRU students of a GRU-128 (mean +- std over {n} seeds)", fontsize=10)
    ax.legend(fontsize=7, loc="lower right")
    ax.grid(alpha=0.3, which="both")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)
    plt.close(fig)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--seeds", default="0,1,2", help="comma-separated seeds to run")
    ap.add_argument("--hidden", default=",".join(map(str, HIDDEN)))
    ap.add_argument("--methods", default=",".join(METHODS),
                    help="of labels, distill-prune, distill, prune")  # fmt: skip
    ap.add_argument("--work", type=Path, default=Path("runs/bench-compress"))
    ap.add_argument("--collect", action="store_true", help="aggregate cached runs and plot")
    args = ap.parse_args()
    args.work.mkdir(parents=True, exist_ok=True)
    if args.collect:
        collect(args.work)
        return
    hidden = tuple(int(h) for h in args.hidden.split(","))
    for seed in (int(s) for s in args.seeds.split(",")):
        run_seed(seed, args.work, hidden, tuple(args.methods.split(",")))


if __name__ == "__main__":
    main()
