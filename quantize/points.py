"""The quantization points of the full-integer graphs (GRU; LSTM and peephole LSTM): where the
int8 graph needs a scale.

Names are ``l{k}.<point>`` per layer k and ``head.<point>``; ``edgegru.quantize.reference``
documents the graph op by op. Calibration observes exactly these points, QAT fake-quantizes
exactly these points, and the reference and the TFLite lowering read their scales from
``QuantParams.activations`` under these names. NumPy-free and torch-free.
"""

from __future__ import annotations

from edgegru.cellspec import INTEGER_LSTM
from edgegru.errors import BadInput
from edgegru.quantize.kernels import (
    LOGISTIC_SCALE,
    LOGISTIC_ZERO_POINT,
    TANH_SCALE,
    TANH_ZERO_POINT,
)
from edgegru.types import ActQuant, ModelSpec

# Per-layer points with a calibrated scale, in graph order.
LAYER_POINTS: tuple[str, ...] = (
    "gx_rz",  # input projection of r, z for all steps: W_i{r,z} x + b_i{r,z}
    "gx_n",  # input projection of n: W_in x + b_in
    "gh_rz",  # recurrent projection of r, z: W_h{r,z} h + b_h{r,z}
    "gh_n",  # recurrent projection of n: W_hn h + b_hn
    "pre_rz",  # gate pre-activations gx_rz + gh_rz
    "rgh",  # r (.) gh_n
    "pre_n",  # candidate pre-activation gx_n + r (.) gh_n
    "d",  # h - n
    "zd",  # z (.) (h - n)
    "h",  # hidden state h' = n + z (.) (h - n): one scale for the state in and out
)
# Points with TFLite's fixed output quantization (no calibration).
FIXED: dict[str, ActQuant] = {
    "rz": ActQuant(LOGISTIC_SCALE, LOGISTIC_ZERO_POINT),  # LOGISTIC output: r and z
    "n": ActQuant(TANH_SCALE, TANH_ZERO_POINT),  # TANH output: candidate n
}
# LSTM / peephole (TFLite's integer 8x8_16 LSTM kernel, ``lstm_reference``): the kernel needs
# the scale of h (int8, asymmetric: the output, the recurrent input and the hidden intermediate)
# and of c (int16, power of two, zero point 0); its gate pre-activations are fixed Q3.12
# (scale 2**-12, range [-8, 8)), observed only to record how much of them that range clips.
LSTM_LAYER_POINTS: tuple[str, ...] = ("h", "c")
LSTM_OBSERVED: tuple[str, ...] = ("pre_i", "pre_f", "pre_g", "pre_o")


def integer_lstm(spec: ModelSpec) -> bool:
    """The cell's full-integer form is TFLite's integer LSTM kernel (qlstm, lstm_reference);
    otherwise the GRU's op-for-op int8 graph (qgru, reference)."""
    return spec.cell_spec.int8 == INTEGER_LSTM
# LSTM / peephole lowered to builtin int8 ops (``lstm_lowered_reference``, ``layout=lowered``):
# every intermediate tensor of that graph needs its own int8 scale; h is ``l{k}.h`` above.
LSTM_LOWERED_POINTS: tuple[str, ...] = (
    "gx",  # input projection of all four gates: W x + b_ih + b_hh
    "gh",  # recurrent projection R h
    "pre",  # gx + gh, the four gates' pre-activations (one tensor, one scale)
    "fc",  # f (.) c
    "ig",  # i (.) g
    "cell",  # c' = f (.) c + i (.) g: the int8 cell state, one scale in and out
)
LSTM_LOWERED_PEEPHOLE_POINTS: tuple[str, ...] = (
    "ci",  # p_i (.) c
    "cf",  # p_f (.) c
    "pi",  # pre_i + p_i (.) c
    "pf",  # pre_f + p_f (.) c
    "co",  # p_o (.) c'
    "po",  # pre_o + p_o (.) c'
)


def check_static_supported(spec: ModelSpec) -> None:
    if spec.cell_spec.int8 is None:
        raise BadInput(
            f"full-integer int8 of a {spec.cell} model is not available; use --scheme dynamic"
        )


def input_point(k: int) -> str:
    """The point holding layer k's input: the normalized model input, or the layer below's h."""
    return "input" if k == 0 else f"l{k - 1}.h"


def static_points(spec: ModelSpec) -> list[str]:
    """Every calibrated point of the model, in graph order (any static cell)."""
    names = ["input"]
    per_layer = LSTM_LAYER_POINTS if integer_lstm(spec) else LAYER_POINTS
    for k in range(spec.num_layers):
        names += [f"l{k}.{p}" for p in per_layer]
    if spec.head == "mean":
        names.append("head.pool")  # mean over time of the top layer's h
    names.append("head.y")  # the logits (regression outputs), dequantized at the end
    return names


def lstm_lowered_points(spec: ModelSpec) -> list[str]:
    """The extra points of the lowered int8 LSTM graph (calibrated with the others)."""
    per_layer = LSTM_LOWERED_POINTS
    if spec.cell_spec.peepholes:
        per_layer += LSTM_LOWERED_PEEPHOLE_POINTS
    return [f"l{k}.{p}" for k in range(spec.num_layers) for p in per_layer]


gru_points = static_points  # the name from before LSTM had points


def pool_point(spec: ModelSpec) -> str:
    return "head.pool" if spec.head == "mean" else f"l{spec.num_layers - 1}.h"
