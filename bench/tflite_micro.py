"""Microcontroller figures: the LSTM lowered to builtin ops vs the fused op on LiteRT, and what
TFLite Micro needs for each file (arena, flash); optionally a trained model's int8 files.

    python -m bench.tflite_micro [--runs 200] [--goal QUANTIZED_BUNDLE]

Part 1 (workload P's shape: 40 -> H 64, T = 50, 12 classes, random weights, batch 1, one
thread): edgegru's float LSTM and peephole LSTM sequence files in three layouts, ``fused`` (one
UNIDIRECTIONAL_SEQUENCE_LSTM), ``lowered`` (a WHILE loop of builtin ops) and ``unrolled``,
timed interleaved under LiteRT's Interpreter (and CompiledModel where it loads), with their
size, max error vs the NumPy reference, and TFLite Micro's arena (the smallest it allocates
in) where TFLite Micro runs the file. Part 2 (``--goal``): a static-quantized bundle's int8
GRU step and sequence files on TFLite Micro (arena, flash, ops) and the board list they fit.
Writes bench/results/tflite_micro.json and prints Markdown tables.
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from bench.tflite import BURST, MODES, N_IN, T, load_files
from bench.tflite_lstm import workload
from bench.timing import interleaved, write_results

WORKLOADS = {"lstm_h64": ("lstm", 64, 1), "peephole_h64": ("peephole", 64, 1)}
LAYOUTS = ("fused", "lowered", "unrolled")


def tflm_figures(data: bytes) -> dict[str, Any]:
    """Arena (bytes) and ops of a file on TFLite Micro, or why it does not run there."""
    import importlib.util

    from edgegru.errors import BadInput
    from edgegru.export.c_array import measure_arena
    from edgegru.export.tflite.reader import summarize

    spec = importlib.util.spec_from_file_location("runner", Path("targets/runner.py"))
    runner = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(runner)  # the device runner's op check, as the tflm target runs it
    schema = runner.tflm_schema()
    _, unsupported = runner.tflm_ops(schema, schema.Model.GetRootAs(data, 0))
    ops = list(dict.fromkeys(op for sub in summarize(data).ops for op in sub))
    if unsupported:
        return {"runs": False, "unsupported": unsupported, "ops": ops}
    try:
        return {"runs": True, "arena_bytes": measure_arena(data), "flash_bytes": len(data),
                "ops": ops}  # fmt: skip
    except BadInput as e:
        return {"runs": False, "error": str(e), "ops": ops}


def run_workload(bundle, runs: int) -> dict[str, Any]:
    from edgegru.export.tflite.graph import build_sequence
    from edgegru.reference import reference_forward

    X = np.random.default_rng(1).standard_normal((1, T, N_IN)).astype(np.float32)
    ref = reference_forward(bundle.spec, bundle.weights, X)
    files = {f"edgegru_{lay}": build_sequence(bundle, T, {"layout": lay}, "bench").data
             for lay in LAYOUTS}  # fmt: skip
    paths, results = load_files(files, {}, X, ref, modes=MODES)
    for key, stats in interleaved(paths, runs=runs, warmup=max(20, runs // 10),
                                  burst=BURST).items():  # fmt: skip
        results[key].update(stats)
    micro = {name: tflm_figures(data) for name, data in files.items()}
    return {"paths": results, "tflm": micro}


def goal(bundle_dir: Path, windows: int) -> dict[str, Any]:
    """The int8 step and sequence files of a static-quantized GRU bundle on TFLite Micro: arena,
    flash, ops, the boards they fit, and their outputs on the first ``windows`` test windows of
    the bundle's dataset against the NumPy int8 reference in each arithmetic mode."""
    from edgegru.bundle import load_bundle
    from edgegru.datasets import load_dataset
    from edgegru.export import ExportConfig, export
    from edgegru.quantize.reference import predict_int8
    from edgegru.targets import make_target
    from edgegru.targets.boards import fitting
    from edgegru.targets.config import RunConfig

    bundle = load_bundle(bundle_dir)
    test = load_dataset(bundle.provenance["dataset"]).test
    X = test.X[:windows].astype(np.float32)
    refs = {m: predict_int8(bundle, X, None, m) for m in ("tflm", "xnnpack", "reference")}
    out: dict[str, Any] = {"bundle": str(bundle_dir), "hidden": bundle.spec.hidden_size,
                           "cell": bundle.spec.cell, "windows": len(X),
                           "int8_parameter_bytes": bundle.spec.int8_bytes()}  # fmt: skip
    with tempfile.TemporaryDirectory() as tmp, make_target("tflm") as target:
        np.savez(Path(tmp) / "data.npz", X=X)
        cfg = ExportConfig(formats=("tflite",), precision="int8-static")
        for art in export(bundle, cfg, Path(tmp) / "out"):
            path = Path(art.path)
            r = target.run(path, Path(f"{path}.json"), Path(tmp) / "data.npz",
                           RunConfig(warmup=5, runs=50))  # fmt: skip
            y = np.asarray(r["outputs"], np.float32)
            fig = {**r["mcu"], "host_latency_p50_us": r["latency_us"]["p50"]}
            fig["boards"] = [b.name for b in fitting(fig["arena_bytes"], fig["flash_bytes"])]
            fig["differing_outputs"] = {m: int((y != ref).sum()) for m, ref in refs.items()}
            fig["accuracy"] = float((y.argmax(1) == test.y[: len(X)]).mean())
            out[art.form] = fig
    return out


