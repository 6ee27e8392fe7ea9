"""The options of ``quantize_`` as one config dataclass (docs/architecture.md#style, rule 3)."""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Any

from edgegru.cellspec import DEFAULT_LOGITS_BITS
from edgegru.quantize.weights import GRANULARITIES
from edgegru.types import CALIBRATION_METHODS, QUANT_SCHEMES

# Measured on `watch` (GRU-32 trained with the defaults, float accuracy 0.8504; 512 calibration
# windows; NumPy int8 reference on the 1,484 test windows): minmax 0.8403 / SQNR 17.2 dB / same
# class as float on 95.6 %; percentile (99.99) 0.8491 / 20.5 dB / 97.0 %; mse 0.8544 / 20.5 dB /
# 97.4 %. minmax loses a point to outliers; mse is as good as percentile in SQNR and best in
# agreement, and needs no percentile to tune (calibration takes ~2x longer: 19 vs 8 s here).
DEFAULT_METHOD = "mse"


@dataclass
class QuantizeConfig:
    scheme: str = "static"
    calib: int = 512  # calibration sequences drawn (seeded) from the training split
    method: str = DEFAULT_METHOD  # range of each activation: minmax | percentile | mse
    percentile: float = 99.99  # two-sided: [100 - p, p] percentiles (method "percentile")
    seed: int = 0
    # weight scales: channel | tensor | auto (per block of rows, one scale where that costs
    # <= 3 dB of weight SQNR: quantize/weights.py). Static and QAT only; dynamic is per channel.
    weights: str = "auto"
    # the logits (head.y): 16 = int16 (a 16x8 FULLY_CONNECTED head, on TFLite's builtin kernels
    # after XNNPACK's int8 graph), 8 = int8 (every op int8, e.g. for int8-only accelerators).
    # Measured on basicmotions GRU-32 (float 0.625): int8 logits 0.575 (two windows whose float
    # top-2 margin, 0.011-0.014, is under one int8 logit step, 0.020, tie and flip), int16
    # 0.625; the same int8 state with float logits: 0.625 (docs/quantization.md).
    logits_bits: int = DEFAULT_LOGITS_BITS
    # QAT: fine-tuning with the training loop of edgegru.train (Adam, cosine schedule)
    qat_epochs: int = 5
    qat_lr: float = 5e-4
    qat_batch_size: int = 64

    def __post_init__(self) -> None:
        if self.scheme not in QUANT_SCHEMES:
            raise ValueError(f"scheme must be one of {', '.join(QUANT_SCHEMES)}")
        if self.method not in CALIBRATION_METHODS:
            raise ValueError(f"calibration method must be one of {', '.join(CALIBRATION_METHODS)}")
        if self.weights not in GRANULARITIES:
            raise ValueError(f"weights must be one of {', '.join(GRANULARITIES)}")
        if self.logits_bits not in (8, 16):
            raise ValueError("logits_bits must be 8 or 16")
        if not isinstance(self.calib, int) or self.calib < 1:
            raise ValueError("calib must be a positive number of sequences")
        if not 50.0 < self.percentile <= 100.0:
            raise ValueError("percentile must be in (50, 100]")
        if self.qat_epochs < 1 or self.qat_batch_size < 1:
            raise ValueError("qat_epochs and qat_batch_size must be >= 1")
        if not (self.qat_lr > 0 and math.isfinite(self.qat_lr)):
            raise ValueError("qat_lr must be a positive number")

    def to_json(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @staticmethod
    def from_json(data: dict[str, Any]) -> QuantizeConfig:
        return QuantizeConfig(**data)
