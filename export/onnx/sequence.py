"""The full-sequence graph: raw x [batch, time, features] (+ lengths) -> y [batch, outputs].

    x -> [normalize] -> Transpose -> GRU/LSTM (one fused node per layer) -> head -> Gemm -> y

ONNX Runtime's CPU GRU/LSTM kernels run only the time-major layout (layout=0: X [T, B, I];
layout=1 fails at load, deep_cpu_gru.h: "Batchwise recurrent operations (layout == 1) are not
supported"), so one Transpose turns the batch-first input around; layers in between drop Y's
num_directions axis with a Squeeze.
"""

from __future__ import annotations

from typing import Any

from edgegru.export import padding
from edgegru.export.onnx.cells import LayerOp, lower_layer
from edgegru.export.onnx.graph import (
    Graph,
    fold_normalization,
    normalization_plan,
    normalize_nodes,
)
from edgegru.export.onnx.quant import head_weight, layer_weights
from edgegru.types import Bundle, TensorInfo

# what a file with ``lengths`` does with the padding (its manifest's ``padding_how``)
PADDING_HOW = (
    "each layer's GRU / LSTM node takes lengths as sequence_lens: the state stops at step n-1 "
    "and ONNX Runtime writes zeros to Y past it; the head reads Y_h (last) or sum(Y) / n (mean)"
)


def io(bundle: Bundle, with_lengths: bool) -> tuple[tuple[TensorInfo, ...], tuple[TensorInfo, ...]]:
    spec = bundle.spec
    inputs = [TensorInfo("x", ("batch", "time", spec.input_size), "float32")]
    if with_lengths:
        inputs.append(TensorInfo(padding.INPUT, ("batch",), "int32"))
    return tuple(inputs), (TensorInfo("y", ("batch", spec.num_outputs), "float32"),)


def layer_inputs(
    g: Graph, layer: LayerOp, k: int, X: str, lengths: str, weights: tuple[str, str]
) -> list[str]:
    """The positional inputs of the fused node; "" marks an omitted optional input."""
    inputs = [X, *weights]
    inputs.append("" if layer.B is None else g.const(f"B_l{k}", layer.B))
    inputs.append(lengths)
    if layer.P is not None:
        inputs += ["", "", g.const(f"P_l{k}", layer.P)]  # initial_h, initial_c: zeros
    while inputs[-1] == "":
        inputs.pop()
    return inputs


def build(
    bundle: Bundle, with_lengths: bool, precision: str = "float32"
) -> tuple[Graph, dict[str, Any]]:
    spec, H = bundle.spec, bundle.spec.hidden_size
    g = Graph()
    inputs, outputs = io(bundle, with_lengths)
    g.reserve(*(t.name for t in inputs + outputs))
    lengths = padding.INPUT if with_lengths else ""

    plan = normalization_plan(spec, precision)
    x = normalize_nodes(g, spec, "x") if plan == "nodes" else "x"
    (X,) = g.node("Transpose", [x], perm=[1, 0, 2], name="to_time_major")  # [T, B, F]
    need_y_top = spec.head == "mean"
    for k in range(spec.num_layers):
        layer = lower_layer(spec, bundle.weights, k)
        if k == 0 and plan == "folded":
            layer = fold_normalization(spec, layer)
        top = k == spec.num_layers - 1
        op = f"{layer.op_type.lower()}_l{k}"
        # Outputs Y [T, 1, B, H] and Y_h [1, B, H]; an unused output is left unnamed so the
        # kernel need not materialize it.
        Y = g.name(f"Y_l{k}") if (not top or need_y_top) else ""
        Y_h = g.name(f"Y_h_l{k}") if top and not need_y_top else ""
        outs = [Y, Y_h] if Y_h else [Y]
        g.node(
            layer.op_type,
            layer_inputs(g, layer, k, X, lengths, layer_weights(g, bundle, layer, k, precision)),
            outs,
            name=op,
            hidden_size=H,
            **layer.attributes,
        )
        if not top:
            (X,) = g.node("Squeeze", [Y, g.axes(1)], name=f"squeeze_l{k}")

    if spec.head == "last":
        # Y_h holds each sequence's last valid step (ONNX GRU/LSTM: with sequence_lens, the
        # hidden state after step sequence_lens[b] - 1).
        (pooled,) = g.node("Squeeze", [Y_h, g.axes(0)], name="last_step")
    elif not with_lengths:
        # mean over time of Y [T, 1, B, H] -> [B, H]
        (pooled,) = g.node("ReduceMean", [Y], name="mean_over_time", axes=[0, 1], keepdims=0)
    else:
        # ONNX Runtime writes zeros to Y past each sequence's length: the sum over all T is the
        # sum over the valid steps; divide by the length.
        (total,) = g.node("ReduceSum", [Y, g.axes(0, 1)], name="sum_over_time", keepdims=0)
        (n,) = g.node("Cast", [lengths], name="lengths_float", to=1)  # [B] float (TensorProto 1)
        (n2,) = g.node("Unsqueeze", [n, g.axes(1)], name="lengths_col")
        (pooled,) = g.node("Div", [total, n2], name="mean_over_valid_steps")  # [B, H] / [B, 1]

    W_head = head_weight(g, bundle, precision)  # [O, H]
    b_head = g.const("head_b", bundle.weights["head.bias"])  # [O]
    g.node("Gemm", [pooled, W_head, b_head], ["y"], name="head", transB=1)
    extra = {"normalization": plan}
    return g, extra
