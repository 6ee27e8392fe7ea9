"""Full-integer LSTM and peephole LSTM lowered to builtin int8 ops (``--option layout=lowered``)
on TFLite Micro, and lowered vs fused int8 on LiteRT.

    python -m bench.tflite_micro_lstm_int8 [--runs 200] [--datasets basicmotions,japanesevowels]

Part 1 (real data): an LSTM-16 and a peephole-16 trained on each dataset (seed 0, the training
defaults), static-quantized with the defaults; their int8 lowered sequence file (WHILE loop; with
the ``lengths`` input on variable-length data) and step file run on the ``tflm`` target over
the whole test split: arena (the smallest TFLite Micro allocates in), flash, accuracy next to the
float model's and the fused int8 reference's, and how many test windows are bit-exact with the
NumPy reference in TFLite Micro arithmetic. Part 2 (workload P's shape: 40 -> H 64, T = 50, 12
classes, random weights calibrated on random-normal input, batch 1, one thread): the fused int8
file (TFLite's integer LSTM kernel) vs the lowered int8 files (``lowered``: WHILE, ``unrolled``)
under LiteRT's Interpreter (default XNNPACK delegate) and its builtin kernels, timed interleaved.
Writes bench/results/tflite_micro_lstm_int8.json and prints Markdown tables.
"""

from __future__ import annotations

import argparse
import copy
import dataclasses
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from bench.tflite import BURST, N_IN, T, interpreter
from bench.timing import interleaved, write_results
from edgegru.quantize.lstm_cell_range import CELL_LIMITS, limited_cell_range

CELLS = ("lstm", "peephole")
HIDDEN = 16
FORMS = (("sequence", "lowered"), ("step", "lowered"))


def on_dataset(name: str, cell: str, work: Path) -> dict[str, Any]:
    """Train, quantize, export the int8 lowered files and run them on TFLite Micro."""
    from edgegru.datasets import load_dataset
    from edgegru.evaluate import predict
    from edgegru.export import ExportConfig, export
    from edgegru.quantize import QuantizeConfig, quantize_
    from edgegru.quantize.lstm_lowered_reference import LOWERED
    from edgegru.quantize.reference import predict_int8
    from edgegru.targets import make_target
    from edgegru.targets.config import RunConfig
    from edgegru.train import TrainConfig, train
    from edgegru.types import ModelSpec

    ds = load_dataset(name)
    test = ds.test
    spec = ModelSpec(cell, ds.num_features, HIDDEN, ds.num_outputs)
    b = train(spec, ds, TrainConfig(seed=0), work / "model").bundle
    q = quantize_(copy.deepcopy(b), QuantizeConfig(scheme="static"), ds)

    def accuracy(y: np.ndarray) -> float:
        return float(np.mean(np.asarray(y).argmax(1) == test.y))

    y_float = predict(b, test)
    ref = predict_int8(q, test.X, test.lengths, "tflm", graph=LOWERED)
    # the int8 cell range calibration chose (lstm_cell_range) against each candidate: the
    # lowered reference's test accuracy with the calibrated range and each fixed limit
    by_limit, calibrated = {}, _calibrated(b, ds)
    for limit in (None, *CELL_LIMITS):
        act = {**q.quant.activations, **limited_cell_range(calibrated, limit)}
        qa = dataclasses.replace(q, quant=dataclasses.replace(q.quant, activations=act))
        y = predict_int8(qa, test.X, test.lengths, "tflm", graph=LOWERED)
        by_limit["calibrated" if limit is None else f"{limit:g}"] = accuracy(y)
    out: dict[str, Any] = {
        "dataset": name, "cell": cell, "hidden": HIDDEN, "windows": len(test.X),
        "variable_length": test.lengths is not None, "float_accuracy": accuracy(y_float),
        "fused_int8_reference_accuracy": accuracy(
            predict_int8(q, test.X, test.lengths, "xnnpack")),
        "files": {}, "int8_cell_limit": q.quant.calibration.get("int8_cell_limit"),
        "lowered_accuracy_by_cell_limit": by_limit,
    }  # fmt: skip
    data = work / "test.npz"
    arrays = {"X": test.X, "y": test.y}
    np.savez(data, **(arrays if test.lengths is None else arrays | {"lengths": test.lengths}))
    with make_target("tflm") as target:
        for form, layout in FORMS:
            cfg = ExportConfig(formats=("tflite",), forms=(form,), precision="int8-static",
                               options={"layout": layout})  # fmt: skip
            (art,) = export(q, cfg, work / f"{form}-{layout}")
            path = Path(art.path)
            r = target.run(path, Path(f"{path}.json"), data, RunConfig(warmup=2, runs=20))
            y = np.asarray(r["outputs"], np.float32).reshape(ref.shape)
            out["files"][f"{form} {layout}"] = {
                "arena_bytes": r["mcu"]["arena_bytes"], "flash_bytes": r["mcu"]["flash_bytes"],
                "ops": len(r["mcu"]["ops"]), "lengths_input": bool(art.details.get("lengths")),
                "accuracy": accuracy(y),
                "agreement_with_float": float(np.mean(y.argmax(1) == y_float.argmax(1))),
                "max_abs_diff_vs_float": float(np.abs(y - y_float).max()),
                "tolerance": art.details.get("tolerance"),
                "bit_exact_windows": int((y == ref).all(axis=1).sum()),
            }  # fmt: skip
    return out


def _calibrated(b, ds) -> dict:
    """The activations as calibrated, before the cell range is fitted (``static_params`` without
    ``fit_cell_range``)."""
    from edgegru.quantize.calibrate import calibrate, calibration_sample
    from edgegru.quantize.config import QuantizeConfig

    cfg = QuantizeConfig(scheme="static")
    X, lengths, _ = calibration_sample(ds, cfg)
    return calibrate(b, X, lengths, cfg)


