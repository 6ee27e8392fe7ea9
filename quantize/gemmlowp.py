"""gemmlowp's fixed-point ``logistic`` and ``tanh`` (``fixedpoint/fixedpoint.h``) in NumPy, for
int16 raw values (TFLite's integer LSTM kernel: ``lstm_kernels``) and int32 raw values (TFLite
Micro's int8 LOGISTIC / TANH: ``tflm_kernels``). One port, vectorized, with the raw width as a
parameter: C++'s wrapping int16 / int32 arithmetic, ``SaturatingRoundingDoublingHighMul``,
``SaturatingRoundingMultiplyByPOT``, and the constants (int32 literals, which int16 types
rescale with ``RescaleConstantInitializer``). Integers live in int64 arrays.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from edgegru.quantize.kernels import rounding_divide_by_pot

_BARREL = ((-2, 1672461947), (-1, 1302514674), (0, 790015084), (1, 290630308),
           (2, 39332535), (3, 720401), (4, 242))  # fmt: skip


@dataclass(frozen=True)
class Fixed:
    """Arithmetic on ``bits``-wide raw fixed-point values (16 or 32)."""

    bits: int

    @property
    def max(self) -> int:
        return (1 << (self.bits - 1)) - 1

    @property
    def min(self) -> int:
        return -(1 << (self.bits - 1))

    def wrap(self, x: np.ndarray) -> np.ndarray:
        """A C++ cast to the raw type (two's complement wrap)."""
        half = 1 << (self.bits - 1)
        return ((np.asarray(x, np.int64) + half) & ((1 << self.bits) - 1)) - half

    def const(self, raw32: int) -> int:
        """A gemmlowp constant given as an int32 literal, in this raw type."""
        if self.bits == 32:
            return raw32
        return int(rounding_divide_by_pot(np.int64(raw32), 32 - self.bits))

    def mul(self, a: np.ndarray, b: np.ndarray | int) -> np.ndarray:
        """FixedPoint ``*``: SaturatingRoundingDoublingHighMul."""
        a, b = np.asarray(a, np.int64), np.asarray(b, np.int64)
        ab = a * b
        nudge = np.where(ab >= 0, 1 << (self.bits - 2), 1 - (1 << (self.bits - 2)))
        s = ab + nudge
        q = np.abs(s) // (1 << (self.bits - 1))
        high = self.wrap(np.where(s < 0, -q, q))
        return np.where((a == b) & (a == self.min), self.max, high)

    def mul_pot(self, x: np.ndarray, exponent: int) -> np.ndarray:
        """``SaturatingRoundingMultiplyByPOT<exponent>``."""
        if exponent == 0:
            return x
        if exponent < 0:
            return rounding_divide_by_pot(x, -exponent)
        threshold = (1 << (self.bits - 1 - exponent)) - 1
        out = self.wrap(x * (1 << exponent))
        return np.where(x > threshold, self.max, np.where(x < -threshold, self.min, out))


def _exp_quarter(fx: Fixed, a: np.ndarray) -> np.ndarray:
    """``exp_on_interval_between_negative_one_quarter_and_0_excl`` (F0 -> F0)."""
    constant_term, one_third = fx.const(1895147668), fx.const(715827883)
    x = fx.wrap(a + (1 << (fx.bits - 4)))  # a + 1/8
    x2 = fx.mul(x, x)
    x3 = fx.mul(x2, x)
    x4 = fx.mul(x2, x2)
    x4_over_4 = fx.mul_pot(x4, -2)
    poly = fx.mul_pot(fx.wrap(fx.mul(fx.wrap(x4_over_4 + x3), one_third) + x2), -1)
    total = constant_term + fx.mul(constant_term, fx.wrap(x + poly))
    # AddSaturatingIf16Bit: saturating for int16, a plain (wrapping) add for int32
    return np.clip(total, fx.min, fx.max) if fx.bits == 16 else fx.wrap(total)


def exp_negative(fx: Fixed, a: np.ndarray, integer_bits: int) -> np.ndarray:
    """``exp_on_negative_values`` (F{integer_bits} -> F0) for a <= 0."""
    frac = fx.bits - 1 - integer_bits
    quarter = 1 << (frac - 2)
    a_mod = fx.wrap((a & (quarter - 1)) - quarter)
    result = _exp_quarter(fx, fx.mul_pot(a_mod, integer_bits))  # Rescale<0>
    remainder = fx.wrap(a_mod - a)
    for exponent, multiplier in _BARREL:
        if integer_bits > exponent:
            bit = (remainder & (1 << (frac + exponent))) != 0
            result = np.where(bit, fx.mul(result, fx.const(multiplier)), result)
    if integer_bits > 5:
        clamp = fx.const(-(1 << (36 - integer_bits)))
        result = np.where(a < clamp, 0, result)
    return np.where(a == 0, fx.max, result)


def _newton_reciprocal(fx: Fixed, a: np.ndarray) -> np.ndarray:
    """The Newton-Raphson part shared by ``one_over_one_plus_x_for_x_in_0_1`` and
    ``one_minus_x_over_one_plus_x_for_x_in_0_1``: x ~ 1 / half_denominator in F2."""
    s = np.asarray(a, np.int64) + fx.max
    half_den = fx.wrap(np.where(s >= 0, (s + 1) // 2, -((-(s - 1)) // 2)))  # RoundingHalfSum
    x = fx.wrap(fx.const(1515870810) + fx.mul(half_den, fx.const(-1010580540)))
    one_f2 = 1 << (fx.bits - 3)
    for _ in range(3):
        omh = fx.wrap(one_f2 - fx.mul(half_den, x))
        x = fx.wrap(x + fx.mul_pot(fx.mul(x, omh), 2))  # Rescale<2> of an F4
    return x


def logistic(fx: Fixed, a: np.ndarray, integer_bits: int) -> np.ndarray:
    """gemmlowp ``logistic`` on F{integer_bits} raw values -> F0 raw."""
    a = np.asarray(a, np.int64)
    pos = a > 0
    abs_a = np.where(pos, a, fx.wrap(-a))
    e = exp_negative(fx, fx.wrap(-abs_a), integer_bits)
    r_pos = fx.mul_pot(_newton_reciprocal(fx, e), 1)
    r_neg = fx.wrap(fx.max - r_pos)
    return np.where(a == 0, 1 << (fx.bits - 2), np.where(pos, r_pos, r_neg))


def tanh(fx: Fixed, a: np.ndarray, integer_bits: int) -> np.ndarray:
    """gemmlowp ``tanh`` on F{integer_bits} raw values -> F0 raw."""
    a = np.asarray(a, np.int64)
    neg = a < 0
    n = np.where(neg, a, fx.wrap(-a))
    e = exp_negative(fx, n, integer_bits + 1)  # ExactMulByPot<1>
    t = fx.mul_pot(fx.wrap(_newton_reciprocal(fx, e) - (1 << (fx.bits - 3))), 2)
    return np.where(a == 0, 0, np.where(neg, fx.wrap(-t), t))


FIXED16, FIXED32 = Fixed(16), Fixed(32)
