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

from typing import TYPE_CHECKING

import numpy as np
import torch

from edgegru.compress.sizes import is_matrix

# re-exported: the torch-free settings live in compress/sparsity.py
from edgegru.compress.sparsity import (
    SCHEDULES,
    SCOPES,
    Masks,
    UnstructuredPruneConfig,
)
from edgegru.errors import BadInput
from edgegru.model import bundle_from_model
from edgegru.train import Objective, Trainer
from edgegru.types import Bundle, Dataset

if TYPE_CHECKING:
    from edgegru.compress.prune import FinetuneSetup

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
