"""Read a .tflite file back into the schema's object API (the writer's round-trip check, and a
way to list what an artifact holds without a runtime)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from edgegru.export.tflite.builder import schema


@dataclass(frozen=True)
class ModelSummary:
    ops: list[list[str]]  # per subgraph, operator names in execution order
    tensors: list[list[str]]  # per subgraph, tensor names
    signatures: dict[str, dict[str, list[str]]]  # key -> {"inputs": [...], "outputs": [...]}
    metadata: dict[str, bytes]
    buffer_offsets: list[int]  # file offset of each non-empty buffer's data
    num_buffers: int


def read_model(data: bytes) -> Any:
    """The ModelT of a .tflite file (raises ValueError when it is not one)."""
    s = schema()
    if len(data) < 8 or data[4:8] != b"TFL3":
        raise ValueError("not a TFLite flatbuffer (file identifier TFL3 missing)")
    return s.ModelT.InitFromObj(s.Model.GetRootAs(data, 0))


def _op_names() -> dict[int, str]:
    s = schema()
    return {v: k for k, v in vars(s.BuiltinOperator).items() if not k.startswith("_")}


def summarize(data: bytes) -> ModelSummary:
    s = schema()
    model = read_model(data)
    names = _op_names()
    codes = [max(c.builtinCode, c.deprecatedBuiltinCode) for c in model.operatorCodes]
    raw = s.Model.GetRootAs(data, 0)
    offsets = []
    for i in range(raw.BuffersLength()):
        b = raw.Buffers(i)
        if b.DataLength():
            # the vector's first byte: table position + data field -> vector start
            offsets.append(b._tab.Vector(b._tab.Offset(4)))
    decode = lambda v: v.decode() if isinstance(v, bytes) else v  # noqa: E731
    return ModelSummary(
        ops=[[names[codes[o.opcodeIndex]] for o in sg.operators or []] for sg in model.subgraphs],
        tensors=[[decode(t.name) for t in sg.tensors or []] for sg in model.subgraphs],
        signatures={
            decode(sig.signatureKey): {
                "inputs": [decode(t.name) for t in sig.inputs],
                "outputs": [decode(t.name) for t in sig.outputs],
            }
            for sig in model.signatureDefs or []
        },
        metadata={
            decode(m.name): bytes(model.buffers[m.buffer].data) for m in model.metadata or []
        },
        buffer_offsets=offsets,
        num_buffers=len(model.buffers),
    )
