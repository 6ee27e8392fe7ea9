"""Training: Adam, a cosine (or constant) learning-rate schedule, gradient clipping, early stopping
on a validation split, a checkpoint every epoch and an exact ``resume``.

Determinism: one seed drives initialisation and shuffling; the checkpoint stores the optimizer
moments and both RNG states, so a killed run resumed from its last checkpoint ends with the same
weights as an uninterrupted one (tested).
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import torch
import torch.nn.functional as F

from edgegru import __version__
from edgegru.bundle import save_bundle
from edgegru.checkpoint import (
    CHECKPOINT_DIR,
    CHECKPOINT_FILE,
    CHECKPOINT_FORMAT,
    LEGACY_FILE,
    RNG_TENSORS,
    clean_folder,
    read_checkpoint,
    rng_state,
    serialize,
    set_rng_state,
)
from edgegru.errors import BadInput
from edgegru.io import atomic_write_bytes, atomic_write_json
from edgegru.metrics import compute_metrics
from edgegru.model import SequenceModel, bundle_from_model

# the torch-free settings, re-exported: `from edgegru.train import TrainConfig` keeps working
from edgegru.train_config import (  # noqa: F401
    MAX_AUTO_BATCH,
    MIN_AUTO_BATCH,
    SCHEDULES,
    STEPS_PER_EPOCH,
    Schedule,
    TrainConfig,
    auto_batch_size,
)
from edgegru.types import VARIABLE_LENGTH, Bundle, Dataset, ModelSpec, Normalization, SequenceData


def default_threads() -> int:
    """One torch thread on small machines: measured on 2 cores, the default two threads made small
    GRU training 4-30x slower (thread hand-off costs more than these tiny matmuls gain). An
    explicit OMP_NUM_THREADS wins: Ray sets it to a task's CPUs (a sweep's ``cpus_per_trial``)."""
    env = os.environ.get("OMP_NUM_THREADS", "")
    if env.isdigit() and int(env) > 0:
        return int(env)
    cores = os.cpu_count() or 1
    return 1 if cores <= 4 else min(4, cores // 2)


# The training-fit warning: a final training loss above this share of chance (ln K for K
# classes; 1.0 for regression, whose loss is the MSE of standardized targets), or a training
# accuracy below LOW_TRAIN_ACCURACY, means the model has barely learned.
NEAR_CHANCE = 0.7
LOW_TRAIN_ACCURACY = 0.7


def fit_warning(task: str, num_outputs: int, loss: float, train_score: float) -> str | None:
    """One line when training ended near chance, else None."""
    chance = math.log(num_outputs) if task == "classification" else 1.0
    if loss > NEAR_CHANCE * chance:
        what = f"ln {num_outputs} = {chance:.3f}" if task == "classification" else "1.0"
        return (
            f"final training loss {loss:.3f} is near chance ({what}): the model barely learned; "
            "train longer (--epochs, --min-steps) or with a smaller --batch-size"
        )
    if task == "classification" and train_score < LOW_TRAIN_ACCURACY:
        return (
            f"training accuracy {train_score:.3f} is low: train longer (--epochs, --min-steps), "
            "with a smaller --batch-size or a larger model"
        )
    return None


@dataclass
class EpochLog:
    epoch: int
    epochs: int
    loss: float
    val_score: float  # accuracy (classification) or -RMSE in normalized units (regression)
    best_score: float
    lr: float
    seconds: float


@dataclass
class TrainResult:
    bundle: Bundle
    history: list[dict[str, Any]] = field(default_factory=list)
    test_metrics: dict[str, Any] = field(default_factory=dict)
    stopped_early: bool = False
    steps: int = 0  # optimizer steps run
    schedule: Schedule | None = None
    warning: str | None = None


def split_validation(
    data: SequenceData, fraction: float, seed: int
) -> tuple[np.ndarray, np.ndarray]:
    """Indices (fit, val). Whole groups (e.g. subjects) go to one side so overlapping windows of
    one recording never leak into validation."""
    n = len(data)
    rng = np.random.default_rng(seed)
    if fraction == 0.0:
        return np.arange(n), np.arange(0)
    if data.groups is not None and len(np.unique(data.groups)) >= 3:
        groups = np.unique(data.groups)
        k = max(1, round(fraction * len(groups)))
        val_groups = rng.choice(groups, size=k, replace=False)
        val = np.isin(data.groups, val_groups)
        return np.flatnonzero(~val), np.flatnonzero(val)
    order = rng.permutation(n)
    k = max(1, round(fraction * n))
    return np.sort(order[k:]), np.sort(order[:k])


def is_variable_length(data: Dataset) -> bool:
    """Some row of either split is shorter than T (a set whose lengths all equal T, such as
    basicmotions, is not: its files need no length input)."""
    T = data.train.X.shape[1]
    parts = (data.train, data.test)
    return any(p.lengths is not None and bool((p.lengths < T).any()) for p in parts)


def fit_normalization(X: np.ndarray, lengths: np.ndarray | None) -> Normalization:
    """Per-feature mean/std over the valid steps of the fitting split only."""
    if lengths is None:
        flat = X.reshape(-1, X.shape[2])
    else:
        mask = np.arange(X.shape[1])[None, :] < lengths[:, None]
        flat = X[mask]
    mean = flat.mean(axis=0, dtype=np.float64)
    std = flat.std(axis=0, dtype=np.float64)
    std = np.where(std < 1e-8, 1.0, std)  # a constant channel passes through unscaled
    return Normalization(tuple(float(v) for v in mean), tuple(float(v) for v in std))


def _tensors(data: SequenceData, idx: np.ndarray, task: str) -> tuple[torch.Tensor, ...]:
    X = torch.from_numpy(np.ascontiguousarray(data.X[idx], dtype=np.float32))
    y = torch.from_numpy(data.y[idx].astype(np.int64 if task == "classification" else np.float32))
    if data.lengths is None:
        lengths = torch.full((len(idx),), data.X.shape[1], dtype=torch.long)
    else:
        lengths = torch.from_numpy(data.lengths[idx].astype(np.int64))
    return X, y, lengths


class Trainer(Protocol):
    """What an ``Objective``'s hooks may read and call on the run that invokes them
    (docs/extending.md). The loop behind it (``_Trainer``: checkpoints, schedule, early
    stopping) is not an extension point."""

    spec: ModelSpec  # the architecture being trained
    cfg: TrainConfig
    task: str  # "classification" or "regression"
    model: torch.nn.Module  # the module being trained (hooks may change its weights in place)
    epoch: int  # the 0-based epoch running (about to run, in ``before_epoch``)
    # the run's random generator: draw from it so a run stays reproducible and resumable
    gen: torch.Generator
    # regression only: the training labels' mean and std; ``loss`` compares outputs with
    # (y - y_mean) / y_std
    y_mean: torch.Tensor
    y_std: torch.Tensor

    def loss(self, out: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """The task's loss of outputs ``out`` [B, O] against labels ``y``."""
        ...


