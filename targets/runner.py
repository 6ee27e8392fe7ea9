"""The edgegru device runner: one self-contained file, copied alone to a device (docs/targets.md).

It needs Python 3.8+, numpy and one runtime: ``onnxruntime`` for ``.onnx`` / ``.ort``,
``ai_edge_litert`` (or the older ``tflite_runtime``) for ``.tflite`` (``--runtime tflm``: TFLite
Micro's interpreter from the ``tflite-micro`` package, which also reports the arena it needs).
It imports nothing from edgegru: everything it knows about the model comes from the artifact's
JSON manifest.

    python3 runner.py MODEL MANIFEST.json DATA.npz [--more MODEL2 MANIFEST2.json ...]
                      [--threads 1] [--delegate auto] [--api auto] [--runtime auto|tflm]
                      [--warmup 20] [--runs 200] [--windows 0] [--cpus 0,1] [--out result.json]

It runs the validation inputs (``X`` [N, T, F], optional ``lengths`` [N]) through the model and
returns every output row, then times batch-1 inferences (one sequence, or one step of a
streaming artifact) three ways (docs/latency.md): ``invoke`` (inputs written once, the runtime's
invoke / run alone, as benchmark_model and onnxruntime_perf_test time it), ``call`` (what a
Python application pays: write the inputs, invoke, read the outputs) and, for step forms,
``window_invoke`` / ``window_call`` (the T steps of one window with the state fed back; for
sequence forms these equal invoke / call). Every artifact given (``--more``) runs in this one
process, each loaded fresh and timed alone. Each artifact's result is one JSON line on stdout,
prefixed with ``EDGEGRU-RESULT``. Any failure is a JSON ``error`` with a ``kind`` the host turns
into one line with a fix; the exit code is then 3.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time

MARKER = "EDGEGRU-RESULT "
RUNNER_VERSION = 2
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

    def set_inputs(self, feeds):
        """Write the inputs (and output buffers) once: the invoke path, IOBinding as
        onnxruntime_perf_test runs a session."""
        import numpy as np

        ort = _import("onnxruntime")
        if getattr(self, "_binding", None) is None:
            shapes = {k: v.shape for k, v in self.run(feeds).items()}
            self._binding = self.session.io_binding()
            self._outs = {}
            for name, shape in shapes.items():
                value = ort.OrtValue.ortvalue_from_shape_and_type(list(shape), np.float32)
                self._binding.bind_ortvalue_output(name, value)
                self._outs[name] = value
        # the bound arrays stay referenced here while the binding points at their memory
        self._bound = {k: np.ascontiguousarray(v) for k, v in feeds.items()}
        for name, value in self._bound.items():
            self._binding.bind_cpu_input(name, value)

    def invoke(self):
        self.session.run_with_iobinding(self._binding)

    def get_outputs(self):
        return {n: v.numpy() for n, v in self._outs.items()}


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
        self.set_inputs, self.invoke = self._set_compiled, self._invoke_compiled
        self.get_outputs = self._get_compiled
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
        self.set_inputs, self.invoke = self._set_interpreter, self._invoke_interpreter
        self.get_outputs = self._get_interpreter

    def _run_compiled(self, feeds):
        self._set_compiled(feeds)
        self._invoke_compiled()
        return self._get_compiled()

    def _set_compiled(self, feeds):
        import numpy as np

        for name, value in feeds.items():
            self.inputs[name].write(np.ascontiguousarray(value))

    def _invoke_compiled(self):
        self.cm.run_by_name(self.signature, self.inputs, self.outputs)

    def _get_compiled(self):
        import numpy as np

        return {
            n: b.read(int(np.prod(self.out_shapes[n])), np.float32).reshape(self.out_shapes[n])
            for n, b in self.outputs.items()
        }

    def _run_interpreter(self, feeds):
        import numpy as np

        # The signature runner resizes and re-allocates the inputs on every call: part of what
        # a Python application pays per call, not of the invoke.
        return {k: np.array(v) for k, v in self.runner(**feeds).items()}

    def run(self, feeds):
        return self._run(feeds)

    # The invoke path (set_inputs / invoke / get_outputs, chosen with the API in __init__):
    # inputs written once, then only the invoke timed. For the Interpreter: the signature
    # runner's own wrapper calls, the ones its __call__ makes, minus the per-call resize and
    # allocate (Interpreter.invoke() refuses to run while a signature runner holds it).
    def _set_interpreter(self, feeds):
        r = self.runner
        if getattr(self, "_sub", None) is None:
            self._run_interpreter(feeds)  # sizes and allocates the signature's tensors
            self._wrapper, self._sub = r._interpreter_wrapper, r._subgraph_index
        for name, value in feeds.items():
            self._wrapper.SetTensor(r._inputs[name], value, self._sub)

    def _invoke_interpreter(self):
        self._wrapper.Invoke(self._sub)

    def _get_interpreter(self):
        return {n: self._wrapper.GetTensor(i, self._sub) for n, i in self.runner._outputs}


# The builtin ops TFLite Micro's own host interpreter registers (python_ops_resolver.cc of the
# tflite-micro package; a device's MicroMutableOpResolver lists its own subset). The fused LSTM's
# peepholes are checked separately: TFLite Micro's kernel rejects them.
TFLM_OPS = frozenset((
    "ABS", "ADD", "ADD_N", "ARG_MAX", "ARG_MIN", "ASSIGN_VARIABLE", "AVERAGE_POOL_2D",
    "BATCH_MATMUL", "BATCH_TO_SPACE_ND", "BROADCAST_ARGS", "BROADCAST_TO", "CALL_ONCE", "CAST",
    "CEIL", "CONCATENATION", "CONV_2D", "COS", "CUMSUM", "DEPTH_TO_SPACE", "DEPTHWISE_CONV_2D",
    "DEQUANTIZE", "DIV", "DYNAMIC_UPDATE_SLICE", "ELU", "EMBEDDING_LOOKUP", "EQUAL", "EXP",
    "EXPAND_DIMS", "FILL", "FLOOR", "FLOOR_DIV", "FLOOR_MOD", "FULLY_CONNECTED", "GATHER",
    "GATHER_ND", "GREATER", "GREATER_EQUAL", "HARD_SWISH", "IF", "L2_NORMALIZATION",
    "L2_POOL_2D", "LEAKY_RELU", "LESS", "LESS_EQUAL", "LOG", "LOG_SOFTMAX", "LOGICAL_AND",
    "LOGICAL_NOT", "LOGICAL_OR", "LOGISTIC", "MAX_POOL_2D", "MAXIMUM", "MEAN", "MINIMUM",
    "MIRROR_PAD", "MUL", "NEG", "NOT_EQUAL", "PACK", "PAD", "PADV2", "PRELU", "QUANTIZE",
    "READ_VARIABLE", "REDUCE_ALL", "REDUCE_MAX", "REDUCE_MIN", "RELU", "RELU6", "RESHAPE",
    "RESIZE_BILINEAR", "RESIZE_NEAREST_NEIGHBOR", "REVERSE_V2", "ROUND", "RSQRT", "SELECT_V2",
    "SHAPE", "SIN", "SLICE", "SOFTMAX", "SPACE_TO_BATCH_ND", "SPACE_TO_DEPTH", "SPLIT",
    "SPLIT_V", "SQRT", "SQUARE", "SQUARED_DIFFERENCE", "SQUEEZE", "STRIDED_SLICE", "SUB",
    "SUM", "SVDF", "TANH", "TRANSPOSE", "TRANSPOSE_CONV", "UNIDIRECTIONAL_SEQUENCE_LSTM",
    "UNPACK", "VAR_HANDLE", "WHILE", "ZEROS_LIKE",
))  # fmt: skip
LSTM_PEEPHOLE_INPUTS = (9, 10, 11)  # cell_to_{input,forget,output} weights of the fused LSTM
ARENA_PROBE_BYTES = 1 << 22  # a first arena large enough for any file edgegru writes


def tflm_schema():
    """The TFLite schema module the tflite-micro package ships (its path moved between
    releases)."""
    import importlib

    for name in (
        "tflite_micro.tensorflow.lite.micro.python.schema_py_generated",
        "tflite_micro.tensorflow.lite.python.schema_py_generated",
    ):
        try:
            return importlib.import_module(name)
        except ImportError:
            continue
    raise RunnerError("missing_runtime", "tflite_micro ships no schema module", "tflite_micro")


def tflm_ops(schema, model):
    """(every builtin op the file uses, in first-use order; the ones TFLite Micro cannot run)."""
    names = {v: k for k, v in vars(schema.BuiltinOperator).items() if not k.startswith("_")}
    used, unsupported = [], []
    for g in range(model.SubgraphsLength()):
        sg = model.Subgraphs(g)
        for i in range(sg.OperatorsLength()):
            op = sg.Operators(i)
            code = model.OperatorCodes(op.OpcodeIndex())
            builtin = max(code.BuiltinCode(), code.DeprecatedBuiltinCode())
            name = names.get(builtin, f"builtin {builtin}")
            if builtin == schema.BuiltinOperator.CUSTOM:
                name = "CUSTOM " + (code.CustomCode() or b"").decode()
            inputs = [op.Inputs(k) for k in range(op.InputsLength())]
            bad = name if name not in TFLM_OPS else None
            if name == "UNIDIRECTIONAL_SEQUENCE_LSTM" and any(
                k < len(inputs) and inputs[k] >= 0 for k in LSTM_PEEPHOLE_INPUTS
            ):
                bad = "UNIDIRECTIONAL_SEQUENCE_LSTM with peepholes"
            elif name == "UNIDIRECTIONAL_SEQUENCE_LSTM" and op.IntermediatesLength():
                # TFLite's integer 8x8_16 LSTM: TFLite Micro's kernel refuses its intermediates
                bad = "UNIDIRECTIONAL_SEQUENCE_LSTM in integer mode (intermediate tensors)"
            if name not in used:
                used.append(name)
            if bad and bad not in unsupported:
                unsupported.append(bad)
    return used, unsupported


class TflmModel:
    """TFLite Micro's interpreter (the ``tflite-micro`` package: the reference kernels a
    Cortex-M runs without CMSIS-NN) in the smallest arena that works.

    Every op is checked against what TFLite Micro registers before anything runs. The arena is
    measured by TFLite Micro itself: its ``RecordingMicroAllocator`` record after one inference,
    then the smallest size in which the interpreter allocates (bisected from the record up);
    the validation and timing runs use exactly that arena."""

    def __init__(self, path, signature):
        _import("tflite_micro")
        from tflite_micro import runtime

        self.runtime = runtime
        with open(path, "rb") as f:
            self.data = f.read()
        schema = tflm_schema()
        try:
            model = schema.Model.GetRootAs(self.data, 0)
            self.ops, unsupported = tflm_ops(schema, model)
        except Exception as e:
            raise RunnerError("load_failed", f"not a readable .tflite file: {e}") from None
        if unsupported:
            raise RunnerError("unsupported_ops", ", ".join(unsupported))
        self.inputs, self.outputs = self._signature(model, signature)
        self.versions = {"tflite_micro": getattr(__import__("tflite_micro"), "__version__", "?")}
        self.notes = []
        self.fixed_batch = 1
        self.api = "tflite_micro.runtime.Interpreter (TFLite Micro reference kernels, host build)"
        self.arena = None

    @staticmethod
    def _signature(model, signature):
        """name -> position in the subgraph's inputs / outputs (TFLite Micro sets tensors by
        position; the manifest names them by the signature)."""
        sg = model.Subgraphs(0)
        ins = [sg.Inputs(i) for i in range(sg.InputsLength())]
        outs = [sg.Outputs(i) for i in range(sg.OutputsLength())]
        for s in range(model.SignatureDefsLength()):
            sig = model.SignatureDefs(s)
            if sig.SignatureKey().decode() != signature:
                continue
            inputs = {}
            for i in range(sig.InputsLength()):
                t = sig.Inputs(i)
                inputs[t.Name().decode()] = ins.index(t.TensorIndex())
            outputs = {}
            for i in range(sig.OutputsLength()):
                t = sig.Outputs(i)
                outputs[t.Name().decode()] = outs.index(t.TensorIndex())
            return inputs, outputs
        raise RunnerError("load_failed", f"the model has no signature {signature!r}")

    def _interpreter(self, arena):
        return self.runtime.Interpreter.from_bytes(self.data, arena_size=arena)

    def measure_arena(self, feed):
        """Run ``feed`` once in a probe arena and read the allocator's record, then bisect the
        arena size from there: the smallest arena in which the model allocates, loaded for the
        runs that follow (the first of which proves it also invokes)."""
        probe = max(ARENA_PROBE_BYTES, 16 * len(self.data))
        errors = []

        def load():
            try:
                self.it = self._interpreter(probe)
            except RuntimeError as e:
                errors.append(str(e))

        said = capture_fd(2, load).strip().splitlines()
        if errors:  # TFLite Micro's own reason is on stderr, the exception only says "failed"
            why = said[0] if said else errors[0]
            raise RunnerError("unsupported_ops", f"TFLite Micro cannot prepare it: {why}")
        self.run(feed)
        record = parse_allocations(capture_fd(2, self.it.print_allocations))
        if "total" not in record:
            raise RunnerError("failed", "TFLite Micro printed no arena record")
        # The record is what stays allocated; planning needs more for a moment (the greedy
        # planner's scratch sits in the head: a GRU step file recorded 4,736 bytes and needs
        # 6,840), so the record is a lower bound and the bisection finds the real size.
        lo, hi = record["total"] - 1, probe
        while hi - lo > 1:
            mid = (lo + hi) // 2
            try:
                capture_fd(2, lambda n=mid: self._interpreter(n))
                hi = mid
            except RuntimeError:
                lo = mid
        self.it = self._interpreter(hi)
        self.arena = {"bytes": hi, "record": record}

    def run(self, feeds):
        self.set_inputs(feeds)
        self.invoke()
        return self.get_outputs()

    # The invoke path (runner's latency figures): inputs written once, the invoke alone timed.
    def set_inputs(self, feeds):
        import numpy as np

        for name, value in feeds.items():
            i = self.inputs[name]
            dtype = self.it.get_input_details(i)["dtype"]
            self.it.set_input(np.ascontiguousarray(value, dtype), i)

    def invoke(self):
        self.it.invoke()

    def get_outputs(self):
        import numpy as np

        return {name: np.array(self.it.get_output(i)) for name, i in self.outputs.items()}

    def mcu(self):
        record = self.arena["record"]
        return {
            "arena_bytes": self.arena["bytes"],
            "arena_record_bytes": record["total"],
            "arena_head_bytes": record.get("head"),
            "arena_tail_bytes": record.get("tail"),
            "flash_bytes": len(self.data),
            "ops": self.ops,
        }


def capture_fd(fd, fn):
    """What native code writes to file descriptor ``fd`` while ``fn`` runs."""
    import tempfile

    sys.stdout.flush()
    sys.stderr.flush()
    saved = os.dup(fd)
    with tempfile.TemporaryFile() as tmp:
        os.dup2(tmp.fileno(), fd)
        try:
            fn()
        finally:
            os.dup2(saved, fd)
            os.close(saved)
        tmp.seek(0)
        return tmp.read().decode("utf-8", "replace")


def parse_allocations(text):
    """``[RecordingMicroAllocator] Arena allocation total|head|tail N bytes`` -> {key: N}."""
    out = {}
    for line in text.splitlines():
        words = line.split()
        if "Arena allocation" in line and len(words) >= 2 and words[-1] == "bytes":
            out[words[-3]] = int(words[-2])
    return out


def load_model(path, manifest, args):
    fmt = manifest["format"]
    if getattr(args, "runtime", "auto") == "tflm":
        if fmt != "tflite":
            raise RunnerError("bad_input", f"TFLite Micro runs .tflite files, not {fmt}")
        signature = manifest.get("details", {}).get("signature", SIGNATURE)
        return TflmModel(path, signature)
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
    if plan.lengths is not None and lengths is None:
        lengths = np.full(N, T, np.int64)  # the rows' own T, also after padding to a fixed T
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
            T = fixed  # every call takes the padded rows
        if plan.lengths is None:
            if lengths is not None and (lengths != fixed).any():
                notes.append(
                    "the artifact has no length input: sequences shorter than "
                    f"T={fixed} ran over their padding"
                )
            lengths = None  # no length input: every row runs all T steps, over its padding
    if plan.lengths is None and lengths is not None:
        groups = _groups(lengths, N, batch)  # equal lengths run together, cut to their length
    else:
        groups = ((T, idx) for _, idx in _groups(None, N, batch))
    if plan.lengths is None and lengths is not None and (lengths < T).any():
        notes.append(
            "no length input, dynamic T: each row ran cut to its own length "
            "(rows of equal length batched together)"
        )
    for length, idx in groups:
        feeds = {plan.x["name"]: np.ascontiguousarray(X[idx, :length])}
        if plan.lengths is not None:
            feeds[plan.lengths["name"]] = lengths[idx].astype(_dtype(plan.lengths["dtype"]))
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


def _timed(fn, warmup, runs):
    for _ in range(warmup):
        fn()
    samples = []
    clock = time.perf_counter_ns
    for _ in range(runs):
        t = clock()
        fn()
        samples.append(clock() - t)
    return samples


def time_call(model, feed, warmup, runs):
    """What a Python application pays per call: write the inputs, invoke, read the outputs."""
    return latency_stats(_timed(lambda: model.run(feed), warmup, runs))


def time_invoke(model, feed, warmup, runs):
    """The runtime's invoke alone, inputs written once (as benchmark_model and
    onnxruntime_perf_test time it)."""
    model.set_inputs(feed)
    return latency_stats(_timed(model.invoke, warmup, runs))


def time_windows(model, plan, X, windows):
    """A step artifact over whole windows, the state fed back from step to step: ``call`` times
    the T calls of a window end to end; ``invoke`` adds up the T invokes alone (inputs and
    state written, outputs read, outside the clock)."""
    import numpy as np

    # One window is the sequence form's input: the first row's T frames, batch 1.
    frames = [np.ascontiguousarray(X[:1, t]) for t in range(X.shape[1])]
    xname = plan.x["name"]
    clock = time.perf_counter_ns
    calls, invokes = [], []
    for w in range(windows + 1):  # the first window warms up
        states = plan.zero_states(1)
        t0 = clock()
        for x in frames:
            out = model.run({xname: x, **states})
            states = {k: out[o] for k, o in plan.state_out.items()}
        t_call = clock() - t0
        states = plan.zero_states(1)
        total = 0
        for x in frames:
            model.set_inputs({xname: x, **states})
            t = clock()
            model.invoke()
            total += clock() - t
            out = model.get_outputs()
            states = {k: out[o] for k, o in plan.state_out.items()}
        if w:
            calls.append(t_call)
            invokes.append(total)
    return {"window_call": latency_stats(calls), "window_invoke": latency_stats(invokes)}


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


def load_data(path):
    np = _import("numpy")
    try:
        with np.load(path, allow_pickle=False) as d:
            X = d["X"].astype(np.float32)
            lengths = d["lengths"].astype(np.int64) if "lengths" in d.files else None
    except (OSError, ValueError, KeyError) as e:
        raise RunnerError("bad_input", f"unreadable data {path}: {e}") from None
    if X.ndim != 3 or len(X) == 0:
        raise RunnerError("bad_input", f"X must be [N, T, F] with N > 0, got {X.shape}")
    return X, lengths


def reset_peak_rss():
    """Start a new peak-RSS window for the next artifact of a session (Linux: "5" to
    /proc/self/clear_refs resets VmHWM); False where the kernel does not allow it."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        return True
    except OSError:
        return False


