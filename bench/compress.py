"""Issue 6's closing experiment: size vs accuracy of compressed students of a GRU-128 on `watch`.

For each seed: a GRU-128 teacher; then per hidden budget H three students, all trained on the 7
training subjects (val_fraction 0) and scored on held-out subjects 8-10:
  labels      GRU-H trained from the labels only (the baseline)
  distill     GRU-H distilled from the teacher (edgegru.compress.distill)
  prune       the teacher structurally pruned to H in 3 rounds, each fine-tuned with distillation
and, with --methods: `prune-labels` (pruned, fine-tuned on the labels only), `distill-T-alpha`
(e.g. distill-2-0.5: other distillation settings), `sparse90` (the teacher magnitude-pruned to
90%, fine-tuned with itself as teacher; dense size unchanged, gzip reported).

Every run is cached as one JSON under --work, so seeds can run as parallel processes
(``--seeds 0``, ``--seeds 1``, ...) and ``--collect`` then writes bench/results/compress.json and
bench/results/compress_curve.png.

    .venv/bin/python bench/compress.py --seeds 0 &  .venv/bin/python bench/compress.py --seeds 1
    .venv/bin/python bench/compress.py --collect
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import time
from pathlib import Path
from typing import Any

import numpy as np

from bench.timing import RESULTS, write_results

HIDDEN = (28, 48, 16, 24, 32, 8, 12, 20)  # the two Done-when budgets first
METHODS = ("labels", "distill", "prune")
TEACHER_H = 128
EPOCHS = 30
# (b): at most 4 KiB of int8 parameters (int8 weights, int32 biases)
BUDGET_B_BYTES, BUDGET_B_ACC = 4096, 0.845


def train_cfg(seed: int, epochs: int = EPOCHS):
    from edgegru.train import TrainConfig

    return TrainConfig(epochs=epochs, val_fraction=0.0, jitter=0.1, seed=seed)


def teacher(ds, seed: int, work: Path):
    from edgegru.bundle import load_bundle
    from edgegru.train import train
    from edgegru.types import ModelSpec

    out = work / f"teacher-gru{TEACHER_H}-s{seed}"
    if (out / "model.json").exists():
        return load_bundle(out)
    spec = ModelSpec("gru", ds.num_features, TEACHER_H, ds.num_outputs, task=ds.task)
    return train(spec, ds, train_cfg(seed), out).bundle


def run(method: str, hidden: int, seed: int, ds, work: Path) -> dict[str, Any]:
    from edgegru.compress import (
        Distillation,
        DistillConfig,
        StructuredPruneConfig,
        UnstructuredPruneConfig,
        distill,
        model_sizes,
        prune_,
        sparsity_report,
    )
    from edgegru.evaluate import evaluate
    from edgegru.train import train
    from edgegru.types import ModelSpec

    t0 = time.perf_counter()
    spec = ModelSpec("gru", ds.num_features, hidden, ds.num_outputs, task=ds.task)
    out = work / f"{method}-h{hidden}-s{seed}"
    extra: dict[str, Any] = {}
    if method == "labels":
        bundle = train(spec, ds, train_cfg(seed), out).bundle
    elif method.startswith("distill"):  # distill, or distill-T-alpha (e.g. distill-2-0.5)
        _, *opts = method.split("-")
        ta = {"temperature": float(opts[0]), "alpha": float(opts[1])} if opts else {}
        cfg = DistillConfig(train=train_cfg(seed), **ta)
        bundle = distill(teacher(ds, seed, work), spec, ds, cfg, out).bundle
    elif method in ("prune", "prune-labels"):  # fine-tuned with the teacher / labels only
        t = teacher(ds, seed, work)
        bundle = dataclasses.replace(t, weights=dict(t.weights))
        cfg = StructuredPruneConfig(hidden_size=hidden, steps=3, finetune_epochs=10)
        objective = Distillation(t) if method == "prune" else None
        prune_(bundle, cfg, ds, train=_ft(seed), objective=objective)
    elif method == "sparse90":
        t = teacher(ds, seed, work)
        bundle = dataclasses.replace(t, weights=dict(t.weights))
        prune_(bundle, UnstructuredPruneConfig(0.9, finetune_epochs=12), ds,
               train=_ft(seed), objective=Distillation(t))  # fmt: skip
        extra = sparsity_report(bundle)
    else:
        raise ValueError(method)
    acc = evaluate(bundle, ds)["accuracy"]
    return {
        "method": method,
        "hidden": bundle.spec.hidden_size,
        "seed": seed,
        **model_sizes(bundle.spec),
        "accuracy": acc,
        "seconds": round(time.perf_counter() - t0, 1),
        **{k: v for k, v in extra.items() if k.endswith(("gzip_bytes_estimate", "gzip_bytes"))},
        **({"sparsity": extra["matrix_sparsity"]} if extra else {}),
    }


def _ft(seed: int):
    from edgegru.compress import default_finetune_config

    return dataclasses.replace(default_finetune_config(seed), lr=3e-3)


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
        "int8_bytes": None, "accuracy": evaluate(t, ds)["accuracy"],
    })  # fmt: skip
    jobs = [(m, h) for h in hidden for m in methods]
    for method, h in jobs:
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


def collect(work: Path) -> None:
    rows = [json.loads(p.read_text()) for p in sorted(work.glob("row-*.json"))]
    groups: dict[tuple[str, int], list[dict[str, Any]]] = {}
    for r in rows:
        groups.setdefault((r["method"], r["hidden"]), []).append(r)
    summary = []
    for (method, hidden), rs in sorted(groups.items()):
        accs = [r["accuracy"] for r in rs]
        first = rs[0]
        summary.append({
            "method": method, "hidden": hidden, "seeds": sorted(r["seed"] for r in rs),
            "parameters": first["parameters"], "float32_bytes": first["float32_bytes"],
            "int8_bytes": first["int8_bytes"], "accuracy_mean": float(np.mean(accs)),
            "accuracy_std": float(np.std(accs)), "accuracies": accs,
            **{k: first[k] for k in first if "gzip" in k or k == "sparsity"},
        })  # fmt: skip
    teacher_row = next(s for s in summary if s["method"] == "teacher")
    students = [s for s in summary if s["method"] not in ("teacher", "sparse90")]
    budget_a = teacher_row["float32_bytes"] / 20
    a = [s for s in students if s["int8_bytes"] <= budget_a
         and s["accuracy_mean"] >= teacher_row["accuracy_mean"] - 0.01]  # fmt: skip
    b = [s for s in students if s["int8_bytes"] <= BUDGET_B_BYTES
         and s["accuracy_mean"] >= BUDGET_B_ACC]  # fmt: skip
    b_params = [s for s in students if s["parameters"] <= BUDGET_B_BYTES
                and s["accuracy_mean"] >= BUDGET_B_ACC]  # fmt: skip
    checks = {
        "a": {
            "rule": "int8 bytes <= teacher float32 bytes / 20 at >= teacher accuracy - 0.01",
            "budget_bytes": budget_a,
            "min_accuracy": teacher_row["accuracy_mean"] - 0.01,
            "holds": bool(a),
            "meeting": [(s["method"], s["hidden"]) for s in a],
        },
        "b": {
            "rule": f"int8 bytes <= {BUDGET_B_BYTES} at accuracy >= {BUDGET_B_ACC}",
            "holds": bool(b),
            "meeting": [(s["method"], s["hidden"]) for s in b],
        },
        "b_by_parameters": {
            "rule": f"<= {BUDGET_B_BYTES} parameters (int8 weights AND biases at 1 byte) "
            f"at accuracy >= {BUDGET_B_ACC}",
            "holds": bool(b_params),
            "meeting": [(s["method"], s["hidden"]) for s in b_params],
        },
    }
    path = write_results("compress", {"summary": summary, "rows": rows, "checks": checks})
    plot(summary, teacher_row, RESULTS / "compress_curve.png")
    print(path)
    for s in summary:
        print(
            f"{s['method']:9} H={s['hidden']:3} params={s['parameters']:6} "
            f"int8={s['int8_bytes']!s:6} acc={s['accuracy_mean']:.4f}+-{s['accuracy_std']:.4f} "
            f"n={len(s['seeds'])}"
        )
    print(json.dumps(checks, indent=1))


def plot(summary: list[dict[str, Any]], teacher_row: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import matplotlib.ticker

    fig, ax = plt.subplots(figsize=(7, 4.5))
    for method, marker in zip(METHODS, "osD", strict=True):
        pts = sorted((s for s in summary if s["method"] == method), key=lambda s: s["int8_bytes"])
        if pts:
            ax.errorbar(
                [s["int8_bytes"] / 1024 for s in pts],
                [s["accuracy_mean"] for s in pts],
                yerr=[s["accuracy_std"] for s in pts],
                marker=marker, capsize=3, label=f"GRU-H, {method}",
            )  # fmt: skip
    for s in summary:  # one-off variants (e.g. distill-2-0.5, prune-labels) as single points
        if s["method"] not in (*METHODS, "teacher", "sparse90"):
            ax.plot(s["int8_bytes"] / 1024, s["accuracy_mean"], "x", ms=7,
                    label=f"GRU-{s['hidden']} {s['method']} (n={len(s['seeds'])})")  # fmt: skip
    t_acc = teacher_row["accuracy_mean"]
    ax.axhline(t_acc, color="k", ls="--", lw=1, label=f"GRU-128 teacher (float32, {t_acc:.3f})")
    ax.axhline(t_acc - 0.01, color="k", ls=":", lw=1, label="teacher - 1 pt")
    ax.axvline(teacher_row["float32_bytes"] / 20 / 1024, color="tab:red", ls=":", lw=1,
               label="1/20 of teacher float32 bytes")  # fmt: skip
    ax.axvline(BUDGET_B_BYTES / 1024, color="tab:purple", ls=":", lw=1, label="4 KiB")
    ax.set_xscale("log")
    ax.set_xticks([0.5, 1, 2, 4, 8, 16])
    ax.xaxis.set_major_formatter(matplotlib.ticker.ScalarFormatter())
    ax.set_xlabel("int8 parameter bytes (KiB; int8 weights, int32 biases)")
    ax.set_ylabel("accuracy, held-out subjects 8-10")
    ax.set_title("watch: compressed GRU students of a GRU-128 (mean +- std over seeds)")
    ax.legend(fontsize=7, loc="lower right")
    ax.grid(alpha=0.3, which="both")
    fig.tight_layout()
    fig.savefig(path, dpi=120)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--seeds", default="0", help="comma-separated seeds to run in this process")
    ap.add_argument("--hidden", default=",".join(map(str, HIDDEN)))
    ap.add_argument("--methods", default=",".join(METHODS), help=f"of {METHODS} and sparse90")
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
