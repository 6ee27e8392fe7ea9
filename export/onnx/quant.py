"""int8 weights in the ONNX graphs (docs/architecture.md#exporters): QDQ for the "int8-dynamic"
precision.

Every quantized weight (``edgegru.quantize.weights``: W and R of each fused GRU/LSTM node, the
head's Gemm weight) is stored as an int8 initializer with its per-output-channel float32 scales
and a ``DequantizeLinear`` (opset 13+, per-axis) in front of the op that reads it: W/R
[1, G*H, I] along axis 1, the head weight [O, H] along axis 0. The zero point is omitted (0, int8
from the input type). Biases and peepholes stay float32 (a few hundred values).

Speed (``python -m bench.onnx_int8``, workload P, ORT 1.32, one thread): ONNX Runtime keeps
DequantizeLinear of constants in the graph by default (its ConstantFolding skips them to keep QDQ
groups for execution providers), so the QDQ file ran 1.10-1.31x the float time; with the session
option ``session.disable_quant_qdq = 1`` it folds them at load and runs at float speed (GRU
h128x2: 260 vs 261 us). The manifest names that option (``details.ort_session_config``).
ORT has an int8 kernel for LSTM only, ``com.microsoft.DynamicQuantizeLSTM`` (int8 weights, inputs
quantized per call), so those cells use it (``lstm_kernel``; option ``int8_kernel=no`` keeps plain
QDQ, runnable by any ONNX runtime). There is no int8 GRU kernel in ORT: GRU stays QDQ.
The kernel is given ONE scale per W and per R, as ORT's own ``quantize_dynamic`` does: with a
scale per output channel ([1, 4H], what the QDQ file has) it ran 1.20x slower than with a scalar
one (LSTM h64 34.6 vs 28.7 us, h128x2 151 vs 130, same file otherwise; a per-channel scale with a
scalar zero point was as slow, so it is the per-column scaling of the kernel's int32 results).
With it: 0.64x float at h64, 0.46x at h128x2, for LSTM and peephole alike, as fast as
``quantize_dynamic``'s file; the head (12 rows) is left as DequantizeLinear + Gemm: ORT's
DynamicQuantizeLinear + MatMulInteger there measured within 0.5 us of it.

The normalization is never folded into W for int8 (``graph.normalization_plan``): the int8
weights are exactly the bundle's, so the host (``quantize.compare``) computes what the file does.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from edgegru.export.onnx.cells import LayerOp, lower_layer
from edgegru.export.onnx.graph import Graph
from edgegru.quantize.kernels import tflite_round
from edgegru.quantize.weights import WEIGHT_QMAX, int8_weights
from edgegru.types import Bundle

INT8_PRECISIONS = ("int8-dynamic",)


def int8_layer(bundle: Bundle, k: int) -> tuple[LayerOp, LayerOp]:
    """(int8 values, scales) of layer k in ONNX's layout and gate order: the first LayerOp's W/R
    hold the int8 weights (as int8 [1, G*H, I]), the second's the scales ([1, G*H, 1] float32).
    The cell lowering itself reorders both, so they stay row-aligned."""
    q8 = int8_weights(bundle)
    names = (f"rnn.weight_ih_l{k}", f"rnn.weight_hh_l{k}")
    values = dict(bundle.weights) | {n: q8[n][0].astype(np.float32) for n in names}
    scales = dict(bundle.weights) | {n: q8[n][1][:, None] for n in names}
    q_layer = lower_layer(bundle.spec, values, k)
    s_layer = lower_layer(bundle.spec, scales, k)
    q_layer.W = q_layer.W.astype(np.int8)
    q_layer.R = q_layer.R.astype(np.int8)
    return q_layer, s_layer


def dq_const(g: Graph, base: str, q: np.ndarray, scales: np.ndarray, axis: int) -> str:
    """int8 initializer + per-axis DequantizeLinear -> the float tensor's name."""
    name_q = g.const(f"{base}_int8", np.ascontiguousarray(q, np.int8))
    name_s = g.const(f"{base}_scale", np.ascontiguousarray(scales, np.float32).ravel())
    (out,) = g.node("DequantizeLinear", [name_q, name_s], name=f"{base}_dequantize", axis=axis)
    return out


