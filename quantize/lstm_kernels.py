"""TFLite's integer (8x8_16) LSTM kernel in NumPy, bit for bit (docs/quantization.md).

Sources (LiteRT ``tflite/kernels/``; TensorFlow ``tensorflow/lite/kernels/`` is the same code):

- ``unidirectional_sequence_lstm.cc`` ``PopulateQuantizedLstmParams8x8_16``: the effective
  scales (float32 products, e.g. ``s_W * s_x / 2**-12``; the gate accumulators are Q3.12 when
  there is no layer norm), ``QuantizeMultiplier``-ed; ``PrecomputeZeroPointTimesWeightWithBias``:
  the bias minus zp * row sums, added to the int32 accumulator;
- ``lstm_eval.cc`` ``CalculateLstmGateInteger8x8_16`` (x and h matmuls requantized separately
  into one saturated int16 sum, + the peephole product), ``UpdateLstmCellInteger`` (c' = f c >>
  15 + i g >> (30 + cell_scale), saturated), ``CalculateLstmOutputInteger8x8_16`` (h' = o tanh(c')
  requantized by 2**-30 / s_h, + the hidden zero point);
- ``internal/reference/portable_tensor_utils.cc``: ``MatrixBatchVectorMultiplyAccumulate``
  (int8 x int8 -> int16, ``MultiplyByQuantizedMultiplier`` then a saturated add),
  ``VectorBatchVectorCwiseProductAccumulate`` (peephole int16 x int16; on x86 LiteRT runs the
  NEON version through NEON_2_SSE, which rounds differently: ``peephole_accumulate``),
  ``CwiseMul`` (a rounding shift, or a multiplier to int8), ``CwiseAdd``, ``ApplySigmoid`` and
  ``ApplyTanh``: gemmlowp's fixed-point ``logistic`` and ``tanh`` on int16 (``fixedpoint.h``),
  here tabulated over all 65,536 int16 inputs by a vectorized port of the same arithmetic
  (``gemmlowp``).

NumPy only; integers live in int64 arrays holding int16 / int32 values.
"""

from __future__ import annotations

import functools
import math

import numpy as np

from edgegru.quantize import gemmlowp
from edgegru.quantize import kernels as K
from edgegru.quantize.gemmlowp import FIXED16
from edgegru.quantize.kernels import (
    multiply_by_quantized_multiplier,
    quantize_multiplier,
    rounding_divide_by_pot,
)

INT16_MIN, INT16_MAX = -32768, 32767
GATE_INTEGER_BITS = 3  # Q3.12 gate accumulators (lstm.cc: intermediate scale 2**-12)
GATE_SCALE = 2.0**-12
CELL_SCALE_MIN, CELL_SCALE_MAX = -15, -9  # ApplyTanh(15 + cell_scale) takes 0..6 integer bits


def _wrap16(x: np.ndarray) -> np.ndarray:
    """A C++ cast to int16 (two's complement wrap), as gemmlowp's int16 Add / Sub / Neg do."""
    return ((np.asarray(x, np.int64) + 32768) & 0xFFFF) - 32768


def _sat16(x: np.ndarray) -> np.ndarray:
    return np.clip(x, INT16_MIN, INT16_MAX)


_ALL16 = np.arange(INT16_MIN, INT16_MAX + 1, dtype=np.int64)


@functools.cache
def sigmoid_table() -> np.ndarray:
    """``ApplySigmoid``: Q3.12 int16 -> Q0.15, indexed by q + 32768."""
    return gemmlowp.logistic(FIXED16, _ALL16, GATE_INTEGER_BITS).astype(np.int16)


@functools.cache
def tanh_table(integer_bits: int) -> np.ndarray:
    """``ApplyTanh(integer_bits)``: Q{ib}.{15-ib} int16 -> Q0.15, indexed by q + 32768."""
    if not 0 <= integer_bits <= 6:
        raise ValueError("ApplyTanh takes 0..6 integer bits")
    return gemmlowp.tanh(FIXED16, _ALL16, integer_bits).astype(np.int16)


def lookup16(table: np.ndarray, x: np.ndarray) -> np.ndarray:
    return table[np.asarray(x, np.int64) + 32768].astype(np.int64)


# -- the kernel's arithmetic ------------------------------------------------------------------


def f32(v: float) -> np.float32:
    return np.float32(v)


def gate_multiplier(s_w: float, s_in: float) -> tuple[int, int]:
    """``effective_{input,recurrent}_to_gate_scale``: float32 s_w * s_in / 2**-12."""
    return quantize_multiplier(float(f32(f32(s_w) * f32(s_in)) / f32(GATE_SCALE)))


