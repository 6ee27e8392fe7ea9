"""Range observers and the three calibration methods (docs/quantization.md).

An ``Observer`` sees every value that reaches one quantization point during calibration: it
keeps the exact min/max and a uniform random sample (reservoir-like: a fixed share of each batch,
capped) for the percentile and MSE methods. ``act_quant`` turns a range into int8 (scale, zero
point) the way TFLite's converter does (the range is widened to hold 0, which must be exact).
NumPy only.
"""

from __future__ import annotations

import numpy as np

from edgegru.errors import BadInput
from edgegru.types import ActQuant

QMIN, QMAX = -128, 127


class Observer:
    def __init__(self, max_samples: int = 1 << 18, seed: int = 0) -> None:
        self.lo = np.inf
        self.hi = -np.inf
        self.count = 0
        self.max_samples = max_samples
        self._rng = np.random.default_rng(seed)
        self._parts: list[np.ndarray] = []
        self._kept = 0

    def update(self, values: np.ndarray) -> None:
        v = np.asarray(values, np.float32).ravel()
        if v.size == 0:
            return
        if not np.isfinite(v).all():
            raise BadInput("calibration produced NaN or inf (check the calibration data)")
        self.lo = min(self.lo, float(v.min()))
        self.hi = max(self.hi, float(v.max()))
        self.count += v.size
        # keep about max_samples / 8 values per batch and at most max_samples overall
        take = min(v.size, max(1, self.max_samples // 8))
        self._parts.append(self._rng.choice(v, size=take, replace=False) if take < v.size else v)
        self._kept += take
        if self._kept > self.max_samples:
            pooled = np.concatenate(self._parts)
            self._parts = [self._rng.choice(pooled, size=self.max_samples, replace=False)]
            self._kept = self.max_samples

    def sample(self) -> np.ndarray:
        return np.concatenate(self._parts) if self._parts else np.zeros(0, np.float32)

    def range(self, method: str, percentile: float = 99.99) -> tuple[float, float]:
        if self.count == 0:
            raise BadInput("calibration saw no values (empty calibration set?)")
        if method == "minmax":
            return self.lo, self.hi
        x = self.sample()
        if method == "percentile":
            lo, hi = np.percentile(x, [100.0 - percentile, percentile])
            return float(lo), float(hi)
        if method == "mse":
            return mse_range(x, self.lo, self.hi)
        raise ValueError(f"unknown calibration method {method!r}")


def act_quant(lo: float, hi: float) -> ActQuant:
    """int8 asymmetric (scale, zero point) for [lo, hi]; 0 is always representable exactly
    (TFLite ``ChooseQuantizationParams``: the range is widened to hold 0, the zero point rounded
    and clamped)."""
    lo, hi = min(float(lo), 0.0), max(float(hi), 0.0)
    if hi - lo < 1e-8:
        hi = lo + 1e-8
    scale = (hi - lo) / (QMAX - QMIN)
    zero_point = int(np.clip(np.round(QMIN - lo / scale), QMIN, QMAX))
    return ActQuant(scale, zero_point)


def act_quant16(lo: float, hi: float) -> ActQuant:
    """int16 symmetric (zero point 0) scale for [lo, hi]: max(|lo|, |hi|) / 32767 (TFLite's
    16x8 activations)."""
    amax = max(abs(float(lo)), abs(float(hi)), 1e-8)
    return ActQuant(amax / 32767.0, 0, 16)


def quant_error(x: np.ndarray, q: ActQuant) -> float:
    """Mean squared error of quantize -> dequantize over the sample."""
    s, zp = q.scale, q.zero_point
    y = (np.clip(np.round(x / s) + zp, QMIN, QMAX) - zp) * s
    return float(np.mean((x - y) ** 2))


def mse_range(x: np.ndarray, lo: float, hi: float, steps: int = 100) -> tuple[float, float]:
    """The clipping range [a lo, a hi], a in (0, 1], with the least quantization MSE on x."""
    best = (np.inf, lo, hi)
    for a in np.linspace(1.0, 0.05, steps):
        err = quant_error(x, act_quant(a * lo, a * hi))
        if err < best[0]:
            best = (err, a * lo, a * hi)
    return best[1], best[2]
