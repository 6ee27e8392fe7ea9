"""A NumPy int8 reference of the LSTM and peephole LSTM lowered to builtin int8 ops (the graph
``edgegru.export.tflite.lowerings.lstm_lowered_int8`` writes op for op, for runtimes without
TFLite's integer LSTM kernel: TFLite Micro above all).

The graph (the same normalization, input QUANTIZE and head as the GRU's, ``reference``; the
points are ``points.LSTM_LOWERED_POINTS``, calibrated with the others)::

    per layer k (x_q: int8 @ input (k = 0) or @ l{k-1}.h):
      FULLY_CONNECTED(x_q, W, b_ih + b_hh)   -> gx [B*T, 4H] @ l{k}.gx       once for all T
      h_q = zero point of l{k}.h, c_q = zero point of l{k}.cell (h = c = 0)
      per step t:
        FULLY_CONNECTED(h_q, R)              -> gh   [B, 4H] @ l{k}.gh
        ADD(gx[t], gh)                        -> pre  [B, 4H] @ l{k}.pre
        SPLIT(pre, 4)                         -> pi, pf, pg, po (PyTorch rows i, f, g, o)
        (peephole) MUL(c, P_i) @ ci, ADD(pi, ci) @ pi; MUL(c, P_f) @ cf, ADD(pf, cf) @ pf
        LOGISTIC(pi), LOGISTIC(pf), TANH(pg)  -> i, f @ 1/256, -128; g @ 1/128, 0
        MUL(f, c) @ fc, MUL(i, g) @ ig, ADD  -> c' @ l{k}.cell          (state in = out)
        (peephole) MUL(c', P_o) @ co, ADD(po, co) @ po
        LOGISTIC(po), TANH(c'), MUL          -> h' @ l{k}.h              (state in = out)

Weights int8 per output channel as the GRU's (``quantize.weights``), the bias int32 at
s_in * s_w; peepholes int8 symmetric per gate vector (MUL takes one scale per tensor). Every
op is one of the GRU reference's building blocks (``kernels``: fixed-point FULLY_CONNECTED,
ADD / MUL requantization; LOGISTIC / TANH by table, LiteRT's float-built one or TFLite Micro's
fixed point in ``requant="tflm"``), so both arithmetic modes carry over unchanged.

Unlike the fused integer kernel (``lstm_reference``: int16 gates, int16 c at a power-of-two
scale) everything here is int8: c included, at its calibrated scale.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from edgegru.quantize import kernels as K
from edgegru.quantize.points import FIXED, input_point
from edgegru.quantize.reference import Int8Fc, Int8Model, model_frame
from edgegru.quantize.weights import WEIGHT_QMAX, int8_weights
from edgegru.types import ActQuant, Bundle

SIGMOID_Q, TANH_Q = FIXED["rz"].pair, FIXED["n"].pair
# The files' manifest key (``details``) telling a lowered int8 LSTM file from a fused one: the
# step form's layout is "step" either way, and the int8 reference of a check must know the graph.
GRAPH_KEY, LOWERED = "int8_graph", "lowered"


def _tables(q_in: tuple[float, int], requant: str) -> tuple[np.ndarray, np.ndarray]:
    """(LOGISTIC, TANH) tables for int8 inputs at q_in: LiteRT's or TFLite Micro's."""
    if requant == "tflm":
        from edgegru.quantize import tflm_kernels as T

        return T.logistic_table(q_in), T.tanh_table(q_in)
    return K.logistic_table(q_in), K.tanh_table(q_in)


@dataclass
class Int8LstmLoweredLayer:
    x: Int8Fc  # W [4H, I], b_ih + b_hh -> gx
    h: Int8Fc  # R [4H, H], no bias -> gh
    P: np.ndarray | None  # [3, H] int8 (p_i, p_f, p_o) or None
    q_p: list[ActQuant] | None  # their scales (zero point 0)
    q: dict[str, ActQuant]  # this layer's points without "l{k}."
    _tables: dict[str, dict[str, np.ndarray]] = field(default_factory=dict, repr=False)

    def step(
        self, gx: np.ndarray, h: np.ndarray, c: np.ndarray, requant: str
    ) -> tuple[np.ndarray, np.ndarray]:
        """One step from this step's gx [B, 4H] and the int8 state -> (h', c') int8."""
        q, m, H = self.q, requant, self.h.W.shape[1]
        gh = self.h(h, m)
        pre = K.add(gx, q["gx"].pair, gh, q["gh"].pair, q["pre"].pair, m)
        pi, pf, pg, po = (pre[:, j * H : (j + 1) * H] for j in range(4))
        lut = self.tables(m)
        if self.P is not None:
            pi = self._peep(pi, c, 0, "ci", "pi", m)
            pf = self._peep(pf, c, 1, "cf", "pf", m)
        i, f, g = K.lookup(lut["i"], pi), K.lookup(lut["f"], pf), K.lookup(lut["g"], pg)
        fc = K.mul(f, SIGMOID_Q, c, q["cell"].pair, q["fc"].pair, m)
        ig = K.mul(i, SIGMOID_Q, g, TANH_Q, q["ig"].pair, m)
        c = K.add(fc, q["fc"].pair, ig, q["ig"].pair, q["cell"].pair, m)
        if self.P is not None:
            po = self._peep(po, c, 2, "co", "po", m)
        o, tc = K.lookup(lut["o"], po), K.lookup(lut["tc"], c)
        return K.mul(o, SIGMOID_Q, tc, TANH_Q, q["h"].pair, m), c

    def tables(self, requant: str) -> dict[str, np.ndarray]:
        """The five LOGISTIC / TANH tables of a step (i, f, o, g, tanh(c')), made once per
        arithmetic mode."""
        mode = "tflm" if requant == "tflm" else "litert"
        if mode not in self._tables:
            q, peep = self.q, self.P is not None
            at = {"i": "pi" if peep else "pre", "f": "pf" if peep else "pre",
                  "o": "po" if peep else "pre", "g": "pre", "tc": "cell"}  # fmt: skip
            self._tables[mode] = {
                name: _tables(q[point].pair, requant)[0 if name in "ifo" else 1]
                for name, point in at.items()
            }
        return self._tables[mode]

    def _peep(self, pre: np.ndarray, c: np.ndarray, j: int, prod: str, out: str, m: str):
        """pre + p_j (.) c: MUL by the int8 peephole vector, then ADD."""
        assert self.P is not None and self.q_p is not None
        q = self.q
        pc = K.mul(c, q["cell"].pair, self.P[j], self.q_p[j].pair, q[prod].pair, m)
        return K.add(pre, q["pre"].pair, pc, q[prod].pair, q[out].pair, m)

    def run(self, x_q: np.ndarray, requant: str) -> np.ndarray:
        """x_q [B, T, I] int8 -> h_q for every step [B, T, H] int8, from h = c = 0."""
        B, T, _ = x_q.shape
        H = self.h.W.shape[1]
        gx = self.x(x_q, requant)  # [B, T, 4H]
        h = np.full((B, H), self.q["h"].zero_point, np.int8)
        c = np.full((B, H), self.q["cell"].zero_point, np.int8)
        out = np.empty((B, T, H), np.int8)
        for t in range(T):
            h, c = self.step(gx[:, t], h, c, requant)
            out[:, t] = h
        return out


