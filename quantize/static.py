"""Scheme "static": full-integer post-training quantization (docs/quantization.md).

Weights int8 per channel, activations int8 per tensor with ranges calibrated on a sample of the
training split (``calibrate``), int32 biases; LOGISTIC / TANH at TFLite's fixed output scales.
GRU (builtin int8 ops), LSTM and peephole LSTM (TFLite's integer 8x8_16 LSTM kernel:
``lstm_reference``).
"""

from __future__ import annotations

import dataclasses

import numpy as np

from edgegru.cellspec import GRU_GRAPH, INTEGER_LSTM, cell_spec
from edgegru.quantize import SCHEMES
from edgegru.quantize.calibrate import calibrate, calibration_sample
from edgegru.quantize.config import QuantizeConfig
from edgegru.quantize.points import check_static_supported, integer_lstm
from edgegru.quantize.weights import weight_scales
from edgegru.types import Bundle, Dataset, QuantParams, SequenceData


def static_params(
    bundle: Bundle, cfg: QuantizeConfig, data: Dataset | None, scheme: str = "static"
) -> QuantParams:
    check_static_supported(bundle.spec)
    X, lengths, record = calibration_sample(data, cfg)
    act = calibrate(bundle, X, lengths, cfg, record)
    record |= {"method": cfg.method, "weights": cfg.weights}
    if cfg.method == "percentile":
        record["percentile"] = cfg.percentile
    params = QuantParams(
        scheme=scheme,
        weight_scales=weight_scales(bundle, cfg.weights),
        activations=act,
        calibration=record,
    )
    if integer_lstm(bundle.spec):  # the lowered int8 graph's cell range, by its outputs
        from edgegru.quantize.lstm_cell_range import fit_cell_range

        act, limit = fit_cell_range(bundle, params, X, lengths)
        params = dataclasses.replace(params, activations=act)
        record["int8_cell_limit"] = limit  # None: the calibrated range
    params.calibration.update(calibration_errors(bundle, params, X, lengths))
    return params


def calibration_error(
    bundle: Bundle, params: QuantParams, X: np.ndarray, lengths: np.ndarray | None,
    graph: str | None = None,
) -> float:  # fmt: skip
    """max |float - int8| of the outputs over the calibration sample (the NumPy int8 reference
    in XNNPACK's arithmetic): exporters state a tolerance from it (``tolerance``)."""
    from edgegru.evaluate import predict
    from edgegru.quantize.reference import predict_int8

    y_f = predict(bundle, SequenceData(X, np.zeros(len(X)), lengths))
    q = dataclasses.replace(bundle, quant=params)
    y_q = predict_int8(q, X, lengths, "xnnpack", graph=graph)
    return float(np.abs(np.asarray(y_f, np.float64) - y_q).max()) if len(X) else 0.0


def calibration_errors(
    bundle: Bundle, params: QuantParams, X: np.ndarray, lengths: np.ndarray | None
) -> dict[str, float]:
    """The calibration record's errors: ``max_abs_error``, and for LSTM cells also that of the
    graph lowered to builtin int8 ops (``max_abs_error_lowered``, its files' tolerance)."""
    out = {"max_abs_error": calibration_error(bundle, params, X, lengths)}
    if integer_lstm(bundle.spec):
        out[LOWERED_ERROR] = calibration_error(bundle, params, X, lengths, "lowered")
    return out


# The stated tolerance of a full-integer artifact against the float model: a factor times the
# largest error seen on the calibration sample plus 2 output steps (held-out windows err more
# than the calibration ones). GRU: 2x (measured on watch GRU-32: test max 6.19 vs calibration
# max 3.52, 1.76x). LSTM / peephole (TFLite's integer LSTM kernel): 8x, because a rare held-out
# window whose int8 recurrence drifts sets the max (measured on watch, test max / calibration
# max: peephole-32 2.2x, LSTM-32 4.7x after static; 3.5x and 6.7x after qat); accuracy and
# agreement are the budgets that say more there.
TOLERANCE_FACTOR, TOLERANCE_LSB = 2.0, 2
TOLERANCE_FACTOR_LSTM = 8.0
TOLERANCE_FACTORS = {GRU_GRAPH: TOLERANCE_FACTOR, INTEGER_LSTM: TOLERANCE_FACTOR_LSTM}


LOWERED_ERROR = "max_abs_error_lowered"


def tolerance(params: QuantParams, cell: str = "gru", graph: str | None = None) -> float | None:
    """The max abs output error an int8 artifact of these params claims (None: unknown);
    ``graph="lowered"``: an LSTM file lowered to builtin int8 ops."""
    err = params.calibration.get(LOWERED_ERROR if graph == "lowered" else "max_abs_error")
    y = params.activations.get("head.y")
    if err is None or y is None:
        return None
    factor = TOLERANCE_FACTORS[cell_spec(cell).int8 or GRU_GRAPH]
    return factor * float(err) + TOLERANCE_LSB * y.scale


@SCHEMES.register("static")
def static(bundle: Bundle, cfg: QuantizeConfig, data: Dataset | None = None) -> QuantParams:
    return static_params(bundle, cfg, data)
