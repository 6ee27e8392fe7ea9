"""The training settings (``TrainConfig``) and the schedule they give, without torch: the CLI's
options and the pipeline's ``[train]`` section read their defaults from here, so ``--help`` and a
config check never import torch. ``edgegru.train`` re-exports every name.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Any

SCHEDULES = ("cosine", "constant")


# Small training sets: the batch size is chosen from N so an epoch has about
# STEPS_PER_EPOCH optimizer steps (between MIN_AUTO_BATCH and MAX_AUTO_BATCH rows), and the run
# is lengthened to at least ``min_steps`` steps. Measured (bench/training.py, docs/training.md):
# on basicmotions (N = 40) batch 64 x 40 epochs is 40 steps and ends near chance loss (0.40-0.61
# mean test accuracy); at batch 8, 600 steps lifted the weakest models (LSTM-16, peephole-16)
# from 0.93 / 0.90 at 400 steps to 0.95 / 0.95. `watch` (N = 3,193), japanesevowels (270) and
# sunspots (224) already run more than 600 steps: their epochs are unchanged.
STEPS_PER_EPOCH = 16
MIN_AUTO_BATCH, MAX_AUTO_BATCH = 8, 64


def auto_batch_size(n: int) -> int:
    """The default batch size for ``n`` training rows."""
    return max(MIN_AUTO_BATCH, min(MAX_AUTO_BATCH, n // STEPS_PER_EPOCH))


@dataclass
class TrainConfig:
    epochs: int = 40
    batch_size: int | None = None  # None: auto_batch_size(N)
    # A floor on optimizer steps: runs whose epochs give fewer get more epochs (0: off).
    min_steps: int = 600
    lr: float = 5e-3
    weight_decay: float = 0.0
    clip_norm: float = 1.0
    patience: int = 10  # epochs without a better validation score before stopping
    # 0: train on the whole training split and keep the lowest-loss epoch. Measured on `watch`
    # (GRU-32, 3 seeds): holding out one of the 7 training subjects for early stopping gave
    # 0.79-0.81 on the test subjects, training on all 7 for 40 epochs 0.850-0.855.
    val_fraction: float = 0.0
    schedule: str = "cosine"
    seed: int = 0
    threads: int | None = None  # None: default_threads()
    # Augmentation of training batches (in units of each feature's std): Gaussian jitter and a
    # random per-sequence, per-feature gain 1 +- scale.
    # jitter 0.1 is the default: +0.5-1 pt on `watch` across seeds (0.84 -> 0.85).
    jitter: float = 0.1
    scale: float = 0.0

    def __post_init__(self) -> None:
        for name in ("epochs", "patience"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1")
        if self.batch_size is not None and self.batch_size < 1:
            raise ValueError("batch_size must be >= 1")
        if self.min_steps < 0:
            raise ValueError("min_steps must be >= 0")
        if not (self.lr > 0 and math.isfinite(self.lr)):
            raise ValueError("lr must be a positive number")
        if self.weight_decay < 0 or self.clip_norm < 0:
            raise ValueError("weight_decay and clip_norm must be >= 0")
        if not 0.0 <= self.val_fraction < 0.9:
            raise ValueError("val_fraction must be in [0, 0.9)")
        if self.schedule not in SCHEDULES:
            raise ValueError(f"schedule must be one of {', '.join(SCHEDULES)}")
        if self.threads is not None and self.threads < 1:
            raise ValueError("threads must be >= 1")
        if not (0.0 <= self.jitter < 10 and 0.0 <= self.scale < 1):
            raise ValueError("jitter must be in [0, 10) and scale in [0, 1)")

    def to_json(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @staticmethod
    def from_json(data: dict[str, Any]) -> TrainConfig:
        return TrainConfig(**data)

    def schedule_for(self, n: int) -> Schedule:
        """The batch size and epochs a run on ``n`` training rows uses."""
        batch = self.batch_size or auto_batch_size(n)
        per_epoch = max(1, math.ceil(n / batch))
        epochs = max(self.epochs, math.ceil(self.min_steps / per_epoch))
        return Schedule(batch, epochs, per_epoch)


@dataclass(frozen=True)
class Schedule:
    batch_size: int
    epochs: int
    steps_per_epoch: int