def _builtin(data: bytes) -> Callable[[np.ndarray], np.ndarray]:
    return interpreter(data, builtin=True)


def latency(cell: str, runs: int) -> dict[str, Any]:
    """Workload P's shape: fused int8 vs lowered int8 files under LiteRT."""
    from bench.tflite_lstm_int8 import quantized
    from edgegru.export.tflite.graph_int8 import build_sequence_int8
    from edgegru.quantize.reference import predict_int8

    bundle = quantized(cell, 64, 1)
    X = np.random.default_rng(1).standard_normal((1, T, N_IN)).astype(np.float32)
    s_y = bundle.quant.activations["head.y"].scale
    files = {layout: build_sequence_int8(bundle, T, {"layout": layout}, "bench").data
             for layout in ("fused", "lowered", "unrolled")}  # fmt: skip
    paths: dict[str, Callable[[], Any]] = {}
    results: dict[str, dict[str, Any]] = {}
    for layout, data in files.items():
        graph = None if layout == "fused" else "lowered"
        # each runtime against the reference in its own arithmetic (XNNPACK's; the builtin
        # optimized kernels')
        for mode, make, requant in (("interpreter", interpreter, "xnnpack"),
                                    ("builtin", _builtin, "optimized")):  # fmt: skip
            ref = predict_int8(bundle, X, None, requant, graph=graph)
            fn = make(data)
            y = np.asarray(fn(X)).reshape(ref.shape)
            key = f"{layout} / {mode}"
            results[key] = {"file": f"int8 {layout}", "mode": mode, "size_bytes": len(data),
                            "max_lsb_vs_numpy": float(np.abs(y - ref).max() / s_y)}  # fmt: skip
            paths[key] = lambda fn=fn: fn(X)
    for key, stats in interleaved(paths, runs=runs, warmup=max(20, runs // 10),
                                  burst=BURST).items():  # fmt: skip
        results[key].update(stats)
    base = results["fused / interpreter"]["median_us"]
    for e in results.values():
        e["vs_fused"] = e["median_us"] / base
    return {"paths": results}


def dataset_table(rows: list[dict[str, Any]]) -> str:
    out = ["| dataset | cell | int8 file | arena B | flash B | op kinds | accuracy (float / "
           "fused int8 ref / this file on TFLite Micro) | agreement with float | bit-exact "
           "windows |",
           "|---|---|---|---|---|---|---|---|---|"]  # fmt: skip
    for r in rows:
        for name, f in r["files"].items():
            lengths = " + lengths" if f["lengths_input"] else ""
            out.append(
                f"| {r['dataset']} | {r['cell']}-{r['hidden']} | {name}{lengths} | "
                f"{f['arena_bytes']:,} | {f['flash_bytes']:,} | {f['ops']} | "
                f"{r['float_accuracy']:.3f} / {r['fused_int8_reference_accuracy']:.3f} / "
                f"{f['accuracy']:.3f} | {f['agreement_with_float']:.3f} | "
                f"{f['bit_exact_windows']} / {r['windows']} |"
            )
    return "\n".join(out)


def cell_limit_table(rows: list[dict[str, Any]]) -> str:
    limits = ["calibrated", *(f"{c:g}" for c in CELL_LIMITS)]
    out = ["| dataset | cell | float | " + " | ".join(f"int8 c range {lim}" for lim in limits)
           + " | chosen by calibration |", "|---" * (len(limits) + 4) + "|"]  # fmt: skip
    for r in rows:
        acc = r["lowered_accuracy_by_cell_limit"]
        chosen = r["int8_cell_limit"]
        out.append(f"| {r['dataset']} | {r['cell']}-{r['hidden']} | {r['float_accuracy']:.3f} | "
                   + " | ".join(f"{acc[lim]:.3f}" for lim in limits)
                   + f" | {'calibrated' if chosen is None else f'{chosen:g}'} |")  # fmt: skip
    return "\n".join(out)


def table(name: str, w: dict[str, Any]) -> str:
    rows = [f"**{name}**", "", "| file | runtime | KB | median us | p90 us | x fused | "
            "LSB vs NumPy |", "|---|---|---|---|---|---|---|"]  # fmt: skip
    for e in w["paths"].values():
        rows.append(
            f"| {e['file']} | {e['mode']} | {e['size_bytes'] / 1024:.1f} | {e['median_us']:.1f} "
            f"| {e['p90_us']:.1f} | {e['vs_fused']:.2f} | {e['max_lsb_vs_numpy']:.0f} |"
        )
    return "\n".join(rows)


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=200)
    ap.add_argument("--datasets", default="basicmotions,japanesevowels,watch")
    args = ap.parse_args(argv)
    results: dict[str, Any] = {"runs": args.runs, "datasets": [], "workloads": {}}
    with tempfile.TemporaryDirectory(prefix="edgegru-bench-") as tmp:
        for name in filter(None, args.datasets.split(",")):
            for cell in CELLS:
                results["datasets"].append(on_dataset(name, cell, Path(tmp) / name / cell))
    print(dataset_table(results["datasets"]), "\n")
    print(cell_limit_table(results["datasets"]), "\n")
    for cell in CELLS:
        name = f"{cell} h64 (T={T}, I={N_IN})"
        results["workloads"][name] = latency(cell, args.runs)
        print(table(name, results["workloads"][name]), "\n")
    print(write_results("tflite_micro_lstm_int8", results))


if __name__ == "__main__":
    main()
