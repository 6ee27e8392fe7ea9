"""Unstructured magnitude pruning of the weight matrices (W_ih, W_hh, the head), global or per
tensor, with the gradual polynomial schedule of Zhu & Gupta (2017, "To prune, or not to prune"):

    s_e = s_f * (1 - (1 - min(1, (e + 1) / n_ramp)) ** power)

for fine-tuning epoch e, so the network adapts while weights go; masks are recomputed from the
current magnitudes before every epoch, re-applied after every optimizer step, and baked in (the
weights are exactly zero) at the end. Biases and peepholes are vectors and stay dense.

Dense runtimes store and multiply the zeros: the file and the latency do not shrink, only a
compressed download does. ``sizes.sparsity_report`` says so in numbers.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from edgegru.compress.sizes import is_matrix
from edgegru.errors import BadInput
from edgegru.model import bundle_from_model
from edgegru.registry import Registry
from edgegru.train import Objective, Trainer
from edgegru.types import Bundle, Dataset

if TYPE_CHECKING:
    from edgegru.compress.prune import FinetuneSetup

Masks = dict[str, np.ndarray]  # name -> bool, True where the weight is kept

# name -> f(weights, names, sparsity) -> masks
SCOPES: Registry[Callable[[dict[str, np.ndarray], list[str], float], Masks]] = Registry(
    "sparsity scope"
)
# name -> f(epoch, cfg) -> the sparsity of that 0-based fine-tuning epoch
SCHEDULES: Registry[Callable[[int, UnstructuredPruneConfig], float]] = Registry("sparsity schedule")


def _smallest(magnitudes: np.ndarray, k: int) -> np.ndarray:
    """A bool keep-mask that drops exactly the k smallest entries (stable on ties)."""
    keep = np.ones(magnitudes.size, dtype=bool)
    keep[np.argsort(magnitudes.ravel(), kind="stable")[:k]] = False
    return keep.reshape(magnitudes.shape)


@SCOPES.register("global")
def _global(weights: dict[str, np.ndarray], names: list[str], sparsity: float) -> Masks:
    """One threshold over all pruned matrices: tensors with small weights lose more."""
    flat = np.concatenate([np.abs(weights[n]).ravel() for n in names])
    keep = _smallest(flat, math.floor(sparsity * flat.size))
    masks, at = {}, 0
    for n in names:
        size = weights[n].size
        masks[n] = keep[at : at + size].reshape(weights[n].shape)
        at += size
    return masks


@SCOPES.register("per-tensor")
def _per_tensor(weights: dict[str, np.ndarray], names: list[str], sparsity: float) -> Masks:
    return {n: _smallest(np.abs(weights[n]), math.floor(sparsity * weights[n].size)) for n in names}


@SCHEDULES.register("polynomial")
def _polynomial(epoch: int, cfg: UnstructuredPruneConfig) -> float:
    ramp = max(1, math.ceil(cfg.ramp * cfg.finetune_epochs))
    done = min(1.0, (epoch + 1) / ramp)
    return cfg.sparsity * (1.0 - (1.0 - done) ** cfg.power)


@SCHEDULES.register("one-shot")
def _one_shot(epoch: int, cfg: UnstructuredPruneConfig) -> float:
    return cfg.sparsity


@dataclass
class UnstructuredPruneConfig:
    """Zero ``sparsity`` of the weight-matrix entries by magnitude, reaching it over the first
    ``ramp`` share of ``finetune_epochs`` (0: one shot, no fine-tuning)."""

    sparsity: float
    scope: str = "global"
    schedule: str = "polynomial"
    finetune_epochs: int = 10
    ramp: float = 0.75
    power: float = 3.0
    include_head: bool = True

    scheme = "unstructured"  # class attribute, not a field: the key in compress.PRUNERS

    def __post_init__(self) -> None:
        if not (isinstance(self.sparsity, (int, float)) and 0.0 <= self.sparsity < 1.0):
            raise ValueError(f"sparsity must be in [0, 1), got {self.sparsity!r}")
        if self.scope not in SCOPES:
            raise ValueError(f"unknown scope {self.scope!r} (known: {', '.join(SCOPES.names())})")
        if self.schedule not in SCHEDULES:
            known = ", ".join(SCHEDULES.names())
            raise ValueError(f"unknown schedule {self.schedule!r} (known: {known})")
        if self.finetune_epochs < 0:
            raise ValueError("finetune_epochs must be >= 0")
        if not 0.0 < self.ramp <= 1.0:
            raise ValueError("ramp must be in (0, 1]")
        if not self.power > 0:
            raise ValueError("power must be > 0")

    def to_json(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @staticmethod
    def from_json(data: dict[str, Any]) -> UnstructuredPruneConfig:
        return UnstructuredPruneConfig(**data)


def prunable(bundle: Bundle, include_head: bool = True) -> list[str]:
    return [n for n in sorted(bundle.weights) if is_matrix(n) and (include_head or "head" not in n)]


def magnitude_masks(bundle: Bundle, cfg: UnstructuredPruneConfig, sparsity: float) -> Masks:
    names = prunable(bundle, cfg.include_head)
    return SCOPES.get(cfg.scope)(bundle.weights, names, sparsity)


def apply_masks(bundle: Bundle, masks: Masks) -> Bundle:
    """A copy with the masked weights set to exactly +0.0."""
    weights = {n: np.where(masks[n], w, np.float32(0)) if n in masks else w.copy()
               for n, w in bundle.weights.items()}  # fmt: skip
    return Bundle(bundle.spec, weights, dict(bundle.provenance))


def masks_of(bundle: Bundle) -> Masks:
    """The masks a baked-in bundle carries: its non-zero weight-matrix entries. Later stages
    (e.g. quantization-aware training) keep these zeros with ``MaskedObjective``."""
    return {n: bundle.weights[n] != 0 for n in prunable(bundle)}


class MaskedObjective(Objective):
    """Wraps another objective (plain labels, distillation, ...) and keeps the pruned weights at
    zero: new masks at the schedule's sparsity before each epoch, re-applied after each step."""

    def __init__(self, inner: Objective, cfg: UnstructuredPruneConfig) -> None:
        self.inner, self.cfg = inner, cfg
        self.masks: dict[str, torch.Tensor] = {}

    def _apply(self, trainer: Trainer) -> None:
        params = dict(trainer.model.named_parameters())
        with torch.no_grad():
            for n, keep in self.masks.items():
                params[n].masked_fill_(~keep, 0.0)

    def before_epoch(self, trainer: Trainer) -> None:
        sparsity = SCHEDULES.get(self.cfg.schedule)(trainer.epoch, self.cfg)
        masks = magnitude_masks(bundle_from_model(trainer.model), self.cfg, sparsity)
        self.masks = {n: torch.from_numpy(m) for n, m in masks.items()}
        self._apply(trainer)
        self.inner.before_epoch(trainer)

    def batch_loss(
        self,
        trainer: Trainer,
        out: torch.Tensor,
        y: torch.Tensor,
        batch: tuple[torch.Tensor, torch.Tensor],
    ) -> torch.Tensor:
        return self.inner.batch_loss(trainer, out, y, batch)

    def after_step(self, trainer: Trainer) -> None:
        self._apply(trainer)
        self.inner.after_step(trainer)


def prune_unstructured(
    bundle: Bundle, cfg: UnstructuredPruneConfig, data: Dataset | None, setup: FinetuneSetup
) -> Bundle:
    """Gradual magnitude pruning during fine-tuning; the final masks baked into the weights."""
    if cfg.finetune_epochs:
        if data is None:
            raise BadInput("fine-tuning needs data: give a dataset or finetune_epochs=0")
        objective = MaskedObjective(setup.objective or Objective(), cfg)
        bundle = setup.finetune(bundle, data, cfg.finetune_epochs, objective)
    # The schedule ends at cfg.sparsity, so this re-selects the zeros fine-tuning kept; with no
    # fine-tuning it is the one-shot prune.
    return apply_masks(bundle, magnitude_masks(bundle, cfg, cfg.sparsity))
