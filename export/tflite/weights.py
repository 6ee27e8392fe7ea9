"""Bundle weights -> the float32 tensors the TFLite graphs use (NumPy only).

The input normalization is folded into the first layer exactly (in float64, then rounded once):
with x_n = (x - mean) / std, ``W x_n + b = (W / std) x + (b - (W / std) mean)``, so the artifact
takes raw input (docs/architecture.md#exporters) and pays nothing per step for it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from edgegru.types import Bundle, ModelSpec


@dataclass(frozen=True)
class Layer:
    """One layer in PyTorch's gate order (GRU r, z, n; LSTM i, f, g, o), float64.

    W [G*H, I] (normalization folded for layer 0), R [G*H, H], Wb and Rb [G*H] the input and
    recurrent biases (zeros when the model has none), P [3, H] the peepholes (p_i, p_f, p_o)
    or None.
    """

    W: np.ndarray
    R: np.ndarray
    Wb: np.ndarray
    Rb: np.ndarray
    P: np.ndarray | None


def f32(a: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(a, dtype=np.float32)


def layers(bundle: Bundle) -> list[Layer]:
    spec = bundle.spec
    w = {k: v.astype(np.float64) for k, v in bundle.weights.items()}
    gh = spec.gates * spec.hidden_size
    out = []
    for k in range(spec.num_layers):
        W = w[f"rnn.weight_ih_l{k}"]  # [G*H, I]
        Wb = w.get(f"rnn.bias_ih_l{k}", np.zeros(gh))
        if k == 0:
            W, Wb = fold_normalization(spec, W, Wb)
        out.append(
            Layer(
                W=W,
                R=w[f"rnn.weight_hh_l{k}"],  # [G*H, H]
                Wb=Wb,
                Rb=w.get(f"rnn.bias_hh_l{k}", np.zeros(gh)),
                P=w.get(f"rnn.weight_peep_l{k}"),  # [3, H] or None
            )
        )
    return out


def fold_normalization(
    spec: ModelSpec, W: np.ndarray, b: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """(W / std, b - (W / std) @ mean): the first layer applied to raw input."""
    if spec.normalization is None:
        return W, b
    mean = np.asarray(spec.normalization.mean, np.float64)
    std = np.asarray(spec.normalization.std, np.float64)
    Wn = W / std[None, :]  # [G*H, I]
    return Wn, b - Wn @ mean


def head(bundle: Bundle, scale: float = 1.0) -> tuple[np.ndarray, np.ndarray]:
    """The Linear head [O, H], [O]; ``scale`` folds the mean head's 1/T into the weight."""
    W = bundle.weights["head.weight"].astype(np.float64) * scale
    return f32(W), f32(bundle.weights["head.bias"])
