"""TFLite Micro's int8 LOGISTIC and TANH in NumPy, bit for bit: the ``requant="tflm"`` tables of
the int8 reference (``kernels`` holds the rest of that mode).

Unlike LiteRT, which looks int8 LOGISTIC / TANH up in a table computed in float, TFLite Micro
(github.com/tensorflow/tflite-micro) evaluates them in fixed point:

- ``micro/kernels/logistic_common.cc`` / ``tanh.cc`` Prepare: the input rescaled to Q4.27 by
  ``input_multiplier`` = round(frexp(s_in * 2**27) mantissa * 2**31) and ``input_left_shift`` =
  its exponent; inputs beyond ``input_range_radius`` (``CalculateInputRadius(4, shift, 31)``)
  saturate;
- ``kernels/internal/reference/integer_ops/logistic.h`` / ``tanh.h``: gemmlowp's int32
  ``logistic`` / ``tanh`` on ``FixedPoint<int32_t, 4>`` (``fixedpoint.h``), then
  ``RoundingDivideByPOT`` to int8 (by 23 bits, + zero point -128, for LOGISTIC; by 24 for TANH).

Only 256 int8 inputs exist, so each function is tabulated per input quantization and looked up
with ``kernels.lookup``. Integers live in int64 arrays holding int32 values.
"""

from __future__ import annotations

import math

import numpy as np

from edgegru.quantize.kernels import (
    INT8_MAX,
    INT8_MIN,
    multiply_by_quantized_multiplier,
    rounding_divide_by_pot,
    saturating_rounding_doubling_high_mul,
    tflite_round,
)

INT32_MIN, INT32_MAX = -(2**31), 2**31 - 1
INPUT_INTEGER_BITS = 4  # FixedPoint<int32_t, 4>: the int8 kernels' input format


def _wrap32(x: np.ndarray) -> np.ndarray:
    """int32 two's complement wrap (gemmlowp's int32 + and - are plain C++ arithmetic)."""
    return ((np.asarray(x, np.int64) + 2**31) & 0xFFFFFFFF) - 2**31


def _mul(a: np.ndarray, b: np.ndarray | int) -> np.ndarray:
    """FixedPoint ``*``: SaturatingRoundingDoublingHighMul."""
    return saturating_rounding_doubling_high_mul(a, b)


def _mul_pot(x: np.ndarray, exponent: int) -> np.ndarray:
    """``SaturatingRoundingMultiplyByPOT<exponent>`` on int32."""
    if exponent == 0:
        return x
    if exponent < 0:
        return rounding_divide_by_pot(x, -exponent)
    threshold = (1 << (31 - exponent)) - 1
    out = _wrap32(x * (1 << exponent))
    return np.where(x > threshold, INT32_MAX, np.where(x < -threshold, INT32_MIN, out))


def _exp_quarter(a: np.ndarray) -> np.ndarray:
    """``exp_on_interval_between_negative_one_quarter_and_0_excl`` (F0 -> F0)."""
    constant_term, one_third = 1895147668, 715827883
    x = _wrap32(a + (1 << 28))  # a + 1/8
    x2 = _mul(x, x)
    x3 = _mul(x2, x)
    x4 = _mul(x2, x2)
    x4_over_4 = _mul_pot(x4, -2)
    poly = _mul_pot(_wrap32(_mul(_wrap32(x4_over_4 + x3), one_third) + x2), -1)
    return _wrap32(constant_term + _mul(constant_term, _wrap32(x + poly)))


_BARREL = ((-2, 1672461947), (-1, 1302514674), (0, 790015084), (1, 290630308),
           (2, 39332535), (3, 720401), (4, 242))  # fmt: skip


def _exp_negative(a: np.ndarray, integer_bits: int) -> np.ndarray:
    """``exp_on_negative_values`` (F{integer_bits} -> F0) for a <= 0 (integer_bits <= 5 here,
    so gemmlowp's clamp below -32 does not apply)."""
    frac = 31 - integer_bits
    quarter = 1 << (frac - 2)
    a_mod = _wrap32((a & (quarter - 1)) - quarter)
    result = _exp_quarter(_mul_pot(a_mod, integer_bits))  # Rescale<0>
    remainder = _wrap32(a_mod - a)
    for exponent, multiplier in _BARREL:
        if integer_bits > exponent:
            bit = (remainder & (1 << (frac + exponent))) != 0
            result = np.where(bit, _mul(result, multiplier), result)
    return np.where(a == 0, INT32_MAX, result)