def run(args, model_path, manifest_path, data):
    """One artifact: loaded fresh, validated on every row, timed alone."""
    t0 = time.perf_counter()
    np = _import("numpy")
    try:
        with open(manifest_path) as f:
            manifest = json.load(f)
        plan = Plan(manifest)
    except (OSError, ValueError, KeyError, StopIteration) as e:
        raise RunnerError("bad_input", f"unreadable manifest {manifest_path}: {e}") from None
    X, lengths = data
    notes = []
    rss_start = peak_rss_kb()
    t_load = time.perf_counter()
    model = load_model(model_path, manifest, args)
    init_us = (time.perf_counter() - t_load) * 1e6
    notes.extend(model.notes)
    feed = timing_feed(plan, X)
    if isinstance(model, TflmModel):
        model.measure_arena(feed)
        notes.append(
            "latency from TFLite Micro's host build (x86 reference kernels): not an MCU latency"
        )
    t_first = time.perf_counter_ns()
    try:
        model.run(feed)
    except Exception as e:
        raise RunnerError("load_failed", f"the first inference failed: {e}") from None
    first_us = (time.perf_counter_ns() - t_first) / 1000.0
    t_val = time.perf_counter()
    outputs = validate(model, plan, X, lengths, notes)
    validation_s = time.perf_counter() - t_val
    latency = {
        "invoke": time_invoke(model, feed, args.warmup, args.runs),
        "call": time_call(model, feed, args.warmup, args.runs),
    }
    if plan.form == "step":
        windows = args.windows or max(5, args.runs // 10)
        latency.update(time_windows(model, plan, X, windows))
    else:  # one call is one window
        latency.update(window_invoke=latency["invoke"], window_call=latency["call"])
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
        "window_steps": int(X.shape[1]),
        "init_us": init_us,
        "first_inference_us": first_us,
        "latency_us": latency,
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
        **({"mcu": model.mcu()} if isinstance(model, TflmModel) else {}),
    }


