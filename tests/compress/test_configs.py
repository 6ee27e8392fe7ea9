"""Every compression config validates in __post_init__ and survives a JSON round trip; every
registered scheme has a test (the coverage guard of docs/extending.md)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from edgegru.compress import (
    IMPORTANCE,
    PRUNERS,
    SCHEDULES,
    SCOPES,
    DistillConfig,
    StructuredPruneConfig,
    UnstructuredPruneConfig,
)
from edgegru.train import TrainConfig

CONFIGS = [
    StructuredPruneConfig(hidden_size=16),
    StructuredPruneConfig(max_params=2000, importance="l1", steps=1, finetune_epochs=0),
    UnstructuredPruneConfig(0.7),
    UnstructuredPruneConfig(0.0, scope="per-tensor", schedule="one-shot", include_head=False),
    DistillConfig(),
    DistillConfig(temperature=2.0, alpha=0.0, train=TrainConfig(epochs=3, jitter=0.2)),
]


@pytest.mark.parametrize("cfg", CONFIGS, ids=lambda c: type(c).__name__)
def test_json_round_trip(cfg):
    again = type(cfg).from_json(json.loads(json.dumps(cfg.to_json())))
    assert again == cfg


BAD = [
    (StructuredPruneConfig, {}, "exactly one"),
    (StructuredPruneConfig, {"hidden_size": 8, "max_params": 100}, "exactly one"),
    (StructuredPruneConfig, {"hidden_size": 0}, "positive"),
    (StructuredPruneConfig, {"hidden_size": 4, "importance": "random"}, "unknown importance"),
    (StructuredPruneConfig, {"hidden_size": 4, "steps": 0}, "steps"),
    (StructuredPruneConfig, {"hidden_size": 4, "finetune_epochs": -1}, "finetune_epochs"),
    (UnstructuredPruneConfig, {"sparsity": 1.5}, r"sparsity must be in \[0, 1\)"),
    (UnstructuredPruneConfig, {"sparsity": 1.0}, "sparsity"),
    (UnstructuredPruneConfig, {"sparsity": -0.1}, "sparsity"),
    (UnstructuredPruneConfig, {"sparsity": 0.5, "scope": "layer"}, "unknown scope"),
    (UnstructuredPruneConfig, {"sparsity": 0.5, "schedule": "linear"}, "unknown schedule"),
    (UnstructuredPruneConfig, {"sparsity": 0.5, "ramp": 0}, "ramp"),
    (UnstructuredPruneConfig, {"sparsity": 0.5, "power": 0}, "power"),
    (DistillConfig, {"temperature": 0}, "temperature"),
    (DistillConfig, {"alpha": 1.5}, "alpha"),
]


@pytest.mark.parametrize(("cls", "kwargs", "match"), BAD)
def test_invalid_configs_raise_value_error(cls, kwargs, match):
    with pytest.raises(ValueError, match=match):
        cls(**kwargs)


def test_every_registered_scheme_has_a_test():
    here = Path(__file__).parent
    text = "".join(p.read_text() for p in here.glob("test_*.py"))
    # Importance criteria, scopes and schedules are parametrized over their registries; pruners
    # are named by their config classes in the tests.
    assert "IMPORTANCE.names()" in text and "SCOPES.names()" in text
    assert "SCHEDULES.names()" in text
    assert set(PRUNERS.names()) == {StructuredPruneConfig.scheme, UnstructuredPruneConfig.scheme}
    assert IMPORTANCE.names() and SCOPES.names() and SCHEDULES.names()