def head_weight(g: Graph, bundle: Bundle, precision: str) -> str:
    """The head Gemm's B input [O, H]: float, or int8 + DequantizeLinear per output row."""
    if precision not in INT8_PRECISIONS:
        return g.const("head_W", bundle.weights["head.weight"])
    q, s = int8_weights(bundle)["head.weight"]
    return dq_const(g, "head_W", q, s, axis=0)


def layer_weights(
    g: Graph, bundle: Bundle, layer: LayerOp, k: int, precision: str
) -> tuple[str, str]:
    """Names of the W and R inputs of layer k's fused node."""
    if precision not in INT8_PRECISIONS:
        return g.const(f"W_l{k}", layer.W), g.const(f"R_l{k}", layer.R)
    q_layer, s_layer = int8_layer(bundle, k)
    W = dq_const(g, f"W_l{k}", q_layer.W, s_layer.W, axis=1)
    R = dq_const(g, f"R_l{k}", q_layer.R, s_layer.R, axis=1)
    return W, R


def lstm_kernel(model: Any) -> Any:
    """Rewrite each DequantizeLinear(W), DequantizeLinear(R) -> LSTM into ORT's contrib
    ``DynamicQuantizeLSTM`` (onnxruntime docs/ContribOperators.md): W [D, I, 4H] and R [D, H, 4H]
    int8, i.e. transposed, with one scale [D] and zero point 0 per tensor (see the module
    docstring: per-channel [D, 4H] is allowed but slower); other inputs unchanged.

    The per-tensor int8 values are the per-channel ones requantized, q' = round(q * s / max(s)):
    the row(s) with the largest scale keep their values exactly; every other weight moves by at
    most half a step of max(s) more than rounding the float weight directly would."""
    from onnx import helper, numpy_helper

    g = model.graph
    inits = {i.name: i for i in g.initializer}
    producer = {o: n for n in g.node for o in n.output}
    nodes, dropped = [], set()
    for node in g.node:
        if node.op_type != "LSTM":
            nodes.append(node)
            continue
        names = []
        for which in (1, 2):  # W, R
            dq = producer[node.input[which]]
            dropped.add(dq.name)
            q = numpy_helper.to_array(inits[dq.input[0]])  # [1, 4H, I]
            s = numpy_helper.to_array(inits[dq.input[1]])  # [4H]
            s_t = np.float32(s.max())
            w = q.astype(np.float64) * s.astype(np.float64)[None, :, None]
            q_t = np.clip(tflite_round(w / np.float64(s_t)), -WEIGHT_QMAX, WEIGHT_QMAX)
            q_t = np.transpose(q_t.astype(np.int8), (0, 2, 1))
            base = dq.input[0] + "_t"
            g.initializer.extend([
                numpy_helper.from_array(np.ascontiguousarray(q_t), base),
                numpy_helper.from_array(np.array([s_t], np.float32), base + "_scale"),
                numpy_helper.from_array(np.zeros(1, np.int8), base + "_zero_point"),
            ])  # fmt: skip
            names.append(base)
        ins = list(node.input) + [""] * (8 - len(node.input))  # up to P
        ins[1], ins[2] = names
        ins += [f"{names[0]}_scale", f"{names[0]}_zero_point"]
        ins += [f"{names[1]}_scale", f"{names[1]}_zero_point"]
        attrs = {a.name: helper.get_attribute_value(a) for a in node.attribute}
        nodes.append(
            helper.make_node(
                "DynamicQuantizeLSTM", ins, list(node.output), node.name,
                domain="com.microsoft", **attrs,
            )
        )  # fmt: skip
    kept = [n for n in nodes if n.name not in dropped]
    used = {i for n in kept for i in n.input}
    for init in [i for i in g.initializer if i.name not in used]:
        g.initializer.remove(init)
    del g.node[:]
    g.node.extend(kept)
    model.opset_import.append(helper.make_opsetid("com.microsoft", 1))
    return model
