"""Run an edgegru .tflite in LiteRT (``ai_edge_litert``) by its signature: used by the parity
tests and the benchmark. Modes:

- ``interpreter``: the plain ``Interpreter`` with its default XNNPACK delegate;
- ``builtin``: ``Interpreter`` with ``BUILTIN_WITHOUT_DEFAULT_DELEGATES`` (TFLite's own kernels,
  which check things XNNPACK accepts silently, e.g. LOGISTIC's int8 output scale);
- ``reference``: ``Interpreter`` with ``BUILTIN_REF`` (TFLite's reference kernels: what the
  optimized ones must agree with);
- ``compiled``: ``CompiledModel`` on the CPU with one thread and an in-memory XNNPACK weight
  cache (``xnnpack_weight_cache_path=":memory"``), which shares the packed copy of a weight
  between every FULLY_CONNECTED that uses it.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np

MODES = ("interpreter", "builtin", "compiled")
REFERENCE = "reference"  # not in MODES: only the integer LSTM parity tests use it
SIGNATURE = "serving_default"
Runner = Callable[..., dict[str, np.ndarray]]


def load(model: bytes | str | Path, mode: str = "interpreter") -> Runner:
    """A function ``run(**inputs) -> {output name: array}`` over the model's signature."""
    data = model if isinstance(model, bytes) else Path(model).read_bytes()
    if mode == "compiled":
        return _compiled(data)
    if mode not in (*MODES, REFERENCE):
        raise ValueError(f"unknown LiteRT mode {mode!r} (known: {', '.join(MODES)})")
    from ai_edge_litert.interpreter import Interpreter, OpResolverType

    resolver = {
        "builtin": OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES,
        "reference": OpResolverType.BUILTIN_REF,
    }.get(mode, OpResolverType.AUTO)
    it = Interpreter(model_content=data, num_threads=1, experimental_op_resolver_type=resolver)
    runner = it.get_signature_runner(SIGNATURE)

    def run(**inputs: np.ndarray) -> dict[str, np.ndarray]:
        return {k: np.array(v) for k, v in runner(**inputs).items()}

    return run


def compiled_options():
    from ai_edge_litert.compiled_model import CpuOptions, Options

    return Options(cpu_options=CpuOptions(num_threads=1, xnnpack_weight_cache_path=":memory"))


def _compiled(data: bytes) -> Runner:
    from ai_edge_litert.compiled_model import CompiledModel

    cm = CompiledModel.from_buffer(data, options=compiled_options())
    names = cm.get_signature_list()[SIGNATURE]
    ins = {n: cm.create_input_buffer_by_name(SIGNATURE, n) for n in names["inputs"]}
    outs = {n: cm.create_output_buffer_by_name(SIGNATURE, n) for n in names["outputs"]}
    shapes = {n: tuple(d["shape"]) for n, d in cm.get_output_tensor_details(SIGNATURE).items()}

    def run(**inputs: np.ndarray) -> dict[str, np.ndarray]:
        for name, value in inputs.items():
            a = np.asarray(value)  # an int32 input (lengths) keeps its type
            ins[name].write(np.ascontiguousarray(a, a.dtype if a.dtype.kind == "i" else np.float32))
        cm.run_by_name(SIGNATURE, ins, outs)
        return {
            n: b.read(int(np.prod(shapes[n])), np.float32).reshape(shapes[n])
            for n, b in outs.items()
        }

    run.model = cm  # type: ignore[attr-defined]  # keep the model (and its buffers) alive
    return run
