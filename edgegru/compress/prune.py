"""The pruning verb: ``prune_(model, cfg)`` (docs/architecture.md#style, rule 4), in place on a
bundle or a model.

The config's ``scheme`` picks the pruner from ``PRUNERS``; each pruner is a function of a bundle,
its config, the data for fine-tuning and a ``FinetuneSetup``, returning the pruned bundle.
Fine-tuning reuses ``edgegru.train.finetune`` (one training loop in the project); a distillation
objective passed here makes every fine-tuning round learn from a teacher as well as the labels.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from edgegru.compress.config import default_finetune_config
from edgegru.compress.sizes import model_sizes
from edgegru.compress.structured import StructuredPruneConfig, prune_structured
from edgegru.compress.unstructured import UnstructuredPruneConfig, prune_unstructured
from edgegru.model import SequenceModel, bundle_from_model, model_from_bundle
from edgegru.registry import Registry
from edgegru.train import EpochLog, Objective, TrainConfig, finetune
from edgegru.types import Bundle, Dataset

PruneConfig = StructuredPruneConfig | UnstructuredPruneConfig
Pruner = Callable[[Bundle, Any, "Dataset | None", "FinetuneSetup"], Bundle]
PRUNERS: Registry[Pruner] = Registry("pruning scheme")
PRUNERS.register(StructuredPruneConfig.scheme)(prune_structured)
PRUNERS.register(UnstructuredPruneConfig.scheme)(prune_unstructured)

M = TypeVar("M", Bundle, SequenceModel)


@dataclass
class FinetuneSetup:
    """How every fine-tuning round runs: the base TrainConfig (its epochs replaced per round),
    an optional objective (e.g. distillation from a teacher) and a progress callback."""

    train: TrainConfig
    objective: Objective | None = None
    on_epoch: Callable[[EpochLog], None] | None = None

    def finetune(
        self, bundle: Bundle, data: Dataset, epochs: int, objective: Objective | None = None
    ) -> Bundle:
        cfg = dataclasses.replace(self.train, epochs=epochs)
        return finetune(
            bundle, data, cfg, objective=objective or self.objective, on_epoch=self.on_epoch
        )


def prune_(
    model: M,
    cfg: PruneConfig,
    data: Dataset | None = None,
    *,
    train: TrainConfig | None = None,
    objective: Objective | None = None,
    on_epoch: Callable[[EpochLog], None] | None = None,
) -> M:
    """Prune ``model`` (a Bundle or a SequenceModel) in place as ``cfg`` says, fine-tuning on
    ``data`` between rounds; returns it. A structured prune changes its spec (smaller H)."""
    setup = FinetuneSetup(train or default_finetune_config(), objective, on_epoch)
    if isinstance(model, SequenceModel):
        pruned = prune_(bundle_from_model(model), cfg, data, train=setup.train,
                        objective=objective, on_epoch=on_epoch)  # fmt: skip
        fresh = model_from_bundle(pruned)
        model.spec, model.rnn, model.head = fresh.spec, fresh.rnn, fresh.head
        return model
    before = model_sizes(model.spec)
    new = PRUNERS.get(cfg.scheme)(model, cfg, data, setup)
    provenance = {k: v for k, v in new.provenance.items() if k != "test_metrics"}  # now stale
    provenance["compression"] = [
        *provenance.get("compression", []),
        {
            "scheme": cfg.scheme,
            "config": cfg.to_json(),
            "finetune": (
                dataclasses.replace(setup.train, epochs=cfg.finetune_epochs).to_json()
                if cfg.finetune_epochs
                else None
            ),
            "before": {"hidden_size": model.spec.hidden_size, **before},
            "after": {"hidden_size": new.spec.hidden_size, **model_sizes(new.spec)},
        },
    ]
    model.spec, model.weights, model.provenance = new.spec, new.weights, provenance
    return model
