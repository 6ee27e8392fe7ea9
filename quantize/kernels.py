"""LiteRT's integer kernels in NumPy, bit for bit (docs/quantization.md).

Each function follows TFLite sources of LiteRT (github.com/google-ai-edge/LiteRT, `tflite/`):

- ``quantize_multiplier``: ``kernels/internal/quantization_util.cc`` ``QuantizeMultiplier``.
- ``multiply_by_quantized_multiplier``: ``kernels/internal/common.cc``, the default
  double-rounding build (``TFLITE_SINGLE_ROUNDING`` off): gemmlowp's
  ``SaturatingRoundingDoublingHighMul`` then ``RoundingDivideByPOT`` (``fixedpoint.h``).
- ``fully_connected``: ``kernels/internal/reference/integer_ops/fully_connected.h``
  ``FullyConnectedPerChannel`` with float scales: ``round(double(acc) * double(s_in) *
  double(s_w[c]) / double(s_out))``. Measured (LiteRT 2.3, x86-64, random per-channel layers,
  491,520 outputs): bit-exact against the reference kernels (``BUILTIN_REF``) (and XNNPACK
  on those, but not always: see "xnnpack" below).
  The builtin optimized kernels (``BUILTIN_WITHOUT_DEFAULT_DELEGATES``) requantize in fixed point
  instead: ``SaturatingRoundingDoublingHighMul`` by the ``QuantizeMultiplier`` multiplier, then a
  rounding right shift that rounds halves up (ruy's x86 kernels; NEON's vqrdmulh + vrshl round
  the same way) - ``requant="optimized"``, also bit-exact there; the two differ by 1 on ~0.1 %
  of outputs.
- ``add`` / ``sub``: ``kernels/add.cc`` and ``kernels/sub.cc`` (``PrepareGeneralSubOp``), 8-bit
  general path with ``left_shift = 20``; ``reference/integer_ops/add.h``.
- ``mul``: ``kernels/mul.cc`` and ``reference/integer_ops/mul.h``.
- ``logistic`` / ``tanh``: ``kernels/activations.cc`` (generic-optimized kernel, the one the
  builtin resolver registers): a 256-entry table built by ``LUTPopulate<int8_t>``
  (``kernels/internal/common.h``) in float32 arithmetic.
- ``quantize``: ``kernels/internal/reference/quantize.h`` ``AffineQuantize`` (float -> int8).
- ``mode="xnnpack"`` (ADD, SUB, MUL, QUANTIZE, FULLY_CONNECTED): XNNPACK's own int8 kernels, which
  the delegate runs instead of TFLite's (measured bit-exact on one-op models, tests/quantize):
  ADD/SUB (``qs8-vadd``, SUB = ADD with the second multiplier negated) scale each input by
  ``lrintf((s_in / s_out) * 2**shift)`` with ``shift = 20 - exponent(max ratio)`` and shift the
  int32 sum right with a +2**(shift-1) bias; MUL (``qs8-vmul`` fp32) multiplies the int32 product
  by float32 ``(s_a * s_b) / s_out`` and rounds half to even; QUANTIZE multiplies by float32 ``1 /
  s`` and rounds half to even (so does the builtin optimized QUANTIZE: mode "optimized");
  FULLY_CONNECTED multiplies float32(acc) by float32 s_in * s_w / s_out and rounds half to even,
  which equals "reference" but where the double product lies within float32 rounding of a half
  (watch GRU-32 hit it; tests/quantize/test_kernels_litert.py).
- ``fully_connected_16x8``: the int16-logit head (see there).
- ``mode="tflm"``: TFLite Micro's reference kernels (the ``tflm`` target): FULLY_CONNECTED
  requantizes in fixed point (``MultiplyByQuantizedMultiplier``, halves away from zero; the 16x8
  head through its int64 overload with a 16-bit multiplier); ADD, SUB, MUL and QUANTIZE are
  "reference"'s; LOGISTIC and TANH are gemmlowp fixed point (``tflm_kernels``).

Integer arithmetic runs in int64 NumPy arrays holding int32 values; every function takes and
returns int8 (or int32) arrays of any shape. NumPy only.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np

INT8_MIN, INT8_MAX = -128, 127
INT32_MIN, INT32_MAX = -(2**31), 2**31 - 1
ADD_LEFT_SHIFT = 20  # add.cc / sub.cc: 20 for 8-bit outputs (15 for 16-bit)

# TFLite's fixed output quantization of LOGISTIC and TANH for int8 (activations.cc enforces
# scale == 1/256 for LOGISTIC; the TFLite converter emits these for both).
LOGISTIC_SCALE, LOGISTIC_ZERO_POINT = 1.0 / 256.0, -128
TANH_SCALE, TANH_ZERO_POINT = 1.0 / 128.0, 0


def tflite_round(x: np.ndarray | float) -> np.ndarray:
    """``TfLiteRound`` (std::round): halves away from zero, unlike NumPy's half-to-even."""
    x = np.asarray(x)
    return np.sign(x) * np.floor(np.abs(x) + x.dtype.type(0.5))


