"""A small flatbuffer writer for .tflite files over the schema's object API.

The schema is TFLite's ``tensorflow/lite/schema/schema.fbs`` as generated into
``ai_edge_litert/schema_py_generated.py`` (imported, never copied: docs/architecture.md#exporters).
The
builder is a state machine: ``ModelBuilder`` is *open* while subgraphs, tensors and operators are
added and *finished* once ``finish()`` has packed the bytes; anything after that is an error.

What it guarantees (and tests/export/test_tflite_writer.py checks through the reader):
- buffer 0 is the empty sentinel the runtime expects (schema.fbs: "buffer 0 is an empty buffer");
- constant buffers are deduplicated by content across every subgraph (a weight used by the
  unrolled steps and by a WHILE body is stored once) and 16-byte aligned (what the C++ converter
  does with ``ForceVectorAlignment(16)``: XNNPACK and mmap'd models read weights in place);
- every tensor is named; signatures name inputs and outputs;
- a tensor may carry per-tensor or per-channel quantization (scale, zero point, axis), the hook
  the int8 variants plug into.
"""

from __future__ import annotations

import functools
import hashlib
from dataclasses import dataclass
from typing import Any

import numpy as np

ALIGNMENT = 16

# numpy dtype -> schema TensorType (schema.fbs `enum TensorType`)
_TENSOR_TYPES = {
    np.dtype(np.float32): "FLOAT32",
    np.dtype(np.int32): "INT32",
    np.dtype(np.int8): "INT8",
    np.dtype(np.int16): "INT16",
    np.dtype(np.int64): "INT64",
    np.dtype(np.bool_): "BOOL",
}


def schema() -> Any:
    """The generated schema module (lazy: ai_edge_litert is a heavy optional dependency)."""
    from ai_edge_litert import schema_py_generated

    return schema_py_generated


@dataclass(frozen=True)
class Quantization:
    """Affine quantization of a tensor: real = scale * (q - zero_point); one entry per channel of
    ``axis`` for per-channel weights (schema.fbs `QuantizationParameters.quantized_dimension`)."""

    scale: tuple[float, ...]
    zero_point: tuple[int, ...]
    axis: int = 0

    def to_schema(self, shared: dict | None = None) -> Any:
        q = (
            _shared_quantization_type()()
            if shared is not None
            else schema().QuantizationParametersT()
        )
        q.scale = [float(s) for s in self.scale]
        q.zeroPoint = [int(z) for z in self.zero_point]
        q.quantizedDimension = int(self.axis)
        if shared is not None:
            q.shared = shared
        return q


def _shared_quantization_type() -> type:
    s = schema()

    class SharedQuantizationT(s.QuantizationParametersT):  # type: ignore[misc, name-defined]
        """QuantizationParametersT packed once per content: equal tables (an activation's scale on
        every tensor of that point, a weight's per-channel scales in the main graph and a loop
        body) and equal vectors (the zero points of every per-channel tensor with C channels:
        C int64 zeros, which the schema requires) are written once and referenced by offset, as
        flatbuffers allows. Per-channel int8 weights would otherwise cost 12 bytes per channel per
        tensor on top of the weight itself."""

        shared: dict

        def Pack(self, builder: Any) -> int:
            cache = self.shared
            key = ("table", tuple(self.scale), tuple(self.zeroPoint), self.quantizedDimension)
            if key in cache:
                return cache[key]

            def vector(kind: str, values: list, dtype: Any) -> int:
                vkey = (kind, tuple(values))
                if vkey not in cache:
                    cache[vkey] = builder.CreateNumpyVector(np.asarray(values, dtype))
                return cache[vkey]

            scale = vector("scale", self.scale, np.float32)
            zero_point = vector("zero_point", self.zeroPoint, np.int64)
            s.QuantizationParametersStart(builder)
            s.QuantizationParametersAddScale(builder, scale)
            s.QuantizationParametersAddZeroPoint(builder, zero_point)
            s.QuantizationParametersAddQuantizedDimension(builder, self.quantizedDimension)
            cache[key] = s.QuantizationParametersEnd(builder)
            return cache[key]

    return SharedQuantizationT


