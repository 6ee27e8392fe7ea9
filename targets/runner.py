"""The edgegru device runner: one self-contained file, copied alone to a device (DESIGN.md 6).

It needs Python 3.8+, numpy and one runtime: ``onnxruntime`` for ``.onnx`` / ``.ort``,
``ai_edge_litert`` (or the older ``tflite_runtime``) for ``.tflite``. It imports nothing from
edgegru: everything it knows about the model comes from the artifact's JSON manifest.

    python3 runner.py MODEL MANIFEST.json DATA.npz [--threads 1] [--delegate auto]
                      [--api auto] [--warmup 20] [--runs 200] [--cpus 0,1] [--out result.json]

It runs the validation inputs (``X`` [N, T, F], optional ``lengths`` [N]) through the model and
returns every output row, then times single inferences (batch 1: one sequence, or one step of a
streaming artifact) and prints one JSON object on the last line of stdout, prefixed with
``EDGEGRU-RESULT``. Any failure is a JSON ``error`` with a ``kind`` the host turns into one line
with a fix; the exit code is then 3.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time

MARKER = "EDGEGRU-RESULT "
RUNNER_VERSION = 1
SIGNATURE = "serving_default"  # the TFLite exporter's signature key


class RunnerError(Exception):
    """A failure the host explains: ``kind`` is missing_runtime, bad_input or load_failed."""

    def __init__(self, kind, message, module=None):
        super().__init__(message)
        self.kind = kind
        self.module = module


def _import(module):
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError as e:
        raise RunnerError("missing_runtime", f"cannot import {module}: {e}", module) from None


# ---------------------------------------------------------------------------------- runtimes


class OrtModel:
    """ONNX Runtime session for .onnx and .ort files (dynamic batch and time axes)."""

    def __init__(self, path, fmt, threads, delegate):
        ort = _import("onnxruntime")
        so = ort.SessionOptions()
        so.intra_op_num_threads = threads
        so.inter_op_num_threads = 1
        so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        so.log_severity_level = 3
        if fmt == "ort":
            so.add_session_config_entry("session.load_model_format", "ORT")
        providers = ["CPUExecutionProvider"]
        if delegate == "xnnpack":
            if "XnnpackExecutionProvider" not in ort.get_available_providers():
                raise RunnerError(
                    "bad_input", "this onnxruntime build has no XnnpackExecutionProvider"
                )
            providers.insert(0, "XnnpackExecutionProvider")
        try:
            self.session = ort.InferenceSession(path, so, providers=providers)
        except Exception as e:
            raise RunnerError("load_failed", f"onnxruntime cannot load the model: {e}") from None
        self.api = "InferenceSession(" + ",".join(self.session.get_providers()) + ")"
        self.notes = []
        self.versions = {"onnxruntime": ort.__version__}
        self.fixed_batch = None

    def run(self, feeds):
        names = [o.name for o in self.session.get_outputs()]
        # zip(strict=) is Python 3.10+; the runner also runs on older device Pythons.
        return dict(zip(names, self.session.run(names, feeds)))  # noqa: B905


class LiteRtModel:
    """LiteRT: ``CompiledModel`` with an in-memory XNNPACK weight cache where the runtime has it
    (shares one packed copy of each weight between the FULLY_CONNECTEDs of an unrolled GRU;
    measured 2.3-2.9x faster than the plain Interpreter), else the ``Interpreter``."""

    def __init__(self, path, threads, delegate, api, signature):
        self.signature = signature
        self.fixed_batch = 1
        with open(path, "rb") as f:
            data = f.read()
        self.versions = {}
        self.notes = []
        compiled = None
        if api in ("auto", "compiled"):
            compiled = self._try_compiled(data, threads, delegate, api)
        if compiled is None:
            self._interpreter(data, threads, delegate)

    def _try_compiled(self, data, threads, delegate, api):
        features = cpu_features()
        if platform.machine() in ("aarch64", "arm64") and features and "atomics" not in features:
            # Measured under qemu -cpu cortex-a72: ai-edge-litert 2.3's CompiledModel library is
            # built with LSE atomics (ARMv8.1) and aborts with SIGILL on ARMv8.0 cores such as
            # the Pi 4's Cortex-A72; its Interpreter runs there.
            why = "this CPU lacks LSE atomics (ARMv8.1), which LiteRT's CompiledModel needs"
            if api == "compiled":
                raise RunnerError("bad_input", why + ": use --api interpreter")
            self.notes.append(why + ": Interpreter")
            return None
        try:
            litert = __import__("ai_edge_litert")
            from ai_edge_litert.compiled_model import (
                CompiledModel,
                CpuKernelMode,
                CpuOptions,
                Options,
            )
        except ImportError:
            if api == "compiled":
                raise RunnerError(
                    "missing_runtime",
                    "ai_edge_litert with CompiledModel is not installed",
                    "ai_edge_litert",
                ) from None
            return None
        self.versions["ai_edge_litert"] = getattr(litert, "__version__", "?")
        kernels = {
            "xnnpack": CpuKernelMode.XNNPACK,
            "builtin": CpuKernelMode.BUILTIN,
            "reference": CpuKernelMode.REFERENCE,
        }
        mode = kernels.get(delegate)  # auto: the runtime's default (XNNPACK)
        cpu = CpuOptions(num_threads=threads, kernel_mode=mode, xnnpack_weight_cache_path=":memory")
        try:
            cm = CompiledModel.from_buffer(data, options=Options(cpu_options=cpu))
            sigs = cm.get_signature_list()
        except Exception as e:
            if api == "auto":
                # e.g. the fused LSTM's variable tensors, which CompiledModel does not load
                reason = str(e).splitlines()[0]
                self.notes.append(f"CompiledModel could not load the model ({reason}): Interpreter")
                return None
            raise RunnerError("load_failed", f"LiteRT cannot load the model: {e}") from None
        if self.signature not in sigs:
            raise RunnerError("load_failed", f"the model has no signature {self.signature!r}")
        names = sigs[self.signature]
        self.cm = cm
        self.inputs = {
            n: cm.create_input_buffer_by_name(self.signature, n) for n in names["inputs"]
        }
        self.outputs = {
            n: cm.create_output_buffer_by_name(self.signature, n) for n in names["outputs"]
        }
        details = cm.get_output_tensor_details(self.signature)
        self.out_shapes = {n: tuple(int(d) for d in details[n]["shape"]) for n in self.outputs}
        self.api = f"CompiledModel(cpu, threads={threads}, kernel={delegate}, weight_cache=:memory)"
        self._run = self._run_compiled
        return cm

    def _interpreter(self, data, threads, delegate):
        try:
            from ai_edge_litert import interpreter as tfl

            self.versions["ai_edge_litert"] = getattr(
                __import__("ai_edge_litert"), "__version__", "?"
            )
        except ImportError:
            try:
                from tflite_runtime import (
                    interpreter as tfl,
                )  # older Pis: pip install tflite-runtime

                self.versions["tflite_runtime"] = getattr(
                    __import__("tflite_runtime"), "__version__", "?"
                )
            except ImportError:
                raise RunnerError(
                    "missing_runtime",
                    "neither ai_edge_litert nor tflite_runtime is installed",
                    "ai_edge_litert",
                ) from None
        kwargs = {"model_content": data, "num_threads": threads}
        if delegate in ("builtin", "reference"):
            kind = "BUILTIN_REF" if delegate == "reference" else "BUILTIN_WITHOUT_DEFAULT_DELEGATES"
            kwargs["experimental_op_resolver_type"] = getattr(tfl.OpResolverType, kind)
        try:
            it = tfl.Interpreter(**kwargs)
            self.runner = it.get_signature_runner(self.signature)
        except Exception as e:
            raise RunnerError("load_failed", f"LiteRT cannot load the model: {e}") from None
        self.it = it
        self.api = f"Interpreter(threads={threads}, resolver={delegate})"
        self._run = self._run_interpreter

    def _run_compiled(self, feeds):
        import numpy as np

        for name, value in feeds.items():
            self.inputs[name].write(np.ascontiguousarray(value))
        self.cm.run_by_name(self.signature, self.inputs, self.outputs)
        return {
            n: b.read(int(np.prod(self.out_shapes[n])), np.float32).reshape(self.out_shapes[n])
            for n, b in self.outputs.items()
        }

    def _run_interpreter(self, feeds):
        import numpy as np

        return {k: np.array(v) for k, v in self.runner(**feeds).items()}

    def run(self, feeds):
        return self._run(feeds)


def load_model(path, manifest, args):
    fmt = manifest["format"]
    if fmt in ("onnx", "ort"):
        return OrtModel(path, fmt, args.threads, args.delegate)
    if fmt == "tflite":
        signature = manifest.get("details", {}).get("signature", SIGNATURE)
        return LiteRtModel(path, args.threads, args.delegate, args.api, signature)
    raise RunnerError("bad_input", f"unknown artifact format {fmt!r}")


# ------------------------------------------------------------------------------- validation


def _dtype(name):
    import numpy as np

    return {"float32": np.float32, "int32": np.int32, "int64": np.int64}[name]


class Plan:
    """What the manifest says about the model's inputs and outputs."""

    def __init__(self, manifest):
        self.form = manifest["form"]
        inputs, outputs = manifest["inputs"], manifest["outputs"]
        self.x = inputs[0]
        self.lengths = next((t for t in inputs[1:] if t["dtype"].startswith("int")), None)
        self.states = (
            [t for t in inputs[1:] if t is not self.lengths] if self.form == "step" else []
        )
        out_names = [t["name"] for t in outputs]
        mapping = {}
        for s in manifest.get("details", {}).get("states", []):
            if isinstance(s, dict):
                mapping[s["input"]] = s["output"]
        for t in self.states:
            out = mapping.get(t["name"], t["name"] + "_out")
            if out not in out_names:
                raise RunnerError("bad_input", f"no output carries state {t['name']!r}")
            mapping[t["name"]] = out
        self.state_out = mapping
        state_outs = set(mapping.values())
        self.y = next(t["name"] for t in outputs if t["name"] not in state_outs)
        shape = self.x["shape"]
        self.fixed_batch = shape[0] if isinstance(shape[0], int) else None
        self.fixed_time = (
            shape[1] if self.form == "sequence" and isinstance(shape[1], int) else None
        )

    def zero_states(self, batch):
        import numpy as np

        return {
            t["name"]: np.zeros(
                [batch if not isinstance(d, int) else d for d in t["shape"]], _dtype(t["dtype"])
            )
            for t in self.states
        }


