"""The NumPy int8 references of the full-integer files: what LiteRT (or TFLite Micro) computes,
on the host, for every cell (docs/quantization.md).

This module holds what the cells share: a FULLY_CONNECTED with its scales (``Int8Fc``), the
model's frame (normalization and QUANTIZE at the input point, the layers, pooling, the head:
``Int8Model``) and ``build_reference`` / ``predict_int8``, which pick the cell's own graph:
``gru_reference`` (the GRU's gates op for op), ``lstm_reference`` (TFLite's integer LSTM
kernel) or ``lstm_lowered_reference`` (the LSTM lowered to builtin int8 ops).

``requant`` names the kernels to reproduce (``kernels``): "reference" = LiteRT's reference
kernels, "optimized" = LiteRT's builtin optimized kernels (``BUILTIN_WITHOUT_DEFAULT_DELEGATES``:
FULLY_CONNECTED requantizes in fixed point), "xnnpack" = the XNNPACK delegate (its own
ADD/SUB/MUL/QUANTIZE arithmetic), "tflm" = TFLite Micro's reference kernels (fixed-point
FULLY_CONNECTED, LOGISTIC and TANH).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from edgegru.quantize import kernels as K
from edgegru.quantize.points import (
    check_static_supported,
    integer_lstm,
    pool_point,
)
from edgegru.types import ActQuant, Bundle


@dataclass
class Int8Fc:
    """A FULLY_CONNECTED with int8 weights [O, I], int32 bias [O] and its scales."""

    W: np.ndarray
    bias: np.ndarray | None
    s_w: np.ndarray
    q_in: ActQuant
    q_out: ActQuant

    @staticmethod
    def make(
        W: np.ndarray, s_w: np.ndarray, b: np.ndarray | None, q_in: ActQuant, q_out: ActQuant
    ) -> Int8Fc:
        quantize_bias = K.quantize_bias64 if q_out.bits == 16 else K.quantize_bias
        bias = None if b is None else quantize_bias(b, q_in.scale, s_w)
        return Int8Fc(W, bias, s_w, q_in, q_out)

    def __call__(self, x: np.ndarray, requant: str) -> np.ndarray:
        scales = (self.q_in.scale, self.s_w, self.q_out.scale)
        if self.q_out.bits == 16:  # 16x8: x requantized to int16 at (s_in, 0) first (exact)
            x16 = np.asarray(x, np.int64) - self.q_in.zero_point
            return K.fully_connected_16x8(x16, self.W, self.bias, scales, requant)
        return K.fully_connected(
            x, self.q_in.zero_point, self.W, self.bias, scales, self.q_out.zero_point, requant
        )


@dataclass
class Int8Model:
    head_kind: str
    mean: np.ndarray  # [F] float32
    inv_std: np.ndarray  # [F] float32
    q_input: ActQuant
    layers: list[Any]  # each with run(x_q [B, T, I] int8, requant) -> h_q [B, T, H] int8
    q_pool: ActQuant
    head: Int8Fc

    def run(
        self, X: np.ndarray, lengths: np.ndarray | None = None, requant: str = "reference"
    ) -> np.ndarray:
        """Raw X [B, T, F] -> float32 outputs [B, O] (dequantized int8 logits)."""
        h = normalize_quantize(X, self.mean, self.inv_std, self.q_input, requant)
        for layer in self.layers:
            h = layer.run(h, requant)
        q_h = self.layers[-1].q["h"]
        return pool_and_head(h, lengths, self.head_kind, q_h, self.q_pool, self.head, requant)


def normalize_quantize(
    X: np.ndarray, mean: np.ndarray, inv_std: np.ndarray, q_input: ActQuant, requant: str
) -> np.ndarray:
    """Raw X -> (X - mean) * (1 / std) in float32 -> QUANTIZE at the input point (the graph's
    first ops, graph_int8._normalize_quantize)."""
    xn = ((np.asarray(X, np.float32) - mean) * inv_std).astype(np.float32)
    return K.quantize(xn, q_input.scale, q_input.zero_point, requant)


def pool_and_head(
    h: np.ndarray, lengths: np.ndarray | None, head_kind: str, q_h: ActQuant, q_pool: ActQuant,
    head: Int8Fc, requant: str,
) -> np.ndarray:  # fmt: skip
    """Top layer's int8 h [B, T, H] -> float32 outputs [B, O]: the last valid step, or the mean
    (a float32 running sum of DEQUANTIZE(h_t) in step order, / n, QUANTIZE), then the head."""
    B, T, _ = h.shape
    n = np.full(B, T) if lengths is None else np.asarray(lengths, np.int64)
    if head_kind == "last":
        pooled = h[np.arange(B), n - 1]
    else:
        acc = np.zeros((B, h.shape[2]), np.float32)
        for t in range(T):
            d = K.dequantize(h[:, t], q_h.scale, q_h.zero_point)
            acc = np.where((t < n)[:, None], acc + d, acc).astype(np.float32)
        mean = (acc / n[:, None].astype(np.float32)).astype(np.float32)
        pooled = K.quantize(mean, q_pool.scale, q_pool.zero_point, requant)
    y_q = head(pooled, requant)
    return K.dequantize(y_q, head.q_out.scale, head.q_out.zero_point)


def build_reference(bundle: Bundle, graph: str | None = None) -> Int8Model:
    """The int8 model of a bundle quantized with a full-integer scheme (static or qat); for
    LSTM / peephole models ``lstm_reference.Int8LstmModel`` (the same ``run``), or with
    ``graph="lowered"`` ``lstm_lowered_reference``'s builtin-op graph."""
    from edgegru.errors import BadInput

    spec = bundle.spec
    check_static_supported(spec)
    if bundle.quant is None or not bundle.quant.is_static:
        raise BadInput(
            "the model has no calibrated activation ranges: run `edgegru quantize --scheme "
            "static` (or qat) first"
        )
    if integer_lstm(spec) and graph == "lowered":
        from edgegru.quantize.lstm_lowered_reference import build_lstm_lowered_reference

        return build_lstm_lowered_reference(bundle)
    if integer_lstm(spec):
        from edgegru.quantize.lstm_reference import build_lstm_reference

        return build_lstm_reference(bundle)  # type: ignore[return-value]
    from edgegru.quantize.gru_reference import build_gru_reference

    return build_gru_reference(bundle)


