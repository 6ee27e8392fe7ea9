"""Compression: structured pruning of hidden units, unstructured magnitude pruning and
knowledge distillation. Upstream of quantize: imports only the core (types, model, train, cells).

    prune_(bundle, StructuredPruneConfig(hidden_size=16), data)      # a smaller dense model
    prune_(bundle, UnstructuredPruneConfig(sparsity=0.7), data)      # zeros baked in
    distill(teacher, student_spec, data, DistillConfig(), out)       # a student from a teacher

Importing this package imports torch.
"""

from __future__ import annotations

from edgegru.compress.distill import Distillation, DistillConfig, check_teacher, distill
from edgegru.compress.prune import PRUNERS, FinetuneSetup, default_finetune_config, prune_
from edgegru.compress.sizes import model_sizes, sparsity_report
from edgegru.compress.structured import IMPORTANCE, StructuredPruneConfig
from edgegru.compress.unstructured import SCHEDULES, SCOPES, UnstructuredPruneConfig

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