@functools.cache
def _shared_tensor_type() -> type:
    s = schema()

    class SharedTensorT(s.TensorT):  # type: ignore[misc, name-defined]
        """TensorT whose shape vector is packed once per content (most tensors of a step are
        [1, H] or [1, 2H]: one vector each instead of one per tensor; 12-16 bytes a tensor)."""

        shared: dict

        def Pack(self, builder: Any) -> int:
            key = ("shape", tuple(self.shape))
            if key not in self.shared:
                self.shared[key] = builder.CreateNumpyVector(np.asarray(self.shape, np.int32))
            shape = self.shared[key]
            name = builder.CreateString(self.name)
            quantization = None if self.quantization is None else self.quantization.Pack(builder)
            s.TensorStart(builder)
            s.TensorAddShape(builder, shape)
            s.TensorAddType(builder, self.type)
            s.TensorAddBuffer(builder, self.buffer)
            s.TensorAddName(builder, name)
            if quantization is not None:
                s.TensorAddQuantization(builder, quantization)
            s.TensorAddIsVariable(builder, self.isVariable)
            return s.TensorEnd(builder)

    return SharedTensorT


def _aligned_buffer_type() -> type:
    s = schema()

    class AlignedBufferT(s.BufferT):  # type: ignore[misc, name-defined]
        """BufferT whose data vector starts on a 16-byte boundary of the file."""

        def Pack(self, builder: Any) -> int:
            data_off = None
            if self.data is not None:
                raw = bytes(self.data)
                builder.StartVector(1, len(raw), ALIGNMENT)
                builder.head -= len(raw)
                builder.Bytes[builder.head : builder.head + len(raw)] = raw
                data_off = builder.EndVector()
            s.BufferStart(builder)
            if data_off is not None:
                s.BufferAddData(builder, data_off)
            return s.BufferEnd(builder)

    return AlignedBufferT


class SubgraphBuilder:
    """Tensors and operators of one subgraph, in execution order."""

    def __init__(self, model: ModelBuilder, index: int, name: str) -> None:
        self.model = model
        self.index = index
        self._sg = schema().SubGraphT()
        self._sg.name = name
        self._sg.tensors = []
        self._sg.operators = []
        self._sg.inputs = []
        self._sg.outputs = []
        self._names: set[str] = set()
        self._consts: dict[tuple, int] = {}

    # -- tensors ----------------------------------------------------------------------------
    def tensor(
        self,
        name: str,
        shape: tuple[int, ...] | list[int],
        dtype: Any = np.float32,
        *,
        buffer: int = 0,
        variable: bool = False,
        quantization: Quantization | None = None,
    ) -> int:
        """A new named tensor; returns its index in this subgraph."""
        self.model._check_open()
        s = schema()
        if name in self._names:
            raise ValueError(f"tensor name {name!r} used twice in subgraph {self._sg.name!r}")
        self._names.add(name)
        t = _shared_tensor_type()()
        t.shared = self.model._quant_cache
        t.name = name
        t.shape = [int(d) for d in shape]
        t.type = getattr(s.TensorType, _TENSOR_TYPES[np.dtype(dtype)])
        t.buffer = buffer
        t.isVariable = variable
        if quantization is not None:
            t.quantization = quantization.to_schema(self.model._quant_cache)
        self._sg.tensors.append(t)
        return len(self._sg.tensors) - 1

    def const(
        self, name: str, value: np.ndarray, *, quantization: Quantization | None = None
    ) -> int:
        """A constant tensor whose data lives in a (deduplicated) model buffer.

        A constant equal in dtype, shape, bytes and quantization to one already in this subgraph
        is that tensor (the first name wins): a slice size or split axis repeated per step costs
        one tensor, not T.
        """
        value = np.ascontiguousarray(value)
        if value.dtype == np.float64:
            raise TypeError(f"{name}: cast float64 to float32 before writing")
        data = value.tobytes()
        key = (value.dtype.str, tuple(value.shape), hashlib.sha256(data).digest(), quantization)
        if key in self._consts:
            return self._consts[key]
        buf = self.model._buffer(data)
        index = self.tensor(name, value.shape, value.dtype, buffer=buf, quantization=quantization)
        self._consts[key] = index
        return index

    def shape_of(self, index: int) -> tuple[int, ...]:
        return tuple(self._sg.tensors[index].shape)

    def quantization_of(self, index: int) -> Quantization | None:
        """The tensor's quantization as written (None for float tensors)."""
        q = self._sg.tensors[index].quantization
        if q is None:
            return None
        return Quantization(tuple(q.scale), tuple(q.zeroPoint), q.quantizedDimension)

    # -- operators --------------------------------------------------------------------------
    def op(
        self,
        code: str,
        inputs: list[int],
        outputs: list[int],
        options: Any = None,
        options_type: str | None = None,
        intermediates: list[int] | None = None,
    ) -> None:
        """Append one builtin operator; ``code`` names schema.fbs `enum BuiltinOperator`,
        ``options`` is its ``...OptionsT`` (``options_type`` defaults to the class name).
        ``intermediates``: tensors that only carry quantization for the kernel (schema.fbs
        `Operator.intermediates`; the integer LSTM reads its hidden scale from one)."""
        self.model._check_open()
        s = schema()
        o = s.OperatorT()
        o.opcodeIndex = self.model._opcode(code)
        o.inputs = list(inputs)
        o.outputs = list(outputs)
        if intermediates:
            o.intermediates = list(intermediates)
        if options is not None:
            kind = options_type or type(options).__name__.removesuffix("T")
            o.builtinOptionsType = getattr(s.BuiltinOptions, kind)
            o.builtinOptions = options
        self._sg.operators.append(o)

    def set_io(self, inputs: list[int], outputs: list[int]) -> None:
        self._sg.inputs = list(inputs)
        self._sg.outputs = list(outputs)

    @property
    def num_ops(self) -> int:
        return len(self._sg.operators)


