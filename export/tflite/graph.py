"""Assemble whole models: normalization (folded) -> cell lowering -> head -> signature ->
metadata. The cell-specific part lives in ``lowerings/``; this file is the same for every cell.

Tensor conventions (docs/architecture.md#exporters; batch fixed to 1):
- sequence: x [1, T, F] raw input (+ ``lengths`` [1] int32: ``lengths.py``) -> y [1, O]
  (logits or regression outputs), T fixed.
- step: x [1, F] and the states of ``ModelSpec.state_names`` (h, c [L, 1, H]; the mean head's
  sum [1, H] and count [1, 1]) -> y [1, O] and the states again as ``<name>_out``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from edgegru.export import padding
from edgegru.export.tflite import hybrid, ops
from edgegru.export.tflite.builder import ModelBuilder, SubgraphBuilder
from edgegru.export.tflite.lengths import Lengths
from edgegru.export.tflite.lowerings import Request, load
from edgegru.export.tflite.metadata import NAME, metadata
from edgegru.export.tflite.weights import head, layers
from edgegru.types import Bundle, ModelSpec, TensorInfo

SIGNATURE = "serving_default"
OUT_SUFFIX = "_out"


@dataclass
class Built:
    data: bytes
    inputs: tuple[TensorInfo, ...]
    outputs: tuple[TensorInfo, ...]
    details: dict[str, Any] = field(default_factory=dict)


def _info(g: SubgraphBuilder, name: str, t: int) -> TensorInfo:
    return TensorInfo(name, g.shape_of(t), np.dtype(ops.g_dtype(g, t)).name)


def _linear(
    g: SubgraphBuilder, bundle: Bundle, pooled: int, scale: float, options: dict[str, Any]
) -> int:
    W, b = head(bundle, scale)  # [O, H], [O]
    W_t = hybrid.weight(g, "head/W", W, hybrid.is_int8(options))
    return ops.fully_connected(g, "y", pooled, W_t, g.const("head/b", b))


def finish_model(
    m: ModelBuilder,
    g: SubgraphBuilder,
    bundle: Bundle,
    io: tuple[dict[str, int], dict[str, int]],
    meta: dict[str, Any],
) -> Built:
    """The file of a built graph: ``io`` (inputs, outputs by name) become the main subgraph's
    I/O and the serving signature, ``meta`` (with ``source_sha256`` and ``form``) the model's
    metadata and the artifact's details."""
    inputs, outputs = io
    g.set_io(list(inputs.values()), list(outputs.values()))
    m.signature(SIGNATURE, g, inputs, outputs)
    details = {
        "signature": SIGNATURE,
        "batch": 1,
        "ops": sum(sg.num_ops for sg in m._subgraphs),
        "subgraphs": len(m._subgraphs),
        **meta,
    }
    m.metadata(NAME, metadata(bundle, meta.pop("source_sha256"), meta["form"], meta))
    details.pop("source_sha256", None)
    return Built(
        m.finish(),
        tuple(_info(g, n, t) for n, t in inputs.items()),
        tuple(_info(g, n, t) for n, t in outputs.items()),
        details,
    )


def sequence_inputs(
    g: SubgraphBuilder, spec: ModelSpec, seq_len: int, with_lengths: bool
) -> tuple[dict[str, int], Lengths | None]:
    """x [1, T, F] float32 (+ ``lengths`` [1] int32, clamped to 1..T inside)."""
    inputs = {"x": g.tensor("x", (1, seq_len, spec.input_size))}
    if not with_lengths:
        return inputs, None
    lengths = Lengths.add_input(g, seq_len)
    return inputs | {padding.INPUT: lengths.input}, lengths


def sequence_meta(seq_len: int, source: str, details: dict[str, Any], lengths) -> dict[str, Any]:
    how = details.pop("padding_how", None)
    if lengths is not None and how is None:  # a lowering that ignored req.lengths
        raise ValueError("the cell lowering does not read lengths (say how in padding_how)")
    return {
        "form": "sequence", "seq_len": seq_len, "source_sha256": source, **details,
        **padding.fields("sequence", lengths is not None, how),
    }  # fmt: skip