def _newton_half_reciprocal(a: np.ndarray) -> np.ndarray:
    """The Newton-Raphson division shared by ``one_over_one_plus_x_for_x_in_0_1`` and
    ``one_minus_x_over_one_plus_x_for_x_in_0_1``: x ~ 1 / half_denominator in F2."""
    s = np.asarray(a, np.int64) + INT32_MAX  # RoundingHalfSum(a, One) in int64
    q = (np.abs(s + np.where(s >= 0, 1, -1))) // 2
    half_den = np.where(s >= 0, q, -q)
    x = _wrap32(1515870810 + _mul(half_den, -1010580540))
    one_f2 = 1 << 29
    for _ in range(3):
        omh = _wrap32(one_f2 - _mul(half_den, x))
        x = _wrap32(x + _mul_pot(_mul(x, omh), 2))  # Rescale<2> of an F4 product
    return x


def logistic_q(a: np.ndarray) -> np.ndarray:
    """gemmlowp ``logistic`` on FixedPoint<int32_t, 4> raw values -> F0 raw."""
    a = np.asarray(a, np.int64)
    pos = a > 0
    abs_a = np.where(pos, a, _wrap32(-a))
    r_pos = _mul_pot(_newton_half_reciprocal(_exp_negative(_wrap32(-abs_a), 4)), 1)
    r_neg = _wrap32(INT32_MAX - r_pos)
    return np.where(a == 0, 1 << 30, np.where(pos, r_pos, r_neg))


def tanh_q(a: np.ndarray) -> np.ndarray:
    """gemmlowp ``tanh`` on FixedPoint<int32_t, 4> raw values -> F0 raw."""
    a = np.asarray(a, np.int64)
    neg = a < 0
    n = np.where(neg, a, _wrap32(-a))
    e = _exp_negative(n, 5)  # ExactMulByPot<1>
    t = _mul_pot(_wrap32(_newton_half_reciprocal(e) - (1 << 29)), 2)
    return np.where(a == 0, 0, np.where(neg, _wrap32(-t), t))


def input_params(input_scale: float) -> tuple[int, int, int]:
    """(input_multiplier, input_left_shift, input_range_radius) of the int8 Prepare."""
    real = float(np.float32(input_scale)) * float(1 << (31 - INPUT_INTEGER_BITS))
    q, shift = math.frexp(real)
    multiplier = int(tflite_round(np.float64(q * (1 << 31))))
    max_rescaled = (
        1.0 * ((1 << INPUT_INTEGER_BITS) - 1) * (1 << (31 - INPUT_INTEGER_BITS)) / (1 << shift)
    )
    return multiplier, shift, math.floor(max_rescaled)


def _table(fn, input_q: tuple[float, int], out_shift: int, out_zero_point: int) -> np.ndarray:
    vals = np.arange(INT8_MIN, INT8_MAX + 1, dtype=np.int64) - input_q[1]
    multiplier, shift, radius = input_params(input_q[0])
    inside = np.abs(vals) < radius
    x_q4 = multiply_by_quantized_multiplier(np.where(inside, vals, 0), multiplier, shift)
    y = rounding_divide_by_pot(fn(x_q4), out_shift) + out_zero_point
    y = np.clip(y, INT8_MIN, INT8_MAX)
    y = np.where(vals <= -radius, INT8_MIN, np.where(vals >= radius, INT8_MAX, y))
    return y.astype(np.int8)


def logistic_table(input_q: tuple[float, int]) -> np.ndarray:
    """int8 LOGISTIC (output 1/256, -128) for inputs -128..127, indexed by q + 128."""
    return _table(logistic_q, input_q, 31 - 8, -128)


def tanh_table(input_q: tuple[float, int]) -> np.ndarray:
    """int8 TANH (output 1/128, 0) for inputs -128..127, indexed by q + 128."""
    return _table(tanh_q, input_q, 31 - 7, 0)
