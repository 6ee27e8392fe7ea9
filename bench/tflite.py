"""LiteRT side by side on workload P: edgegru's .tflite files vs ONNX Runtime's fused
GRU and the peers (Keras GRU via TensorFlow's converter, litert-torch's nn.GRU).

    python -m bench.tflite [--runs 300] [--no-peers]

Workload P: GRU 40 -> H, T = 50, 12 classes, batch 1, one thread; h64 = H 64 x 1 layer,
h128x2 = H 128 x 2 layers. Every path of a workload is timed in ONE interleaved run (the machine
is shared: only ratios from the same run mean anything), each the way a device runner calls it:
set the input, run, read the output. LiteRT paths run under the plain ``Interpreter`` (default
XNNPACK delegate) and under ``CompiledModel`` + in-memory XNNPACK weight cache. Two runs:
"warm" (each path called BURST times back to back per round, the last call timed: a runner's
steady state, what the verdicts use) and "cold" (one call per path per round, so every call
follows other models' calls). The ONNX Runtime reference is edgegru's own ONNX export.

The peers need TensorFlow and litert-torch, which never enter the project env: the script makes
its own venv (bench/.peers-venv, gitignored), converts there (bench/_tflite_peers.py) and times
the files here. A peer that cannot be installed or converted is recorded with its error.
Writes bench/results/tflite.json and prints a Markdown table.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from bench.timing import interleaved, write_results
from edgegru.types import Bundle, ModelSpec

HERE = Path(__file__).resolve().parent
PEERS_VENV = HERE / ".peers-venv"
PEERS_OUT = HERE / ".peers-out"
PEERS_PACKAGES = ["tensorflow", "tf-keras", "litert-torch"]
T, N_IN, N_OUT = 50, 40, 12  # steps, input features, classes
WORKLOADS = {"h64": (64, 1), "h128x2": (128, 2)}
BURST = 3  # calls per path per round in the warm run (bench.timing.interleaved)
TARGETS = {
    "unrolled_vs_ort": {"h64": 0.9, "h128x2": 1.0},
    "loop_vs_litert_torch_interpreter": 0.55,
    "loop_extra_bytes": 8192,
    "step_us_h64": 5.0,
}


def workload(hidden: int, layers: int) -> Bundle:
    from edgegru.reference import random_weights

    spec = ModelSpec(
        cell="gru", input_size=N_IN, hidden_size=hidden, num_outputs=N_OUT, num_layers=layers,
        labels=tuple(f"class{i}" for i in range(N_OUT)),
    )  # fmt: skip
    return Bundle(spec, random_weights(spec, seed=0, scale=0.3), {"seq_len": T})


# -- runners ---------------------------------------------------------------------------------
def interpreter(data: bytes, builtin: bool = False) -> Callable[[np.ndarray], np.ndarray]:
    """The plain Interpreter (default XNNPACK delegate), or with ``builtin`` its own kernels
    only (BUILTIN_WITHOUT_DEFAULT_DELEGATES)."""
    from ai_edge_litert.interpreter import Interpreter, OpResolverType

    kind = OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES if builtin else OpResolverType.AUTO
    it = Interpreter(model_content=data, num_threads=1, experimental_op_resolver_type=kind)
    it.allocate_tensors()
    i, o = it.get_input_details()[0]["index"], it.get_output_details()[0]["index"]

    def run(x: np.ndarray) -> np.ndarray:
        it.set_tensor(i, x)
        it.invoke()
        return it.get_tensor(o)

    return run


def compiled(data: bytes) -> Callable[[np.ndarray], np.ndarray]:
    from ai_edge_litert.compiled_model import CompiledModel

    from edgegru.export.tflite.runtime import compiled_options

    cm = CompiledModel.from_buffer(data, options=compiled_options())
    ins, outs = cm.create_input_buffers(0), cm.create_output_buffers(0)
    sig = next(iter(cm.get_signature_list()))
    (out,) = cm.get_output_tensor_details(sig).values()
    n_out = int(np.prod(out["shape"]))

    def run(x: np.ndarray) -> np.ndarray:
        ins[0].write(x)
        cm.run_by_index(0, ins, outs)
        return outs[0].read(n_out, np.float32)

    run.keep = (cm, ins, outs)  # type: ignore[attr-defined]
    return run


def onnx_edgegru(bundle: Bundle) -> bytes:
    """edgegru's own ONNX export of the sequence form (export/onnx: Transpose -> fused GRU per
    layer, linear_before_reset=1 -> Gemm head), the graph the issue's ratios are taken against."""
    from edgegru.export import ExportConfig
    from edgegru.export.onnx.writer import build_model

    model, *_ = build_model(bundle, "sequence", ExportConfig())
    return model.SerializeToString()


