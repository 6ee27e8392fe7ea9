"""The cost of the ``lengths`` input on workload P: the same model exported with and without
it, timed side by side in ONE interleaved run (bench.timing), each the way a runner calls it
(set x (and lengths), invoke, read y).

    python -m bench.lengths [--runs 300]

Workload P (GRU 40 -> H, T = 50, 12 classes, batch 1, one thread): h64 and h128x2; the same
shapes for the fused LSTM. Kinds: GRU ``loop`` float32 and int8-static under the Interpreter,
GRU ``unrolled`` float32 under CompiledModel (its runtime), the fused LSTM float32 under the
Interpreter, the ONNX file under ONNX Runtime. The file with ``lengths`` is fed lengths = T
(full rows: the same work as the file without it), so the ratio is the input's overhead; the
goal is <= 1.05 for the file (``graph_ratio``: lengths written once, an input keeps its value
between calls; ``ratio``: written with every call from Python, as the runner does, which adds
the cost of one more ``set_tensor`` call; each the median over ``--repeats`` independent
interleaved runs). ``half`` times lengths = T / 2 (a loop file stops its WHILE there).
Writes bench/results/lengths.json and prints a Markdown table.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import Any

import numpy as np

from bench.tflite import BURST, N_IN, N_OUT, T, workload
from bench.timing import interleaved, write_results
from edgegru.types import Bundle, ModelSpec

GOAL = 1.05  # at most 5 % slower than the same file without lengths
# (variant, lengths fed): without the input; with it set every call (how the Python runner
# calls); preset (set once: the file's own cost); half (n = T / 2)
VARIANTS = (("without", None), ("with", T), ("preset", T), ("half", T // 2))
WORKLOADS = {"h64": (64, 1), "h128x2": (128, 2)}


def _lstm(hidden: int, layers: int) -> Bundle:
    from edgegru.reference import random_weights

    spec = ModelSpec(cell="lstm", input_size=N_IN, hidden_size=hidden, num_outputs=N_OUT,
                     num_layers=layers)  # fmt: skip
    return Bundle(spec, random_weights(spec, seed=0, scale=0.3), {"seq_len": T})


def _tflite_runner(
    data: bytes, compiled: bool, n: int | None, preset: bool = False
) -> Callable[[np.ndarray], Any]:
    """x -> y; with ``n``, the file's lengths input is set to [n] on every call, or with
    ``preset`` once before the first (an input keeps its value between calls): the graph's own
    cost without the Python call that writes 4 bytes (~1-3 us here, most of the difference)."""
    lengths = None if n is None else np.array([n], np.int32)
    per_call = None if preset else lengths
    if compiled:
        from ai_edge_litert.compiled_model import CompiledModel

        from edgegru.export.tflite.runtime import compiled_options

        cm = CompiledModel.from_buffer(data, options=compiled_options())
        sig = next(iter(cm.get_signature_list()))
        names = cm.get_signature_list()[sig]["inputs"]
        ins, outs = cm.create_input_buffers(0), cm.create_output_buffers(0)
        if lengths is not None:
            ins[names.index("lengths")].write(lengths)

        def run_cm(x: np.ndarray) -> Any:
            ins[names.index("x")].write(x)
            if per_call is not None:
                ins[names.index("lengths")].write(per_call)
            cm.run_by_index(0, ins, outs)
            return outs[0].read(N_OUT, np.float32)

        run_cm.keep = (cm, ins, outs)  # type: ignore[attr-defined]
        return run_cm
    from ai_edge_litert.interpreter import Interpreter

    it = Interpreter(model_content=data, num_threads=1)
    it.allocate_tensors()
    by_name = {d["name"]: d["index"] for d in it.get_input_details()}
    i_x, o = by_name["x"], it.get_output_details()[0]["index"]
    i_len = by_name.get("lengths")
    if lengths is not None:
        it.set_tensor(i_len, lengths)

    def run(x: np.ndarray) -> Any:
        it.set_tensor(i_x, x)
        if per_call is not None:
            it.set_tensor(i_len, per_call)
        it.invoke()
        return it.get_tensor(o)

    return run


def _ort_runner(bundle: Bundle, n: int | None) -> Callable[[np.ndarray], Any]:
    import onnxruntime as ort

    from edgegru.export import ExportConfig
    from edgegru.export.onnx.writer import build_model

    model, *_ = build_model(bundle, "sequence", ExportConfig(lengths=n is not None))
    so = ort.SessionOptions()
    so.intra_op_num_threads = so.inter_op_num_threads = 1
    sess = ort.InferenceSession(model.SerializeToString(), so, providers=["CPUExecutionProvider"])
    extra = {} if n is None else {"lengths": np.array([n], np.int32)}
    return lambda x: sess.run(None, {"x": x, **extra})


def _kinds(hidden: int, layers: int) -> dict[str, tuple[Bundle, str, dict, bool]]:
    """kind -> (bundle, precision, options, compiled)."""
    from bench.tflite_int8 import quantized

    gru, lstm = workload(hidden, layers), _lstm(hidden, layers)
    return {
        "gru_loop_float32": (gru, "float32", {"layout": "loop"}, False),
        "gru_unrolled_float32": (gru, "float32", {"layout": "unrolled"}, True),
        "gru_loop_int8_static": (quantized(hidden, layers), "int8-static", {"layout": "loop"},
                                 False),
        "lstm_fused_float32": (lstm, "float32", {}, False),
        "gru_onnx_float32": (gru, "onnx", {}, False),
    }  # fmt: skip


def _build(bundle: Bundle, precision: str, options: dict, with_lengths: bool) -> bytes:
    from edgegru.export.tflite.graph import build_sequence
    from edgegru.export.tflite.graph_int8 import build_sequence_int8

    build = build_sequence_int8 if precision == "int8-static" else build_sequence
    return build(bundle, T, options, "bench", with_lengths).data


def run_workload(hidden: int, layers: int, runs: int, repeats: int) -> dict[str, Any]:
    X = np.random.default_rng(1).standard_normal((1, T, N_IN)).astype(np.float32)
    paths: dict[str, Callable[[], Any]] = {}
    outputs: dict[str, np.ndarray] = {}
    for kind, (bundle, precision, options, compiled) in _kinds(hidden, layers).items():
        for variant, n in VARIANTS:
            if precision == "onnx":
                if variant == "preset":
                    continue  # ONNX Runtime takes every input with each call
                fn = _ort_runner(bundle, n)
            else:
                data = _build(bundle, precision, options, n is not None)
                fn = _tflite_runner(data, compiled, n, preset=variant == "preset")
            outputs[f"{kind} / {variant}"] = np.asarray(fn(X)).reshape(-1)
            paths[f"{kind} / {variant}"] = lambda fn=fn: fn(X)
    # independent interleaved runs: the machine is shared, one run's ratio can be off by a few %
    rounds = [
        interleaved(paths, runs=runs, warmup=max(30, runs // 10), burst=BURST)
        for _ in range(repeats)
    ]
    kinds: dict[str, Any] = {}
    for kind in sorted({k.split(" / ")[0] for k in paths}):
        per_round = []
        for timed in rounds:
            med = {v: timed[f"{kind} / {v}"]["median_us"] for v, _ in VARIANTS
                   if f"{kind} / {v}" in timed}  # fmt: skip
            med["preset"] = med.get("preset", med["with"])  # ONNX: fed with every call
            per_round.append(med)
        mid = {v: float(np.median([r[v] for r in per_round])) for v in per_round[0]}
        graph_ratios = [r["preset"] / r["without"] for r in per_round]
        same = np.abs(outputs[f"{kind} / with"] - outputs[f"{kind} / without"]).max()
        kinds[kind] = {
            "without_us": mid["without"], "with_us": mid["with"], "preset_us": mid["preset"],
            "half_us": mid["half"],
            "ratio": float(np.median([r["with"] / r["without"] for r in per_round])),
            "graph_ratio": float(np.median(graph_ratios)),
            "graph_ratio_per_run": [round(x, 4) for x in graph_ratios],
            "meets_goal": float(np.median(graph_ratios)) <= GOAL,
            "max_abs_diff_full_rows": float(same),
        }  # fmt: skip
    return {"kinds": dict(sorted(kinds.items())), "runs": rounds, "burst": BURST}


def table(name: str, w: dict[str, Any]) -> str:
    rows = [f"### {name}", "", "| file | without lengths | with, set every call | ratio | "
            "with, set once | ratio (each run) | n = T/2 |",
            "|---|---|---|---|---|---|---|"]  # fmt: skip
    for kind, k in w["kinds"].items():
        each = ", ".join(f"{x:.3f}" for x in k["graph_ratio_per_run"])
        rows.append(
            f"| {kind} | {k['without_us']:.1f} us | {k['with_us']:.1f} us | {k['ratio']:.3f} | "
            f"{k['preset_us']:.1f} us | {k['graph_ratio']:.3f} ({each}) | {k['half_us']:.1f} us |"
        )
    return "\n".join(rows)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=300)
    parser.add_argument("--repeats", type=int, default=3, help="independent interleaved runs")
    args = parser.parse_args(argv)
    results = {
        name: run_workload(hidden, layers, args.runs, args.repeats)
        for name, (hidden, layers) in WORKLOADS.items()
    }
    info = {"T": T, "I": N_IN, "O": N_OUT, "batch": 1, "threads": 1, "goal_ratio": GOAL}
    path = write_results("lengths", {"workload": info, "workloads": results})
    print("\n\n".join(table(name, w) for name, w in results.items()))
    print(f"-> {path}")


if __name__ == "__main__":
    main()