def build_sequence(
    bundle: Bundle, seq_len: int, options: dict[str, Any], source: str, with_lengths: bool = False
) -> Built:
    spec = bundle.spec
    lowering = load().get(spec.cell)
    m = ModelBuilder()
    g = m.subgraph("main")
    inputs, lengths = sequence_inputs(g, spec, seq_len, with_lengths)
    req = Request(spec, layers(bundle), seq_len, dict(options), lengths)
    pooled = lowering.sequence(m, g, inputs["x"], req)
    # a lowering may keep the head float32 in an int8-dynamic file (lstm.py says why)
    head_options = {} if pooled.details.get("head") == "float32" else options
    y = _linear(g, bundle, pooled.tensor, pooled.scale, head_options)
    meta = sequence_meta(seq_len, source, dict(pooled.details), lengths)
    return finish_model(m, g, bundle, (inputs, {"y": y}), meta)


def unstack_layers(g: SubgraphBuilder, name: str, t: int, L: int, H: int) -> list[int]:
    """[L, 1, H] -> L tensors [1, H]."""
    flat = ops.reshape(g, f"{name}/flat", t, (L, H))
    return [flat] if L == 1 else ops.split(g, f"{name}/layers", flat, L, axis=0)


def stack_layers(g: SubgraphBuilder, name: str, ts: list[int], L: int, H: int) -> int:
    """L tensors [1, H] -> [L, 1, H]."""
    flat = ts[0] if L == 1 else ops.concatenation(g, f"{name}/cat", ts, axis=0)
    return ops.reshape(g, name, flat, (L, 1, H))


def step_inputs(g: SubgraphBuilder, spec: ModelSpec) -> dict[str, int]:
    """The step model's inputs: x [1, F] and every named state (h, c [L, 1, H]; the mean head's
    sum [1, H] and count [1, 1]), float and in this order for float and int8 files alike."""
    L, H = spec.num_layers, spec.hidden_size
    inputs = {"x": g.tensor("x", (1, spec.input_size))}
    for name in spec.state_names:
        shape = {"sum": (1, H), "count": (1, 1)}.get(name, (L, 1, H))
        inputs[name] = g.tensor(name, shape)
    return inputs


def running_mean(g: SubgraphBuilder, inputs: dict[str, int], h: int) -> tuple[int, dict[str, int]]:
    """The mean head in a step model: sum' = sum + h, count' = count + 1 (float32 states the app
    carries), mean = sum' / count'. Returns (mean, {"sum": sum', "count": count'})."""
    s = ops.add(g, "sum" + OUT_SUFFIX, inputs["sum"], h)
    one = g.const("one", np.ones((1, 1), np.float32))
    n = ops.add(g, "count" + OUT_SUFFIX, inputs["count"], one)
    return ops.div(g, "mean", s, n), {"sum": s, "count": n}


def build_step(bundle: Bundle, options: dict[str, Any], source: str) -> Built:
    spec = bundle.spec
    lowering = load().get(spec.cell)
    L, H = spec.num_layers, spec.hidden_size
    m = ModelBuilder()
    g = m.subgraph("main")
    inputs = step_inputs(g, spec)
    states = {n: unstack_layers(g, n, inputs[n], L, H) for n in ("h", "c") if n in inputs}
    req = Request(spec, layers(bundle), 1, dict(options))
    h_top, new = lowering.step(g, inputs["x"], states, req)
    outputs: dict[str, int] = {}
    if spec.head == "mean":
        mean, pooled_states = running_mean(g, inputs, h_top)
        outputs["y"] = _linear(g, bundle, mean, 1.0, options)
    else:
        outputs["y"] = _linear(g, bundle, h_top, 1.0, options)
        pooled_states = {}
    for name in spec.state_names:
        if name in new:
            outputs[name + OUT_SUFFIX] = stack_layers(g, name + OUT_SUFFIX, new[name], L, H)
        else:
            outputs[name + OUT_SUFFIX] = pooled_states[name]
    meta = {
        "form": "step",
        "source_sha256": source,
        "layout": "step",
        "runtime": "any: Interpreter or CompiledModel (no loop, no variable tensors)",
        "states": list(spec.state_names),
        **padding.fields("step", False),
    }
    return finish_model(m, g, bundle, (inputs, outputs), meta)