class Int8LstmLoweredModel(Int8Model):
    """The GRU model's normalization, pooling and head around ``Int8LstmLoweredLayer``s."""


def _peepholes(peep: np.ndarray) -> tuple[np.ndarray, list[ActQuant]]:
    """[3, H] float -> int8 symmetric per gate vector (max |p| / 127) and their scales."""
    p = np.asarray(peep, np.float64)
    amax = np.abs(p).max(axis=1)
    scales = (np.where(amax > 0, amax, 1.0) / WEIGHT_QMAX).astype(np.float32)
    q = np.clip(K.tflite_round(p / scales[:, None].astype(np.float64)), -WEIGHT_QMAX, WEIGHT_QMAX)
    return q.astype(np.int8), [ActQuant(float(s), 0) for s in scales]


def build_lstm_lowered_reference(bundle: Bundle) -> Int8LstmLoweredModel:
    """The lowered int8 model of a static-quantized LSTM / peephole bundle (``BadInput`` when the
    bundle was calibrated before the lowered graph had points)."""
    from edgegru.errors import BadInput
    from edgegru.quantize.points import lstm_lowered_points

    spec = bundle.spec
    assert bundle.quant is not None
    act = dict(bundle.quant.activations)
    missing = [n for n in lstm_lowered_points(spec) if n not in act]
    if missing:
        raise BadInput(
            f"the model's calibration has no range for {missing[0]} (quantized before the "
            "lowered int8 LSTM existed): run `edgegru quantize --scheme static` again"
        )
    q8 = int8_weights(bundle)
    H = spec.hidden_size
    layers = []
    for k in range(spec.num_layers):
        p = f"l{k}."
        q = {name[len(p) :]: a for name, a in act.items() if name.startswith(p)}
        W, s_w = q8[f"rnn.weight_ih_l{k}"]
        R, s_r = q8[f"rnn.weight_hh_l{k}"]
        b = sum(
            np.asarray(bundle.weights.get(f"rnn.bias_{n}_l{k}", np.zeros(4 * H)), np.float64)
            for n in ("ih", "hh")
        )
        peep = bundle.weights.get(f"rnn.weight_peep_l{k}")
        P, q_p = (None, None) if peep is None else _peepholes(peep)
        layers.append(
            Int8LstmLoweredLayer(
                x=Int8Fc.make(W, s_w, np.asarray(b), act[input_point(k)], q["gx"]),
                h=Int8Fc.make(R, s_r, None, q["h"], q["gh"]),
                P=P, q_p=q_p, q=q,
            )
        )  # fmt: skip
    return Int8LstmLoweredModel(layers=layers, **model_frame(bundle, q8))  # type: ignore[arg-type]
