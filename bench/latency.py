"""The device runner's ``invoke`` figure against the bench's own timing of the same files, in one
run (a test of the runner's method, docs/latency.md).

    python -m bench.latency [--runs 300] [--rounds 3]

Files: the demo's model shape (GRU-32 on `watch`: 6 features, T = 100, 7 classes; random
weights, timings do not depend on their values) exported as model.onnx, model.step.onnx,
model.tflite and model.step.tflite. The bench times each file in this process with
``bench.timing.interleaved`` (warm: BURST calls back to back, the last timed), two ways: the
invoke alone (inputs written once: LiteRT CompiledModel's ``run_by_index``, ONNX Runtime's
``run_with_iobinding``) and a call as bench/tflite.py times one (write the inputs, run, read the
output; ONNX Runtime's ``session.run``). The runner runs all four files in one local session
(targets/runner.py via the `local` target); the two alternate ``--rounds`` times so machine load
hits both alike. Reported per file: runner p50 and bench median (each the median over rounds)
and their ratio, for invoke and for call. Writes bench/results/latency.json.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from bench.timing import interleaved, write_results

F, T, CLASSES, HIDDEN = 6, 100, 7, 32
GOAL = 0.15  # the runner's invoke within 15 % of the bench's figure
BURST = 3  # as bench/tflite.py's warm run


def make_files(folder: Path) -> list[Path]:
    from edgegru.export import ExportConfig, export
    from edgegru.reference import random_weights
    from edgegru.types import Bundle, ModelSpec

    spec = ModelSpec("gru", F, HIDDEN, CLASSES, labels=tuple(f"c{i}" for i in range(CLASSES)))
    bundle = Bundle(spec, random_weights(spec, seed=0, scale=0.3), {"seq_len": T})
    cfg = ExportConfig(formats=("onnx", "tflite"), precision="float32")
    return [Path(a.path) for a in export(bundle, cfg, folder)]


def _ort_session(data: bytes):
    import onnxruntime as rt

    so = rt.SessionOptions()
    so.intra_op_num_threads = so.inter_op_num_threads = 1
    return rt.InferenceSession(data, so, providers=["CPUExecutionProvider"])


def _feeds(path: Path, X: np.ndarray) -> dict[str, np.ndarray]:
    if ".step." in path.name:
        return {"x": np.ascontiguousarray(X[:1, 0]), "h": np.zeros((1, 1, HIDDEN), np.float32)}
    return {"x": np.ascontiguousarray(X[:1])}


def bench_paths(files: list[Path], X: np.ndarray) -> dict[str, Any]:
    """Two zero-argument timed paths per file: ``call`` as bench/tflite.py times a file (LiteRT
    CompiledModel: write the inputs, run, read the output; ONNX Runtime: ``session.run``) and
    ``invoke``, the runtime's run alone after the inputs were written once (CompiledModel's
    ``run_by_index``; ONNX Runtime's ``run_with_iobinding``)."""
    from ai_edge_litert.compiled_model import CompiledModel

    from edgegru.export.tflite.runtime import compiled_options

    paths: dict[str, Any] = {}
    for path in files:
        data, feeds = path.read_bytes(), _feeds(path, X)
        if path.suffix == ".tflite":
            cm = CompiledModel.from_buffer(data, options=compiled_options())
            sig = next(iter(cm.get_signature_list()))
            order = cm.get_signature_list()[sig]["inputs"]
            ins, outs = cm.create_input_buffers(0), cm.create_output_buffers(0)
            (out,) = [d for n, d in cm.get_output_tensor_details(sig).items() if n == "y"]
            n_out = int(np.prod(out["shape"]))

            def call(cm=cm, ins=ins, outs=outs, order=order, feeds=feeds, n=n_out):
                for buf, name in zip(ins, order, strict=True):
                    buf.write(feeds[name])
                cm.run_by_index(0, ins, outs)
                return outs[0].read(n, np.float32)

            call()  # the inputs stay written for the invoke path
            paths[f"{path.name} call"] = call
            paths[f"{path.name} invoke"] = lambda cm=cm, ins=ins, outs=outs: cm.run_by_index(
                0, ins, outs
            )
        else:
            sess = _ort_session(data)
            paths[f"{path.name} call"] = lambda sess=sess, feeds=feeds: sess.run(None, feeds)
            binding = sess.io_binding()
            for name, value in feeds.items():
                binding.bind_cpu_input(name, value)
            for o in sess.get_outputs():
                binding.bind_output(o.name, "cpu")
            sess.run_with_iobinding(binding)
            paths[f"{path.name} invoke"] = lambda sess=sess, b=binding: sess.run_with_iobinding(b)
    return paths