def onnx_gru(bundle: Bundle) -> bytes:
    """A minimal hand-written ONNX graph (kept for comparison with older runs):
    x [1, T, I] -> Reshape [T, 1, I] -> fused GRU (linear_before_reset=1,
    ONNX gate order z, r, h) per layer -> last Y_h -> Gemm head (docs/architecture.md#cells)."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    spec, w = bundle.spec, bundle.weights
    H = spec.hidden_size

    def zrh(a: np.ndarray) -> np.ndarray:
        return np.concatenate([a[H : 2 * H], a[:H], a[2 * H :]])

    inits, nodes = [], []
    nodes.append(helper.make_node("Reshape", ["x", "tbi"], ["x0"]))
    inits.append(numpy_helper.from_array(np.array([T, 1, N_IN], np.int64), "tbi"))
    inp = "x0"
    for k in range(spec.num_layers):
        inits += [
            numpy_helper.from_array(zrh(w[f"rnn.weight_ih_l{k}"])[None], f"W{k}"),
            numpy_helper.from_array(zrh(w[f"rnn.weight_hh_l{k}"])[None], f"R{k}"),
            numpy_helper.from_array(
                np.concatenate([zrh(w[f"rnn.bias_ih_l{k}"]), zrh(w[f"rnn.bias_hh_l{k}"])])[None],
                f"B{k}",
            ),
        ]
        nodes.append(helper.make_node(
            "GRU", [inp, f"W{k}", f"R{k}", f"B{k}"], [f"Y{k}", f"Yh{k}"],
            hidden_size=H, linear_before_reset=1,
        ))  # fmt: skip
        nodes.append(helper.make_node("Squeeze", [f"Y{k}", "ax1"], [f"S{k}"]))  # [T, 1, H]
        inp = f"S{k}"
    inits.append(numpy_helper.from_array(np.array([1], np.int64), "ax1"))
    inits.append(numpy_helper.from_array(np.array([1, H], np.int64), "bh"))
    last = f"Yh{spec.num_layers - 1}"
    nodes.append(helper.make_node("Reshape", [last, "bh"], ["hT"]))
    inits += [
        numpy_helper.from_array(w["head.weight"], "Wo"),
        numpy_helper.from_array(w["head.bias"], "bo"),
    ]
    nodes.append(helper.make_node("Gemm", ["hT", "Wo", "bo"], ["y"], transB=1))
    graph = helper.make_graph(
        nodes, "gru", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, T, N_IN])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, N_OUT])], inits,
    )  # fmt: skip
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    onnx.checker.check_model(model)
    return model.SerializeToString()


def ort(data: bytes) -> Callable[[np.ndarray], np.ndarray]:
    import onnxruntime as rt

    so = rt.SessionOptions()
    so.intra_op_num_threads = 1
    so.inter_op_num_threads = 1
    so.execution_mode = rt.ExecutionMode.ORT_SEQUENTIAL
    sess = rt.InferenceSession(data, so, providers=["CPUExecutionProvider"])

    def run(x: np.ndarray) -> np.ndarray:
        return sess.run(None, {"x": x})[0]

    return run


# -- loading and checking the files of one run ------------------------------------------------
MODES = (("interpreter", interpreter), ("compiled", compiled))


def add_peers(files: dict[str, bytes], meta: dict[str, dict], peers: dict[str, dict]) -> None:
    """The converted peers' files join ``files``; what they said (or their error) ``meta``."""
    for peer, info in peers.items():
        if "path" in info:
            files[peer] = Path(info["path"]).read_bytes()
        meta[peer] = {k: v for k, v in info.items() if k != "trace"}


def load_files(
    files: dict[str, bytes],
    meta: dict[str, dict],
    X: np.ndarray,
    ref: np.ndarray,
    check: Callable[[str, np.ndarray], dict] | None = None,
    modes: tuple = MODES,
) -> tuple[dict[str, Callable[[], Any]], dict[str, dict[str, Any]]]:
    """Every file under every runtime mode: (the timer's callables, the result entries with
    size, max error vs ``ref`` and ``check(file, y)``'s fields). A file a mode cannot load, or
    a peer that did not convert, is an entry with its error: recorded, not hidden."""
    paths: dict[str, Callable[[], Any]] = {}
    results: dict[str, dict[str, Any]] = {}
    for fname, data in files.items():
        for mode, make in modes:
            key = f"{fname} / {mode}"
            entry = results.setdefault(key, {"file": fname, "mode": mode, "size_bytes": len(data)})
            entry.update(meta.get(fname, {}))
            try:
                fn = make(data)
                y = np.asarray(fn(X)).reshape(ref.shape)
                entry["max_abs_err"] = float(np.abs(y - ref).max())
                entry.update(check(fname, y) if check else {})
                paths[key] = lambda fn=fn: fn(X)
            except Exception as e:
                entry["error"] = f"{type(e).__name__}: {e}"[:400]
    for peer, info in meta.items():
        if "error" in info:
            results[f"{peer} / -"] = {"file": peer, "error": info["error"]}
    return paths, results


