"""Weight quantization (DESIGN.md section 4): int8, symmetric, per output channel, zero point 0.

One scale per row of every 2-D weight (``rnn.weight_ih_l*`` [G*H, I], ``rnn.weight_hh_l*``
[G*H, H], ``head.weight`` [O, H]): s = max|w_row| / 127, and q = round(w / s) in [-127, 127]
(TFLite's int8 weight range; ``round`` halves away from zero like TfLiteRound). Biases stay float
here; the full-integer graph quantizes them to int32 with scale s_in * s_w where it knows s_in.
NumPy only.
"""

from __future__ import annotations

import numpy as np

from edgegru.quantize.kernels import tflite_round
from edgegru.types import Bundle, ModelSpec

WEIGHT_QMAX = 127


def quantized_names(spec: ModelSpec) -> list[str]:
    """The 2-D weights that become int8 (the peepholes [3, H] and biases stay float/int32)."""
    return [
        n
        for n, shape in spec.weight_shapes().items()
        if len(shape) == 2 and not n.startswith("rnn.weight_peep")
    ]


def channel_scales(w: np.ndarray) -> np.ndarray:
    """[O, I] -> [O] float32 scales max|w_row| / 127; an all-zero row gets 1 / 127."""
    amax = np.abs(np.asarray(w, np.float64)).max(axis=1)
    amax = np.where(amax > 0, amax, 1.0)
    return (amax / WEIGHT_QMAX).astype(np.float32)


def weight_scales(bundle: Bundle) -> dict[str, tuple[float, ...]]:
    return {
        n: tuple(float(v) for v in channel_scales(bundle.weights[n]))
        for n in quantized_names(bundle.spec)
    }


def quantize_weight(w: np.ndarray, scales: np.ndarray | tuple[float, ...]) -> np.ndarray:
    """[O, I] float -> [O, I] int8 with the given per-row scales."""
    s = np.asarray(scales, np.float32).astype(np.float64)[:, None]
    q = tflite_round(np.asarray(w, np.float64) / s)
    return np.clip(q, -WEIGHT_QMAX, WEIGHT_QMAX).astype(np.int8)


def int8_weights(bundle: Bundle) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """name -> (int8 [O, I], float32 scales [O]) for every quantized weight; the scales come from
    ``bundle.quant`` when the bundle has them, else from the weights."""
    scales = bundle.quant.weight_scales if bundle.quant is not None else weight_scales(bundle)
    return {
        n: (quantize_weight(bundle.weights[n], scales[n]), np.asarray(scales[n], np.float32))
        for n in quantized_names(bundle.spec)
    }


def dequantized_weights(bundle: Bundle) -> dict[str, np.ndarray]:
    """The bundle's weights with every quantized tensor replaced by scale * int8: what a
    weight-only (dynamic) int8 model computes with."""
    out = dict(bundle.weights)
    for n, (q, s) in int8_weights(bundle).items():
        out[n] = (q.astype(np.float32) * s[:, None]).astype(np.float32)
    return out
