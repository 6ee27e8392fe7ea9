"""Knowledge distillation (Hinton, Vinyals & Dean 2015): a teacher bundle (any cell, any size)
teaches a student (any cell, smaller) through ``edgegru.train``'s loop with a distillation loss:

    classification: alpha * T^2 * KL(softmax(t / T) || softmax(s / T)) + (1 - alpha) * CE(s, y)
    regression:     alpha * MSE(s, t) + (1 - alpha) * MSE(s, y)      (in normalized target units)

The T^2 keeps the soft term's gradients at the hard term's scale as T changes. The teacher sees
the same (augmented) batch as the student, so jitter gives it new inputs to explain every epoch.
The objective composes: pruning fine-tunes with it, and a quantization-aware student can use it.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import torch
import torch.nn.functional as F

from edgegru.bundle import save_bundle, weights_sha256
from edgegru.errors import BadInput
from edgegru.model import model_from_bundle
from edgegru.train import EpochLog, Objective, TrainConfig, TrainResult, _Trainer, train
from edgegru.types import Bundle, Dataset, ModelSpec


def default_distill_train() -> TrainConfig:
    """What trained small students best on watch here: all 7 training subjects (early stopping
    on one held-out subject was noisy), 30 epochs, light jitter."""
    return TrainConfig(epochs=30, val_fraction=0.0, jitter=0.1)


@dataclass
class DistillConfig:
    temperature: float = 4.0
    alpha: float = 0.7  # weight of the teacher's term; 1 - alpha goes to the labels
    train: TrainConfig = field(default_factory=default_distill_train)

    def __post_init__(self) -> None:
        if not (isinstance(self.temperature, (int, float)) and 0 < self.temperature <= 100):
            raise ValueError(f"temperature must be in (0, 100], got {self.temperature!r}")
        if not (isinstance(self.alpha, (int, float)) and 0.0 <= self.alpha <= 1.0):
            raise ValueError(f"alpha must be in [0, 1], got {self.alpha!r}")
        if isinstance(self.train, dict):  # tolerate the JSON form
            self.train = TrainConfig.from_json(self.train)

    def to_json(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @staticmethod
    def from_json(data: dict[str, Any]) -> DistillConfig:
        values = dict(data)
        if "train" in values:
            values["train"] = TrainConfig.from_json(values["train"])
        return DistillConfig(**values)


class Distillation(Objective):
    """The distillation loss as a training objective; the teacher is frozen."""

    def __init__(self, teacher: Bundle, temperature: float = 4.0, alpha: float = 0.7) -> None:
        self.teacher = model_from_bundle(teacher).requires_grad_(False)
        self.temperature, self.alpha = temperature, alpha

    @staticmethod
    def from_config(teacher: Bundle, cfg: DistillConfig) -> Distillation:
        return Distillation(teacher, cfg.temperature, cfg.alpha)

    def batch_loss(
        self,
        trainer: _Trainer,
        out: torch.Tensor,
        y: torch.Tensor,
        batch: tuple[torch.Tensor, torch.Tensor],
    ) -> torch.Tensor:
        hard = trainer.loss(out, y)
        if self.alpha == 0.0:
            return hard
        with torch.no_grad():
            t = self.teacher(*batch)  # [B, O] logits, or raw-unit predictions
        if trainer.task == "classification":
            T = self.temperature
            soft = F.kl_div(
                F.log_softmax(out / T, dim=1), F.log_softmax(t / T, dim=1),
                reduction="batchmean", log_target=True,
            ) * (T * T)  # fmt: skip
        else:
            soft = F.mse_loss(out, (t - trainer.y_mean) / trainer.y_std)
        return self.alpha * soft + (1.0 - self.alpha) * hard


def check_teacher(teacher: Bundle, data: Dataset, student: ModelSpec | None = None) -> None:
    """BadInput when the teacher cannot teach on this data (or this student)."""
    t = teacher.spec
    if t.input_size != data.num_features:
        raise BadInput(
            f"the teacher takes {t.input_size} input features, the data has {data.num_features}"
        )
    if t.task != data.task:
        raise BadInput(f"the teacher is for {t.task}, the data is {data.task}")
    if t.num_outputs != data.num_outputs:
        raise BadInput(
            f"the teacher has {t.num_outputs} outputs, the data {data.num_outputs} classes/targets"
        )
    if student is not None and (student.input_size, student.num_outputs) != (
        t.input_size,
        t.num_outputs,
    ):
        raise BadInput("the student must take the teacher's inputs and give its outputs")


def distill(
    teacher: Bundle,
    student: ModelSpec,
    data: Dataset,
    cfg: DistillConfig,
    out: str | os.PathLike[str],
    on_epoch: Callable[[EpochLog], None] | None = None,
) -> TrainResult:
    """Train ``student`` from scratch on ``data`` with ``teacher``'s help; writes the student
    bundle (its provenance names the teacher) into ``out`` as ``train`` does."""
    check_teacher(teacher, data, student)
    result = train(
        student, data, cfg.train, out, on_epoch=on_epoch,
        objective=Distillation.from_config(teacher, cfg),
    )  # fmt: skip
    result.bundle.provenance["distilled_from"] = {
        "weights_sha256": weights_sha256(teacher),
        "cell": teacher.spec.cell,
        "hidden_size": teacher.spec.hidden_size,
        "num_layers": teacher.spec.num_layers,
        "parameters": teacher.spec.num_parameters(),
        "temperature": cfg.temperature,
        "alpha": cfg.alpha,
    }
    save_bundle(result.bundle, out)
    return result
