"""Scheme "qat": quantization-aware fine-tuning (docs/quantization.md).

1. Calibrate like "static" (the activation scales are then fixed).
2. Fine-tune the float weights through ``qgru.QuantGruModel`` (LSTM / peephole:
   ``qlstm.QuantLstmModel``) in fake-quant mode (straight-through
   estimator at exactly the points the integer graph quantizes) with ``edgegru.train``'s
   training loop (``_Trainer``: Adam, cosine schedule, jitter, the lowest-loss epoch kept).
3. The bundle gets the fine-tuned float weights, weight scales recomputed from them (per channel,
   or one per block where static chose so)
   (as the fake quantization computed them) and the fixed activation scales: the exported int8
   model computes what QAT trained.

Classification only for now: the trainer standardizes regression targets and folds the scaling
into the head afterwards, which would move the head's output scale.
"""

from __future__ import annotations

import dataclasses
import tempfile
from pathlib import Path

from edgegru.errors import BadInput
from edgegru.quantize import SCHEMES
from edgegru.quantize.calibrate import calibration_sample
from edgegru.quantize.config import QuantizeConfig
from edgegru.quantize.points import integer_lstm
from edgegru.quantize.static import calibration_errors, static_params
from edgegru.quantize.weights import per_tensor_blocks, weight_scales
from edgegru.types import Bundle, Dataset, QuantParams


@SCHEMES.register("qat")
def qat(bundle: Bundle, cfg: QuantizeConfig, data: Dataset | None = None) -> QuantParams:
    import torch

    from edgegru.model import bundle_from_model, model_from_bundle
    from edgegru.quantize.qgru import QuantGruModel
    from edgegru.train import TrainConfig, _Trainer, default_threads

    if bundle.spec.task != "classification":
        raise BadInput("qat supports classification models for now; use --scheme static")
    params = static_params(bundle, cfg, data)
    assert data is not None  # static_params checked it
    torch.set_num_threads(default_threads())
    # the weight blocks static chose one scale for keep one scale while the weights move
    per_tensor = per_tensor_blocks(params.weight_scales, bundle.spec)
    if integer_lstm(bundle.spec):  # LSTM / peephole: the integer LSTM kernel's points (qlstm)
        from edgegru.quantize.qlstm import QuantLstmModel

        model = QuantLstmModel(model_from_bundle(bundle), params.activations)
    else:
        model = QuantGruModel(model_from_bundle(bundle), params.activations, per_tensor)
    model.train()
    tcfg = TrainConfig(
        epochs=cfg.qat_epochs,
        lr=cfg.qat_lr,
        batch_size=cfg.qat_batch_size,
        seed=cfg.seed,
        patience=cfg.qat_epochs,
    )
    with tempfile.TemporaryDirectory(prefix="edgegru-qat-") as tmp:
        trainer = _Trainer(bundle.spec, data, tcfg, Path(tmp), model=model)
        while trainer.epoch < tcfg.epochs:
            trainer.run_epoch()
        tuned = trainer.final_model()
    bundle.weights = bundle_from_model(tuned).weights  # type: ignore[arg-type]
    calibration = dict(params.calibration) | {"qat": dataclasses.asdict(tcfg)}
    out = QuantParams(
        scheme="qat",
        weight_scales=weight_scales(bundle, per_tensor=per_tensor),
        activations=params.activations,
        calibration=calibration,
    )
    X, lengths, _ = calibration_sample(data, cfg)  # the same seeded sample
    out.calibration.update(calibration_errors(bundle, out, X, lengths))
    return out
