"""Calibration of the LSTM and peephole LSTM for TFLite's integer LSTM kernel.

The float model runs over the calibration sample in NumPy (float32, the equations of
docs/architecture.md#cells) with an ``Observer`` at every point of ``points.static_points``: the
normalized
input, each layer's h and c, the mean head's pool and the outputs; the gate pre-activations are
observed too (``points.LSTM_OBSERVED``) for the record: the kernel holds them in Q3.12, so
|pre| >= 8 saturates, and ``gate_saturation`` says how often that happened.

h becomes an int8 (scale, zero point) like every other point (``cfg.method``); c becomes the
kernel's int16 power-of-two scale from its max |c| (``lstm_kernels.cell_scale_exponent``;
a clipped cell state would saturate the recurrence, so c takes the full range). The points of
the lowered int8 graph (``points.lstm_lowered_points``: gates, f c, i g, the int8 cell state,
peephole products) are observed in the same pass and become int8 points like h (the int8 cell
state's range is then fitted to the outputs: ``lstm_cell_range``).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from edgegru.quantize.config import QuantizeConfig
from edgegru.quantize.lstm_kernels import GATE_INTEGER_BITS, cell_scale_exponent
from edgegru.quantize.observers import Observer, act_quant
from edgegru.quantize.points import (
    LSTM_OBSERVED,
    input_point,
    lstm_lowered_points,
    pool_point,
    static_points,
)
from edgegru.types import ActQuant, Bundle


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return (1.0 / (1.0 + np.exp(-np.clip(x, -80.0, 80.0)))).astype(np.float32)  # no overflow


def lstm_layer_float(
    x: np.ndarray, weights: dict[str, np.ndarray], k: int, H: int, hook=None
) -> np.ndarray:
    """x [B, T, I] float32 -> h [B, T, H]; ``hook(name, value, t)`` sees every point of layer
    k at step t."""
    W = weights[f"rnn.weight_ih_l{k}"]  # [4H, I], PyTorch gate order i, f, g, o
    R = weights[f"rnn.weight_hh_l{k}"]  # [4H, H]
    b = weights.get(f"rnn.bias_ih_l{k}", 0.0) + weights.get(f"rnn.bias_hh_l{k}", 0.0)
    P = weights.get(f"rnn.weight_peep_l{k}")  # [3, H]: p_i, p_f, p_o
    B, T, _ = x.shape
    xw = (x @ W.T + b).astype(np.float32)  # [B, T, 4H]
    h = np.zeros((B, H), np.float32)
    c = np.zeros((B, H), np.float32)
    out = np.empty((B, T, H), np.float32)
    for t in range(T):
        gh = h @ R.T
        pre = xw[:, t] + gh
        lowered = {"gx": xw[:, t], "gh": gh, "pre": pre}  # the lowered int8 graph's points
        pi, pf, pg, po = (pre[:, j * H : (j + 1) * H] for j in range(4))
        if P is not None:
            lowered |= {"ci": P[0] * c, "cf": P[1] * c}
            pi, pf = pi + lowered["ci"], pf + lowered["cf"]
            lowered |= {"pi": pi, "pf": pf}
        i, f, g = _sigmoid(pi), _sigmoid(pf), np.tanh(pg)
        lowered |= {"fc": f * c, "ig": i * g}
        c = (f * c + i * g).astype(np.float32)
        lowered["cell"] = c
        if P is not None:
            lowered["co"] = P[2] * c
            po = po + lowered["co"]
            lowered["po"] = po
        h = (_sigmoid(po) * np.tanh(c)).astype(np.float32)
        if hook is not None:
            for name, v in zip(LSTM_OBSERVED, (pi, pf, pg, po), strict=True):
                hook(f"l{k}.{name}", v, t)
            hook(f"l{k}.c", c, t)
            hook(f"l{k}.h", h, t)
            for name, v in lowered.items():
                hook(f"l{k}.{name}", v, t)
        out[:, t] = h
    return out


def calibrate_lstm(
    bundle: Bundle, X: np.ndarray, lengths: np.ndarray | None, cfg: QuantizeConfig
) -> tuple[dict[str, ActQuant], dict[str, Any]]:
    """(int8 / int16 quantization of every point, a record of the gates' Q3.12 saturation)."""
    spec = bundle.spec
    H = spec.hidden_size
    w = {n: np.asarray(v, np.float32) for n, v in bundle.weights.items()}
    observers: dict[str, Observer] = {}
    saturated = np.zeros(2, np.int64)  # [values with |pre| >= 8, values]

    def hook(name: str, v: np.ndarray, valid: np.ndarray | None = None) -> None:
        v = v if valid is None else v[valid]
        if name.rsplit(".", 1)[-1] in LSTM_OBSERVED:
            saturated[:] += (int((np.abs(v) >= 2.0**GATE_INTEGER_BITS).sum()), v.size)
            return
        if name not in observers:
            observers[name] = Observer(seed=len(observers))
        observers[name].update(v)

    norm = spec.normalization
    mean = np.zeros(spec.input_size, np.float32) if norm is None else np.asarray(norm.mean)
    std = np.ones(spec.input_size, np.float32) if norm is None else np.asarray(norm.std)
    for s in range(0, len(X), 256):
        xb = ((X[s : s + 256] - mean) / std).astype(np.float32)
        n = np.full(len(xb), xb.shape[1]) if lengths is None else lengths[s : s + 256]
        valid = np.arange(xb.shape[1])[None, :] < n[:, None]  # [B, T]
        hook("input", xb, valid)
        out = xb

        def layer_hook(name: str, v: np.ndarray, t: int, valid: np.ndarray = valid) -> None:
            hook(name, v, valid[:, t])  # padded steps are not calibrated

        for k in range(spec.num_layers):
            out = lstm_layer_float(out, w, k, H, layer_hook)
        B = len(out)
        if spec.head == "last":
            pooled = out[np.arange(B), n - 1]
        else:
            pooled = (out * valid[:, :, None]).sum(axis=1) / n[:, None]
            hook("head.pool", pooled)
        y = pooled @ w["head.weight"].T + w["head.bias"]
        hook("head.y", y)
    act: dict[str, ActQuant] = {}
    for name in [*static_points(spec), *lstm_lowered_points(spec)]:
        obs = observers[name]
        if name.endswith(".c"):  # int16, power of two, zero point 0
            act[name] = ActQuant(2.0 ** cell_scale_exponent(max(-obs.lo, obs.hi)), 0)
        else:
            act[name] = act_quant(*obs.range(cfg.method, cfg.percentile))
    assert pool_point(spec) in act and input_point(0) in act
    record = {"gate_saturation": float(saturated[0] / max(saturated[1], 1))}
    return act, record
