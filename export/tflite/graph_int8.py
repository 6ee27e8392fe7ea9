"""Assemble full-integer (int8-static) models around a cell's int8 lowering, as
``edgegru.quantize.reference`` computes them (docs/quantization.md, docs/architecture.md#exporters):

    x [1, T, F] float32 raw -> SUB mean, MUL 1/std (float32) -> QUANTIZE @ input
      -> the cell lowering (int8) -> the head's input (int8)
      -> FULLY_CONNECTED @ head.y -> DEQUANTIZE -> y [1, O] float32
      (head.y int16: QUANTIZE int8 -> int16 first, a 16x8 FULLY_CONNECTED: these two run on
      TFLite's builtin kernels after XNNPACK's partition; see QuantizeConfig.logits_bits)

Inputs and outputs stay float32 (the runner and apps feed floats); the normalization is two
float ops, not folded into the int8 weights, so the file's int8 weights are exactly the bundle's.
Step form: x [1, F] and float32 states (h [L, 1, H]; the mean head's sum [1, H] and count [1, 1]),
each h QUANTIZEd at l{k}.h on the way in and DEQUANTIZEd on the way out. Both are exact: h is on
l{k}.h's grid, so QUANTIZE(DEQUANTIZE(h_q)) = h_q, and the zero state quantizes to the zero
point the sequence form starts from. So the step form computes the sequence form's h bit for bit.
"""

from __future__ import annotations

from typing import Any

from edgegru.errors import BadInput
from edgegru.export import padding
from edgegru.export.tflite import ops
from edgegru.export.tflite import ops_int8 as q8
from edgegru.export.tflite.builder import ModelBuilder, SubgraphBuilder
from edgegru.export.tflite.graph import (
    OUT_SUFFIX,
    Built,
    finish_model,
    running_mean,
    sequence_inputs,
    sequence_meta,
    stack_layers,
    step_inputs,
    unstack_layers,
)
from edgegru.export.tflite.lowerings import Int8Lowering, load_int8
from edgegru.quantize.lstm_lowered_reference import GRAPH_KEY
from edgegru.quantize.reference import Int8Model, build_reference
from edgegru.types import ActQuant, Bundle


def _normalize_quantize(g: SubgraphBuilder, model: Int8Model, x: int, normalized: bool) -> int:
    """(x - mean) * (1 / std) in float32, then QUANTIZE at the input point."""
    if normalized:
        x = ops.sub(g, "x_centered", x, g.const("norm/mean", model.mean))
        x = ops.mul(g, "x_normalized", x, g.const("norm/inv_std", model.inv_std))
    return q8.quantize(g, "x_q", x, model.q_input)


def _head(g: SubgraphBuilder, model: Int8Model, pooled: int) -> int:
    fc = model.head
    if fc.q_out.bits == 16:  # 16x8 head: builtin kernels (XNNPACK has no int16 ops)
        pooled = q8.quantize(g, "pool16", pooled, ActQuant(fc.q_in.scale, 0, 16))
    y_q = q8.fully_connected(g, "y_q", pooled, fc)
    return q8.dequantize(g, "y", y_q)


def _int8_details(bundle: Bundle, model: Int8Model, lowering: Int8Lowering) -> dict[str, Any]:
    from edgegru.quantize.static import tolerance

    quant = bundle.quant
    assert quant is not None
    stated = tolerance(quant, bundle.spec.cell, lowering.reference_graph)
    return {
        # the max abs output error vs the float model the runner's check applies
        **({"tolerance": stated} if stated is not None else {}),
        "quantization": {
            "scheme": quant.scheme,
            "weights": lowering.weights_note,
            "activations": "int8 per tensor (calibrated)",
            "logits": f"int{model.head.q_out.bits}",
            "state": lowering.state_note,
            "input": {"scale": model.q_input.scale, "zero_point": model.q_input.zero_point},
            "output": {
                "scale": model.head.q_out.scale,
                "zero_point": model.head.q_out.zero_point,
            },
            "calibration": dict(quant.calibration),
        },
    }


def _graph_meta(lowering: Int8Lowering) -> dict[str, str]:
    """Which NumPy int8 graph the file computes, when not the cell's own (the check compares the
    file against that graph's reference)."""
    return {GRAPH_KEY: lowering.reference_graph} if lowering.reference_graph else {}


