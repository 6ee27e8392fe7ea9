"""A NumPy int8 reference of the full-integer LSTM and peephole LSTM: TFLite's integer 8x8_16
LSTM kernel (``lstm_kernels``), on the host.

The graph (``edgegru.export.tflite.lowerings.lstm_int8`` writes it; the same normalization,
input QUANTIZE and head as the GRU's, ``reference``)::

    x [B, T, F] raw -> SUB mean, MUL 1/std (float32) -> QUANTIZE @ input        (int8)
    per layer k: UNIDIRECTIONAL_SEQUENCE_LSTM, integer 8x8_16, from h = 0, c = 0:
      per step, for each gate G in i, f, g, o (PyTorch rows i, f, g, o):
        pre_G = sat16(rq(x W_G^T + b_G) + rq(h R_G^T) [+ rq(p_G (.) c)])   Q3.12 int16
      i, f, o = Sigmoid(pre) (Q0.15), g = Tanh(pre) (Q0.15)                 gemmlowp fixed point
      c' = sat16(rshift(f c, 15) + rshift(i g, 30 + cell_scale))            int16 @ 2**cell_scale
      (the peephole of o reads c'; of i and f, c)
      h' = int8(rq(o tanh(c')) + zp_h)                                      int8 @ l{k}.h
    head: as the GRU's (the top h at the last step, or DEQUANTIZE + float32 mean + QUANTIZE
          @ head.pool), FULLY_CONNECTED @ head.y, DEQUANTIZE.

rq: ``MultiplyByQuantizedMultiplier`` by the effective scales of
``PopulateQuantizedLstmParams8x8_16``.
Weights: int8 symmetric PER TENSOR (one scale per gate matrix W_G, R_G: the kernel reads a single
``params.scale``; it is the max of the per-row scales of ``QuantParams.weight_scales`` over the
gate's rows), gate biases int32 at s_input * w_scale_G, peepholes int16 symmetric per tensor.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from edgegru.quantize import kernels as K
from edgegru.quantize import lstm_kernels as L
from edgegru.quantize.points import input_point
from edgegru.quantize.weights import WEIGHT_QMAX
from edgegru.types import ActQuant, Bundle

PEEP_QMAX = 32767  # int16 symmetric


def _per_tensor(w: np.ndarray, scale: float, qmax: int, dtype) -> np.ndarray:
    q = K.tflite_round(np.asarray(w, np.float64) / float(np.float32(scale)))
    return np.clip(q, -qmax, qmax).astype(dtype)


@dataclass
class Int8LstmLayer:
    W: np.ndarray  # [4, H, I] int8 (i, f, g, o)
    w_scale: np.ndarray  # [4] float32
    R: np.ndarray  # [4, H, H] int8
    r_scale: np.ndarray  # [4]
    bias: np.ndarray  # [4, H] int32 at s_in * w_scale
    P: np.ndarray | None  # [3, H] int16 (p_i, p_f, p_o) or None
    p_scale: np.ndarray | None  # [3]
    q_in: ActQuant
    q_h: ActQuant
    cell_scale: int  # c = q * 2**cell_scale

    def __post_init__(self) -> None:
        W64, R64 = self.W.astype(np.int64), self.R.astype(np.int64)
        # PrecomputeZeroPointTimesWeightWithBias: bias - zp * row sums
        self._bx = self.bias.astype(np.int64) - self.q_in.zero_point * W64.sum(axis=2)
        self._bh = -self.q_h.zero_point * R64.sum(axis=2)
        self._mx = [L.gate_multiplier(s, self.q_in.scale) for s in self.w_scale]
        self._mh = [L.gate_multiplier(s, self.q_h.scale) for s in self.r_scale]
        self._mp = (
            None
            if self.p_scale is None
            else [L.peephole_multiplier(self.cell_scale, s) for s in self.p_scale]
        )
        self._mo = L.hidden_multiplier(self.q_h.scale)
        self._sig = L.sigmoid_table()
        self._tanh = L.tanh_table(L.GATE_INTEGER_BITS)

    def _gate(self, j: int, x: np.ndarray, h: np.ndarray, c: np.ndarray | None, peep: int | None):
        acc = L.matmul_accumulate(x, self.W[j], self._bx[j], self._mx[j], np.int64(0))
        acc = L.matmul_accumulate(h, self.R[j], self._bh[j], self._mh[j], acc)
        if peep is not None and self.P is not None and self._mp is not None:
            acc = L.peephole_accumulate(self.P[peep], c, self._mp[peep], acc)
        return acc

    def step(self, x: np.ndarray, h: np.ndarray, c: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """One step: x [B, I] int8, h [B, H] int8, c [B, H] int16 -> (h', c') (int64 arrays)."""
        x, h, c = (np.asarray(a, np.int64) for a in (x, h, c))
        i = L.lookup16(self._sig, self._gate(0, x, h, c, 0))
        f = L.lookup16(self._sig, self._gate(1, x, h, c, 1))
        g = L.lookup16(self._tanh, self._gate(2, x, h, c, None))
        c = L.cell_update(c, i, f, g, self.cell_scale)
        o = L.lookup16(self._sig, self._gate(3, x, h, c, 2))  # the output peephole sees c'
        return L.hidden_output(o, c, self.cell_scale, self._mo, self.q_h.zero_point), c

    def run(self, x_q: np.ndarray) -> np.ndarray:
        """x_q [B, T, I] int8 -> h for every step [B, T, H] int8, from h = 0, c = 0."""
        B, T, _ = x_q.shape
        H = self.R.shape[1]
        h = np.full((B, H), self.q_h.zero_point, np.int64)
        c = np.zeros((B, H), np.int64)
        out = np.empty((B, T, H), np.int8)
        for t in range(T):
            h, c = self.step(x_q[:, t], h, c)
            out[:, t] = h
        return out


def _gates(a: np.ndarray) -> list[np.ndarray]:
    return np.split(np.asarray(a), 4, axis=0)  # PyTorch rows i, f, g, o


def lstm_layers(bundle: Bundle) -> list[Int8LstmLayer]:
    spec = bundle.spec
    quant = bundle.quant
    assert quant is not None
    act, H = quant.activations, spec.hidden_size
    layers = []
    for k in range(spec.num_layers):
        ws = {n: np.asarray(quant.weight_scales[f"rnn.weight_{n}_l{k}"], np.float32)
              for n in ("ih", "hh")}  # fmt: skip
        mats = {}
        for n in ("ih", "hh"):
            w = bundle.weights[f"rnn.weight_{n}_l{k}"]
            scales = np.array([s.max() for s in _gates(ws[n])], np.float32)  # per gate tensor
            q = [
                _per_tensor(g, s, WEIGHT_QMAX, np.int8)
                for g, s in zip(_gates(w), scales, strict=True)
            ]
            mats[n] = (np.stack(q), scales)
        q_in = act[input_point(k)]
        b = np.zeros(4 * H, np.float64)
        for n in ("ih", "hh"):
            b = b + np.asarray(bundle.weights.get(f"rnn.bias_{n}_l{k}", np.zeros(4 * H)))
        bias = np.stack([
            K.quantize_bias(bg, q_in.scale, np.full(H, s, np.float32))
            for bg, s in zip(_gates(b), mats["ih"][1], strict=True)
        ])  # fmt: skip
        P = p_scale = None
        peep = bundle.weights.get(f"rnn.weight_peep_l{k}")
        if peep is not None:
            amax = np.abs(np.asarray(peep, np.float64)).max(axis=1)
            p_scale = np.where(amax > 0, amax, 1.0).astype(np.float32) / np.float32(PEEP_QMAX)
            P = np.stack(
                [_per_tensor(p, s, PEEP_QMAX, np.int16) for p, s in zip(peep, p_scale, strict=True)]
            )
        c = act[f"l{k}.c"]
        layers.append(
            Int8LstmLayer(
                W=mats["ih"][0], w_scale=mats["ih"][1], R=mats["hh"][0], r_scale=mats["hh"][1],
                bias=bias, P=P, p_scale=p_scale, q_in=q_in, q_h=act[f"l{k}.h"],
                cell_scale=round(float(np.log2(c.scale))),
            )
        )  # fmt: skip
    return layers


@dataclass
class Int8LstmModel:
    head_kind: str
    mean: np.ndarray
    inv_std: np.ndarray
    q_input: ActQuant
    layers: list[Int8LstmLayer]
    q_pool: ActQuant
    head: object  # reference.Int8Fc

    def run(
        self, X: np.ndarray, lengths: np.ndarray | None = None, requant: str = "reference"
    ) -> np.ndarray:
        """Raw X [B, T, F] -> float32 outputs [B, O]."""
        from edgegru.quantize.reference import normalize_quantize, pool_and_head

        h = normalize_quantize(X, self.mean, self.inv_std, self.q_input, requant)
        for layer in self.layers:
            h = layer.run(h)
        q_h = self.layers[-1].q_h
        return pool_and_head(h, lengths, self.head_kind, q_h, self.q_pool, self.head, requant)


def build_lstm_reference(bundle: Bundle) -> Int8LstmModel:
    from edgegru.quantize.reference import model_frame
    from edgegru.quantize.weights import int8_weights

    return Int8LstmModel(layers=lstm_layers(bundle), **model_frame(bundle, int8_weights(bundle)))