def quantize_multiplier(real: float) -> tuple[int, int]:
    """``QuantizeMultiplier``: real = m * 2**(shift - 31), m in [2**30, 2**31)."""
    if real == 0.0:
        return 0, 0
    q, shift = math.frexp(real)
    q_fixed = int(tflite_round(np.float64(q * (1 << 31))))
    if q_fixed == 1 << 31:
        q_fixed //= 2
        shift += 1
    if shift < -31:  # every bit would be shifted out
        return 0, 0
    return q_fixed, shift


def _div_trunc(a: np.ndarray, d: int) -> np.ndarray:
    """C++ integer division (truncates toward zero) of int64 arrays."""
    q = np.abs(a) // d
    return np.where(a < 0, -q, q)


def saturating_rounding_doubling_high_mul(a: np.ndarray, b: np.ndarray | int) -> np.ndarray:
    """gemmlowp ``SaturatingRoundingDoublingHighMul`` on int32 values (int64 arrays)."""
    a = np.asarray(a, np.int64)
    b = np.asarray(b, np.int64)
    overflow = (a == b) & (a == INT32_MIN)
    ab = a * b
    nudge = np.where(ab >= 0, 1 << 30, 1 - (1 << 30))
    high = _div_trunc(ab + nudge, 1 << 31)
    return np.where(overflow, INT32_MAX, high)


def rounding_divide_by_pot(x: np.ndarray, exponent: np.ndarray | int) -> np.ndarray:
    """gemmlowp ``RoundingDivideByPOT``: x / 2**exponent rounded half away from zero."""
    x = np.asarray(x, np.int64)
    exponent = np.asarray(exponent, np.int64)
    mask = (np.int64(1) << exponent) - 1
    remainder = x & mask
    threshold = (mask >> 1) + (x < 0)
    return (x >> exponent) + (remainder > threshold)


def multiply_by_quantized_multiplier(
    x: np.ndarray, multiplier: np.ndarray | int, shift: np.ndarray | int
) -> np.ndarray:
    """``MultiplyByQuantizedMultiplier(int32 x, m, shift)``, double rounding (common.cc)."""
    x = np.asarray(x, np.int64)
    shift = np.asarray(shift, np.int64)
    left = np.maximum(shift, 0)
    right = np.maximum(-shift, 0)
    shifted = x * (np.int64(1) << left)
    # C++ computes x * (1 << left_shift) in int32; it overflows only when the real result does.
    if shifted.size and (shifted.min() < INT32_MIN or shifted.max() > INT32_MAX):
        raise OverflowError("int32 overflow before requantization (scales out of range)")
    return rounding_divide_by_pot(saturating_rounding_doubling_high_mul(shifted, multiplier), right)


def saturate_int8(x: np.ndarray) -> np.ndarray:
    return np.clip(x, INT8_MIN, INT8_MAX).astype(np.int8)


def quantize(x: np.ndarray, scale: float, zero_point: int, mode: str = "reference") -> np.ndarray:
    """QUANTIZE float32 -> int8: round(x / scale) + zp, saturated (float32 division; the
    reference kernel); XNNPACK and the builtin optimized kernel (measured): rint(x * (1 / scale))
    + zp (float32 product, halves to even)."""
    x = np.asarray(x, np.float32)
    if mode in ("xnnpack", "optimized"):
        q = np.rint(x * (np.float32(1.0) / np.float32(scale))).astype(np.int64)
    else:
        q = tflite_round(x / np.float32(scale)).astype(np.int64)
    return saturate_int8(q + zero_point)


def dequantize(q: np.ndarray, scale: float, zero_point: int) -> np.ndarray:
    """DEQUANTIZE int8 -> float32: scale * (q - zp) (reference/dequantize.h)."""
    return (np.float32(scale) * (np.asarray(q, np.int64) - zero_point).astype(np.float32)).astype(
        np.float32
    )


def quantize_bias(bias: np.ndarray, input_scale: float, weight_scales: np.ndarray) -> np.ndarray:
    """int32 bias with scale input_scale * weight_scale per channel (docs/quantization.md)."""
    scale = np.float64(np.float32(input_scale)) * np.asarray(weight_scales, np.float32).astype(
        np.float64
    )
    q = tflite_round(np.asarray(bias, np.float64) / scale)
    return np.clip(q, INT32_MIN, INT32_MAX).astype(np.int32)