class Objective:
    """What a run optimises, beyond the defaults (cross-entropy or MSE on the labels).

    Compression plugs in here instead of writing its own loop: distillation replaces
    ``batch_loss``, magnitude pruning re-applies its masks in ``after_step`` and raises the
    sparsity in ``before_epoch``. The default changes nothing.
    """

    def batch_loss(
        self,
        trainer: Trainer,
        out: torch.Tensor,
        y: torch.Tensor,
        batch: tuple[torch.Tensor, torch.Tensor],
    ) -> torch.Tensor:
        """``out`` [B, O] from ``batch`` = (x [B, T, F] as augmented, lengths [B]), the inputs
        the model just saw; ``y`` the labels of the batch."""
        return trainer.loss(out, y)

    def mix_batch(
        self, trainer: Trainer, x: torch.Tensor, lengths: torch.Tensor
    ) -> torch.Tensor:
        """The inputs the model sees, after ``trainer.augment``: an objective may change them
        (distillation's mixup, so teacher and student see the same new inputs). Default: as is."""
        return x

    def before_epoch(self, trainer: Trainer) -> None:
        """Called before every epoch (``trainer.epoch`` is the 0-based epoch about to run)."""

    def after_step(self, trainer: Trainer) -> None:
        """Called after every optimizer step."""