def _groups(lengths, n, batch):
    """Indices grouped by equal length (each group runs as one batch), split to ``batch``."""
    import numpy as np

    keys = np.zeros(n, np.int64) if lengths is None else lengths
    for length in sorted(set(keys.tolist())):
        idx = np.nonzero(keys == length)[0]
        for i in range(0, len(idx), batch):
            yield int(length), idx[i : i + batch]


def validate(model, plan, X, lengths, notes):
    """Outputs [N, O] for every validation sequence."""
    import numpy as np

    N, T, _ = X.shape
    batch = plan.fixed_batch or 256
    if plan.fixed_batch:
        notes.append(f"the artifact has a fixed batch of {plan.fixed_batch}: one call per row")
    ys = [None] * N
    if plan.form == "step":
        L = lengths if lengths is not None else np.full(N, T, np.int64)
        for length, idx in _groups(L, N, batch):
            states = plan.zero_states(len(idx))  # reset between sequences
            y = None
            for t in range(length):
                out = model.run({plan.x["name"]: X[idx, t], **states})
                states = {s: out[o] for s, o in plan.state_out.items()}
                y = out[plan.y]
            for k, i in enumerate(idx):
                ys[i] = y[k]
        return np.stack(ys)
    if plan.fixed_time is not None:
        fixed = plan.fixed_time
        if fixed < T:
            raise RunnerError(
                "bad_input",
                f"the artifact takes T={fixed} steps, the data has T={T}: "
                f"export with --seq-len {T}",
            )
        if fixed > T:
            X = np.concatenate([X, np.zeros((N, fixed - T, X.shape[2]), X.dtype)], axis=1)
            notes.append(f"inputs zero-padded from T={T} to the artifact's fixed T={fixed}")
            if plan.lengths is not None and lengths is None:
                lengths = np.full(N, T, np.int64)  # the rows' own length, not the padded T
            T = fixed  # every call takes the padded rows
        if plan.lengths is None:
            if lengths is not None and (lengths != fixed).any():
                notes.append(
                    "the artifact has no length input: sequences shorter than "
                    f"T={fixed} ran over their padding"
                )
            lengths = None
    if plan.lengths is None and lengths is not None:
        groups = _groups(lengths, N, batch)  # equal lengths run together, cut to their length
    else:
        groups = ((T, idx) for _, idx in _groups(None, N, batch))
    for length, idx in groups:
        feeds = {plan.x["name"]: np.ascontiguousarray(X[idx, :length])}
        if plan.lengths is not None:
            L = lengths[idx] if lengths is not None else np.full(len(idx), length)
            feeds[plan.lengths["name"]] = L.astype(_dtype(plan.lengths["dtype"]))
        y = model.run(feeds)[plan.y]
        for k, i in enumerate(idx):
            ys[i] = y[k]
    return np.stack(ys)