def fc_multipliers(
    input_scale: float, weight_scales: np.ndarray, output_scale: float
) -> tuple[np.ndarray, np.ndarray]:
    """fully_connected.cc, per channel: real_i = double(s_in) * double(s_w[i]) / double(s_out)."""
    s_in = float(np.float32(input_scale))
    s_out = float(np.float32(output_scale))
    pairs = [
        quantize_multiplier(s_in * float(sw) / s_out)
        for sw in np.asarray(weight_scales, np.float32)
    ]
    return (
        np.array([m for m, _ in pairs], np.int64),
        np.array([s for _, s in pairs], np.int64),
    )


def fully_connected(
    x: np.ndarray,
    x_zero_point: int,
    weights: np.ndarray,
    bias: np.ndarray | None,
    scales: tuple[float, np.ndarray, float],
    out_zero_point: int,
    requant: str = "reference",
) -> np.ndarray:
    """FULLY_CONNECTED int8, per-channel: x [..., I] int8, weights [O, I] int8 (zp 0), bias [O]
    int32, ``scales`` (s_in, s_w [O], s_out) -> [..., O] int8.
    acc = sum((x - zp_x) * w) + bias, then requantized per channel (see the module doc)."""
    # int64 matmul: NumPy's own loop, exact, and (measured here) 10x faster than a float BLAS call
    # on a shared machine, where BLAS threads contend
    acc = (np.asarray(x, np.int64) - x_zero_point) @ np.asarray(weights, np.int64).T  # [..., O]
    if bias is not None:
        acc = acc + np.asarray(bias, np.int64)
    s_in, s_w, s_out = scales
    if requant == "reference":
        effective = (
            float(np.float32(s_in)) * np.asarray(s_w, np.float32).astype(np.float64)
        ) / float(np.float32(s_out))
        scaled = tflite_round(acc.astype(np.float64) * effective).astype(np.int64)
    elif requant == "xnnpack":
        # XNNPACK's fp32 requantization: float32(acc) * float32(s_in * s_w / s_out), rounded
        # to nearest even. It differs from "reference" only where the double product is within
        # float32 rounding of a half (measured on watch GRU-32: 6 of 16,000 outputs of one
        # FULLY_CONNECTED, e.g. acc 37842: 53.4999969 in double, 53.5 -> 54 in float32), which
        # random tests rarely hit but a 100-step recurrence carries to the logits.
        f32 = np.float32
        scale = (f32(s_in) * np.asarray(s_w, f32) / f32(s_out)).astype(f32)
        scaled = np.rint(acc.astype(f32) * scale).astype(np.int64)
    elif requant == "tflm":
        # TFLite Micro's reference FULLY_CONNECTED (per channel or not): the QuantizeMultiplier
        # multiplier applied by MultiplyByQuantizedMultiplier, rounding twice (common.cc)
        mult, shift = fc_multipliers(s_in, s_w, s_out)
        scaled = multiply_by_quantized_multiplier(acc, mult, shift)
    elif requant == "optimized":
        mult, shift = fc_multipliers(s_in, s_w, s_out)
        left, right = np.maximum(shift, 0), np.maximum(-shift, 0)
        high = saturating_rounding_doubling_high_mul(acc * (np.int64(1) << left), mult)
        scaled = (high + ((np.int64(1) << right) >> 1)) >> right  # rounds halves up
    else:
        raise ValueError(f"requant must be one of {', '.join(REQUANT_MODES)}, not {requant!r}")
    return saturate_int8(scaled + out_zero_point)


REQUANT_MODES = ("reference", "optimized", "xnnpack", "tflm")
INT16_MIN, INT16_MAX = -32768, 32767


def quantize_bias64(bias: np.ndarray, input_scale: float, weight_scales: np.ndarray) -> np.ndarray:
    """int64 bias of a 16x8 FULLY_CONNECTED (int16 input), scale input_scale * weight_scale."""
    scale = np.float64(np.float32(input_scale)) * np.asarray(weight_scales, np.float32).astype(
        np.float64
    )
    return tflite_round(np.asarray(bias, np.float64) / scale).astype(np.int64)


