"""edgegru's ONNX in ONNX Runtime vs torch.onnx.export's vs PyTorch eager, on workload P.

    python -m bench.onnx [--runs 1000] [--warmup 50]

Workload P (docs/performance.md#workload-p): input 40 -> hidden H, T = 50 steps, head on the last
step, Linear
-> 12 classes, batch 1, one thread; "h64" = H 64 x 1 layer, "h128x2" = H 128 x 2 layers; for
GRU, LSTM and the peephole LSTM. All paths of one workload share the weights and are timed
interleaved in one process (bench.timing.interleaved), so compare the ratios, not absolute
numbers from different runs. No input normalization (identity): the peers' graphs would
otherwise carry Sub/Div nodes that edgegru folds away, and this measures the graphs alone.

Peers: ``torch.onnx.export`` of the equivalent ``nn.GRU`` / ``nn.LSTM`` model (batch_first,
Linear on ``out[:, -1]``) with dynamic batch and time axes; PyTorch has no peephole LSTM, so
its peer is edgegru's own PyTorch peephole model traced by ``torch.onnx.export`` (the Python
loop unrolls over the fixed T = 50). The dynamo exporter is tried first; what happened is
recorded and the TorchScript exporter (``dynamo=False``) is used when it fails.
"""

from __future__ import annotations

import argparse
import io
import tempfile
import warnings
from pathlib import Path
from typing import Any

import numpy as np

from bench.timing import interleaved, write_results

WORKLOADS = {"h64": (64, 1), "h128x2": (128, 2)}
CELLS = ("gru", "lstm", "peephole")
INPUT, T, CLASSES = 40, 50, 12


def _bundle(cell: str, hidden: int, layers: int) -> Any:
    from edgegru.types import Bundle, ModelSpec

    spec = ModelSpec(
        cell=cell, input_size=INPUT, hidden_size=hidden, num_outputs=CLASSES, num_layers=layers
    )
    rng = np.random.default_rng(0)
    bound = 1.0 / np.sqrt(hidden)  # PyTorch's default initialisation range
    weights = {
        k: rng.uniform(-bound, bound, s).astype(np.float32) for k, s in spec.weight_shapes().items()
    }
    return Bundle(spec, weights)