# ----------------------------------------------------------------------------------- timing


def timing_feed(plan, X):
    """One batch-1 call: the first sequence, or the first step of it with zero states."""
    import numpy as np

    if plan.form == "step":
        return {plan.x["name"]: np.ascontiguousarray(X[:1, 0]), **plan.zero_states(1)}
    x = X[:1]
    if plan.fixed_time is not None and x.shape[1] < plan.fixed_time:
        pad = np.zeros((1, plan.fixed_time - x.shape[1], x.shape[2]), x.dtype)
        x = np.concatenate([x, pad], axis=1)
    feeds = {plan.x["name"]: np.ascontiguousarray(x)}
    if plan.lengths is not None:
        feeds[plan.lengths["name"]] = np.full(1, x.shape[1], _dtype(plan.lengths["dtype"]))
    return feeds


def latency_stats(samples_ns):
    """The statistics TFLite's benchmark_model prints, plus percentiles, in microseconds."""
    import numpy as np

    us = np.asarray(samples_ns, np.float64) / 1000.0
    p50, p90, p99 = np.percentile(us, [50, 90, 99])
    return {
        "count": len(us),
        "mean": float(us.mean()),
        "std": float(us.std()),
        "min": float(us.min()),
        "p50": float(p50),
        "p90": float(p90),
        "p99": float(p99),
        "max": float(us.max()),
    }


