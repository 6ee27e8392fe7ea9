"""LSTM / peephole LSTM on LiteRT, workload P: float fused LSTM vs hybrid (int8-dynamic) vs
full integer (int8-static: TFLite's integer 8x8_16 LSTM kernel).

    python -m bench.tflite_lstm_int8 [--runs 300]

Every file is one UNIDIRECTIONAL_SEQUENCE_LSTM per layer (+ the head); each runs under the plain
``Interpreter`` (the fused LSTM's variable tensors keep CompiledModel out) with its default
XNNPACK delegate ("interpreter": XNNPACK takes only the ops around the LSTM; the LSTM is
TFLite's own kernel in all three precisions) and with BUILTIN_WITHOUT_DEFAULT_DELEGATES
("builtin"). One interleaved run per workload (bench.timing, warm: BURST calls per round, the
last timed). Random weights (scale 0.3), int8 scales calibrated (mse) on 64 random-normal
sequences; "LSB vs NumPy" compares int8-static with ``quantize.lstm_reference`` (0 =
bit-exact). Writes bench/results/tflite_lstm_int8.json and prints a Markdown table.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable
from typing import Any

import numpy as np

from bench.tflite import BURST, N_IN, N_OUT, WORKLOADS, T, interpreter
from bench.timing import interleaved, write_results
from edgegru.types import Bundle, ModelSpec

CELLS = ("lstm", "peephole")


def quantized(cell: str, hidden: int, layers: int) -> Bundle:
    from edgegru.quantize.calibrate import calibrate
    from edgegru.quantize.config import QuantizeConfig
    from edgegru.quantize.weights import weight_scales
    from edgegru.reference import random_weights
    from edgegru.types import QuantParams

    spec = ModelSpec(
        cell=cell, input_size=N_IN, hidden_size=hidden, num_outputs=N_OUT, num_layers=layers,
    )  # fmt: skip
    b = Bundle(spec, random_weights(spec, seed=0, scale=0.3), {"seq_len": T})
    X = np.random.default_rng(0).standard_normal((64, T, N_IN)).astype(np.float32)
    act = calibrate(b, X, None, QuantizeConfig(calib=64))
    b.quant = QuantParams("static", weight_scales(b), act, {"data": "random normal, 64"})
    return b


def _builtin(data: bytes) -> Callable[[np.ndarray], np.ndarray]:
    return interpreter(data, builtin=True)


def run_workload(bundle: Bundle, runs: int) -> dict[str, Any]:
    from edgegru.export.tflite.graph import build_sequence
    from edgegru.export.tflite.graph_int8 import build_sequence_int8
    from edgegru.quantize.reference import predict_int8
    from edgegru.reference import reference_forward

    X = np.random.default_rng(1).standard_normal((1, T, N_IN)).astype(np.float32)
    ref = reference_forward(bundle.spec, bundle.weights, X)
    ref_q = predict_int8(bundle, X, None, "xnnpack")
    s_y = bundle.quant.activations["head.y"].scale
    files = {
        "float": build_sequence(bundle, T, {}, "bench").data,
        "dynint8": build_sequence(bundle, T, {"weights": "int8"}, "bench").data,
        "int8": build_sequence_int8(bundle, T, {}, "bench").data,
    }
    paths: dict[str, Callable[[], Any]] = {}
    results: dict[str, dict[str, Any]] = {}
    for fname, data in files.items():
        for mode, make in (("interpreter", interpreter), ("builtin", _builtin)):
            key = f"{fname} / {mode}"
            fn = make(data)
            y = np.asarray(fn(X)).reshape(ref.shape)
            entry = {"file": fname, "mode": mode, "size_bytes": len(data),
                     "max_abs_err": float(np.abs(y - ref).max())}  # fmt: skip
            if fname == "int8":
                entry["max_lsb_vs_numpy"] = float(np.abs(y - ref_q).max() / s_y)
            results[key] = entry
            paths[key] = lambda fn=fn: fn(X)
    for key, stats in interleaved(
        paths, runs=runs, warmup=max(30, runs // 10), burst=BURST
    ).items():
        results[key].update(stats)
    base = results["float / interpreter"]["median_us"]
    for e in results.values():
        e["vs_float"] = e["median_us"] / base
    return {"paths": results}


def table(name: str, w: dict) -> str:
    rows = [f"**{name}**", "", "| file | runtime | KB | median us | p90 us | x float | "
            "max err vs float | LSB vs NumPy |", "|---|---|---|---|---|---|---|---|"]  # fmt: skip
    for e in w["paths"].values():
        lsb = e.get("max_lsb_vs_numpy")
        rows.append(
            f"| {e['file']} | {e['mode']} | {e['size_bytes'] / 1024:.1f} | "
            f"{e['median_us']:.1f} | {e['p90_us']:.1f} | {e['vs_float']:.2f} | "
            f"{e['max_abs_err']:.1e} | {'' if lsb is None else f'{lsb:.0f}'} |"
        )
    return "\n".join(rows)


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=300)
    ap.add_argument("--no-peers", action="store_true", help="accepted for `python -m bench`")
    args = ap.parse_args(argv)
    info = {"T": T, "I": N_IN, "O": N_OUT, "batch": 1, "threads": 1}
    data: dict[str, Any] = {"workload": info, "runs": args.runs, "workloads": {}}
    for cell in CELLS:
        for wname, (hidden, layers) in WORKLOADS.items():
            name = f"{cell} {wname}"
            w = run_workload(quantized(cell, hidden, layers), args.runs)
            data["workloads"][name] = w
            print(table(name, w) + "\n")
    print(json.dumps({k: {p: round(e["vs_float"], 2) for p, e in w["paths"].items()}
                      for k, w in data["workloads"].items()}, indent=1))  # fmt: skip
    print(f"-> {write_results('tflite_lstm_int8', data)}")


if __name__ == "__main__":
    main()