def add_ort(
    paths: dict, results: dict, key: str, onnx_bytes: bytes, X: np.ndarray, ref: np.ndarray,
    **about: str,
) -> None:  # fmt: skip
    """ONNX Runtime on edgegru's ONNX file, the reference every ratio is taken against."""
    fn = ort(onnx_bytes)
    results[key] = {
        "file": "edgegru_onnx", "mode": "onnxruntime", "size_bytes": len(onnx_bytes),
        "max_abs_err": float(np.abs(fn(X) - ref).max()), **about,
    }  # fmt: skip
    paths[key] = lambda: fn(X)


# -- peers -----------------------------------------------------------------------------------
def setup_peers(timeout: float) -> str | None:
    """Make bench/.peers-venv with TensorFlow, tf_keras and litert-torch; None when ready, else
    the error. The stamp names the packages, so adding one reinstalls."""
    py = PEERS_VENV / "bin" / "python"
    stamp = PEERS_VENV / ".ready"
    wanted = " ".join(PEERS_PACKAGES) + "\n"
    if stamp.exists() and stamp.read_text() == wanted:
        return None
    try:
        if not py.exists():
            subprocess.run([sys.executable, "-m", "venv", str(PEERS_VENV)], check=True)
        constraints = HERE.parent / "constraints.txt"
        proc = subprocess.run(
            [str(py), "-m", "pip", "install", "--quiet", "-c", str(constraints),
             "torch==2.13.0", *PEERS_PACKAGES],
            capture_output=True, text=True, timeout=timeout, check=False,
        )  # fmt: skip
    except subprocess.TimeoutExpired:
        return f"installing {', '.join(PEERS_PACKAGES)} took more than {timeout:.0f} s"
    except (OSError, subprocess.CalledProcessError) as e:
        return f"cannot make the peers venv: {e}"
    if proc.returncode != 0:
        return "pip install failed: " + (proc.stderr.strip().splitlines() or ["?"])[-1][:400]
    stamp.write_text(wanted)
    return None


FLOAT_PEERS = ("keras_float", "keras_dynamic", "keras_unrolled_float", "litert_torch_float")


def convert_peers(
    name: str, bundle: Bundle, error: str | None, only: tuple[str, ...] = FLOAT_PEERS
) -> dict[str, dict[str, Any]]:
    """Each peer converted in its own process of the peers venv (a converter that crashes, as
    TensorFlow's int8 calibrator does on a Keras GRU loop, is recorded with its exit signal)."""
    if error:
        return {n: {"error": error} for n in only}
    out = PEERS_OUT / name
    out.mkdir(parents=True, exist_ok=True)
    H, L = bundle.spec.hidden_size, bundle.spec.num_layers
    np.savez(out / "weights.npz", T=T, I=N_IN, H=H, L=L, O=N_OUT, **bundle.weights)
    results: dict[str, dict[str, Any]] = {}
    for peer in only:
        (out / f"peers-{peer}.json").unlink(missing_ok=True)  # never read a stale result
        proc = subprocess.run(
            [str(PEERS_VENV / "bin" / "python"), str(HERE / "_tflite_peers.py"),
             str(out / "weights.npz"), str(out), peer],
            capture_output=True, text=True, timeout=1800, check=False,
        )  # fmt: skip
        try:
            results.update(json.loads((out / f"peers-{peer}.json").read_text()))
        except (OSError, ValueError):
            how = f"signal {-proc.returncode}" if proc.returncode < 0 else f"exit {proc.returncode}"
            err = (proc.stderr.strip().splitlines() or ["no output"])[-1][:300]
            results[peer] = {"error": f"converter process died ({how}): {err}"}
    return results