def table(name: str, w: dict[str, Any]) -> str:
    rows = [f"**{name}**", "", "| file | runtime | file KB | median us (warm) | max err | "
            "TFLite Micro arena KB |", "|---|---|---|---|---|---|"]  # fmt: skip
    for e in w["paths"].values():
        micro = w["tflm"].get(e["file"], {})
        arena = (f"{micro['arena_bytes'] / 1024:.1f}" if micro.get("runs")
                 else "does not run: " + ", ".join(micro.get("unsupported", ["?"])))  # fmt: skip
        if "error" in e:
            why = e["error"].splitlines()[0][:60]
            rows.append(f"| {e['file']} | {e['mode']} | - | error: {why} | | {arena} |")
            continue
        rows.append(f"| {e['file']} | {e['mode']} | {e['size_bytes'] / 1024:.1f} | "
                    f"{e['median_us']:.1f} | {e['max_abs_err']:.1e} | {arena} |")  # fmt: skip
    return "\n".join(rows)


def readme_line(d: dict[str, Any]) -> str:
    """The README's sentence on the compressed watch model on TFLite Micro (``bench.docs``)."""
    g = d["goal"]
    step, seq = g["step"], g["sequence"]
    return (
        "  Micro's interpreter: op check, smallest arena, flash) and C-array export; the "
        f"compressed `watch` GRU-{g['hidden']} "
        f"({g['int8_parameter_bytes']:,} B of int8 parameters) as an int8 step file needs "
        f"{step['arena_bytes']:,} B of arena and {step['flash_bytes']:,} B of flash (the sequence "
        f"file {seq['arena_bytes']:,} B of arena), {step['accuracy']:.4f} on TFLite Micro, "
        "bit-exact with the NumPy reference ([microcontrollers.md](docs/microcontrollers.md))."
    )


def goal_table(g: dict[str, Any]) -> str:
    rows = [f"**{g['cell']} H={g['hidden']}, {g['int8_parameter_bytes']:,} B int8 parameters, "
            f"{g['windows']} test windows on TFLite Micro**", "",
            "| int8 file | arena B | flash B | ops | accuracy | logits differing from the NumPy "
            "reference (tflm / xnnpack / reference mode) | listed boards it fits |",
            "|---|---|---|---|---|---|---|"]  # fmt: skip
    for form in ("step", "sequence"):
        f = g.get(form)
        if not f:
            continue
        diff = f["differing_outputs"]
        rows.append(f"| {form} | {f['arena_bytes']:,} | {f['flash_bytes']:,} | {len(f['ops'])} | "
                    f"{f['accuracy']:.4f} | {diff['tflm']} / {diff['xnnpack']} / "
                    f"{diff['reference']} | {len(f['boards'])} |")  # fmt: skip
    return "\n".join(rows)


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=200)
    ap.add_argument("--goal", type=Path, default=None, help="A static-quantized bundle folder.")
    ap.add_argument("--windows", type=int, default=200, help="Test windows for --goal.")
    args = ap.parse_args(argv)
    results: dict[str, Any] = {"runs": args.runs, "workloads": {}}
    for name, (cell, hidden, layers) in WORKLOADS.items():
        w = run_workload(workload(cell, hidden, layers), args.runs)
        results["workloads"][name] = w
        print(table(name, w), "\n")
    if args.goal is not None:
        results["goal"] = goal(args.goal, args.windows)
        print(goal_table(results["goal"]), "\n")
    print(write_results("tflite_micro", results))


if __name__ == "__main__":
    main()
