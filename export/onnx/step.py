"""The streaming step graph: x [batch, features] + states -> y [batch, outputs] + new states.

    x -> [normalize] -> Unsqueeze (T = 1) -> GRU/LSTM per layer with initial_h = h[k] -> head

States are named as ``ModelSpec.state_names`` (h, c [L, B, H]; the mean head's running sum
[B, H] and count [B, 1]); each new state is the same name + ``_out``, so a caller feeds
``outputs[name + "_out"]`` back as ``inputs[name]``. All states start at zero.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from edgegru.export.onnx.cells import lower_layer
from edgegru.export.onnx.graph import (
    Graph,
    fold_normalization,
    normalization_plan,
    normalize_nodes,
)
from edgegru.types import Bundle, TensorInfo

OUT_SUFFIX = "_out"


def state_shapes(bundle: Bundle) -> dict[str, tuple[int | str, ...]]:
    spec = bundle.spec
    L, H = spec.num_layers, spec.hidden_size
    shapes: dict[str, tuple[int | str, ...]] = {"h": (L, "batch", H), "c": (L, "batch", H)}
    shapes |= {"sum": ("batch", H), "count": ("batch", 1)}
    return {name: shapes[name] for name in spec.state_names}


def io(bundle: Bundle) -> tuple[tuple[TensorInfo, ...], tuple[TensorInfo, ...]]:
    spec = bundle.spec
    states = state_shapes(bundle)
    inputs = [TensorInfo("x", ("batch", spec.input_size), "float32")]
    inputs += [TensorInfo(n, s, "float32") for n, s in states.items()]
    outputs = [TensorInfo("y", ("batch", spec.num_outputs), "float32")]
    outputs += [TensorInfo(n + OUT_SUFFIX, s, "float32") for n, s in states.items()]
    return tuple(inputs), tuple(outputs)


def _per_layer(g: Graph, state: str, L: int) -> list[str]:
    """[L, B, H] -> L tensors [1, B, H], the initial_h / initial_c shape of the ONNX op."""
    if L == 1:
        return [state]
    return g.node("Split", [state], [g.name(f"{state}_l{k}") for k in range(L)], axis=0)


def _stack(g: Graph, parts: list[str], out: str) -> None:
    """L tensors [1, B, H] -> [L, B, H] named ``out`` (one layer wrote ``out`` itself)."""
    if len(parts) > 1:
        g.node("Concat", parts, [out], name=f"{out}_concat", axis=0)


def build(bundle: Bundle) -> tuple[Graph, dict[str, Any]]:
    spec, H, L = bundle.spec, bundle.spec.hidden_size, bundle.spec.num_layers
    g = Graph()
    inputs, outputs = io(bundle)
    g.reserve(*(t.name for t in inputs + outputs))

    plan = normalization_plan(spec)
    x = normalize_nodes(g, spec, "x") if plan == "nodes" else "x"
    (X,) = g.node("Unsqueeze", [x, g.axes(0)], name="one_step")  # [1, B, F]: T = 1
    h_in = _per_layer(g, "h", L)
    c_in = _per_layer(g, "c", L) if "c" in spec.state_names else []
    h_new, c_new = [], []
    for k in range(L):
        layer = lower_layer(spec, bundle.weights, k)
        if k == 0 and plan == "folded":
            layer = fold_normalization(spec, layer)
        op = f"{layer.op_type.lower()}_l{k}"
        ins = [X, g.const(f"W_l{k}", layer.W), g.const(f"R_l{k}", layer.R)]
        ins += ["" if layer.B is None else g.const(f"B_l{k}", layer.B), "", h_in[k]]
        # Y is unused (T = 1: Y_h is the same); one layer writes Y_h [1, B, H] as h_out itself.
        outs = ["", "h" + OUT_SUFFIX if L == 1 else g.name(f"Y_h_l{k}")]
        if layer.has_cell_state:
            ins.append(c_in[k])
            outs.append("c" + OUT_SUFFIX if L == 1 else g.name(f"Y_c_l{k}"))
            if layer.P is not None:
                ins.append(g.const(f"P_l{k}", layer.P))
        g.node(layer.op_type, ins, outs, name=op, hidden_size=H, **layer.attributes)
        h_new.append(outs[1])
        if layer.has_cell_state:
            c_new.append(outs[2])
        X = outs[1]  # Y_h [1, B, H] is the next layer's X [T = 1, B, H]

    _stack(g, h_new, "h" + OUT_SUFFIX)
    if c_new:
        _stack(g, c_new, "c" + OUT_SUFFIX)
    (top,) = g.node("Squeeze", [h_new[-1], g.axes(0)], name="top_h")  # [B, H]
    if spec.head == "mean":
        # The running mean of the top layer's outputs: sum' = sum + h, count' = count + 1.
        g.node("Add", ["sum", top], ["sum" + OUT_SUFFIX], name="running_sum")
        one = g.const("one", np.ones((1, 1), np.float32))
        g.node("Add", ["count", one], ["count" + OUT_SUFFIX], name="running_count")
        (top,) = g.node("Div", ["sum" + OUT_SUFFIX, "count" + OUT_SUFFIX], name="running_mean")
    W_head = g.const("head_W", bundle.weights["head.weight"])  # [O, H]
    b_head = g.const("head_b", bundle.weights["head.bias"])  # [O]
    g.node("Gemm", [top, W_head, b_head], ["y"], name="head", transB=1)
    extra = {
        "normalization": plan,
        "states": [
            {"input": n, "output": n + OUT_SUFFIX, "shape": list(s), "initial": 0.0}
            for n, s in state_shapes(bundle).items()
        ],
    }
    return g, extra