def _lowering(bundle: Bundle, options: dict[str, Any]) -> tuple[Int8Lowering, Int8Model]:
    """The int8 lowering the options select (the cell's own, or for an LSTM's ``layout=lowered``
    / ``unrolled`` the builtin-op one, ``lowerings/lstm_lowered_int8``) and the NumPy int8 model
    it writes."""
    from edgegru.export.tflite.lowerings.lstm_lowered_int8 import lowered_int8

    spec = bundle.spec
    lowering = lowered_int8(spec, options) or load_int8().get(spec.cell)
    if "layout" in options and options["layout"] not in lowering.layouts:
        raise BadInput(
            f"layout={options['layout']} has no int8-static form for {spec.cell} models "
            f"(the int8 file uses {lowering.kernel}; int8 layouts: {', '.join(lowering.layouts)})"
        )
    # raises BadInput without calibrated ranges
    return lowering, build_reference(bundle, lowering.reference_graph)


def build_sequence_int8(
    bundle: Bundle, seq_len: int, options: dict[str, Any], source: str, with_lengths: bool = False
) -> Built:
    spec = bundle.spec
    lowering, model = _lowering(bundle, options)
    m = ModelBuilder()
    g = m.subgraph("main")
    inputs, lengths = sequence_inputs(g, spec, seq_len, with_lengths)
    x_q = _normalize_quantize(g, model, inputs["x"], spec.normalization is not None)
    pooled = lowering.sequence(m, g, x_q, seq_len, model, options, lengths)
    y = _head(g, model, pooled.tensor)
    meta = sequence_meta(seq_len, source, dict(pooled.details), lengths) | _graph_meta(lowering)
    built = finish_model(m, g, bundle, (inputs, {"y": y}), meta)
    built.details |= _int8_details(bundle, model, lowering)
    return built


def build_step_int8(bundle: Bundle, options: dict[str, Any], source: str) -> Built:
    spec = bundle.spec
    lowering, model = _lowering(bundle, options)
    L, H = spec.num_layers, spec.hidden_size
    m = ModelBuilder()
    g = m.subgraph("main")
    inputs = step_inputs(g, spec)
    x_q = _normalize_quantize(g, model, inputs["x"], spec.normalization is not None)
    h_in = unstack_layers(g, "h", inputs["h"], L, H)
    outputs: dict[str, int] = {}
    # the cell's float32 states of every layer by name (h unstacked above)
    f_in = {name: h_in if name == "h" else unstack_layers(g, name, inputs[name], L, H)
            for name in spec.cell_spec.states}  # fmt: skip
    if lowering.float_states:  # e.g. the fused integer LSTM takes the float states
        h_top, new_f = lowering.step(g, x_q, f_in, model)
    else:  # int8 states, quantized at the layer points the lowering names
        states = {
            name: [q8.quantize(g, f"{name}{k}_q", t, layer.q[point]) for k, (t, layer) in
                   enumerate(zip(f_in[name], model.layers, strict=True))]
            for name, point in lowering.state_points.items()
        }  # fmt: skip
        h_top, new = lowering.step(g, x_q, states, model)
        new_f = {name: [q8.dequantize(g, f"{name}{k}_new", t) for k, t in enumerate(new[name])]
                 for name in new}  # fmt: skip
    for name in (n for n in new_f if n != "h"):
        outputs[name + OUT_SUFFIX] = stack_layers(g, name + OUT_SUFFIX, new_f[name], L, H)
    if spec.head == "mean":
        mean, pooled_states = running_mean(g, inputs, new_f["h"][-1])
        outputs["y"] = _head(g, model, q8.quantize(g, "pool", mean, model.q_pool))
        outputs |= {name + OUT_SUFFIX: t for name, t in pooled_states.items()}
    else:
        outputs["y"] = _head(g, model, h_top)
    outputs["h" + OUT_SUFFIX] = stack_layers(g, "h" + OUT_SUFFIX, new_f["h"], L, H)
    outputs = {k: outputs[k] for k in ["y", *(n + OUT_SUFFIX for n in spec.state_names)]}
    meta = {
        "form": "step",
        "source_sha256": source,
        "layout": "step",
        "runtime": lowering.step_runtime,
        "states": list(spec.state_names),
        **padding.fields("step", False),
        **_graph_meta(lowering),
    }
    built = finish_model(m, g, bundle, (inputs, outputs), meta)
    built.details |= _int8_details(bundle, model, lowering)
    return built
