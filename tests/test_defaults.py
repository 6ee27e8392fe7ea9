"""One default per setting: the CLI's options and the pipeline's sections take theirs from the
library's config dataclasses (docs/compression.md#defaults)."""

from __future__ import annotations

import dataclasses

import click
import pytest

from edgegru.cli import distill_cmd, prune_cmd, quantize_cmd, train_cmd
from edgegru.compress.config import DistillConfig, default_distill_train, default_finetune_config
from edgegru.compress.sparsity import UnstructuredPruneConfig
from edgegru.compress.structured import StructuredPruneConfig
from edgegru.errors import BadInput
from edgegru.pipeline.config import PipelineConfig
from edgegru.quantize.config import QuantizeConfig
from edgegru.targets.config import RunConfig
from edgegru.train_config import TrainConfig


def _defaults(command: click.Command) -> dict[str, object]:
    return {p.name: p.default for p in command.params if isinstance(p, click.Option)}


@pytest.mark.parametrize(
    ("command", "config", "names"),
    [
        (train_cmd.command, TrainConfig(), train_cmd.TRAIN_OPTIONS),
        (distill_cmd.command, default_distill_train(), ("epochs", "lr", "jitter", "seed")),
        (distill_cmd.command, DistillConfig(), ("temperature", "alpha", "mixup", "prune_epochs")),
        (prune_cmd.command, DistillConfig(), ("temperature", "alpha", "mixup")),
        (prune_cmd.command, default_finetune_config(), ("lr", "seed")),
        (prune_cmd.command, StructuredPruneConfig(hidden_size=1), ("steps", "importance")),
        (prune_cmd.command, UnstructuredPruneConfig(sparsity=0.5), ("scope",)),
    ],
)
def test_cli_options_default_to_the_dataclass(command, config, names):
    defaults = _defaults(command)
    for name in names:
        assert defaults[name] == getattr(config, name), name


def test_quantize_options_and_sections_share_the_dataclass_defaults():
    q, cfg = _defaults(quantize_cmd.command), QuantizeConfig()
    assert (q["calib"], q["epochs"], q["lr"], q["weight_granularity"], q["logits_bits"]) == (
        cfg.calib, cfg.qat_epochs, cfg.qat_lr, cfg.weights, str(cfg.logits_bits))  # fmt: skip
    p = PipelineConfig()
    section = p.quantize.quantize_config(cfg.scheme)
    assert section == cfg
    assert p.train.train_config() == TrainConfig()
    assert (p.check.runs, p.check.warmup) == (RunConfig.runs, RunConfig.warmup)
    c = p.compress
    assert c.prune_config(5) == StructuredPruneConfig(hidden_size=5)
    assert c.distill_config() == DistillConfig()
    assert not c.distill  # prune fine-tunes on the labels alone, as `edgegru prune`


def test_every_train_config_field_is_a_train_key():
    fields = {f.name for f in dataclasses.fields(TrainConfig)}
    cfg = PipelineConfig.from_json({"train": {"weight_decay": 0.01, "patience": 3}})
    assert fields <= set(cfg.to_json()["train"])
    assert cfg.train.train_config().weight_decay == 0.01
    with pytest.raises(BadInput, match=r"\[train\]: lr must be a positive number"):
        PipelineConfig.from_json({"train": {"lr": -1.0}})
    with pytest.raises(BadInput, match=r"\[compress\]: alpha must be in \[0, 1\]"):
        PipelineConfig.from_json({"compress": {"alpha": 2.0}})
