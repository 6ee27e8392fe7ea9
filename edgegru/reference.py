"""NumPy references of the three cells, written in the symbols of docs/architecture.md#cells.

Everything edgegru computes (PyTorch modules, exporters, runtimes) is compared with these. They
are deliberately naive: one step at a time, one gate at a time, float64.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from edgegru.registry import Registry
from edgegru.types import ModelSpec


def sigma(v: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-v))


def _split(w: np.ndarray, k: int) -> list[np.ndarray]:
    return np.split(w, k, axis=0)


def gru_step(x, h, W_ih, W_hh, b_ih, b_hh):
    """PyTorch nn.GRU: gate order r, z, n; the reset gate multiplies (W_hn h + b_hn)."""
    W_ir, W_iz, W_in = _split(W_ih, 3)
    W_hr, W_hz, W_hn = _split(W_hh, 3)
    b_ir, b_iz, b_in = _split(b_ih, 3)
    b_hr, b_hz, b_hn = _split(b_hh, 3)
    r = sigma(W_ir @ x + b_ir + W_hr @ h + b_hr)
    z = sigma(W_iz @ x + b_iz + W_hz @ h + b_hz)
    n = np.tanh(W_in @ x + b_in + r * (W_hn @ h + b_hn))
    return (1 - z) * n + z * h


def lstm_step(x, h, c, W_ih, W_hh, b_ih, b_hh, P=None):
    """LSTM, gate order i, f, g, o; with P = [p_i, p_f, p_o] the peephole LSTM (Gers 2000)."""
    W_i, W_f, W_c, W_o = _split(W_ih, 4)
    R_i, R_f, R_c, R_o = _split(W_hh, 4)
    b_i, b_f, b_c, b_o = _split(b_ih + b_hh, 4)
    p_i, p_f, p_o = (np.zeros_like(h),) * 3 if P is None else (P[0], P[1], P[2])
    i = sigma(W_i @ x + R_i @ h + p_i * c + b_i)
    f = sigma(W_f @ x + R_f @ h + p_f * c + b_f)
    c_new = f * c + i * np.tanh(W_c @ x + R_c @ h + b_c)
    o = sigma(W_o @ x + R_o @ h + p_o * c_new + b_o)
    return o * np.tanh(c_new), c_new


# One step of one layer, per cell: (x, states by name, the layer's tensors by short name:
# weight_ih, weight_hh, bias_ih, bias_hh and the cell's unit tensors) -> the new states.
Step = Callable[[np.ndarray, dict[str, np.ndarray], dict[str, np.ndarray]], dict[str, np.ndarray]]
STEPS: Registry[Step] = Registry("reference cell")


@STEPS.register("gru")
def _gru(x, state, w):
    h = gru_step(x, state["h"], w["weight_ih"], w["weight_hh"], w["bias_ih"], w["bias_hh"])
    return {"h": h}


@STEPS.register("lstm")
@STEPS.register("peephole")
def _lstm(x, state, w):
    P = w.get("weight_peep")
    h, c = lstm_step(x, state["h"], state["c"], w["weight_ih"], w["weight_hh"], w["bias_ih"],
                     w["bias_hh"], P)  # fmt: skip
    return {"h": h, "c": c}


def reference_forward(spec: ModelSpec, weights: dict[str, np.ndarray], X: np.ndarray, lengths=None):
    """Raw X [B, T, F] -> outputs [B, O], one sequence and one step at a time, in float64.
    With ``lengths`` [B] the recurrence is masked: steps t >= length leave h (and c) unchanged."""
    w = {k: v.astype(np.float64) for k, v in weights.items()}
    cell, step = spec.cell_spec, STEPS.get(spec.cell)
    gh = spec.gates * spec.hidden_size
    norm = spec.normalization
    mean = np.zeros(spec.input_size) if norm is None else np.array(norm.mean)
    std = np.ones(spec.input_size) if norm is None else np.array(norm.std)
    outs = []
    T = X.shape[1]
    for b in range(X.shape[0]):
        n = T if lengths is None else int(lengths[b])
        m = [float(t < n) for t in range(T)]  # the mask m_t = [t < length]
        seq = [(X[b, t].astype(np.float64) - mean) / std for t in range(T)]
        for k in range(spec.num_layers):
            layer = {
                "weight_ih": w[f"rnn.weight_ih_l{k}"],
                "weight_hh": w[f"rnn.weight_hh_l{k}"],
                "bias_ih": w.get(f"rnn.bias_ih_l{k}", np.zeros(gh)),
                "bias_hh": w.get(f"rnn.bias_hh_l{k}", np.zeros(gh)),
            } | {t.name: w[f"rnn.{t.name}_l{k}"] for t in cell.unit_tensors}
            state = {s: np.zeros(spec.hidden_size) for s in cell.states}
            nxt = []
            for x, m_t in zip(seq, m, strict=True):
                # past the length the state stops changing: h_t = h_{t-1} + m_t (h~_t - h_{t-1})
                # (written as a choice, m_t being 0 or 1: a full-length row computes exactly
                # what it did before lengths existed)
                new = step(x, state, layer)
                state = new if m_t else state
                nxt.append(state["h"])
            seq = nxt
        # last: the state after the last valid step (= the final, frozen state); mean: the
        # average over the valid steps only
        pooled = seq[-1] if spec.head == "last" else np.mean(seq[:n], axis=0)
        outs.append(w["head.weight"] @ pooled + w["head.bias"])
    return np.stack(outs)


def random_weights(spec: ModelSpec, seed: int = 0, scale: float = 0.5) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    return {
        k: (rng.standard_normal(s) * scale).astype(np.float32)
        for k, s in spec.weight_shapes().items()
    }
