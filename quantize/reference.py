"""A NumPy int8 reference of the full-integer GRU: what LiteRT computes, on the host.

The graph (the TFLite int8 lowering follows it op for op; ``points`` names every scale)::

    x [B, T, F] float32 raw
      SUB mean, MUL 1/std (float32)        -> x_n                    (normalization, float)
      QUANTIZE                              -> x_q    int8 @ input
    per layer k (x_q: the layer input, int8 @ input (k = 0) or @ l{k-1}.h):
      FULLY_CONNECTED(x_q, W_i{r,z}, b_i{r,z}) -> gx_rz [B*T, 2H] @ l{k}.gx_rz   once for all T
      FULLY_CONNECTED(x_q, W_in, b_in)          -> gx_n  [B*T, H]  @ l{k}.gx_n    once for all T
      h_q = zero_point of l{k}.h (h = 0)
      per step t (11 ops):
        FULLY_CONNECTED(h_q, W_h{r,z}, b_h{r,z}) -> gh_rz [B, 2H] @ l{k}.gh_rz
        FULLY_CONNECTED(h_q, W_hn, b_hn)          -> gh_n  [B, H]  @ l{k}.gh_n
        ADD(gx_rz[t], gh_rz)                      -> pre_rz        @ l{k}.pre_rz
        LOGISTIC(pre_rz)                          -> rz            @ 1/256, -128
        SPLIT(rz, 2)                              -> r, z          (same quantization)
        MUL(r, gh_n)                              -> rgh           @ l{k}.rgh
        ADD(gx_n[t], rgh)                         -> pre_n         @ l{k}.pre_n
        TANH(pre_n)                               -> n             @ 1/128, 0
        SUB(h_q, n)                               -> d             @ l{k}.d
        MUL(z, d)                                 -> zd            @ l{k}.zd
        ADD(n, zd)                                -> h_q'          @ l{k}.h   (state in = out)
    head: the top layer's h_q at each sequence's last step (@ l{L-1}.h), or for head "mean"
          DEQUANTIZE(h_q) summed in float32 step by step (ADD), DIV by T, QUANTIZE @ head.pool
      FULLY_CONNECTED(pooled, W_head, b_head)  -> y_q   @ head.y
      DEQUANTIZE                                -> y float32
    (head.y int16, QuantizeConfig.logits_bits 16: QUANTIZE pooled -> int16 at (its scale, 0),
     exact, then a 16x8 FULLY_CONNECTED with an int64 bias -> y_q int16 @ head.y)

This is h' = n + z (.) (h - n) = (1 - z) (.) n + z (.) h, PyTorch's GRU
(docs/architecture.md#cells);
r, z, n rows are PyTorch's (r, z, n) order. Weights int8 per output channel (zero point 0), biases
int32 with scale s_in * s_w. ``requant`` names the kernels to reproduce (``kernels``):
"reference" = LiteRT's reference kernels, "optimized" = LiteRT's builtin optimized kernels
(``BUILTIN_WITHOUT_DEFAULT_DELEGATES``: FULLY_CONNECTED requantizes in fixed point), "xnnpack"
= the XNNPACK delegate (its own ADD/SUB/MUL/QUANTIZE arithmetic), "tflm" = TFLite Micro's
reference kernels (fixed-point FULLY_CONNECTED, LOGISTIC and TANH).
``edgegru.export.tflite.lowerings.gru_int8`` writes exactly this graph (and reads its weights,
biases and scales from this model).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from edgegru.quantize import kernels as K
from edgegru.quantize.points import (
    FIXED,
    check_static_supported,
    input_point,
    integer_lstm,
    pool_point,
)
from edgegru.quantize.weights import int8_weights
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
class Int8GruLayer:
    x_rz: Int8Fc
    x_n: Int8Fc
    h_rz: Int8Fc
    h_n: Int8Fc
    q: dict[str, ActQuant]  # this layer's points without the "l{k}." prefix, plus rz and n
    logistic: np.ndarray  # LOGISTIC table for pre_rz
    tanh: np.ndarray  # TANH table for pre_n

    def tables(self, requant: str) -> tuple[np.ndarray, np.ndarray]:
        """LOGISTIC and TANH tables: LiteRT's float-built ones, or TFLite Micro's fixed point."""
        if requant != "tflm":
            return self.logistic, self.tanh
        from edgegru.quantize import tflm_kernels

        q = self.q
        return tflm_kernels.logistic_table(q["pre_rz"].pair), tflm_kernels.tanh_table(
            q["pre_n"].pair
        )

    def run(self, x_q: np.ndarray, requant: str) -> np.ndarray:
        """x_q [B, T, I] int8 -> h_q for every step [B, T, H] int8."""
        q = self.q
        B, T, _ = x_q.shape
        H = self.h_n.W.shape[0]
        sigmoid_lut, tanh_lut = self.tables(requant)
        gx_rz = self.x_rz(x_q, requant)  # [B, T, 2H]
        gx_n = self.x_n(x_q, requant)  # [B, T, H]
        h = np.full((B, H), q["h"].zero_point, np.int8)
        out = np.empty((B, T, H), np.int8)
        for t in range(T):
            gh_rz = self.h_rz(h, requant)
            gh_n = self.h_n(h, requant)
            m = requant  # the elementwise ops follow XNNPACK's kernels in mode "xnnpack"
            pre_rz = K.add(
                gx_rz[:, t], q["gx_rz"].pair, gh_rz, q["gh_rz"].pair, q["pre_rz"].pair, m
            )
            rz = K.lookup(sigmoid_lut, pre_rz)
            r, z = rz[:, :H], rz[:, H:]
            rgh = K.mul(r, q["rz"].pair, gh_n, q["gh_n"].pair, q["rgh"].pair, m)
            pre_n = K.add(gx_n[:, t], q["gx_n"].pair, rgh, q["rgh"].pair, q["pre_n"].pair, m)
            n = K.lookup(tanh_lut, pre_n)
            d = K.sub(h, q["h"].pair, n, q["n"].pair, q["d"].pair, m)
            zd = K.mul(z, q["rz"].pair, d, q["d"].pair, q["zd"].pair, m)
            h = K.add(n, q["n"].pair, zd, q["zd"].pair, q["h"].pair, m)
            out[:, t] = h
        return out


@dataclass
class Int8GruModel:
    head_kind: str
    mean: np.ndarray  # [F] float32
    inv_std: np.ndarray  # [F] float32
    q_input: ActQuant
    layers: list[Int8GruLayer]
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


def build_reference(bundle: Bundle, graph: str | None = None) -> Int8GruModel:
    """The int8 model of a bundle quantized with a full-integer scheme (static or qat); for
    LSTM / peephole models ``reference_lstm.Int8LstmModel`` (the same ``run``), or with
    ``graph="lowered"`` ``reference_lstm_lowered``'s builtin-op graph."""
    from edgegru.errors import BadInput

    spec = bundle.spec
    check_static_supported(spec)
    if bundle.quant is None or not bundle.quant.is_static:
        raise BadInput(
            "the model has no calibrated activation ranges: run `edgegru quantize --scheme "
            "static` (or qat) first"
        )
    if integer_lstm(spec) and graph == "lowered":
        from edgegru.quantize.reference_lstm_lowered import build_lstm_lowered_reference

        return build_lstm_lowered_reference(bundle)
    if integer_lstm(spec):
        from edgegru.quantize.reference_lstm import build_lstm_reference

        return build_lstm_reference(bundle)  # type: ignore[return-value]
    act = dict(bundle.quant.activations)
    q8 = int8_weights(bundle)
    H = spec.hidden_size
    rz, n_ = slice(0, 2 * H), slice(2 * H, 3 * H)

    def bias(name: str, sl: slice) -> np.ndarray | None:
        b = bundle.weights.get(name)
        return None if b is None else b[sl]

    layers = []
    for k in range(spec.num_layers):
        p = f"l{k}."
        q = {name[len(p) :]: a for name, a in act.items() if name.startswith(p)}
        q |= FIXED
        W_ih, s_ih = q8[f"rnn.weight_ih_l{k}"]
        W_hh, s_hh = q8[f"rnn.weight_hh_l{k}"]
        q_in = act[input_point(k)]
        b_ih, b_hh = f"rnn.bias_ih_l{k}", f"rnn.bias_hh_l{k}"
        layers.append(
            Int8GruLayer(
                x_rz=Int8Fc.make(W_ih[rz], s_ih[rz], bias(b_ih, rz), q_in, q["gx_rz"]),
                x_n=Int8Fc.make(W_ih[n_], s_ih[n_], bias(b_ih, n_), q_in, q["gx_n"]),
                h_rz=Int8Fc.make(W_hh[rz], s_hh[rz], bias(b_hh, rz), q["h"], q["gh_rz"]),
                h_n=Int8Fc.make(W_hh[n_], s_hh[n_], bias(b_hh, n_), q["h"], q["gh_n"]),
                q=q,
                logistic=K.logistic_table(q["pre_rz"].pair),
                tanh=K.tanh_table(q["pre_n"].pair),
            )
        )
    return Int8GruModel(layers=layers, **model_frame(bundle, q8))


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
