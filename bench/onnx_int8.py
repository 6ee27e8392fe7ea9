"""ONNX int8 on workload P: float32 vs int8-dynamic (QDQ int8 weights) vs ORT's int8 kernel.

For each cell and workload: file sizes, max |output - float| and the median latency of
  float32          edgegru's model.onnx
  qdq              model.dynint8.onnx with option int8_kernel=no (DequantizeLinear in front of
                   the fused ops), default ORT session options
  qdq-folded       the same file with session.disable_quant_qdq=1 (ORT folds the DQ at load)
  ort-int8-kernel  model.dynint8.onnx as exported for LSTM / peephole: com.microsoft
                   DynamicQuantizeLSTM (ORT has no int8 GRU kernel)
  ort-quantize_dynamic (peer)  ONNX Runtime's quantize_dynamic of the float model
all interleaved in one process (bench.timing). Writes bench/results/onnx_int8.json.

    python -m bench.onnx_int8 [--runs 1000]
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from bench.onnx import CELLS, INPUT, WORKLOADS, T, _bundle, _session
from bench.timing import interleaved, write_results


def bench(cell: str, name: str, runs: int, warmup: int) -> dict[str, Any]:
    from edgegru.export import ExportConfig, export

    hidden, layers = WORKLOADS[name]
    bundle = _bundle(cell, hidden, layers)
    x = np.random.default_rng(1).normal(size=(1, T, INPUT)).astype(np.float32)
    variants = {
        "float32": ("float32", {}),
        "qdq": ("int8-dynamic", {"int8_kernel": "no"}),
    }
    if bundle.spec.cell_spec.onnx_op == "LSTM":  # ORT's DynamicQuantizeLSTM kernel
        variants["ort-int8-kernel"] = ("int8-dynamic", {})
    files: dict[str, bytes] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for key, (precision, options) in variants.items():
            cfg = ExportConfig(forms=("sequence",), precision=precision, options=options)
            (artifact,) = export(bundle, cfg, Path(tmp) / key)
            files[key] = Path(artifact.path).read_bytes()
        files.update(_ort_quantize_dynamic(files["float32"], Path(tmp)))
    files["qdq-folded"] = files["qdq"]
    sessions = {k: _session(v) for k, v in files.items() if k != "qdq-folded"}
    sessions["qdq-folded"] = _session(files["qdq"], {"session.disable_quant_qdq": "1"})
    outputs = {k: s.run(None, {"x": x})[0] for k, s in sessions.items()}
    timing = interleaved(
        {k: (lambda s=s: s.run(None, {"x": x})) for k, s in sessions.items()}, runs, warmup
    )
    base = timing["float32"]["median_us"]
    return {
        "cell": cell,
        "workload": name,
        "paths": {
            k: {
                "size_bytes": len(files[k]),
                "max_abs_error_vs_float": float(np.abs(outputs[k] - outputs["float32"]).max()),
                "ratio_vs_float": timing[k]["median_us"] / base,
                **timing[k],
            }
            for k in files
        },
    }


def _ort_quantize_dynamic(float_model: bytes, tmp: Path) -> dict[str, bytes]:
    """The peer: ONNX Runtime's own ``quantize_dynamic`` of edgegru's float model (it leaves a
    GRU in float and quantizes only MatMul/Gemm; an LSTM becomes DynamicQuantizeLSTM). A failure
    is recorded by the missing path and a note in the JSON, never hidden."""
    from onnxruntime.quantization import QuantType, quantize_dynamic

    src, dst = tmp / "peer_float.onnx", tmp / "peer_ort_qd.onnx"
    src.write_bytes(float_model)
    try:
        quantize_dynamic(str(src), str(dst), weight_type=QuantType.QInt8)
    except Exception as e:  # a peer's failure is a result
        PEER_ERRORS.append(f"ort quantize_dynamic: {type(e).__name__}: {e}")
        return {}
    return {"ort-quantize_dynamic (peer)": dst.read_bytes()}


PEER_ERRORS: list[str] = []


def markdown(results: list[dict[str, Any]]) -> str:
    lines = [
        "| cell | workload | path | size KB | max abs err | median us | x float |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in results:
        for k, p in r["paths"].items():
            lines.append(
                f"| {r['cell']} | {r['workload']} | {k} | {p['size_bytes'] / 1024:.0f} | "
                f"{p['max_abs_error_vs_float']:.2g} | {p['median_us']:.0f} | "
                f"{p['ratio_vs_float']:.2f} |"
            )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=1000)
    parser.add_argument("--warmup", type=int, default=50)
    parser.add_argument("--cells", default=",".join(c for c in CELLS))
    args = parser.parse_args(argv)
    results = [
        bench(cell, name, args.runs, args.warmup)
        for cell in args.cells.split(",")
        for name in WORKLOADS
    ]
    path = write_results(
        "onnx_int8", {"runs": args.runs, "results": results, "peer_errors": PEER_ERRORS}
    )
    print(markdown(results))
    print(f"-> {path}")


if __name__ == "__main__":
    main()
