"""The report of a pipeline run: ``report.md``, ``results.json`` and PNG plots in OUTDIR.

Rendered from the stages' manifests alone, so ``edgegru report OUTDIR`` re-renders it at any time
without re-running anything.
"""

from __future__ import annotations

import contextlib
import json
import platform
from pathlib import Path
from typing import Any

from edgegru import __version__
from edgegru.errors import BadInput
from edgegru.io import atomic_write_json, atomic_write_text
from edgegru.pipeline.executor import MANIFEST


def collect(out: Path) -> dict[str, Any]:
    """Every completed stage's manifest, plus the environment."""
    if not out.is_dir():
        raise BadInput(f"{out} is not a pipeline output folder")
    from edgegru.pipeline.executor import ORDER

    stages = {}
    rank = {name: i for i, name in enumerate(ORDER)}
    manifests = sorted(out.glob(f"*/{MANIFEST}"), key=lambda m: rank.get(m.parent.name, len(rank)))
    for manifest in manifests:
        try:
            data = json.loads(manifest.read_text())
        except (OSError, ValueError, RecursionError) as e:
            raise BadInput(f"{manifest}: unreadable ({type(e).__name__}: {e})") from None
        _check_manifest(manifest, data)
        stages[data["stage"]] = data
    if not stages:
        raise BadInput(f"{out} holds no pipeline results (no */{MANIFEST})")
    return {"edgegru_version": __version__, "environment": _environment(), "stages": stages}


_MANIFEST_FIELDS = {"stage": str, "fingerprint": str, "outputs": dict, "files": dict}


def _check_manifest(path: Path, data: Any) -> None:
    """The fields the report reads, with their types (a stage.json edited by hand or damaged
    fails with one line naming the field)."""
    if not isinstance(data, dict):
        raise BadInput(f"{path}: a stage manifest must be a JSON object")
    for key, kind in _MANIFEST_FIELDS.items():
        if not isinstance(data.get(key), kind):
            raise BadInput(f"{path}: {key} must be a {kind.__name__}; re-run the pipeline")
    if data["stage"] != path.parent.name:
        raise BadInput(f"{path}: stage {data['stage']!r} in the folder of {path.parent.name}")
    for key in ("artifacts", "rows"):
        items = data["outputs"].get(key, [])
        if not isinstance(items, list) or not all(isinstance(r, dict) for r in items):
            raise BadInput(f"{path}: outputs.{key} must be a list of objects; re-run the pipeline")


def _cpu_model() -> str:
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return ""


def _environment() -> dict[str, Any]:
    versions = {}
    for mod in ("numpy", "torch", "onnxruntime", "ai_edge_litert"):
        try:
            versions[mod] = __import__(mod).__version__
        except Exception:  # a missing runtime is reported as such
            versions[mod] = None
    return {
        "machine": platform.machine(),
        "cpu": _cpu_model(),
        "python": platform.python_version(),
        "versions": versions,
    }


def artifact_rows(results: dict[str, Any]) -> list[dict[str, Any]]:
    """One row per exported artifact, joined with its check results where a check ran."""
    stages = results["stages"]
    rows = [dict(a) for a in stages.get("export", {}).get("outputs", {}).get("artifacts", [])]
    checks = stages.get("check", {}).get("outputs", {}).get("rows", [])
    for row in rows:
        row["checks"] = [c for c in checks if c.get("file") == row["file"]]
    return rows


def _fmt(v: Any, digits: int = 4) -> str:
    if v is None:
        return "-"
    if isinstance(v, float):
        return f"{v:.{digits}f}"
    return str(v)


