"""Compression: structured pruning of hidden units, unstructured magnitude pruning and
knowledge distillation. Upstream of quantize: imports only the core (types, model, train, cells).

    prune_(bundle, StructuredPruneConfig(hidden_size=16), data)      # a smaller dense model
    prune_(bundle, UnstructuredPruneConfig(sparsity=0.7), data)      # zeros baked in
    distill(teacher, student_spec, data, DistillConfig(), out)       # a student from a teacher

Importing this package imports nothing heavy: each name below loads its module (and torch, for
the verbs) on first use, so the CLI's options and the pipeline's config can read the settings'
defaults from ``compress/config.py``, ``structured.py`` and ``sparsity.py`` without torch.
"""

from __future__ import annotations

import importlib
import sys
import types
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from edgegru.compress.config import DistillConfig, default_finetune_config
    from edgegru.compress.distill import Distillation, check_teacher, distill
    from edgegru.compress.prune import PRUNERS, FinetuneSetup, prune_
    from edgegru.compress.sizes import model_sizes, sparsity_report
    from edgegru.compress.sparsity import SCHEDULES, SCOPES, UnstructuredPruneConfig
    from edgegru.compress.structured import IMPORTANCE, StructuredPruneConfig

# name -> the module that defines it (an explicit list, not a scan)
_HOME = {
    "DistillConfig": "config",
    "default_finetune_config": "config",
    "Distillation": "distill",
    "check_teacher": "distill",
    "distill": "distill",
    "PRUNERS": "prune",
    "FinetuneSetup": "prune",
    "prune_": "prune",
    "model_sizes": "sizes",
    "sparsity_report": "sizes",
    "IMPORTANCE": "structured",
    "StructuredPruneConfig": "structured",
    "SCHEDULES": "sparsity",
    "SCOPES": "sparsity",
    "UnstructuredPruneConfig": "sparsity",
}

__all__ = [
    "IMPORTANCE",
    "PRUNERS",
    "SCHEDULES",
    "SCOPES",
    "DistillConfig",
    "Distillation",
    "FinetuneSetup",
    "StructuredPruneConfig",
    "UnstructuredPruneConfig",
    "check_teacher",
    "default_finetune_config",
    "distill",
    "model_sizes",
    "prune_",
    "sparsity_report",
]


class _Package(types.ModuleType):
    def __setattr__(self, name: str, value: Any) -> None:
        # The import system binds each submodule on its package once it loads; ``distill`` names
        # both a submodule and the verb, and the verb wins, as it did when this file imported it.
        if name in _HOME and isinstance(value, types.ModuleType):
            return
        super().__setattr__(name, value)


sys.modules[__name__].__class__ = _Package


def __getattr__(name: str) -> Any:
    if name not in _HOME:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{_HOME[name]}"), name)
