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
with ``kernels.lookup``; the fixed-point functions are ``gemmlowp``'s port at int32.
"""

from __future__ import annotations

import math

import numpy as np

from edgegru.quantize import gemmlowp
from edgegru.quantize.gemmlowp import FIXED32
from edgegru.quantize.kernels import (
    INT8_MAX,
    INT8_MIN,
    multiply_by_quantized_multiplier,
    rounding_divide_by_pot,
    tflite_round,
)

INPUT_INTEGER_BITS = 4  # FixedPoint<int32_t, 4>: the int8 kernels' input format


def logistic_q(a: np.ndarray) -> np.ndarray:
    """gemmlowp ``logistic`` on FixedPoint<int32_t, 4> raw values -> F0 raw."""
    return gemmlowp.logistic(FIXED32, a, INPUT_INTEGER_BITS)


def tanh_q(a: np.ndarray) -> np.ndarray:
    """gemmlowp ``tanh`` on FixedPoint<int32_t, 4> raw values -> F0 raw."""
    return gemmlowp.tanh(FIXED32, a, INPUT_INTEGER_BITS)


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
