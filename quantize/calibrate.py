"""Calibration: activation ranges of every quantization point from a sample of training data.

The sample is ``cfg.calib`` sequences drawn (seeded) from the training split; the float model runs
over it in the decomposed form of the integer graph (``qgru``), an ``Observer`` at every point of
``points.gru_points``, and each point's range (min/max, percentile or MSE-optimal) becomes an int8
(scale, zero point).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from edgegru.errors import BadInput
from edgegru.quantize.config import QuantizeConfig
from edgegru.quantize.observers import act_quant, act_quant16
from edgegru.quantize.points import check_static_supported, gru_points, integer_lstm
from edgegru.types import ActQuant, Bundle, Dataset


def calibration_sample(
    data: Dataset | None, cfg: QuantizeConfig
) -> tuple[np.ndarray, np.ndarray | None, dict[str, Any]]:
    """(X, lengths, record) of the calibration sequences; bad data raises ``BadInput``."""
    if data is None:
        raise BadInput(f"scheme {cfg.scheme} needs calibration data (--dataset or --data)")
    part = data.train
    if len(part) == 0:
        raise BadInput("the calibration set is empty (the training split has no sequences)")
    rng = np.random.default_rng(cfg.seed)
    n = min(cfg.calib, len(part))
    idx = np.sort(rng.choice(len(part), size=n, replace=False))
    X = np.asarray(part.X[idx], np.float32)
    lengths = None if part.lengths is None else np.asarray(part.lengths[idx], np.int64)
    if lengths is None:
        bad = ~np.isfinite(X).all(axis=(1, 2))
    else:
        valid = np.arange(X.shape[1])[None, :] < lengths[:, None]  # [N, T]
        bad = ~(np.isfinite(X) | ~valid[:, :, None]).all(axis=(1, 2))
    if bad.any():
        raise BadInput(
            f"the calibration data holds NaN or inf in {int(bad.sum())} of {n} sequences "
            f"(first: training sequence {int(idx[np.argmax(bad)])})"
        )
    if lengths is not None:
        X = np.where(np.isfinite(X), X, 0.0).astype(np.float32)  # padding may hold anything
    record = {"dataset": data.info.name, "sequences": n, "seed": cfg.seed}
    return X, lengths, record


def calibrate(
    bundle: Bundle,
    X: np.ndarray,
    lengths: np.ndarray | None,
    cfg: QuantizeConfig,
    record: dict[str, Any] | None = None,
) -> dict[str, ActQuant]:
    """int8 (scale, zero point) of every calibrated point of the full-integer graph; LSTM
    cells add what they measured on the way to ``record``."""
    if integer_lstm(bundle.spec):
        from edgegru.quantize.lstm_calibrate import calibrate_lstm

        act, extra = calibrate_lstm(bundle, X, lengths, cfg)
        if record is not None:
            record |= extra
        return act
    import torch

    from edgegru.model import model_from_bundle
    from edgegru.quantize.qgru import QuantGruModel, observe
    from edgegru.train import default_threads

    check_static_supported(bundle.spec)
    torch.set_num_threads(default_threads())
    model = QuantGruModel(model_from_bundle(bundle))
    observers = observe(model, X, lengths)
    out = {
        name: act_quant(*observers[name].range(cfg.method, cfg.percentile))
        for name in gru_points(bundle.spec)
    }
    if cfg.logits_bits == 16:
        # the whole observed range: 65,536 steps need no clipping, and a clipped logit could
        # lose its class
        out["head.y"] = act_quant16(*observers["head.y"].range("minmax"))
    return out
