"""Tiny one-op int8 .tflite models written with LiteRT's flatbuffer schema (no TensorFlow), and a
runner, so the NumPy kernels of ``edgegru.quantize.kernels`` can be compared with LiteRT.

Test helper only: the TFLite exporter has its own writer; this one knows just enough of the schema
(tensors with per-tensor or per-channel quantization, constant buffers, one operator).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

_TYPES = {
    np.dtype(np.int8): 9,
    np.dtype(np.int32): 2,
    np.dtype(np.float32): 0,
    np.dtype(np.int16): 7,
    np.dtype(np.int64): 4,
}


@dataclass
class T:
    """A tensor of the one-op model: shape, dtype, quantization, optional constant data."""

    shape: tuple[int, ...]
    dtype: type = np.int8
    scale: tuple[float, ...] = ()
    zero_point: tuple[int, ...] = ()
    axis: int = 0
    data: np.ndarray | None = None


def one_op_model(op: str, inputs: list[T], output: T, options: object | None = None) -> bytes:
    """A .tflite flatbuffer with one builtin operator ``op`` (e.g. "FULLY_CONNECTED")."""
    import flatbuffers
    from ai_edge_litert import schema_py_generated as s

    buffers = [s.BufferT()]  # buffer 0: the empty sentinel
    tensors = []
    for i, t in enumerate([*inputs, output]):
        tt = s.TensorT()
        tt.shape = list(t.shape)
        tt.type = _TYPES[np.dtype(t.dtype)]
        tt.name = f"t{i}"
        tt.buffer = 0
        if t.data is not None:
            b = s.BufferT()
            b.data = list(np.ascontiguousarray(t.data, t.dtype).tobytes())
            buffers.append(b)
            tt.buffer = len(buffers) - 1
        if t.scale:
            q = s.QuantizationParametersT()
            q.scale = [float(v) for v in t.scale]
            q.zeroPoint = [int(v) for v in t.zero_point]
            q.quantizedDimension = t.axis
            tt.quantization = q
        tensors.append(tt)
    code = s.OperatorCodeT()
    code.builtinCode = getattr(s.BuiltinOperator, op)
    code.deprecatedBuiltinCode = min(code.builtinCode, 127)
    code.version = 1
    operator = s.OperatorT()
    operator.opcodeIndex = 0
    operator.inputs = list(range(len(inputs)))
    operator.outputs = [len(inputs)]
    if options is not None:
        operator.builtinOptionsType = getattr(s.BuiltinOptions, type(options).__name__[:-1])
        operator.builtinOptions = options
    graph = s.SubGraphT()
    graph.tensors = tensors
    graph.inputs = [i for i, t in enumerate(inputs) if t.data is None]
    graph.outputs = [len(inputs)]
    graph.operators = [operator]
    model = s.ModelT()
    model.version = 3
    model.operatorCodes = [code]
    model.subgraphs = [graph]
    model.buffers = buffers
    builder = flatbuffers.Builder(1024)
    builder.Finish(model.Pack(builder), file_identifier=b"TFL3")
    return bytes(builder.Output())


RESOLVERS = ("BUILTIN_WITHOUT_DEFAULT_DELEGATES", "BUILTIN_REF", "BUILTIN")


def run(model: bytes, feeds: list[np.ndarray], resolver: str = RESOLVERS[0]) -> np.ndarray:
    """Run the one-op model in LiteRT's Interpreter. BUILTIN_WITHOUT_DEFAULT_DELEGATES: the builtin
    (optimized) kernels; BUILTIN_REF: the reference kernels; BUILTIN: with XNNPACK."""
    from ai_edge_litert.interpreter import Interpreter, OpResolverType

    interp = Interpreter(
        model_content=model,
        experimental_op_resolver_type=getattr(OpResolverType, resolver),
        num_threads=1,
    )
    interp.allocate_tensors()
    for detail, value in zip(interp.get_input_details(), feeds, strict=True):
        interp.set_tensor(detail["index"], value)
    interp.invoke()
    return interp.get_tensor(interp.get_output_details()[0]["index"]).copy()


def fc_options():
    from ai_edge_litert import schema_py_generated as s

    return s.FullyConnectedOptionsT()


def options(name: str):
    from ai_edge_litert import schema_py_generated as s

    return getattr(s, f"{name}OptionsT")()
