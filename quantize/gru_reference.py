"""The NumPy int8 reference of the full-integer GRU: what LiteRT computes, on the host.

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
int32 with scale s_in * s_w; ``requant``: the kernels reproduced (``reference``).
``edgegru.export.tflite.lowerings.gru_int8`` writes exactly this graph (and reads its weights,
biases and scales from this model).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from edgegru.quantize import kernels as K
from edgegru.quantize.points import FIXED, input_point
from edgegru.quantize.reference import Int8Fc, Int8Model, model_frame
from edgegru.quantize.weights import int8_weights
from edgegru.types import ActQuant, Bundle


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


def build_gru_reference(bundle: Bundle) -> Int8Model:
    """The GRU's int8 model of a bundle quantized with a full-integer scheme."""
    spec = bundle.spec
    assert bundle.quant is not None
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
    return Int8Model(layers=layers, **model_frame(bundle, q8))