def peephole_multiplier(cell_scale: int, s_p: float) -> tuple[int, int]:
    """``effective_cell_to_gate_scale``: 2**cell_scale * s_p / 2**-12 (double, stored float)."""
    return quantize_multiplier(float(f32(2.0**cell_scale * float(f32(s_p)) / GATE_SCALE)))


def hidden_multiplier(s_h: float) -> tuple[int, int]:
    """``effective_hidden_scale``: 2**-15 / s_h * 2**-15 (double, stored float)."""
    return quantize_multiplier(float(f32(2.0**-15 / float(f32(s_h)) * 2.0**-15)))


def matmul_accumulate(
    x: np.ndarray, W: np.ndarray, eff_bias: np.ndarray, mult: tuple[int, int], acc: np.ndarray
) -> np.ndarray:
    """``MatrixBatchVectorMultiplyAccumulate`` int8 -> int16: sat16(acc + requant(x W^T + b'))
    where b' = bias - zp * row sums (``PrecomputeZeroPointTimesWeightWithBias``)."""
    dot = np.asarray(x, np.int64) @ np.asarray(W, np.int64).T + eff_bias
    return _sat16(multiply_by_quantized_multiplier(dot, *mult) + acc)


PEEPHOLE_BLOCK = 16  # NeonVectorBatchVectorCwiseProductAccumulate's vector loop width


def _requant_half_up(x: np.ndarray, multiplier: int, shift: int) -> np.ndarray:
    """``MultiplyByQuantizedMultiplier4Rows`` as LiteRT's x86 build runs it (NEON through the
    NEON_2_SSE translation): ``SaturatingRoundingDoublingHighMul``, then a rounding right shift
    that rounds halves UP (not away from zero as gemmlowp's scalar ``RoundingDivideByPOT``)."""
    left, right = max(shift, 0), max(-shift, 0)
    high = K.saturating_rounding_doubling_high_mul(np.asarray(x, np.int64) << left, multiplier)
    return (high + ((1 << right) >> 1)) >> right


def peephole_accumulate(
    p: np.ndarray, c: np.ndarray, mult: tuple[int, int], acc: np.ndarray
) -> np.ndarray:
    """``VectorBatchVectorCwiseProductAccumulate``: sat16(acc + requant(p (.) c)). On x86 the
    optimized tensor utils take it from neon_tensor_utils.cc (``NEON_OR_PORTABLE``): blocks of
    16 cells requantize with halves rounded up, the tail cells with the scalar (portable)
    ``MultiplyByQuantizedMultiplier``. Measured: the scalar rounding everywhere misses LiteRT on
    3-4 of 768 windows of a peephole model with large peepholes; this, on none."""
    prod = np.asarray(p, np.int64) * c
    out = multiply_by_quantized_multiplier(prod, *mult)
    n = prod.shape[-1] - prod.shape[-1] % PEEPHOLE_BLOCK
    if n:
        out[..., :n] = _requant_half_up(prod[..., :n], *mult)
    return _sat16(out + acc)


def cell_update(
    c: np.ndarray, i: np.ndarray, f: np.ndarray, g: np.ndarray, cell_scale: int
) -> np.ndarray:
    """``UpdateLstmCellInteger`` (no CIFG, no clip): c' = sat16((f c >> 15) + (i g >> (30 +
    cell_scale))), each shift a rounding one (``CwiseMul`` -> ``RoundingDivideByPOT``)."""
    fc = _wrap16(rounding_divide_by_pot(f * c, 15))
    ig = _wrap16(rounding_divide_by_pot(i * g, 30 + cell_scale))
    return _sat16(fc + ig)


def hidden_output(
    o: np.ndarray, c: np.ndarray, cell_scale: int, mult: tuple[int, int], zp: int
) -> np.ndarray:
    """``CalculateLstmOutputInteger8x8_16`` without projection: h' = int8(requant(o tanh(c'))
    + zp), tanh read with 15 + cell_scale integer bits."""
    t = lookup16(tanh_table(15 + cell_scale), c)
    return np.clip(multiply_by_quantized_multiplier(o * t, *mult) + zp, -128, 127)


def cell_scale_exponent(max_abs: float) -> int:
    """The power-of-two exponent of the int16 cell state: the smallest 2**k >= max|c| over
    2**15 steps (the converter's power-of-two cell scale), kept where ``ApplyTanh`` works
    (15 + k in 0..6 integer bits: |c| < 64)."""
    k = math.ceil(math.log2(max_abs)) if max_abs > 0 else 0
    return int(np.clip(k - 15, CELL_SCALE_MIN, CELL_SCALE_MAX))