def fully_connected_16x8(
    x: np.ndarray,
    weights: np.ndarray,
    bias: np.ndarray | None,
    scales: tuple[float, np.ndarray, float],
    requant: str = "reference",
) -> np.ndarray:
    """FULLY_CONNECTED 16x8 (TFLite's int16-activation mode; builtin kernels only, XNNPACK has
    none): x [..., I] int16 (zero point 0), weights [O, I] int8 (zp 0, per channel or one
    scale), bias [O] int64, ``scales`` (s_in, s_w [O], s_out) -> [..., O] int16 (zp 0).

    int64 accumulator, requantized as ai-edge-litert computes it (measured, every resolver):
    round(acc * s_in s_w[o] / s_out) in double, halves away from zero, like the int8 reference
    mode. On 397,696 outputs of random 16x8 FULLY_CONNECTEDs this form had 0 mismatches; the
    31-bit fixed-point multiplier with one rounding 1 (a near-tie its multiplier's rounding
    flipped), the 16-bit "reduced multiplier" of common.h's int64 MultiplyByQuantizedMultiplier
    2,675 of 43,008."""
    acc = np.asarray(x, np.int64) @ np.asarray(weights, np.int64).T
    if bias is not None:
        acc = acc + np.asarray(bias, np.int64)
    s_in, s_w, s_out = scales
    if requant == "tflm":
        return np.clip(_reduced_multiply(acc, *fc_multipliers(s_in, s_w, s_out)),
                       INT16_MIN, INT16_MAX).astype(np.int16)  # fmt: skip
    effective = (float(np.float32(s_in)) * np.asarray(s_w, np.float32).astype(np.float64)) / float(
        np.float32(s_out)
    )
    y = tflite_round(acc.astype(np.float64) * effective)
    return np.clip(y, INT16_MIN, INT16_MAX).astype(np.int16)


def _reduced_multiply(x: np.ndarray, multiplier: np.ndarray, shift: np.ndarray) -> np.ndarray:
    """common.cc's int64 ``MultiplyByQuantizedMultiplier`` (double-rounding build), which TFLite
    Micro's 16x8 FULLY_CONNECTED calls: the multiplier rounded to 16 bits, one rounding shift."""
    multiplier = np.asarray(multiplier, np.int64)
    reduced = np.where(multiplier < 0x7FFF0000, (multiplier + (1 << 15)) >> 16, 0x7FFF)
    total = 15 - np.asarray(shift, np.int64)
    return (np.asarray(x, np.int64) * reduced + (np.int64(1) << (total - 1))) >> total


def _add_params(s1: float, s2: float, s_out: float) -> tuple[tuple[int, int], ...]:
    """add.cc / sub.cc ``PrepareGeneralSubOp``: multipliers of the two inputs and the output."""
    s1, s2, s_out = (float(np.float32(s)) for s in (s1, s2, s_out))
    twice_max = 2.0 * max(s1, s2)
    return (
        quantize_multiplier(s1 / twice_max),
        quantize_multiplier(s2 / twice_max),
        quantize_multiplier(twice_max / ((1 << ADD_LEFT_SHIFT) * s_out)),
    )


def _float_exponent(v: np.float32) -> int:
    """The unbiased exponent field of a float32 (``(bits >> 23) - 127``)."""
    return int((np.array(v, np.float32).view(np.uint32) >> 23) & 0xFF) - 127


def _xnnpack_add(
    a: np.ndarray, qa: tuple[float, int], b: np.ndarray, qb: tuple[float, int],
    q_out: tuple[float, int], sign: int,
) -> np.ndarray:  # fmt: skip
    """XNNPACK qs8-vadd (``xnn_init_qs8_add_minmax_scalar_params``); SUB negates b's ratio."""
    so = np.float32(q_out[0])
    a_os = np.float32(np.float32(qa[0]) / so)
    b_os = np.float32(np.float32(qb[0]) / so) * np.float32(sign)
    shift = 20 - _float_exponent(max(abs(a_os), abs(b_os)))
    two = np.float32(2.0**shift)
    am, bm = int(np.rint(np.float32(a_os * two))), int(np.rint(np.float32(b_os * two)))
    bias = (1 << (shift - 1)) - am * qa[1] - bm * qb[1]
    acc = bias + np.asarray(a, np.int64) * am + np.asarray(b, np.int64) * bm
    return saturate_int8((acc >> shift) + q_out[1])


def _add_or_sub(
    a: np.ndarray, qa: tuple[float, int], b: np.ndarray, qb: tuple[float, int],
    q_out: tuple[float, int], sign: int, mode: str = "reference",
) -> np.ndarray:  # fmt: skip
    if mode == "xnnpack":
        return _xnnpack_add(a, qa, b, qb, q_out, sign)
    (m1, sh1), (m2, sh2), (mo, sho) = _add_params(qa[0], qb[0], q_out[0])
    a_s = multiply_by_quantized_multiplier(
        (np.asarray(a, np.int64) - qa[1]) * (1 << ADD_LEFT_SHIFT), m1, sh1
    )
    b_s = multiply_by_quantized_multiplier(
        (np.asarray(b, np.int64) - qb[1]) * (1 << ADD_LEFT_SHIFT), m2, sh2
    )
    raw = a_s + sign * b_s
    return saturate_int8(multiply_by_quantized_multiplier(raw, mo, sho) + q_out[1])


