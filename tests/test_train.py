"""Training on every shipped dataset, determinism, and the float accuracy that
docs/quantization.md's tables start from."""

from __future__ import annotations

import numpy as np
import pytest

from edgegru.datasets import DATASETS, load_dataset
from edgegru.evaluate import evaluate
from edgegru.train import TrainConfig, split_validation, train
from edgegru.types import ModelSpec, SequenceData


def spec_for(ds, **kw) -> ModelSpec:
    args = dict(cell="gru", input_size=ds.num_features, hidden_size=4,
                num_outputs=ds.num_outputs, task=ds.task) | kw  # fmt: skip
    return ModelSpec(**args)


@pytest.mark.parametrize("name", DATASETS.names())
def test_every_dataset_trains_and_evaluates(name, tmp_path):
    ds = load_dataset(name)
    result = train(spec_for(ds), ds, TrainConfig(epochs=1, min_steps=0), tmp_path / "m")
    again = evaluate(result.bundle, ds)
    key = "accuracy" if ds.task == "classification" else "rmse"
    assert again[key] == pytest.approx(result.test_metrics[key], rel=1e-6)
    assert result.bundle.provenance["seq_len"] == ds.train.X.shape[1]


def test_same_seed_same_weights(tmp_path):
    ds = load_dataset("basicmotions")
    cfg = TrainConfig(epochs=2, min_steps=0, jitter=0.1, scale=0.1, seed=5)
    a = train(spec_for(ds, cell="peephole"), ds, cfg, tmp_path / "a").bundle
    b = train(spec_for(ds, cell="peephole"), ds, cfg, tmp_path / "b").bundle
    for k in a.weights:
        np.testing.assert_array_equal(a.weights[k], b.weights[k])


def test_validation_split_keeps_groups_apart():
    groups = np.repeat(np.arange(6), 5)
    data = SequenceData(np.zeros((30, 2, 1), np.float32), np.zeros(30, np.int64), groups=groups)
    fit, val = split_validation(data, 0.3, seed=0)
    assert set(groups[fit]).isdisjoint(groups[val]) and len(val) > 0


def test_regression_outputs_raw_units(tmp_path):
    """Targets are scaled for training and the scaling is folded into the head afterwards."""
    ds = load_dataset("sunspots")
    cfg = TrainConfig(epochs=15, min_steps=0)
    result = train(spec_for(ds, hidden_size=8), ds, cfg, tmp_path / "s")
    # a model in raw units does far better than predicting 0 (mean sunspot number is ~50)
    assert result.test_metrics["mae"] < 0.6 * np.abs(ds.test.y).mean()


@pytest.mark.slow
def test_watch_gru32_default_reaches_085(tmp_path):
    """The float model docs/quantization.md starts from: `edgegru train --dataset watch --cell gru
    --hidden 32` (defaults)."""
    ds = load_dataset("watch")
    result = train(spec_for(ds, hidden_size=32), ds, TrainConfig(), tmp_path / "w")
    assert result.test_metrics["accuracy"] >= 0.85