def _error(e):
    if isinstance(e, RunnerError):
        return {"ok": False, "error": {"kind": e.kind, "message": str(e), "module": e.module}}
    # a runtime's own failure: one line for the host, no traceback
    return {"ok": False, "error": {"kind": "failed", "message": f"{type(e).__name__}: {e}"}}


def session(args, emit):
    """Every artifact of the command line in this one process (numpy and the runtimes imported
    once): each loaded fresh, run and timed alone, its result emitted before the next starts.
    Returns the exit code: 3 when any artifact failed."""
    code = 0
    try:
        _import("numpy")
        if args.cpus:
            try:
                os.sched_setaffinity(0, {int(c) for c in args.cpus.split(",")})
            except (AttributeError, OSError, ValueError) as e:
                raise RunnerError("bad_input", f"cannot pin to CPUs {args.cpus}: {e}") from None
        data = load_data(args.data)
    except Exception as e:
        emit(_error(e))
        return 3
    jobs = [(args.model, args.manifest), *[tuple(j) for j in args.more or []]]
    for i, (model, manifest) in enumerate(jobs):
        fresh = reset_peak_rss() if i else True
        try:
            result = run(args, model, manifest, data)
            if not fresh:
                result["notes"].append("peak RSS includes the artifacts run before it")
        except Exception as e:
            result, code = _error(e), 3
        result["job"] = i
        emit(result)
        import gc

        gc.collect()  # the previous model's session and buffers go before the next loads
    return code


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
    p.add_argument("--runtime", default="auto", choices=["auto", "tflm"])
    p.add_argument("--warmup", type=int, default=20)
    p.add_argument("--runs", type=int, default=200)
    p.add_argument(
        "--windows", type=int, default=0, help="step forms: windows timed (0: max(5, runs/10))"
    )
    p.add_argument("--cpus", default="", help="pin to these CPUs, e.g. 2,3")
    p.add_argument("--out", default="", help="also write the JSON here (one line per artifact)")
    p.add_argument(
        "--more",
        nargs=2,
        action="append",
        metavar=("MODEL", "MANIFEST"),
        help="another artifact for the same session (repeatable)",
    )
    return p.parse_args(argv)


def main(argv=None):
    args = parse_args(sys.argv[1:] if argv is None else argv)
    # Runtimes may print to stdout from native code: keep stdout for the results alone.
    sys.stdout.flush()
    result_fd = os.dup(1)
    os.dup2(2, 1)
    texts = []

    def emit(result):
        texts.append(json.dumps(result, allow_nan=True))
        sys.stdout.flush()
        os.write(result_fd, (MARKER + texts[-1] + "\n").encode())

    code = session(args, emit)
    if args.out:
        with open(args.out, "w") as f:
            f.write("\n".join(texts))
    return code


if __name__ == "__main__":
    sys.exit(main())
