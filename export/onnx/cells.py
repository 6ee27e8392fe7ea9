"""Cell lowerings: PyTorch-ordered bundle weights -> the inputs of the fused ONNX RNN ops.

One function per cell, registered by the edgegru cell name. Each returns the ONNX op, its
attributes and its constant inputs W, R, B, P for one layer, in the layout of the ONNX operator
docs (onnx/docs/Operators.md, GRU and LSTM, opset 14+): a leading num_directions axis of 1,
gates stacked in ONNX's order, B = [Wb, Rb] concatenated.

NumPy only: the graph builders turn the arrays into initializers.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from edgegru.registry import Registry
from edgegru.types import ModelSpec


@dataclass
class LayerOp:
    """One fused recurrent node: ``op(X, W, R, B, sequence_lens, initial_h[, initial_c, P])``."""

    op_type: str  # "GRU" or "LSTM"
    W: np.ndarray  # [1, G*H, I]
    R: np.ndarray  # [1, G*H, H]
    B: np.ndarray | None  # [1, 2*G*H]: Wb then Rb; None when the model has no bias (ONNX: zeros)
    P: np.ndarray | None = None  # [1, 3*H]: p_i, p_o, p_f (LSTM only)
    attributes: dict[str, Any] = field(default_factory=dict)

    @property
    def has_cell_state(self) -> bool:
        return self.op_type == "LSTM"


Lowering = Callable[[ModelSpec, dict[str, np.ndarray], int], LayerOp]
ONNX_CELLS: Registry[Lowering] = Registry("ONNX cell lowering")


def _reorder(w: np.ndarray, order: tuple[int, ...]) -> np.ndarray:
    """Permute the gate blocks along axis 0: [G*H, ...] with PyTorch's order -> ONNX's."""
    blocks = np.split(w, len(order), axis=0)
    return np.concatenate([blocks[i] for i in order], axis=0)


def _common(
    spec: ModelSpec, weights: dict[str, np.ndarray], k: int, order: tuple[int, ...]
) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    W = _reorder(weights[f"rnn.weight_ih_l{k}"], order)[None]  # [1, G*H, I]
    R = _reorder(weights[f"rnn.weight_hh_l{k}"], order)[None]  # [1, G*H, H]
    B = None
    if spec.bias:
        Wb = _reorder(weights[f"rnn.bias_ih_l{k}"], order)  # [G*H]
        Rb = _reorder(weights[f"rnn.bias_hh_l{k}"], order)  # [G*H]
        B = np.concatenate([Wb, Rb])[None]  # [1, 2*G*H]
    return W, R, B


@ONNX_CELLS.register("gru")
def gru(spec: ModelSpec, weights: dict[str, np.ndarray], k: int) -> LayerOp:
    # PyTorch r, z, n -> ONNX z, r, h. linear_before_reset=1 applies r to (R_h h + Rb_h), which
    # is PyTorch's n = tanh(W_in x + b_in + r (.) (W_hn h + b_hn)) (docs/architecture.md#cells).
    W, R, B = _common(spec, weights, k, (1, 0, 2))
    return LayerOp("GRU", W, R, B, attributes={"linear_before_reset": 1})


@ONNX_CELLS.register("lstm")
def lstm(spec: ModelSpec, weights: dict[str, np.ndarray], k: int) -> LayerOp:
    # PyTorch i, f, g, o -> ONNX i, o, f, c.
    W, R, B = _common(spec, weights, k, (0, 3, 1, 2))
    return LayerOp("LSTM", W, R, B)


@ONNX_CELLS.register("peephole")
def peephole(spec: ModelSpec, weights: dict[str, np.ndarray], k: int) -> LayerOp:
    # The ONNX LSTM peeks at C_{t-1} for i and f and at the new C_t for o, exactly the
    # Gers & Schmidhuber cell of docs/architecture.md#cells; its P input is [p_i, p_o, p_f].
    W, R, B = _common(spec, weights, k, (0, 3, 1, 2))
    p_i, p_f, p_o = weights[f"rnn.weight_peep_l{k}"]  # rows of [3, H]
    P = np.concatenate([p_i, p_o, p_f])[None]  # [1, 3*H]
    return LayerOp("LSTM", W, R, B, P=P)


def lower_layer(spec: ModelSpec, weights: dict[str, np.ndarray], k: int) -> LayerOp:
    return ONNX_CELLS.get(spec.cell)(spec, weights, k)
