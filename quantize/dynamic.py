"""Scheme "dynamic": int8 weights per output channel, float activations (weight-only).

TFLite runs it with its hybrid kernels, ONNX with DequantizeLinear in front of the fused ops;
nothing needs calibration, so ``data`` is not used.
"""

from __future__ import annotations

from edgegru.quantize import SCHEMES
from edgegru.quantize.config import QuantizeConfig
from edgegru.quantize.weights import weight_scales
from edgegru.types import Bundle, Dataset, QuantParams


@SCHEMES.register("dynamic")
def dynamic(bundle: Bundle, cfg: QuantizeConfig, data: Dataset | None = None) -> QuantParams:
    return QuantParams(scheme="dynamic", weight_scales=weight_scales(bundle))
