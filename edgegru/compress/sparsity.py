"""The settings of unstructured magnitude pruning (``UnstructuredPruneConfig``) and the named
choices they validate against (the sparsity scopes and schedules), without torch: `edgegru
prune`'s options read their defaults from here. ``compress.unstructured`` re-exports them.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from edgegru.registry import Registry

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
