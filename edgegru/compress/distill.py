"""Knowledge distillation (Hinton, Vinyals & Dean 2015): a teacher bundle (any cell, any size)
teaches a student (any cell, smaller) through ``edgegru.train``'s loop with a distillation loss:

    classification: alpha * T^2 * KL(softmax(t / T) || softmax(s / T)) + (1 - alpha) * CE(s, y)
    regression:     alpha * MSE(s, t) + (1 - alpha) * MSE(s, y)      (in normalized target units)

The T^2 keeps the soft term's gradients at the hard term's scale as T changes. The teacher sees
the same (augmented) batch as the student, so jitter gives it new inputs to explain every epoch
("function matching", Beyer et al. 2022: consistent inputs, patient training). ``mixup`` goes
further: each input is mixed with another sequence of the batch, so the teacher is asked about
inputs between the training windows, where its answers are soft and carry what the labels do not
(on `watch` the GRU-128 teacher reaches ~0 training loss, so on clean windows its soft labels
are almost the hard ones). Several teachers form an ensemble: the target is the mean of their
softened probabilities (of their outputs, for regression).
The objective composes: pruning fine-tunes with it, and a quantization-aware student can use it.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F

from edgegru.bundle import save_bundle, weights_sha256

# re-exported: the torch-free settings live in compress/config.py
from edgegru.compress.config import DistillConfig, default_distill_train  # noqa: F401
from edgegru.errors import BadInput
from edgegru.io import atomic_write_json
from edgegru.model import model_from_bundle
from edgegru.train import EpochLog, Objective, Trainer, TrainResult, train
from edgegru.types import Bundle, Dataset, ModelSpec


class Distillation(Objective):
    """The distillation loss as a training objective; the teachers are frozen."""

    def __init__(
        self,
        teacher: Bundle | Sequence[Bundle],
        temperature: float = DistillConfig.temperature,  # one default each: DistillConfig's
        alpha: float = DistillConfig.alpha,
        mixup: float = DistillConfig.mixup,
    ) -> None:
        teachers = [teacher] if isinstance(teacher, Bundle) else list(teacher)
        if not teachers:
            raise ValueError("distillation needs at least one teacher")
        self.teachers = [model_from_bundle(t).requires_grad_(False) for t in teachers]
        self.temperature, self.alpha, self.mixup = temperature, alpha, mixup
        self._mix: tuple[torch.Tensor, torch.Tensor] | None = None  # (partner [B], share [B])

    @property
    def teacher(self) -> torch.nn.Module:
        return self.teachers[0]

    @staticmethod
    def from_config(teacher: Bundle | Sequence[Bundle], cfg: DistillConfig) -> Distillation:
        return Distillation(teacher, cfg.temperature, cfg.alpha, cfg.mixup)

    def mix_batch(
        self, trainer: Trainer, x: torch.Tensor, lengths: torch.Tensor
    ) -> torch.Tensor:
        if self.mixup == 0.0:
            return x
        B = x.shape[0]
        partner = torch.randperm(B, generator=trainer.gen)
        share = torch.rand(B, generator=trainer.gen) * self.mixup
        # Sequences of different lengths are not mixed: the padding of one would enter the other.
        share = torch.where(lengths == lengths[partner], share, torch.zeros_like(share))
        self._mix = (partner, share)
        w = share[:, None, None]
        return (1.0 - w) * x + w * x[partner]

    def _hard(self, trainer: Trainer, out: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        if self._mix is None:
            return trainer.loss(out, y)
        partner, share = self._mix
        self._mix = None
        if trainer.task == "regression":
            w = share.view(-1, *([1] * (y.dim() - 1)))
            return trainer.loss(out, (1.0 - w) * y + w * y[partner])
        ce = F.cross_entropy(out, y, reduction="none")
        ce_partner = F.cross_entropy(out, y[partner], reduction="none")
        return ((1.0 - share) * ce + share * ce_partner).mean()

    def batch_loss(
        self,
        trainer: Trainer,
        out: torch.Tensor,
        y: torch.Tensor,
        batch: tuple[torch.Tensor, torch.Tensor],
    ) -> torch.Tensor:
        hard = self._hard(trainer, out, y)
        if self.alpha == 0.0:
            return hard
        with torch.no_grad():
            ts = [t(*batch) for t in self.teachers]  # each [B, O] logits or raw-unit outputs
        if trainer.task == "classification":
            T = self.temperature
            # the ensemble's softened distribution: the mean of the teachers' probabilities
            logp = torch.stack([F.log_softmax(t / T, dim=1) for t in ts])  # [n, B, O]
            target = torch.logsumexp(logp, dim=0) - math.log(len(ts))
            soft = F.kl_div(
                F.log_softmax(out / T, dim=1), target, reduction="batchmean", log_target=True,
            ) * (T * T)  # fmt: skip
        else:
            t = torch.stack(ts).mean(dim=0)
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
    teacher: Bundle | Sequence[Bundle],
    student: ModelSpec,
    data: Dataset,
    cfg: DistillConfig,
    out: str | os.PathLike[str],
    on_epoch: Callable[[EpochLog], None] | None = None,
) -> TrainResult:
    """Train ``student`` from scratch on ``data`` with the help of ``teacher`` (one bundle, or
    several as an ensemble); writes the student bundle (its provenance names the teachers) into
    ``out`` as ``train`` does. With ``cfg.prune_from`` the student is first trained that wide,
    then structurally pruned to its own H and fine-tuned by the same teachers."""
    teachers = [teacher] if isinstance(teacher, Bundle) else list(teacher)
    for t in teachers:
        check_teacher(t, data, student)
    wide = student
    if cfg.prune_from is not None:
        if cfg.prune_from <= student.hidden_size:
            raise BadInput(
                f"prune_from ({cfg.prune_from}) must be larger than the student's hidden size "
                f"({student.hidden_size})"
            )
        wide = dataclasses.replace(student, hidden_size=cfg.prune_from)
    objective = Distillation.from_config(teachers, cfg)
    result = train(wide, data, cfg.train, out, on_epoch=on_epoch, objective=objective)
    result.bundle.provenance["distilled_from"] = teacher_provenance(teachers, cfg)
    if cfg.prune_from is not None:
        result = _prune_student(result, student.hidden_size, data, cfg, objective, on_epoch, out)
    save_bundle(result.bundle, out)
    return result


def _prune_student(
    result: TrainResult,
    hidden: int,
    data: Dataset,
    cfg: DistillConfig,
    objective: Distillation,
    on_epoch: Callable[[EpochLog], None] | None,
    out: str | os.PathLike[str],
) -> TrainResult:
    """The wide student -> ``hidden`` units, fine-tuned with the teachers; metrics.json and the
    result's test metrics then describe the pruned student."""
    from edgegru.compress.prune import prune_
    from edgegru.compress.structured import StructuredPruneConfig
    from edgegru.evaluate import evaluate

    bundle = result.bundle
    prune_cfg = StructuredPruneConfig(hidden_size=hidden, steps=1, finetune_epochs=cfg.prune_epochs)
    ft = dataclasses.replace(cfg.train, lr=cfg.prune_lr)
    prune_(bundle, prune_cfg, data, train=ft, objective=objective, on_epoch=on_epoch)
    metrics = evaluate(bundle, data)
    bundle.provenance["test_metrics"] = {
        k: v for k, v in metrics.items() if not isinstance(v, (list, dict))
    }
    path = Path(out) / "metrics.json"
    record = json.loads(path.read_text()) if path.exists() else {}
    record["test_before_pruning"] = record.get("test")
    record["test"] = metrics
    atomic_write_json(path, record)
    return dataclasses.replace(result, bundle=bundle, test_metrics=metrics)


def teacher_provenance(teachers: Sequence[Bundle], cfg: DistillConfig) -> dict[str, Any]:
    """What a student's provenance says of its teachers (the first one's fields at the top, as
    before ensembles; ``ensemble`` lists them all when there are several)."""
    rows = [
        {
            "weights_sha256": weights_sha256(t),
            "cell": t.spec.cell,
            "hidden_size": t.spec.hidden_size,
            "num_layers": t.spec.num_layers,
            "parameters": t.spec.num_parameters(),
        }
        for t in teachers
    ]
    info: dict[str, Any] = {
        **rows[0], "temperature": cfg.temperature, "alpha": cfg.alpha, "mixup": cfg.mixup,
    }  # fmt: skip
    if len(rows) > 1:
        info["ensemble"] = rows
    return info