class ModelBuilder:
    """Builds one .tflite model: ``subgraph()`` ... ``signature()`` ... ``finish() -> bytes``."""

    def __init__(self, description: str = "edgegru") -> None:
        s = schema()
        self._state = "open"
        self._model = s.ModelT()
        self._model.version = 3  # schema.fbs: the current schema version
        self._model.description = description
        self._model.operatorCodes = []
        self._model.subgraphs = []
        self._model.metadata = []
        self._model.signatureDefs = []
        self._buffers: list[Any] = [s.BufferT()]  # buffer 0: the empty sentinel
        self._by_digest: dict[bytes, int] = {}
        self._opcodes: dict[str, int] = {}
        self._subgraphs: list[SubgraphBuilder] = []
        # offsets of packed quantization tables and shape vectors (finish() only)
        self._quant_cache: dict = {}

    def _check_open(self) -> None:
        if self._state != "open":
            raise RuntimeError("the model is finished; start a new ModelBuilder")

    def subgraph(self, name: str) -> SubgraphBuilder:
        """A new subgraph; the first one is the main (entry) graph."""
        self._check_open()
        sg = SubgraphBuilder(self, len(self._subgraphs), name)
        self._subgraphs.append(sg)
        self._model.subgraphs.append(sg._sg)
        return sg

    def _buffer(self, data: bytes) -> int:
        digest = hashlib.sha256(data).digest()
        if digest not in self._by_digest:
            b = _aligned_buffer_type()()
            b.data = data
            self._buffers.append(b)
            self._by_digest[digest] = len(self._buffers) - 1
        return self._by_digest[digest]

    def _opcode(self, code: str) -> int:
        if code not in self._opcodes:
            s = schema()
            c = s.OperatorCodeT()
            value = getattr(s.BuiltinOperator, code)
            c.builtinCode = value
            # schema.fbs: deprecated_builtin_code is int8; codes > 127 read the int32 field and
            # old readers see PLACEHOLDER_FOR_GREATER_OP_CODES (127).
            c.deprecatedBuiltinCode = min(value, 127)
            c.version = 1
            self._model.operatorCodes.append(c)
            self._opcodes[code] = len(self._model.operatorCodes) - 1
        return self._opcodes[code]

    def metadata(self, name: str, data: bytes) -> None:
        """A named metadata entry pointing at its own (unshared) buffer."""
        self._check_open()
        s = schema()
        b = _aligned_buffer_type()()
        b.data = data
        self._buffers.append(b)
        m = s.MetadataT()
        m.name = name
        m.buffer = len(self._buffers) - 1
        self._model.metadata.append(m)

    def signature(
        self, key: str, subgraph: SubgraphBuilder, inputs: dict[str, int], outputs: dict[str, int]
    ) -> None:
        """A SignatureDef: public names -> tensor indices of ``subgraph``."""
        self._check_open()
        s = schema()

        def maps(named: dict[str, int]) -> list[Any]:
            out = []
            for name, index in named.items():
                m = s.TensorMapT()
                m.name = name
                m.tensorIndex = index
                out.append(m)
            return out

        sig = s.SignatureDefT()
        sig.signatureKey = key
        sig.subgraphIndex = subgraph.index
        sig.inputs = maps(inputs)
        sig.outputs = maps(outputs)
        self._model.signatureDefs.append(sig)

    @property
    def num_buffers(self) -> int:
        return len(self._buffers)

    def finish(self) -> bytes:
        """Pack the model with file identifier ``TFL3``; the builder is closed afterwards."""
        self._check_open()
        import flatbuffers

        self._state = "finished"
        self._model.buffers = self._buffers
        builder = flatbuffers.Builder(1024)
        builder.Finish(self._model.Pack(builder), file_identifier=b"TFL3")
        return bytes(builder.Output())