class _Trainer:
    """The state of one run: model, optimizer, RNG, history; checkpointable as plain tensors."""

    def __init__(
        self,
        spec: ModelSpec,
        data: Dataset,
        cfg: TrainConfig,
        out: Path | None,
        objective: Objective | None = None,
        model: torch.nn.Module | None = None,
        step_floor: bool = False,
    ) -> None:
        """``model``: fine-tune this module (e.g. QAT's fake-quantized GRU, which takes the same
        inputs and has the same parameter names) instead of a freshly initialised one;
        ``objective``: the loss and hooks (distillation, pruning masks); ``step_floor``: apply
        ``cfg.min_steps`` (a run from scratch; fine-tuning runs exactly ``cfg.epochs``)."""
        self.spec, self.data, self.cfg, self.out = spec, data, cfg, out
        self.objective = objective or Objective()
        self.task = data.task
        fit_idx, val_idx = split_validation(data.train, cfg.val_fraction, cfg.seed)
        self.fit = _tensors(data.train, fit_idx, self.task)
        floor = cfg if step_floor else dataclasses.replace(cfg, min_steps=0)
        self.plan = floor.schedule_for(len(fit_idx))
        self.steps = 0
        self.val = _tensors(data.train, val_idx, self.task) if len(val_idx) else None
        if self.task == "regression":
            y = self.fit[1]
            self.y_mean = y.mean(dim=0)
            self.y_std = y.std(dim=0).clamp_min(1e-8)
        torch.manual_seed(cfg.seed)
        self.model = model if model is not None else SequenceModel(spec)
        self.opt = torch.optim.Adam(
            self.model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay
        )
        self.gen = torch.Generator().manual_seed(cfg.seed)
        self.epoch = 0
        self.best_score = -math.inf
        self.best_state: dict[str, torch.Tensor] = {
            k: v.clone() for k, v in self.model.state_dict().items()
        }
        self.since_best = 0
        self.history: list[dict[str, Any]] = []

    def lr_at(self, epoch: int) -> float:
        if self.cfg.schedule == "constant":
            return self.cfg.lr
        return 0.5 * self.cfg.lr * (1 + math.cos(math.pi * epoch / self.plan.epochs))

    def loss(self, out: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        if self.task == "classification":
            return F.cross_entropy(out, y)
        return F.mse_loss(out, (y - self.y_mean) / self.y_std)

    @torch.no_grad()
    def score(self, part: tuple[torch.Tensor, ...]) -> float:
        self.model.eval()
        X, y, lengths = part
        out = torch.cat(
            [self.model(X[i : i + 512], lengths[i : i + 512]) for i in range(0, len(X), 512)]
        )
        if self.task == "classification":
            return float((out.argmax(1) == y).float().mean())
        return -float(torch.sqrt(self.loss(out, y)))

    def augment(self, x: torch.Tensor) -> torch.Tensor:
        cfg = self.cfg
        if cfg.scale > 0:
            gain = torch.rand((x.shape[0], 1, x.shape[2]), generator=self.gen) * 2 - 1
            mean = self.model.norm_mean
            x = mean + (x - mean) * (1 + cfg.scale * gain)
        if cfg.jitter > 0:
            noise = torch.randn(x.shape, generator=self.gen)
            x = x + cfg.jitter * self.model.norm_std * noise
        return x

    def run_epoch(self) -> EpochLog:
        t0 = time.perf_counter()
        lr = self.lr_at(self.epoch)
        for g in self.opt.param_groups:
            g["lr"] = lr
        self.model.train()
        X, y, lengths = self.fit
        order = torch.randperm(len(X), generator=self.gen)
        total, count = 0.0, 0
        self.objective.before_epoch(self)
        batch = self.plan.batch_size
        for i in range(0, len(X), batch):
            b = order[i : i + batch]
            xb = self.objective.mix_batch(self, self.augment(X[b]), lengths[b])
            out = self.model(xb, lengths[b])
            loss = self.objective.batch_loss(self, out, y[b], (xb, lengths[b]))
            self.opt.zero_grad(set_to_none=True)
            loss.backward()
            if self.cfg.clip_norm > 0:
                torch.nn.utils.clip_grad_norm_(self.model.parameters(), self.cfg.clip_norm)
            self.opt.step()
            self.steps += 1
            self.objective.after_step(self)
            total += float(loss.detach()) * len(b)
            count += len(b)
        score = self.score(self.val) if self.val is not None else -total / count
        if score > self.best_score:
            self.best_score, self.since_best = score, 0
            self.best_state = {k: v.clone() for k, v in self.model.state_dict().items()}
        else:
            self.since_best += 1
        self.epoch += 1
        log = EpochLog(
            epoch=self.epoch,
            epochs=self.plan.epochs,
            loss=total / count,
            val_score=score,
            best_score=self.best_score,
            lr=lr,
            seconds=time.perf_counter() - t0,
        )
        self.history.append(dataclasses.asdict(log))
        return log

    # -- checkpoint: ONE safetensors file holding the tensors and, in its header, the JSON state.
    # Written atomically as a unit (temp file + rename), so a SIGKILL at any moment leaves either
    # the previous epoch's checkpoint or this one, never a torn pair; no pickle anywhere.
    def save_checkpoint(self) -> None:
        assert self.out is not None, "a run without an output folder has no checkpoint"
        tensors: dict[str, torch.Tensor] = {}
        for k, v in self.model.state_dict().items():
            tensors[f"model.{k}"] = v
        for k, v in self.best_state.items():
            tensors[f"best.{k}"] = v
        names = {id(p): n for n, p in self.model.named_parameters()}
        opt_steps: dict[str, float] = {}
        for p, st in self.opt.state.items():
            n = names[id(p)]
            tensors[f"adam.exp_avg.{n}"] = st["exp_avg"]
            tensors[f"adam.exp_avg_sq.{n}"] = st["exp_avg_sq"]
            opt_steps[n] = float(st["step"])
        rng = rng_state()
        tensors.update(rng.pop("tensors"))
        tensors["rng.shuffle"] = self.gen.get_state()
        meta = {
            "format": CHECKPOINT_FORMAT,
            "epoch": self.epoch,
            "best_score": self.best_score,
            "since_best": self.since_best,
            "history": self.history,
            "adam_steps": opt_steps,
            "rng": rng,
            "config": self.cfg.to_json(),
            "spec": self.spec.to_json(),
            "dataset": self.data.info.name,
        }
        data = serialize(tensors, meta)
        folder = self.out / CHECKPOINT_DIR
        atomic_write_bytes(folder / CHECKPOINT_FILE, data)
        (folder / LEGACY_FILE).unlink(missing_ok=True)  # an older layout's state, now stale

    def load_checkpoint(self) -> None:
        assert self.out is not None, "a run without an output folder has no checkpoint"
        path = self.out / CHECKPOINT_DIR / CHECKPOINT_FILE
        meta, tensors = read_checkpoint(path)
        now = json.loads(json.dumps({"spec": self.spec.to_json(), "config": self.cfg.to_json()}))
        if meta.get("spec") != now["spec"] or meta.get("config") != now["config"]:
            raise BadInput(
                f"--resume: the checkpoint {path} was made with other options; "
                "resume with the same options or start a new output folder"
            )
        params = dict(self.model.named_parameters())
        model_keys = set(self.model.state_dict())
        steps = meta["adam_steps"]
        expected = (
            {f"model.{k}" for k in model_keys}
            | {f"best.{k}" for k in model_keys}
            | {f"adam.{m}.{n}" for n in steps for m in ("exp_avg", "exp_avg_sq")}
            | set(RNG_TENSORS)
        )
        # Cross-checks: the tensors are exactly the ones the header's state names, and the
        # header is self-consistent (one history entry per finished epoch).
        if set(tensors) != expected or not set(steps) <= set(params):
            raise BadInput(f"--resume: {path} does not match this model (corrupt or foreign)")
        if len(meta["history"]) != meta["epoch"] or not 0 <= meta["epoch"] <= self.plan.epochs:
            raise BadInput(f"--resume: {path} is inconsistent (epoch vs history)")
        try:
            self.model.load_state_dict(
                {k[6:]: v for k, v in tensors.items() if k.startswith("model.")}
            )
            self.best_state = {k[5:]: v for k, v in tensors.items() if k.startswith("best.")}
            for n, step in steps.items():
                self.opt.state[params[n]] = {
                    "step": torch.tensor(float(step)),
                    "exp_avg": tensors[f"adam.exp_avg.{n}"],
                    "exp_avg_sq": tensors[f"adam.exp_avg_sq.{n}"],
                }
            set_rng_state(meta["rng"], tensors)
            self.gen.set_state(tensors["rng.shuffle"])
        except (KeyError, RuntimeError, TypeError, ValueError) as e:
            raise BadInput(f"--resume: checkpoint {path} is incomplete ({e})") from None
        self.epoch = int(meta["epoch"])
        self.best_score = float(meta["best_score"])
        self.since_best = int(meta["since_best"])
        self.history = list(meta["history"])

    def final_model(self) -> SequenceModel:
        """The best epoch's weights; for regression the target scaling is folded into the head
        (W' = diag(s) W, b' = s b + m) so the model outputs raw units with no extra op."""
        self.model.load_state_dict(self.best_state)
        if self.task == "regression":
            with torch.no_grad():
                self.model.head.weight.mul_(self.y_std[:, None])
                self.model.head.bias.mul_(self.y_std).add_(self.y_mean)
        return self.model.eval()


def train(
    spec: ModelSpec,
    data: Dataset,
    cfg: TrainConfig,
    out: str | os.PathLike[str],
    *,
    resume: bool = False,
    on_epoch: Callable[[EpochLog], None] | None = None,
    objective: Objective | None = None,
) -> TrainResult:
    """Train ``spec`` on ``data`` and write the bundle, ``metrics.json`` and a checkpoint into
    ``out``. ``spec.normalization`` is replaced by one fitted on the training split.
    ``objective`` changes the loss or adds per-step work (distillation, pruning masks)."""
    torch.set_num_threads(cfg.threads or default_threads())
    if spec.input_size != data.num_features:
        raise BadInput(
            f"the model takes {spec.input_size} features, the data has {data.num_features}"
        )
    out = Path(out)
    fit_idx, _ = split_validation(data.train, cfg.val_fraction, cfg.seed)
    lengths = data.train.lengths[fit_idx] if data.train.lengths is not None else None
    spec = dataclasses.replace(
        spec,
        normalization=fit_normalization(data.train.X[fit_idx], lengths),
        labels=spec.labels or data.labels,
        feature_names=spec.feature_names or data.feature_names,
    )
    trainer = _Trainer(spec, data, cfg, out, objective, step_floor=True)
    for folder in (out, out / CHECKPOINT_DIR):
        clean_folder(folder)  # temp files of a killed run's interrupted writes
    if resume:
        trainer.load_checkpoint()
    stopped_early = False
    while trainer.epoch < trainer.plan.epochs:
        # No early stop before the step floor: with few rows per epoch the training loss is
        # noisy, and patience alone stopped a basicmotions LSTM-32 at 160 steps (0.70).
        floor_met = trainer.epoch * trainer.plan.steps_per_epoch >= cfg.min_steps
        if trainer.since_best >= cfg.patience and floor_met:
            stopped_early = True
            break
        log = trainer.run_epoch()
        trainer.save_checkpoint()
        if on_epoch is not None:
            on_epoch(log)
    trainer.model.load_state_dict(trainer.best_state)
    train_score = trainer.score(trainer.fit)  # accuracy (classification) of the kept weights
    final_loss = trainer.history[-1]["loss"] if trainer.history else math.nan
    warning = fit_warning(data.task, spec.num_outputs, final_loss, train_score)
    model = trainer.final_model()
    from edgegru.evaluate import predict

    bundle = bundle_from_model(model)
    pred = predict(bundle, data.test)
    test_metrics = compute_metrics(data.task, data.test.y, pred, spec.labels)
    bundle.provenance = {
        "dataset": data.info.name,
        "seed": cfg.seed,
        "train_config": cfg.to_json(),
        "epochs_run": trainer.epoch,
        "optimizer_steps": trainer.epoch * trainer.plan.steps_per_epoch,
        "batch_size": trainer.plan.batch_size,
        "seq_len": int(data.train.X.shape[1]),
        VARIABLE_LENGTH: is_variable_length(data),  # exports then take lengths
        "best_val_score": trainer.best_score,
        "test_metrics": {k: v for k, v in test_metrics.items() if not isinstance(v, (list, dict))},
        "edgegru_version": __version__,
        "torch_version": torch.__version__,
    }
    save_bundle(bundle, out)
    steps = trainer.epoch * trainer.plan.steps_per_epoch  # also right after --resume
    atomic_write_json(
        out / "metrics.json",
        {
            "history": trainer.history,
            "test": test_metrics,
            "stopped_early": stopped_early,
            "schedule": dataclasses.asdict(trainer.plan),
            "optimizer_steps": steps,
            "final_train_loss": final_loss,
            "train_score": train_score,
            "warning": warning,
        },
    )
    return TrainResult(
        bundle, trainer.history, test_metrics, stopped_early, steps, trainer.plan, warning
    )


def finetune(
    bundle: Bundle,
    data: Dataset,
    cfg: TrainConfig,
    *,
    objective: Objective | None = None,
    on_epoch: Callable[[EpochLog], None] | None = None,
) -> Bundle:
    """Continue training ``bundle`` for ``cfg.epochs`` epochs and return the new weights (the
    bundle's normalization and labels kept; nothing is written).

    Returns the LAST epoch, with no early stopping: the cosine schedule anneals to zero, and a
    pruning schedule raises the loss on purpose while it runs, so "best so far" would pick an
    epoch from before the final sparsity.
    """
    from edgegru.model import model_from_bundle

    torch.set_num_threads(cfg.threads or default_threads())
    if bundle.spec.input_size != data.num_features:
        raise BadInput(
            f"the model takes {bundle.spec.input_size} features, the data has {data.num_features}"
        )
    trainer = _Trainer(bundle.spec, data, cfg, None, objective)
    trainer.model.load_state_dict(model_from_bundle(bundle).state_dict())
    if trainer.task == "regression":
        # Unfold the target scaling final_model() folded in: the loss works in normalized units.
        with torch.no_grad():
            trainer.model.head.bias.sub_(trainer.y_mean).div_(trainer.y_std)
            trainer.model.head.weight.div_(trainer.y_std[:, None])
    for _ in range(trainer.plan.epochs):
        log = trainer.run_epoch()
        if on_epoch is not None:
            on_epoch(log)
    trainer.best_state = {k: v.clone() for k, v in trainer.model.state_dict().items()}
    return bundle_from_model(trainer.final_model(), provenance=dict(bundle.provenance))