def render_markdown(results: dict[str, Any], plots: list[str]) -> str:
    stages = results["stages"]
    lines = ["# edgegru pipeline report", ""]
    train = stages.get("train", {}).get("outputs", {})
    if train:
        spec = train["spec"]
        metrics = ", ".join(
            f"{k} {_fmt(v)}" for k, v in train["test_metrics"].items() if k not in ("task", "n")
        )
        lines += [
            f"Model: {spec['cell']} x{spec['num_layers']}, hidden {spec['hidden_size']}, head "
            f"{spec['head']}, {train['parameters']:,} parameters, trained on `{train['dataset']}`.",
            "",
            f"Float model on the test split: {metrics}",
            "",
        ]
        if "optimizer_steps" in train:
            lines += [f"Training: {train['epochs_run']} epochs, {train['optimizer_steps']:,} "
                      f"optimizer steps of batch {train['batch_size']}.", ""]  # fmt: skip
        if train.get("warning"):
            lines += [f"**Warning:** {train['warning']}", ""]
    comp = stages.get("compress", {}).get("outputs", {})
    if comp.get("curve"):
        lines += ["## Compression", "",
                  f"{comp['method']} to H={comp['hidden']} and the other sizes of the curve; "
                  f"deployed (quantized, exported, checked): the {comp.get('deploy', 'compressed')}"
                  " model.", "",
                  "| model | H | parameters | float32 KB | int8 KB | accuracy / RMSE |",
                  "|---|---|---|---|---|---|"]  # fmt: skip
        for p in comp["curve"]:
            score = p.get("accuracy", p.get("rmse"))
            lines.append(f"| {p['model']} | {p['hidden']} | {p['parameters']:,} | "
                         f"{p['float32_bytes'] / 1024:.1f} | {p['int8_bytes'] / 1024:.1f} | "
                         f"{_fmt(score)} |")  # fmt: skip
        lines.append("")
    quant = stages.get("quantize", {}).get("outputs", {})
    if quant.get("schemes") or quant.get("skipped"):
        lines += ["## int8", "",
                  "Host-side: the float model vs its int8 form (static/qat: the NumPy int8 "
                  "reference of LiteRT's integer kernels; dynamic: int8-rounded weights).", "",
                  "| scheme | float | int8 | same class as float | logit SQNR dB |",
                  "|---|---|---|---|---|"]  # fmt: skip
        for scheme, q in quant.get("schemes", {}).items():
            key = "accuracy" if "accuracy" in q["float"] else "rmse"
            lines.append(f"| {scheme} | {key} {_fmt(q['float'][key])} | {_fmt(q['int8'][key])} | "
                         f"{_fmt(q.get('agreement'))} | {_fmt(q['sqnr_db'], 1)} |")  # fmt: skip
        lines += [
            f"| {scheme} | skipped: {why} | | | |"
            for scheme, why in quant.get("skipped", {}).items()
        ]
        lines.append("")
    rows = artifact_rows(results)
    if rows:
        columns = ("file", "format", "form", "precision", "size KB", "nodes/ops", "target", "n",
                   "accuracy", "float model", "agreement", "max abs err", "window invoke p50 us",
                   "p90 us", "call p50 us", "peak RSS MB")  # fmt: skip
        lines += ["## Artifacts", "", "| " + " | ".join(columns) + " |",
                  "|" + "---|" * len(columns)]  # fmt: skip
        for r in rows:
            base = (f"| {r['file']} | {r['format']} | {r['form']} | {r['precision']} | "
                    f"{r['size_bytes'] / 1024:.1f} | {_fmt(r.get('nodes'))} |")  # fmt: skip
            for c in r["checks"] or [{}]:
                lines.append(
                    base + f" {c.get('target', '-')} | {_fmt(c.get('n'))} | "
                    f"{_fmt(c.get('accuracy'))} | {_fmt(c.get('reference_accuracy'))} | "
                    f"{_fmt(c.get('agreement'))} | {_fmt(c.get('max_abs_error'), 6)} | "
                    f"{_fmt(c.get('p50_us'), 1)} | {_fmt(c.get('p90_us'), 1)} | "
                    f"{_fmt(_call_p50(c), 1)} | {_fmt(c.get('peak_rss_mb'), 1)} |"
                )
        lines += ["", LATENCY_NOTE, ""]
    lines += mcu_section(rows)
    skipped = stages.get("export", {}).get("outputs", {}).get("skipped", [])
    if skipped:
        lines += ["Not exported (the writer does not support it yet):", ""]
        lines += [f"- {s}" for s in skipped] + [""]
    if any(c.get("emulated") for r in rows for c in r["checks"]):
        note = (
            "Timings on emulated targets (qemu-aarch64) are not device timings: they show that "
            "the file runs and gives these outputs on aarch64, nothing about speed."
        )
        lines += [note, ""]
    checked = stages.get("check", {}).get("outputs", {})
    padded = [c for c in checked.get("rows", []) if c.get("padded_rows")]
    if padded:
        files = ", ".join(dict.fromkeys(c["file"] for c in padded))
        counts = ", ".join(dict.fromkeys(f"{c['padded_rows']} of {c['n']} rows on {c['target']}"
                                         for c in padded))  # fmt: skip
        lines += [f"Fixed-T files without a length input ({files}) ran the rows shorter than T "
                  f"over their zero padding, as on a device ({counts}): their accuracy and "
                  "agreement are against the float model on the rows with their lengths, their "
                  "max abs error against it over the same padding.", ""]  # fmt: skip
    if checked.get("failures"):
        from edgegru.targets.check import broken_table

        header, broken = broken_table(checked.get("broken", []), len(checked.get("rows", [])))
        lines += ["**Budgets broken** (every file and target: results.json):", "",
                  "| " + " | ".join(header) + " |", "|" + "---|" * len(header)]  # fmt: skip
        lines += ["| " + " | ".join(b) + " |" for b in broken] + [""]
    lines += ["## Stages", "", "| stage | seconds |", "|---|---|"]
    lines += [f"| {name} | {s.get('seconds', 0):.1f} |" for name, s in stages.items()]
    lines.append("")
    for p in plots:
        lines += [f"![{p}]({p})", ""]
    env = results["environment"]
    versions = ", ".join(f"{k} {v}" for k, v in env["versions"].items() if v)
    lines += ["## Environment", "",
              f"edgegru {results['edgegru_version']}; Python {env['python']} on {env['machine']} "
              f"({env['cpu'] or 'unknown CPU'}); {versions}.", ""]  # fmt: skip
    return "\n".join(lines)