# ----------------------------------------------------------------------------------- device


def _read(path):
    try:
        with open(path, "rb") as f:
            return f.read().decode("utf-8", "replace").strip("\x00").strip()
    except OSError:
        return None


# ARM "CPU part" numbers of the cores small boards use (Arm's TRMs).
ARM_PARTS = {
    "0xd03": "Cortex-A53",
    "0xd04": "Cortex-A35",
    "0xd05": "Cortex-A55",
    "0xd07": "Cortex-A57",
    "0xd08": "Cortex-A72",
    "0xd09": "Cortex-A73",
    "0xd0a": "Cortex-A75",
    "0xd0b": "Cortex-A76",
    "0xd0d": "Cortex-A77",
    "0xd41": "Cortex-A78",
    "0xd44": "Cortex-X1",
    "0xd46": "Cortex-A510",
    "0xd47": "Cortex-A710",
    "0xd48": "Cortex-X2",
    "0xd4d": "Cortex-A715",
    "0xd4e": "Cortex-X3",
}


def cpu_model(cpuinfo):
    if not cpuinfo:
        return platform.processor() or platform.machine()
    fields = {}
    for line in cpuinfo.splitlines():
        key, _, value = line.partition(":")
        fields.setdefault(key.strip(), value.strip())
    if "model name" in fields:
        return fields["model name"]
    part = fields.get("CPU part")
    if part:
        return ARM_PARTS.get(part.lower(), f"ARM part {part}")
    return fields.get("Hardware") or platform.machine()


def cpu_features():
    """The kernel's CPU feature flags (/proc/cpuinfo "Features" on ARM, "flags" on x86)."""
    for line in (_read("/proc/cpuinfo") or "").splitlines():
        key, _, value = line.partition(":")
        if key.strip() in ("Features", "flags"):
            return set(value.split())
    return set()


def throttling():
    """``vcgencmd get_throttled`` on a Raspberry Pi (0x0: never throttled), else the sysfs file
    newer Pi kernels expose; None elsewhere."""
    import shutil
    import subprocess

    if shutil.which("vcgencmd"):
        try:
            out = subprocess.run(
                ["vcgencmd", "get_throttled"],
                capture_output=True,
                text=True,
                timeout=5,
                check=False,
            )
            if out.returncode == 0:
                return out.stdout.strip()
        except (OSError, subprocess.SubprocessError):
            pass
    value = _read("/sys/devices/platform/soc/soc:firmware/get_throttled")
    return None if value is None else f"throttled={value}"


def device_info():
    cpu = "/sys/devices/system/cpu/cpu0/cpufreq/"
    temp = _read("/sys/class/thermal/thermal_zone0/temp")
    return {
        "machine": platform.machine(),
        "system": platform.system(),
        "cpu_model": cpu_model(_read("/proc/cpuinfo")),
        "cpu_count": os.cpu_count(),
        "device_model": _read("/proc/device-tree/model"),
        "governor": _read(cpu + "scaling_governor"),
        "cpu_freq_khz": _read(cpu + "scaling_cur_freq"),
        "temperature_c": None if not temp or not temp.isdigit() else int(temp) / 1000.0,
        "throttling": throttling(),
    }


def peak_rss_kb():
    """Peak resident set size of this process (Linux VmHWM, else getrusage)."""
    status = _read("/proc/self/status") or ""
    for line in status.splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    try:
        import resource

        rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        return rss // 1024 if sys.platform == "darwin" else rss
    except ImportError:
        return None


