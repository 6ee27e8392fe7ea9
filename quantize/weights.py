"""Weight quantization (docs/quantization.md): int8, symmetric, per output channel, zero point 0.

One scale per row of every 2-D weight (``rnn.weight_ih_l*`` [G*H, I], ``rnn.weight_hh_l*``
[G*H, H], ``head.weight`` [O, H]): s = max|w_row| / 127, and q = round(w / s) in [-127, 127]
(TFLite's int8 weight range; ``round`` halves away from zero like TfLiteRound). Biases stay float
here; the full-integer graph quantizes them to int32 with scale s_in * s_w where it knows s_in.

Granularity (``weight_scales(..., granularity)``): "channel" is the above; "tensor" gives every
row of a *block* one scale, max|w_block| / 127, where a block is what one FULLY_CONNECTED of the
full-integer GRU graph holds (rows r, z and rows n of each GRU weight; the head). "auto" chooses
per block: one scale when that at most quadruples the block's weight-quantization noise (costs <=
6 dB, one bit, of weight SQNR), else per channel. Why: a per-channel int8 weight costs the .tflite
file 12 bytes per channel (a float32 scale and an int64 zero point: schema.fbs requires as many
zero points as scales), which is what broke the int8 loop file's size budget (weights + 8 KB: +
17.9 KB
at h128x2 with per-channel weights, even with one-scale bias records); and the weights' noise is
not what limits a full-integer GRU: measured on the trained GRU-32s (defaults, seed 0; 512
calibration windows, mse, int8 logits), per-channel weights reach 47-50 dB of weight SQNR against
the logits' 20-41 dB end to end. Logit SQNR / test accuracy / same class as float, channel ->
auto, NumPy reference in TFLite's reference-kernel arithmetic: watch 20.5 -> 19.5 dB / 0.8544 ->
0.8544 / 97.4 -> 97.0 %; basicmotions 41.0 -> 40.0 dB / unchanged; the LiteRT file (XNNPACK):
watch 20.5 -> 19.8 dB / 0.8544 -> 0.8578 / 97.2 -> 97.0 %. ("tensor" everywhere: watch 19.8 dB,
0.8511; noise ratio 2 ("auto" at 3 dB) kept watch at 20.5 dB but left the random-weight bench
models per channel, over budget: their blocks' ratios are 1.5-2.8, the trained ones' 1.2-4.9.) The
stored scales are per row either way (equal within a per-tensor block), so the reference, QAT and
the exporters read them the same way; the TFLite writer stores an all-equal block as one scale.
NumPy only.
"""

from __future__ import annotations

import numpy as np

from edgegru.cellspec import GRU_GRAPH
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


GRANULARITIES = ("channel", "tensor", "auto")
# "auto": one scale per block when that multiplies the weight-quantization noise by <= this
# (4 = 6 dB = one bit of weight resolution; measured in the module doc)
AUTO_NOISE_RATIO = 4.0


def weight_blocks(spec: ModelSpec, name: str) -> list[slice]:
    """The row blocks of weight ``name`` that one FULLY_CONNECTED of the int8 graph holds: the
    GRU's [r, z] and [n] rows (reference.py splits them so each has its own output scale), the
    whole tensor otherwise."""
    rows = spec.weight_shapes()[name][0]
    if spec.cell_spec.int8 == GRU_GRAPH and name.startswith("rnn.weight_"):
        H = spec.hidden_size
        return [slice(0, 2 * H), slice(2 * H, 3 * H)]
    return [slice(0, rows)]


def _noise(w: np.ndarray, scales: np.ndarray) -> float:
    """Sum of squared int8 rounding errors of w [O, I] with per-row scales [O]."""
    s = np.asarray(scales, np.float64)[:, None]
    q = np.clip(tflite_round(np.asarray(w, np.float64) / s), -WEIGHT_QMAX, WEIGHT_QMAX)
    return float(((q * s - w) ** 2).sum())


def block_scales(w: np.ndarray, granularity: str) -> np.ndarray:
    """Per-row scales of one block: its own per row, or the block's max for every row."""
    per_row = channel_scales(w)
    one = np.full_like(per_row, per_row.max())
    if granularity == "channel":
        return per_row
    if granularity == "tensor":
        return one
    if granularity != "auto":
        raise ValueError(f"weight granularity must be one of {', '.join(GRANULARITIES)}")
    base = _noise(w, per_row)
    return one if _noise(w, one) <= AUTO_NOISE_RATIO * base else per_row


def weight_scales(
    bundle: Bundle, granularity: str = "channel", per_tensor: set[tuple] | None = None
) -> dict[str, tuple[float, ...]]:
    """name -> per-row scales of every quantized weight (see the module doc for granularity).
    ``per_tensor``: the (name, block index) set to give one scale, all others per channel
    (overrides ``granularity``; QAT re-derives the scales of its tuned weights with it)."""
    out = {}
    for n in quantized_names(bundle.spec):
        w = np.asarray(bundle.weights[n])
        parts = [
            block_scales(
                w[b],
                granularity
                if per_tensor is None
                else ("tensor" if (n, i) in per_tensor else "channel"),
            )
            for i, b in enumerate(weight_blocks(bundle.spec, n))
        ]
        out[n] = tuple(float(v) for v in np.concatenate(parts))
    return out


def per_tensor_blocks(scales: dict[str, tuple[float, ...]], spec: ModelSpec) -> set[tuple]:
    """(name, block index) of every block whose rows share one scale (QAT keeps them so)."""
    out = set()
    for n, s in scales.items():
        for i, b in enumerate(weight_blocks(spec, n)):
            if len(set(s[b])) == 1:
                out.add((n, i))
    return out


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
