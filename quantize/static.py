"""Scheme "static": full-integer post-training quantization (DESIGN.md section 4).

Weights int8 per channel, activations int8 per tensor with ranges calibrated on a sample of the
training split (``calibrate``), int32 biases; LOGISTIC / TANH at TFLite's fixed output scales.
GRU only for now (``points.check_static_supported``).
"""

from __future__ import annotations

from edgegru.quantize import SCHEMES
from edgegru.quantize.calibrate import calibrate, calibration_sample
from edgegru.quantize.config import QuantizeConfig
from edgegru.quantize.points import check_static_supported
from edgegru.quantize.weights import weight_scales
from edgegru.types import Bundle, Dataset, QuantParams


def static_params(
    bundle: Bundle, cfg: QuantizeConfig, data: Dataset | None, scheme: str = "static"
) -> QuantParams:
    check_static_supported(bundle.spec)
    X, lengths, record = calibration_sample(data, cfg)
    act = calibrate(bundle, X, lengths, cfg)
    record |= {"method": cfg.method}
    if cfg.method == "percentile":
        record["percentile"] = cfg.percentile
    return QuantParams(
        scheme=scheme, weight_scales=weight_scales(bundle), activations=act, calibration=record
    )


@SCHEMES.register("static")
def static(bundle: Bundle, cfg: QuantizeConfig, data: Dataset | None = None) -> QuantParams:
    return static_params(bundle, cfg, data)
