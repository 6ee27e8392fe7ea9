"""Full-integer (int8) TFLite operators: each appends one operator whose output carries its int8
quantization (docs/quantization.md), and returns the output's index.

The NumPy kernels these must match are in ``edgegru.quantize.kernels`` (bit-exact against the
TFLite kernels cited there); the quantization of every tensor comes from the NumPy int8 model
(``edgegru.quantize.reference``), so the file and the host reference share scales, int8 weights
and int32 biases by construction. Shape-only ops (RESHAPE, SLICE, SPLIT, GATHER, CONCATENATION)
are ``ops``'s own: they copy their input's quantization.
"""

from __future__ import annotations

import numpy as np

from edgegru.export.tflite import ops
from edgegru.export.tflite.builder import Quantization, SubgraphBuilder, schema
from edgegru.quantize.kernels import (
    LOGISTIC_SCALE,
    LOGISTIC_ZERO_POINT,
    TANH_SCALE,
    TANH_ZERO_POINT,
)
from edgegru.quantize.reference import Int8Fc
from edgegru.types import ActQuant


def qp(a: ActQuant) -> Quantization:
    """Per-tensor int8 quantization of a calibrated point."""
    return Quantization((float(np.float32(a.scale)),), (int(a.zero_point),))


def tensor(g: SubgraphBuilder, name: str, shape: tuple[int, ...], a: ActQuant) -> int:
    """An int8 tensor (int16 for a 16-bit point: the 16x8 head)."""
    return g.tensor(name, shape, np.int16 if a.bits == 16 else np.int8, quantization=qp(a))


def full(g: SubgraphBuilder, name: str, shape: tuple[int, ...], a: ActQuant, real: float) -> int:
    """A constant int8 tensor holding ``real`` everywhere (0.0: the zero point)."""
    q = int(np.clip(np.round(real / a.scale) + a.zero_point, -128, 127))
    return g.const(name, np.full(shape, q, np.int8), quantization=qp(a))


def quantize(g: SubgraphBuilder, name: str, x: int, a: ActQuant) -> int:
    """QUANTIZE float32 -> int8 (quantize.cc; reference/quantize.h ``AffineQuantize``), or
    int8 -> int16 at the same scale and zero point 0 (exact: q - zp)."""
    y = tensor(g, name, g.shape_of(x), a)
    g.op("QUANTIZE", [x], [y])
    return y


def dequantize(g: SubgraphBuilder, name: str, x: int) -> int:
    """DEQUANTIZE int8 -> float32 (dequantize.cc)."""
    y = g.tensor(name, g.shape_of(x), np.float32)
    g.op("DEQUANTIZE", [x], [y])
    return y


def fc_consts(g: SubgraphBuilder, name: str, fc: Int8Fc) -> tuple[int, int]:
    """The int8 weight [O, I] (per output channel, zero point 0) and the int32 bias [O].

    The bias is on scale s_in * s_w[o] per channel, but its quantization record holds ONE scale
    (s_in * s_w[0]): no int8 kernel reads it. TFLite's FULLY_CONNECTED checks a bias scale for
    uint8 only (kernel_util.cc ``PopulateConvolutionQuantizationParams``) and XNNPACK only needs
    the bias quantized at all (an unquantized int32 bias makes it refuse the node), both adding
    the int32 bias to the s_in * s_w[o] accumulator as is. Tested bit-exact on both
    (tests/export/test_tflite_int8.py); a per-channel record would cost 4 bytes per channel
    plus a zero-point vector (the int8 loop file's size budget)."""
    s_w = np.asarray(fc.s_w, np.float32)
    # one scale for all rows (quantize.weights granularity "tensor"/"auto") is written as a
    # per-tensor record: the same arithmetic in every kernel (tested bit-exact), 12 bytes per
    # channel less
    w_scales = (float(s_w[0]),) if (s_w == s_w[0]).all() else tuple(map(float, s_w))
    W = g.const(f"{name}/W", fc.W, quantization=Quantization(w_scales, (0,) * len(w_scales), 0))
    if fc.bias is None:
        return W, ops.OPTIONAL
    s_b = float(np.float32(fc.q_in.scale)) * float(s_w[0])
    b = g.const(f"{name}/b", fc.bias, quantization=Quantization((s_b,), (0,), 0))
    return W, b


def fully_connected(g: SubgraphBuilder, name: str, x: int, fc: Int8Fc, wb=None) -> int:
    """FULLY_CONNECTED int8 per channel (fully_connected.cc, ``FullyConnectedPerChannel``):
    x [..., I] flattened to [N, I] -> [N, O] at fc.q_out. ``wb``: constants already written.
    A 16-bit fc.q_out makes it 16x8: x must be int16 then, the bias is int64."""
    W, b = wb or fc_consts(g, name, fc)
    n = int(np.prod(g.shape_of(x)[:-1]))
    y = tensor(g, name, (n, fc.W.shape[0]), fc.q_out)
    opts = None
    if fc.q_out.bits == 16:
        # fully_connected.cc refuses an int16 FULLY_CONNECTED whose options name no int32 /
        # int64 bias type (absent options leave it unset)
        s = schema()
        opts = s.FullyConnectedOptionsT()
        opts.quantizedBiasType = s.TensorType.INT64
    g.op("FULLY_CONNECTED", [x, W, b], [y], opts)
    return y


def binary(g: SubgraphBuilder, code: str, name: str, a: int, b: int, out: ActQuant) -> int:
    """ADD / SUB / MUL int8 with rescaling to ``out`` (add.cc, sub.cc, mul.cc)."""
    shape = tuple(np.broadcast_shapes(g.shape_of(a), g.shape_of(b)))
    y = tensor(g, name, shape, out)
    g.op(code, [a, b], [y])
    return y


LOGISTIC_Q = ActQuant(LOGISTIC_SCALE, LOGISTIC_ZERO_POINT)
TANH_Q = ActQuant(TANH_SCALE, TANH_ZERO_POINT)


def logistic(g: SubgraphBuilder, name: str, x: int) -> int:
    """LOGISTIC int8; activations.cc requires output scale 1/256, zero point -128."""
    y = tensor(g, name, g.shape_of(x), LOGISTIC_Q)
    g.op("LOGISTIC", [x], [y])
    return y


def tanh(g: SubgraphBuilder, name: str, x: int) -> int:
    """TANH int8; output 1/128, zero point 0 (the converter's fixed choice)."""
    y = tensor(g, name, g.shape_of(x), TANH_Q)
    g.op("TANH", [x], [y])
    return y