def model_frame(bundle: Bundle, q8: dict[str, tuple[np.ndarray, np.ndarray]]) -> dict:
    """The int8 model's fields around the layers: normalization, input point, pool, head."""
    spec = bundle.spec
    assert bundle.quant is not None
    act = bundle.quant.activations
    norm = spec.normalization
    mean = np.zeros(spec.input_size) if norm is None else np.asarray(norm.mean)
    std = np.ones(spec.input_size) if norm is None else np.asarray(norm.std)
    W_head, s_head = q8["head.weight"]
    q_pool = act[pool_point(spec)]
    head = Int8Fc.make(W_head, s_head, bundle.weights["head.bias"], q_pool, act["head.y"])
    return {
        "head_kind": spec.head,
        "mean": mean.astype(np.float32),
        "inv_std": (1.0 / std).astype(np.float32),
        "q_input": act["input"],
        "q_pool": q_pool,
        "head": head,
    }


def predict_int8(
    bundle: Bundle,
    X: np.ndarray,
    lengths: np.ndarray | None = None,
    requant: str = "reference",
    batch_size: int = 1024,
    graph: str | None = None,
) -> np.ndarray:
    """Outputs [N, O] of the full-integer model, dequantized to float32 (``graph``: the file's
    ``int8_graph``, "lowered" for an LSTM lowered to builtin int8 ops)."""
    model = build_reference(bundle, graph)
    outs = [
        model.run(
            X[i : i + batch_size],
            None if lengths is None else lengths[i : i + batch_size],
            requant,
        )
        for i in range(0, len(X), batch_size)
    ]
    return np.concatenate(outs) if outs else np.zeros((0, bundle.spec.num_outputs), np.float32)