def render_plots(out: Path, results: dict[str, Any]) -> list[str]:
    """PNG plots next to report.md; their file names."""
    import matplotlib

    matplotlib.use("Agg")  # no display on servers and CI
    import matplotlib.pyplot as plt

    names: list[str] = []
    history_file = out / "train" / "metrics.json"
    if history_file.is_file():
        history = json.loads(history_file.read_text()).get("history", [])
        if history:
            fig, ax = plt.subplots(figsize=(6, 3.5))
            ax.plot([h["epoch"] for h in history], [h["loss"] for h in history], label="loss")
            ax.set_xlabel("epoch")
            ax.set_ylabel("training loss")
            ax.set_title("Training")
            fig.tight_layout()
            _save(fig, out / "training.png")
            plt.close(fig)
            names.append("training.png")
    curve = results["stages"].get("compress", {}).get("outputs", {}).get("curve", [])
    if curve and "accuracy" in curve[0]:
        fig, ax = plt.subplots(figsize=(6, 3.5))
        pts = sorted(curve, key=lambda p: p["int8_bytes"])
        ax.plot([p["int8_bytes"] / 1024 for p in pts], [p["accuracy"] for p in pts], "o-")
        for p in pts:
            ax.annotate(f"H={p['hidden']}", (p["int8_bytes"] / 1024, p["accuracy"]), fontsize=8)
        ax.set_xlabel("int8 parameter bytes (KB)")
        ax.set_ylabel("test accuracy (float)")
        ax.set_title("Compression: size vs accuracy")
        ax.grid(alpha=0.3)
        fig.tight_layout()
        _save(fig, out / "compression.png")
        plt.close(fig)
        names.append("compression.png")
    rows = artifact_rows(results)
    if rows:
        fig, ax = plt.subplots(figsize=(7, 3.5))
        labels = [r["file"] for r in rows]
        ax.barh(labels, [r["size_bytes"] / 1024 for r in rows])
        ax.set_xlabel("size (KB)")
        ax.set_title("Artifact sizes")
        fig.tight_layout()
        _save(fig, out / "sizes.png")
        plt.close(fig)
        names.append("sizes.png")
    # One point per artifact on the first real (not emulated) target that ran it: emulated
    # targets score a subset of rows and their timings mean nothing.
    points = []
    for r in rows:
        real = [c for c in r["checks"] if not c.get("emulated") and c.get("accuracy") is not None]
        if real:
            points.append((r, real[0]))
    if points:
        colors = {"float32": "tab:blue", "int8-dynamic": "tab:orange", "int8-static": "tab:green"}
        markers = {"onnx": "o", "ort": "^", "tflite": "s"}
        fig, axes = plt.subplots(1, 2, figsize=(11, 4.5), sharey=True)
        for r, c in points:
            style = {"color": colors.get(r["precision"], "gray"),
                     "marker": markers.get(r["format"], "x"), "linestyle": "none"}  # fmt: skip
            label = r["file"].split("/")[-1].removeprefix("model.")
            x_lat = c.get("p50_us")
            for ax, x in ((axes[0], r["size_bytes"] / 1024), (axes[1], x_lat)):
                if x:
                    ax.plot(x, c["accuracy"], **style)
                    ax.annotate(label, (x, c["accuracy"]), fontsize=6, alpha=0.8,
                                xytext=(3, 3), textcoords="offset points")  # fmt: skip
        axes[0].set_xlabel("file size (KB)")
        axes[1].set_xlabel(f"median invoke time of one window (us) on "
                           f"{points[0][1].get('target')}; a step form: its T steps")  # fmt: skip
        axes[0].set_ylabel("accuracy on the target")
        for ax in axes:
            ax.grid(alpha=0.3)
        handles = [plt.Line2D([], [], color=v, marker="o", linestyle="none", label=k)
                   for k, v in colors.items()]  # fmt: skip
        handles += [plt.Line2D([], [], color="black", marker=v, linestyle="none", label=k)
                    for k, v in markers.items()]  # fmt: skip
        axes[1].legend(handles=handles, fontsize=7, loc="lower right")
        fig.suptitle("Every artifact: accuracy vs size and vs latency (sequence and step forms)")
        fig.tight_layout()
        _save(fig, out / "pareto.png")
        plt.close(fig)
        names.append("pareto.png")
    return names