# ------------------------------------------------------------------------------------- main


def run(args):
    t0 = time.perf_counter()
    np = _import("numpy")
    if args.cpus:
        try:
            os.sched_setaffinity(0, {int(c) for c in args.cpus.split(",")})
        except (AttributeError, OSError, ValueError) as e:
            raise RunnerError("bad_input", f"cannot pin to CPUs {args.cpus}: {e}") from None
    try:
        with open(args.manifest) as f:
            manifest = json.load(f)
        plan = Plan(manifest)
    except (OSError, ValueError, KeyError, StopIteration) as e:
        raise RunnerError("bad_input", f"unreadable manifest {args.manifest}: {e}") from None
    try:
        with np.load(args.data, allow_pickle=False) as d:
            X = d["X"].astype(np.float32)
            lengths = d["lengths"].astype(np.int64) if "lengths" in d.files else None
    except (OSError, ValueError, KeyError) as e:
        raise RunnerError("bad_input", f"unreadable data {args.data}: {e}") from None
    if X.ndim != 3 or len(X) == 0:
        raise RunnerError("bad_input", f"X must be [N, T, F] with N > 0, got {X.shape}")
    notes = []
    rss_start = peak_rss_kb()
    t_load = time.perf_counter()
    model = load_model(args.model, manifest, args)
    init_us = (time.perf_counter() - t_load) * 1e6
    notes.extend(model.notes)
    feed = timing_feed(plan, X)
    t_first = time.perf_counter_ns()
    try:
        model.run(feed)
    except Exception as e:
        raise RunnerError("load_failed", f"the first inference failed: {e}") from None
    first_us = (time.perf_counter_ns() - t_first) / 1000.0
    t_val = time.perf_counter()
    outputs = validate(model, plan, X, lengths, notes)
    validation_s = time.perf_counter() - t_val
    for _ in range(args.warmup):
        model.run(feed)
    samples = []
    for _ in range(args.runs):
        t = time.perf_counter_ns()
        model.run(feed)
        samples.append(time.perf_counter_ns() - t)
    return {
        "ok": True,
        "runner_version": RUNNER_VERSION,
        "format": manifest["format"],
        "form": plan.form,
        "api": model.api,
        "threads": args.threads,
        "delegate": args.delegate,
        "cpus": args.cpus or None,
        "timed_call": "one step, batch 1" if plan.form == "step" else "one sequence, batch 1",
        "init_us": init_us,
        "first_inference_us": first_us,
        "latency_us": latency_stats(samples),
        "warmup": args.warmup,
        "validation_s": validation_s,
        "peak_rss_kb": peak_rss_kb(),
        "rss_before_model_kb": rss_start,
        "outputs": outputs.astype(float).tolist(),
        "output_name": plan.y,
        "versions": {
            "python": platform.python_version(),
            "numpy": np.__version__,
            **model.versions,
        },
        "device": device_info(),
        "notes": notes,
        "total_s": time.perf_counter() - t0,
    }


def parse_args(argv):
    p = argparse.ArgumentParser(description="edgegru device runner")
    p.add_argument("model")
    p.add_argument("manifest")
    p.add_argument("data")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument(
        "--delegate", default="auto", choices=["auto", "xnnpack", "builtin", "reference"]
    )
    p.add_argument("--api", default="auto", choices=["auto", "compiled", "interpreter"])
    p.add_argument("--warmup", type=int, default=20)
    p.add_argument("--runs", type=int, default=200)
    p.add_argument("--cpus", default="", help="pin to these CPUs, e.g. 2,3")
    p.add_argument("--out", default="", help="also write the JSON here")
    return p.parse_args(argv)


def main(argv=None):
    args = parse_args(sys.argv[1:] if argv is None else argv)
    # Runtimes may print to stdout from native code: keep stdout for the result alone.
    sys.stdout.flush()
    result_fd = os.dup(1)
    os.dup2(2, 1)
    try:
        result, code = run(args), 0
    except RunnerError as e:
        result, code = (
            {"ok": False, "error": {"kind": e.kind, "message": str(e), "module": e.module}},
            3,
        )
    except Exception as e:  # a runtime's own failure: one line for the host, no traceback
        result = {"ok": False, "error": {"kind": "failed", "message": f"{type(e).__name__}: {e}"}}
        code = 3
    text = json.dumps(result, allow_nan=True)
    if args.out:
        with open(args.out, "w") as f:
            f.write(text)
    sys.stdout.flush()
    os.write(result_fd, (MARKER + text + "\n").encode())
    return code


if __name__ == "__main__":
    sys.exit(main())