def add(
    a: np.ndarray, qa: tuple[float, int], b: np.ndarray, qb: tuple[float, int],
    q_out: tuple[float, int], mode: str = "reference",
) -> np.ndarray:  # fmt: skip
    """ADD int8 with rescaling; ``q*`` are (scale, zero_point) of each tensor."""
    return _add_or_sub(a, qa, b, qb, q_out, +1, mode)


def sub(
    a: np.ndarray, qa: tuple[float, int], b: np.ndarray, qb: tuple[float, int],
    q_out: tuple[float, int], mode: str = "reference",
) -> np.ndarray:  # fmt: skip
    """SUB int8 with rescaling (a - b)."""
    return _add_or_sub(a, qa, b, qb, q_out, -1, mode)


def mul(
    a: np.ndarray, qa: tuple[float, int], b: np.ndarray, qb: tuple[float, int],
    q_out: tuple[float, int], mode: str = "reference",
) -> np.ndarray:  # fmt: skip
    """MUL int8: (a - zp_a)(b - zp_b) requantized by double(s_a) * double(s_b) / double(s_out)
    (XNNPACK: by float32 (s_a * s_b) / s_out, rounded half to even)."""
    prod = (np.asarray(a, np.int64) - qa[1]) * (np.asarray(b, np.int64) - qb[1])
    if mode == "xnnpack":
        f = np.float32
        scale = f(f(f(qa[0]) * f(qb[0])) / f(q_out[0]))
        return saturate_int8(np.rint(prod.astype(f) * scale).astype(np.int64) + q_out[1])
    s1, s2, so = (float(np.float32(q[0])) for q in (qa, qb, q_out))
    m, shift = quantize_multiplier(s1 * s2 / so)
    return saturate_int8(multiply_by_quantized_multiplier(prod, m, shift) + q_out[1])


def _sigmoid32(v: np.ndarray) -> np.ndarray:
    # activations.cc: 1.0f / (1.0f + std::exp(-value)) in float32; expf correctly rounded here
    # (computed in float64 and rounded once), which matched LiteRT on every table tested.
    e = np.exp(-v.astype(np.float64)).astype(np.float32)
    return (np.float32(1.0) / (np.float32(1.0) + e)).astype(np.float32)


def _tanh32(v: np.ndarray) -> np.ndarray:
    return np.tanh(v.astype(np.float64)).astype(np.float32)


def lut_int8(
    transform: Callable[[np.ndarray], np.ndarray],
    input_q: tuple[float, int],
    output_q: tuple[float, int],
) -> np.ndarray:
    """``LUTPopulate<int8_t>``: the 256 outputs for inputs -128..127 (indexed by q + 128)."""
    vals = np.arange(INT8_MIN, INT8_MAX + 1, dtype=np.int64)
    dequantized = np.float32(input_q[0]) * (vals - input_q[1]).astype(np.float32)
    inverse_scale = np.float32(1.0) / np.float32(output_q[0])
    rescaled = tflite_round(transform(dequantized) * inverse_scale)
    return saturate_int8(rescaled.astype(np.int64) + output_q[1])


def logistic_table(input_q: tuple[float, int]) -> np.ndarray:
    return lut_int8(_sigmoid32, input_q, (LOGISTIC_SCALE, LOGISTIC_ZERO_POINT))


def tanh_table(input_q: tuple[float, int]) -> np.ndarray:
    return lut_int8(_tanh32, input_q, (TANH_SCALE, TANH_ZERO_POINT))


def lookup(table: np.ndarray, x: np.ndarray) -> np.ndarray:
    """``LUTLookup`` of int8 values in a table built by ``lut_int8``."""
    return table[np.asarray(x, np.int64) + 128]


def logistic(x: np.ndarray, input_q: tuple[float, int]) -> np.ndarray:
    """LOGISTIC int8 -> int8 with output scale 1/256, zero point -128."""
    return lookup(logistic_table(input_q), x)


def tanh(x: np.ndarray, input_q: tuple[float, int]) -> np.ndarray:
    """TANH int8 -> int8 with output scale 1/128, zero point 0."""
    return lookup(tanh_table(input_q), x)