LATENCY_NOTE = (
    "Latency (docs/latency.md): *window invoke* is the runtime's invoke alone (inputs written "
    "once, as benchmark_model times it) for one window, the sequence form's input: one call of "
    "a sequence form, the T steps of a step form with the state fed back, so both forms compare; "
    "*call p50* is what a Python application pays per call (write inputs, invoke, read outputs): "
    "one sequence, or one step of a step form."
)


def _call_p50(check: dict[str, Any]) -> float | None:
    call = (check.get("latency_us") or {}).get("call") or {}
    return call.get("p50")


def _save(fig: Any, path: Path) -> None:
    import io

    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110)
    from edgegru.io import atomic_write_bytes

    atomic_write_bytes(path, buf.getvalue())


def render_report(out: str | Path, plots: bool = True) -> Path:
    """Write OUTDIR/report.md, results.json and the plots; return the report's path."""
    out = Path(out)
    results = collect(out)
    try:
        results["artifacts"] = artifact_rows(results)
        names = render_plots(out, results) if plots else []
        markdown = render_markdown(results, names)
    except (KeyError, TypeError, ValueError, AttributeError) as e:
        # the manifests passed _check_manifest but a value deeper inside is not what the stage
        # writes: hand-edited or from another version
        raise BadInput(
            f"{out}: a stage manifest holds an unexpected value ({type(e).__name__}: {e}); "
            "re-run the pipeline"
        ) from None
    atomic_write_json(out / "results.json", results)
    return atomic_write_text(out / "report.md", markdown)


def mcu_section(rows: list[dict[str, Any]]) -> list[str]:
    """The tflm target's rows: arena, flash and ops per file, and the listed boards each fits."""
    from edgegru.targets.boards import BOARDS, fitting

    mcu = [(r["file"], c) for r in rows for c in r["checks"] if c.get("mcu")]
    if not mcu:
        return []
    header = "| file | arena KB | flash KB | ops | vs int8 reference | boards it fits |"
    lines = ["## MCU (TFLite Micro)", "", header, "|---|---|---|---|---|---|"]
    for file, c in mcu:
        m, diff = c["mcu"], c.get("int8_reference_max_abs_diff")
        fits = fitting(m["arena_bytes"], m["flash_bytes"])
        vs = "-" if diff is None else ("bit-exact" if diff == 0 else f"max diff {diff:.3g}")
        lines.append(
            f"| {file} | {m['arena_bytes'] / 1024:.2f} | {m['flash_bytes'] / 1024:.2f} | "
            f"{' '.join(m.get('ops', []))} | {vs} | "
            f"{', '.join(b.name for b in fits) or 'none listed'} |"
        )
    lines += [
        "",
        "Arena: the smallest tensor arena TFLite Micro's interpreter allocates the model in "
        "(its own allocator, on this 64-bit host); flash: the model's bytes (the TFLite Micro "
        "library and the application come on top). Latency on the tflm target is the host "
        "build's, not a microcontroller's. Boards (RAM / flash):",
        "",
    ]
    lines += [f"- {b.name}, {b.core}: {b.ram_kb} KB / {b.flash_kb} KB ({b.source})" for b in BOARDS]
    return [*lines, ""]