def _torch_peer(bundle: Any) -> Any:
    """The equivalent plain nn.GRU / nn.LSTM classifier with the bundle's weights; for the
    peephole LSTM (no PyTorch module) edgegru's own SequenceModel."""
    import torch
    from torch import nn

    from edgegru.model import model_from_bundle

    spec = bundle.spec
    if spec.cell_spec.torch_module is None:
        return model_from_bundle(bundle)

    class Peer(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            rnn = getattr(nn, spec.cell_spec.torch_module)  # nn.GRU or nn.LSTM
            self.rnn = rnn(INPUT, spec.hidden_size, spec.num_layers, batch_first=True)
            self.head = nn.Linear(spec.hidden_size, CLASSES)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            out, _ = self.rnn(x)
            return self.head(out[:, -1])

    peer = Peer()
    peer.load_state_dict({k: torch.from_numpy(v) for k, v in bundle.weights.items()})
    return peer.eval()


def _torch_onnx(peer: Any, x: np.ndarray, dynamic_time: bool) -> tuple[bytes, dict[str, Any]]:
    import torch

    notes: dict[str, Any] = {}
    args = (torch.from_numpy(x),)
    axes = {"x": {0: "batch", 1: "time"} if dynamic_time else {0: "batch"}, "y": {0: "batch"}}
    for dynamo in (True, False):
        f = io.BytesIO()
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                torch.onnx.export(
                    peer, args, f, input_names=["x"], output_names=["y"], dynamo=dynamo,
                    dynamic_axes=None if dynamo else axes,
                    dynamic_shapes=({0: "batch", 1: "time"},) if dynamo else None,
                )  # fmt: skip
        except Exception as e:  # a peer's failure is a result, recorded
            notes["dynamo" if dynamo else "torchscript"] = f"failed: {type(e).__name__}: {e}"[:300]
            continue
        notes["exporter"] = "dynamo" if dynamo else "torchscript (dynamo=False)"
        return f.getvalue(), notes
    raise RuntimeError(f"torch.onnx.export failed: {notes}")


def _session(model: bytes, config: dict[str, str] | None = None) -> Any:
    import onnxruntime as ort

    so = ort.SessionOptions()
    for key, value in (config or {}).items():
        so.add_session_config_entry(key, value)
    so.intra_op_num_threads = 1
    so.inter_op_num_threads = 1
    return ort.InferenceSession(model, so, providers=["CPUExecutionProvider"])


def _nodes_after_ort(model: bytes) -> int:
    """Nodes left after ONNX Runtime's graph optimizations (what actually runs)."""
    import onnx
    import onnxruntime as ort

    with tempfile.TemporaryDirectory() as tmp:
        so = ort.SessionOptions()
        so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_EXTENDED
        so.optimized_model_filepath = str(Path(tmp) / "opt.onnx")
        ort.InferenceSession(model, so, providers=["CPUExecutionProvider"])
        return len(onnx.load(so.optimized_model_filepath).graph.node)


def bench_workload(cell: str, name: str, runs: int, warmup: int) -> dict[str, Any]:
    import onnx
    import torch

    from edgegru.export import ExportConfig
    from edgegru.export.onnx.writer import build_model

    hidden, layers = WORKLOADS[name]
    bundle = _bundle(cell, hidden, layers)
    x = np.random.default_rng(1).standard_normal((1, T, INPUT)).astype(np.float32)

    ours = build_model(bundle, "sequence", ExportConfig())[0].SerializeToString()
    peer = _torch_peer(bundle)
    # edgegru's own module (no PyTorch peer) traces one fixed T
    dynamic_time = bundle.spec.cell_spec.torch_module is not None
    theirs, notes = _torch_onnx(peer, x, dynamic_time=dynamic_time)
    s_ours, s_theirs = _session(ours), _session(theirs)
    xt = torch.from_numpy(x)

    def eager() -> Any:
        with torch.no_grad():
            return peer(xt)

    paths = {
        "edgegru_onnx": lambda: s_ours.run(None, {"x": x}),
        "torch_onnx": lambda: s_theirs.run(None, {"x": x}),
        "torch_eager": eager,
    }
    outs = {
        k: np.asarray(fn()[0] if k != "torch_eager" else fn().numpy()) for k, fn in paths.items()
    }
    stats = interleaved(paths, runs=runs, warmup=warmup)
    n_params = sum(v.size for v in bundle.weights.values())
    sizes = {"edgegru_onnx": len(ours), "torch_onnx": len(theirs), "torch_eager": 4 * n_params}
    nodes = {
        "edgegru_onnx": len(onnx.load_from_string(ours).graph.node),
        "torch_onnx": len(onnx.load_from_string(theirs).graph.node),
    }
    optimized = {"edgegru_onnx": _nodes_after_ort(ours), "torch_onnx": _nodes_after_ort(theirs)}
    for k in stats:
        stats[k]["size_bytes"] = sizes[k]
        if k in nodes:
            stats[k] |= {"nodes": nodes[k], "nodes_after_ort_optimization": optimized[k]}
    med = {k: v["median_us"] for k, v in stats.items()}
    return {
        "cell": cell, "workload": name, "hidden": hidden, "layers": layers,
        "paths": stats,
        "ratio_vs_torch_onnx": med["edgegru_onnx"] / med["torch_onnx"],
        "ratio_vs_eager": med["edgegru_onnx"] / med["torch_eager"],
        "max_abs_diff_vs_eager": float(np.abs(outs["edgegru_onnx"] - outs["torch_eager"]).max()),
        "torch_onnx_export": notes,
    }  # fmt: skip


def markdown(results: list[dict[str, Any]]) -> str:
    lines = [
        "| cell | workload | edgegru ONNX us (nodes) | torch.onnx.export us (nodes) "
        "| eager us | ratio vs torch.onnx | ratio vs eager | KB edgegru ; torch.onnx |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in results:
        p = r["paths"]
        e, t, g = p["edgegru_onnx"], p["torch_onnx"], p["torch_eager"]
        lines.append(
            f"| {r['cell']} | {r['workload']} | {e['median_us']:.1f} ({e['nodes']}) "
            f"| {t['median_us']:.1f} ({t['nodes']}) | {g['median_us']:.0f} "
            f"| {r['ratio_vs_torch_onnx']:.3f} | {r['ratio_vs_eager']:.3f} "
            f"| {e['size_bytes'] / 1024:.0f} ; {t['size_bytes'] / 1024:.0f} |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=1000)
    parser.add_argument("--warmup", type=int, default=50)
    parser.add_argument("--cells", default=",".join(CELLS))
    args = parser.parse_args(argv)

    import torch

    torch.set_num_threads(1)
    results = [
        bench_workload(cell, name, args.runs, args.warmup)
        for cell in args.cells.split(",")
        for name in WORKLOADS
    ]
    path = write_results(
        "onnx",
        {
            "workload": {"input": INPUT, "T": T, "classes": CLASSES, "batch": 1, "threads": 1},
            "runs": args.runs,
            "warmup": args.warmup,
            "results": results,
        },
    )
    print(markdown(results))
    print(f"-> {path}")


if __name__ == "__main__":
    main()