def main(argv: list[str] | None = None) -> int:
    from edgegru.targets.config import RunConfig
    from edgegru.targets.local import LocalTarget

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--runs", type=int, default=300)
    p.add_argument("--rounds", type=int, default=3)
    args = p.parse_args(argv)
    X = np.random.default_rng(0).standard_normal((4, T, F)).astype(np.float32)
    with tempfile.TemporaryDirectory(prefix="edgegru-bench-latency-") as tmp:
        files = make_files(Path(tmp))
        np.savez(Path(tmp) / "data.npz", X=X)
        jobs = [(f, Path(str(f) + ".json")) for f in files]
        paths = bench_paths(files, X)
        cfg = RunConfig(warmup=30, runs=args.runs)
        runner: dict[str, list[dict]] = {f.name: [] for f in files}
        bench: dict[str, list[float]] = {name: [] for name in paths}
        for _ in range(args.rounds):
            # burst: each path called back to back, the last call timed: the steady state the
            # runner times too (bench/tflite.py's "warm" run)
            timed = interleaved(paths, runs=args.runs, warmup=30, burst=BURST)
            for name, stats in timed.items():
                bench[name].append(stats["median_us"])
            with LocalTarget() as target:
                for f, r in zip(files, target.run_many(jobs, Path(tmp) / "data.npz", cfg),
                                strict=True):  # fmt: skip
                    if isinstance(r, Exception):
                        raise r
                    runner[f.name].append(r)
    rows = []
    for f in files:
        rs = runner[f.name]
        invoke = statistics.median(r["latency_us"]["invoke"]["p50"] for r in rs)
        call = statistics.median(r["latency_us"]["call"]["p50"] for r in rs)
        window = statistics.median(r["latency_us"]["window_invoke"]["p50"] for r in rs)
        b_invoke = statistics.median(bench[f"{f.name} invoke"])
        b_call = statistics.median(bench[f"{f.name} call"])
        rows.append({
            "file": f.name, "api": rs[0]["api"], "runner_invoke_p50_us": invoke,
            "runner_call_p50_us": call, "runner_window_invoke_p50_us": window,
            "bench_invoke_median_us": b_invoke, "bench_call_median_us": b_call,
            "ratio_invoke_to_bench": invoke / b_invoke, "ratio_call_to_bench": call / b_call,
            "within_goal": abs(invoke / b_invoke - 1) <= GOAL,
            "rounds": {"runner_invoke": [r["latency_us"]["invoke"]["p50"] for r in rs],
                       "bench_invoke": bench[f"{f.name} invoke"]},
        })  # fmt: skip
    shape = {"F": F, "T": T, "H": HIDDEN}
    out = {"runs": args.runs, "rounds": args.rounds, "goal": GOAL, "shape": shape, "rows": rows}
    path = write_results("latency", out)
    print(table(rows))
    print(f"-> {path}")
    return 0


def table(rows: list[dict]) -> str:
    head = ("| file | invoke: runner p50 us | bench us | ratio | call: runner p50 us | bench us "
            "| ratio | window invoke: runner p50 us |")
    lines = [head, "|---|---|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(
            f"| {r['file']} | {r['runner_invoke_p50_us']:.1f} | {r['bench_invoke_median_us']:.1f}"
            f" | {r['ratio_invoke_to_bench']:.2f} | {r['runner_call_p50_us']:.1f} | "
            f"{r['bench_call_median_us']:.1f} | {r['ratio_call_to_bench']:.2f} | "
            f"{r['runner_window_invoke_p50_us']:.1f} |"
        )
    return "\n".join(lines)


if __name__ == "__main__":
    raise SystemExit(main())
