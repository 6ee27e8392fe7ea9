"""The int8 cell state's range of the LSTM lowered to builtin int8 ops (``lstm_lowered_reference``),
chosen by what it does to the outputs.

In that graph c is int8 (``l{k}.cell``, and f (.) c at ``l{k}.fc``, never larger), and its range
is a trade-off no per-tensor range rule gets right: a wide range makes the LSB larger than most
i (.) g increments, which then round away at every step; a narrow one clips c, which matters
through the peepholes (int8 TANH(c) itself saturates from |c| ~ 3.1). Which end wins depends
on the model: ``python -m bench.tflite_micro_lstm_int8`` measures the lowered file's accuracy
with each candidate range on real data (``lowered_accuracy_by_cell_limit``), where a
basicmotions peephole wants [-8, 8] and a watch peephole a wider range.

So calibration tries the calibrated range and each of ``CELL_LIMITS`` (cell and fc of every
layer clipped to [-limit, limit]) and keeps the one whose int8 outputs (the lowered reference in
XNNPACK arithmetic) are closest to the float model's on the calibration sample (mean squared
error of the outputs): no labels needed, a few reference runs over the sample.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from edgegru.quantize.observers import act_quant
from edgegru.types import ActQuant, Bundle, QuantParams

CELL_LIMITS = (4.0, 8.0, 16.0, 32.0)
LIMITED = ("cell", "fc")


def limited_cell_range(act: dict[str, ActQuant], limit: float | None) -> dict[str, ActQuant]:
    """The activations with every layer's cell and fc range clipped to [-limit, limit]."""
    if limit is None:
        return act
    out = dict(act)
    for name, a in act.items():
        if name.rsplit(".", 1)[-1] in LIMITED and name.startswith("l"):
            lo, hi = (-128 - a.zero_point) * a.scale, (127 - a.zero_point) * a.scale
            out[name] = act_quant(max(lo, -limit), min(hi, limit))
    return out


def fit_cell_range(
    bundle: Bundle, params: QuantParams, X: np.ndarray, lengths: np.ndarray | None
) -> tuple[dict[str, ActQuant], float | None]:
    """(the activations with the chosen cell range, its limit; None: the calibrated range)."""
    from edgegru.evaluate import predict
    from edgegru.quantize.reference import predict_int8
    from edgegru.types import SequenceData

    if len(X) == 0:
        return params.activations, None
    y_f = np.asarray(predict(bundle, SequenceData(X, np.zeros(len(X)), lengths)), np.float64)
    widest = max(
        max(-(-128 - a.zero_point) * a.scale, (127 - a.zero_point) * a.scale)
        for name, a in params.activations.items()
        if name.rsplit(".", 1)[-1] == "cell"
    )
    best: tuple[float, float | None, dict[str, ActQuant]] | None = None
    for limit in (None, *(c for c in CELL_LIMITS if c < widest)):
        act = limited_cell_range(params.activations, limit)
        q = dataclasses.replace(bundle, quant=dataclasses.replace(params, activations=act))
        y = predict_int8(q, X, lengths, "xnnpack", graph="lowered")
        err = float(np.mean((y - y_f) ** 2))
        if best is None or err < best[0]:
            best = (err, limit, act)
    assert best is not None
    return best[2], best[1]
