"""LSTM and peephole LSTM on LiteRT side by side (the fused op's peers): edgegru's
.tflite files (one UNIDIRECTIONAL_SEQUENCE_LSTM per layer, float and int8-dynamic; the streaming
step) vs ONNX Runtime (edgegru's ONNX export) and Keras 2 via TensorFlow's converter (LSTM:
the same fused op; peephole: Keras' PeepholeLSTMCell, which the converter leaves as a WHILE
loop of builtin ops, the only peephole LSTM path TensorFlow has).

    python -m bench.tflite_lstm [--runs 300] [--no-peers]

Workload P's shape (40 -> H, T = 50, 12 classes, batch 1, one thread), random weights (scale
0.3); one interleaved warm run per workload (bench.timing). The fused LSTM keeps its state in
variable tensors, which LiteRT's CompiledModel does not load: sequence files run under the
Interpreter (default XNNPACK delegate; the fused op itself runs on the builtin kernel).
Writes bench/results/tflite_lstm.json and prints a Markdown table.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from bench.tflite import (
    BURST,
    N_IN,
    N_OUT,
    T,
    add_ort,
    add_peers,
    convert_peers,
    load_files,
    run_bench,
    table,
)
from bench.timing import interleaved
from edgegru.types import Bundle, ModelSpec

WORKLOADS = {
    "lstm_h64": ("lstm", 64, 1),
    "lstm_h128x2": ("lstm", 128, 2),
    "peephole_h64": ("peephole", 64, 1),
}
PEERS = {"lstm": ("keras_lstm_float", "keras_lstm_dynamic"), "peephole": ("keras_peephole_float",)}


def workload(cell: str, hidden: int, layers: int) -> Bundle:
    from edgegru.reference import random_weights

    spec = ModelSpec(
        cell=cell, input_size=N_IN, hidden_size=hidden, num_outputs=N_OUT, num_layers=layers,
        labels=tuple(f"class{i}" for i in range(N_OUT)),
    )  # fmt: skip
    return Bundle(spec, random_weights(spec, seed=0, scale=0.3), {"seq_len": T})


def run_workload(name: str, bundle: Bundle, runs: int, peers_error: str | None) -> dict:
    from edgegru.export import ExportConfig
    from edgegru.export.onnx.writer import build_model
    from edgegru.export.tflite.graph import build_sequence
    from edgegru.reference import reference_forward

    X = np.random.default_rng(1).standard_normal((1, T, N_IN)).astype(np.float32)
    ref = reference_forward(bundle.spec, bundle.weights, X)
    files: dict[str, bytes] = {
        "edgegru_float": build_sequence(bundle, T, {}, "bench").data,
        "edgegru_dynint8": build_sequence(bundle, T, {"weights": "int8"}, "bench").data,
    }
    meta: dict[str, dict[str, Any]] = {}
    add_peers(files, meta, convert_peers(name, bundle, peers_error, PEERS[bundle.spec.cell]))
    # CompiledModel cannot load the fused LSTM's variable tensors: the compiled rows record it
    paths, results = load_files(files, meta, X, ref)
    model, *_ = build_model(bundle, "sequence", ExportConfig())
    add_ort(paths, results, "ort_fp32", model.SerializeToString(), X, ref)
    warmup = max(30, runs // 10)
    for key, stats in interleaved(paths, runs=runs, warmup=warmup, burst=BURST).items():
        results[key].update(stats)
    return {"weight_bytes": bundle.spec.num_parameters() * 4, "burst": BURST, "paths": results}


def verdicts(name: str, w: dict) -> dict[str, Any]:
    """No targets in the issue for these: ratios to ONNX Runtime and to the Keras files."""
    p = w["paths"]

    def med(key: str) -> float | None:
        return p.get(key, {}).get("median_us")

    ours = med("edgegru_float / interpreter")
    out: dict[str, Any] = {}
    others = ("ort_fp32", "keras_lstm_float / interpreter", "keras_peephole_float / interpreter")
    for other in others:
        theirs = med(other)
        if ours and theirs:
            out[f"edgegru_float_vs_{other.split(' ')[0]}"] = {"ratio": ours / theirs}
    dyn, kdyn = med("edgegru_dynint8 / interpreter"), med("keras_lstm_dynamic / interpreter")
    if dyn and kdyn:
        out["edgegru_dynint8_vs_keras_lstm_dynamic"] = {"ratio": dyn / kdyn}
    return out


def main(argv: list[str] | None = None) -> None:
    steps = {"make": workload, "run_workload": run_workload, "verdicts": verdicts, "table": table}
    info = {"T": T, "I": N_IN, "O": N_OUT, "batch": 1, "threads": 1}
    run_bench(argv, "tflite_lstm", steps, info, __doc__.splitlines()[0], WORKLOADS)


if __name__ == "__main__":
    main()