# -- the run ---------------------------------------------------------------------------------
def run_workload(name: str, bundle: Bundle, runs: int, peers_error: str | None) -> dict:
    from edgegru.export.tflite.graph import build_sequence, build_step
    from edgegru.reference import reference_forward

    X = np.random.default_rng(1).standard_normal((1, T, N_IN)).astype(np.float32)
    ref = reference_forward(bundle.spec, bundle.weights, X)
    files: dict[str, bytes] = {}
    meta: dict[str, dict[str, Any]] = {}
    for layout in ("unrolled", "loop"):
        built = build_sequence(bundle, T, {"layout": layout}, "bench")
        files[f"edgegru_{layout}"] = built.data
        meta[f"edgegru_{layout}"] = {"ops": built.details["ops"]}
        if "steps_per_iteration" in built.details:
            meta[f"edgegru_{layout}"]["steps_per_iteration"] = built.details["steps_per_iteration"]
    add_peers(files, meta, convert_peers(name, bundle, peers_error))
    paths, results = load_files(files, meta, X, ref)
    graph = "edgegru ONNX export: Transpose -> GRU (linear_before_reset=1) -> Gemm"
    add_ort(paths, results, "ort_fused_gru", onnx_edgegru(bundle), X, ref, graph=graph)

    warmup = max(30, runs // 10)
    # Warm: each path BURST times back to back, the last call timed (a runner's steady state);
    # cold: one call per path per round, after other paths' calls (caches partly evicted).
    for key, stats in interleaved(paths, runs=runs, warmup=warmup, burst=BURST).items():
        results[key].update(stats)
    for key, stats in interleaved(paths, runs=runs, warmup=warmup).items():
        results[key]["cold"] = stats

    # The streaming step in its own run: one frame after another, as a streaming app calls it
    # (in the run above every call followed a full-sequence model and found its weights evicted:
    # 60 us at h128x2 where the hot step takes ~10).
    step = build_step(bundle, {}, "bench").data
    L, H = bundle.spec.num_layers, bundle.spec.hidden_size
    steps = {}
    for mode in ("interpreter", "compiled"):
        steps[f"edgegru_step / {mode}"] = _step_runner(step, mode, X[:, 0], (L, 1, H))
        results[f"edgegru_step / {mode}"] = {"file": "edgegru_step", "mode": mode,
                                             "size_bytes": len(step)}  # fmt: skip
    for key, stats in interleaved(steps, runs=max(runs, 1000), warmup=warmup).items():
        results[key].update(stats)
    return {"weight_bytes": bundle.spec.num_parameters() * 4, "burst": BURST, "paths": results}


def _step_runner(data: bytes, mode: str, x: np.ndarray, hshape: tuple[int, ...]):
    from edgegru.export.tflite import runtime

    if mode == "compiled":
        from ai_edge_litert.compiled_model import CompiledModel

        cm = CompiledModel.from_buffer(data, options=runtime.compiled_options())
        ins, outs = cm.create_input_buffers(0), cm.create_output_buffers(0)
        h = np.zeros(hshape, np.float32)
        sig = next(iter(cm.get_signature_list()))
        order = cm.get_signature_list()[sig]["inputs"]
        vals = {"x": x, "h": h}

        def run() -> None:
            for buf, n in zip(ins, order, strict=True):
                buf.write(vals[n])
            cm.run_by_index(0, ins, outs)

        run.keep = (cm, ins, outs)  # type: ignore[attr-defined]
        return run
    from ai_edge_litert.interpreter import Interpreter

    it = Interpreter(model_content=data, num_threads=1)
    it.allocate_tensors()
    idx = {d["name"]: d["index"] for d in it.get_input_details()}
    out = it.get_output_details()[0]["index"]
    h = np.zeros(hshape, np.float32)

    def run_i() -> None:
        it.set_tensor(idx["x"], x)
        it.set_tensor(idx["h"], h)
        it.invoke()
        it.get_tensor(out)

    return run_i


def verdicts(name: str, w: dict) -> dict[str, Any]:
    p = w["paths"]

    def med(key: str) -> float | None:
        return p.get(key, {}).get("median_us")

    ort_us = med("ort_fused_gru")
    unrolled = med("edgegru_unrolled / compiled")
    loop_i = med("edgegru_loop / interpreter")
    lt_i = med("litert_torch_float / interpreter")
    out: dict[str, Any] = {}
    if unrolled and ort_us:
        r = unrolled / ort_us
        out["unrolled_compiled_vs_ort"] = {"ratio": r, "target": TARGETS["unrolled_vs_ort"][name],
                                           "ok": r <= TARGETS["unrolled_vs_ort"][name]}  # fmt: skip
        cold = p["edgegru_unrolled / compiled"].get("cold", {}).get("median_us")
        if cold and p["ort_fused_gru"].get("cold"):
            out["unrolled_compiled_vs_ort"]["ratio_cold"] = (
                cold / p["ort_fused_gru"]["cold"]["median_us"]
            )
    extra = p["edgegru_loop / interpreter"]["size_bytes"] - w["weight_bytes"]
    out["loop_extra_bytes"] = {"bytes": extra, "target": TARGETS["loop_extra_bytes"],
                               "ok": extra <= TARGETS["loop_extra_bytes"]}  # fmt: skip
    if loop_i and lt_i:
        r = loop_i / lt_i
        t = TARGETS["loop_vs_litert_torch_interpreter"]
        key = "loop_interpreter_vs_litert_torch_interpreter"
        out[key] = {"ratio": r, "target": t, "ok": r <= t}
    else:
        out["loop_interpreter_vs_litert_torch_interpreter"] = {
            "ok": None,
            "why": p.get("litert_torch_float / -", {}).get("error", "no peer run"),
        }
    if loop_i and ort_us:
        out["loop_interpreter_vs_ort"] = {"ratio": loop_i / ort_us}
    # No target in the issue for the Keras peers: ratios, for docs/performance.md.
    pairs = (("edgegru_loop", "keras_float"), ("edgegru_unrolled", "keras_unrolled_float"))
    for ours, peer in pairs:
        for mode in ("interpreter", "compiled"):
            a, b = med(f"{ours} / {mode}"), med(f"{peer} / {mode}")
            if a and b:
                out[f"{ours}_vs_{peer}_{mode}"] = {"ratio": a / b}
    step = med("edgegru_step / interpreter")
    if name == "h64" and step:
        out["step_us"] = {"us": step, "target": TARGETS["step_us_h64"],
                          "ok": step <= TARGETS["step_us_h64"]}  # fmt: skip
    return out


def table(name: str, w: dict) -> str:
    rows = [f"**{name}** (float weights {w['weight_bytes'] / 1024:.1f} KB)", "",
            "| path | runtime | file KB | ops | median us (warm) | p90 us | median us (cold) "
            "| max err |", "|---|---|---|---|---|---|---|---|"]  # fmt: skip
    for e in w["paths"].values():
        if "error" in e:
            rows.append(f"| {e['file']} | {e.get('mode', '-')} | - | - | error: "
                        f"{e['error'][:80]} | | |")  # fmt: skip
            continue
        rows.append(
            f"| {e['file']} | {e.get('mode', '')} | {e.get('size_bytes', 0) / 1024:.1f} | "
            f"{e.get('ops', '')} | {e.get('median_us', float('nan')):.1f} | "
            f"{e.get('p90_us', float('nan')):.1f} | "
            f"{e.get('cold', {}).get('median_us', float('nan')):.1f} | "
            f"{e.get('max_abs_err', float('nan')):.1e} |"
        )
    return "\n".join(rows)


def run_bench(
    argv: list[str] | None,
    result: str,
    steps: dict[str, Callable[..., Any]],
    workload_info: dict[str, Any],
    description: str,
    workloads: dict[str, tuple] = WORKLOADS,
) -> None:
    """The command line the TFLite benches share: ``steps`` names their own ``make`` (the
    workload's tuple -> bundle), ``run_workload``, ``verdicts`` and ``table``."""
    ap = argparse.ArgumentParser(description=description)
    ap.add_argument("--runs", type=int, default=300)
    ap.add_argument("--no-peers", action="store_true")
    ap.add_argument("--peers-timeout", type=float, default=1200, help="seconds for pip install")
    args = ap.parse_args(argv)
    peers_error = "skipped (--no-peers)" if args.no_peers else setup_peers(args.peers_timeout)
    data: dict[str, Any] = {
        "workload": workload_info, "runs": args.runs, "peers_error": peers_error, "workloads": {},
    }  # fmt: skip
    for name, spec in workloads.items():
        w = steps["run_workload"](name, steps["make"](*spec), args.runs, peers_error)
        w["verdicts"] = steps["verdicts"](name, w)
        data["workloads"][name] = w
        print(steps["table"](name, w))
        print("\n" + json.dumps(w["verdicts"], indent=1) + "\n")
    print(f"-> {write_results(result, data)}")


def main(argv: list[str] | None = None) -> None:
    steps = {"make": workload, "run_workload": run_workload, "verdicts": verdicts, "table": table}
    info = {"T": T, "I": N_IN, "O": N_OUT, "batch": 1, "threads": 1}
    run_bench(argv, "tflite", steps, info, __doc__.splitlines()[0])


if __name__ == "__main__":
    main()
