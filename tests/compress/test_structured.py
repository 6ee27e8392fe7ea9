"""Structured pruning: exact surgery on every cell, targets, the in-place verb, fine-tuning."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch

from edgegru.bundle import load_bundle, save_bundle
from edgegru.compress import IMPORTANCE, StructuredPruneConfig, prune_
from edgegru.compress.structured import (
    remove_units,
    schedule,
    select_units,
    target_hidden,
    touching_weights,
    zero_units,
)
from edgegru.errors import BadInput
from edgegru.evaluate import predict
from edgegru.model import model_from_bundle
from edgegru.types import ModelSpec, SequenceData
from tests.compress.conftest import random_bundle, synthetic

CASES = [
    (cell, layers, head)
    for cell in ("gru", "lstm", "peephole")
    for layers, head in ((1, "last"), (2, "mean"))
]


@pytest.mark.parametrize(("cell", "layers", "head"), CASES)
def test_pruned_model_equals_original_with_units_removed(cell, layers, head):
    spec = ModelSpec(cell, 4, 10, 3, num_layers=layers, head=head)
    bundle = random_bundle(spec, seed=1)
    keep = select_units(bundle, 6)
    drop = [np.setdiff1d(np.arange(10), k) for k in keep]
    pruned = remove_units(bundle, keep)
    assert pruned.spec.hidden_size == 6
    assert pruned.spec.num_parameters() < spec.num_parameters()
    data = synthetic(n=16, t=9).test
    lengths = np.array([9, 5, 1, 7, 9, 3, 8, 2], dtype=np.int64)  # padding must not matter
    data = SequenceData(data.X, data.y, lengths)
    # Float32 sums over a few terms in another order: 1e-5 is far below any real difference
    # (dropping one more unit moves the outputs by ~1e-2 here).
    np.testing.assert_allclose(
        predict(pruned, data), predict(zero_units(bundle, drop), data), atol=1e-5
    )
    assert np.abs(predict(bundle, data) - predict(pruned, data)).max() > 1e-3
    # The streaming step form of the pruned model agrees too (same weights, one step at a time).
    model, ref = model_from_bundle(pruned), model_from_bundle(zero_units(bundle, drop))
    x = torch.from_numpy(data.X[:2, :4])
    s1, s2 = model.zero_state(2), ref.zero_state(2)
    with torch.no_grad():
        for t in range(4):
            y1, s1 = model.step(x[:, t], s1)
            y2, s2 = ref.step(x[:, t], s2)
            torch.testing.assert_close(y1, y2, atol=1e-5, rtol=0)


def test_importance_sees_every_weight_touching_a_unit():
    spec = ModelSpec("peephole", 3, 5, 2, num_layers=2)
    bundle = random_bundle(spec)
    groups = touching_weights(bundle, 0)
    # W_ih rows (4 gates x 3 inputs), W_hh rows (4 x 5), W_hh column (20), 2 biases (4 each),
    # 3 peepholes, the next layer's W_ih column (20)
    assert sum(g.shape[0] for g in groups) == 12 + 20 + 20 + 8 + 3 + 20
    assert all(g.shape[-1] == 5 for g in groups)
    # A unit that only a head column makes important is kept.
    bundle.weights["head.weight"][:, 3] = 50.0
    assert 3 in select_units(bundle, 1)[1]


@pytest.mark.parametrize("name", IMPORTANCE.names())
def test_every_importance_criterion_keeps_the_loud_unit(name):
    bundle = random_bundle(ModelSpec("gru", 3, 6, 2))
    bundle.weights["rnn.weight_hh_l0"][:, 4] *= 100  # unit 4's outgoing recurrent column
    (keep,) = select_units(bundle, 2, name)
    assert 4 in keep and list(keep) == sorted(keep)


def test_targets_and_schedule():
    spec = ModelSpec("gru", 6, 128, 7)
    assert target_hidden(spec, StructuredPruneConfig(hidden_size=16)) == 16
    h = target_hidden(spec, StructuredPruneConfig(max_params=4096))
    assert dataclasses.replace(spec, hidden_size=h).num_parameters() <= 4096
    assert dataclasses.replace(spec, hidden_size=h + 1).num_parameters() > 4096
    with pytest.raises(BadInput, match="larger than the model's 128"):
        target_hidden(spec, StructuredPruneConfig(hidden_size=129))
    with pytest.raises(BadInput, match="below the smallest"):
        target_hidden(spec, StructuredPruneConfig(max_params=10))
    assert schedule(128, 16, 3) == [64, 32, 16]
    assert schedule(10, 9, 4) == [9]
    assert schedule(8, 8, 2) == [8]


def test_prune_in_place_on_a_bundle_and_a_model(tmp_path):
    spec = ModelSpec("lstm", 4, 12, 3, num_layers=2)
    bundle = random_bundle(spec)
    cfg = StructuredPruneConfig(hidden_size=5, finetune_epochs=0)
    same = prune_(bundle, cfg)
    assert same is bundle and bundle.spec.hidden_size == 5
    (record,) = bundle.provenance["compression"]
    assert record["before"]["hidden_size"] == 12 and record["after"]["hidden_size"] == 5
    save_bundle(bundle, tmp_path / "b")  # validates every shape against the new spec
    assert load_bundle(tmp_path / "b").spec.hidden_size == 5
    model = model_from_bundle(random_bundle(spec))
    prune_(model, cfg)
    assert model.spec.hidden_size == 5 and model.head.in_features == 5
    assert model(torch.zeros(2, 7, 4)).shape == (2, 3)


def test_iterative_prune_with_finetuning_learns(toy):
    from edgegru.evaluate import evaluate
    from edgegru.train import TrainConfig

    bundle = random_bundle(ModelSpec("gru", 4, 16, 3))  # fine-tuning alone has to teach it
    cfg = StructuredPruneConfig(hidden_size=6, steps=2, finetune_epochs=6)
    epochs = []
    prune_(bundle, cfg, toy, train=TrainConfig(epochs=1, lr=1e-2, batch_size=16, val_fraction=0),
           on_epoch=epochs.append)  # fmt: skip
    assert bundle.spec.hidden_size == 6 and len(epochs) == 12
    assert evaluate(bundle, toy)["accuracy"] > 0.6  # chance is 1/3


def test_finetuning_needs_data():
    bundle = random_bundle(ModelSpec("gru", 4, 8, 3))
    with pytest.raises(BadInput, match="needs data"):
        prune_(bundle, StructuredPruneConfig(hidden_size=4))


@pytest.mark.parametrize("task", ["classification", "regression"])
def test_finetune_starts_from_the_given_weights(task):
    """With a vanishing learning rate fine-tuning changes nothing: the weights are loaded as
    they are and, for regression, the target scaling is unfolded and folded back exactly."""
    from edgegru.train import TrainConfig, finetune

    ds = synthetic(task)
    bundle = random_bundle(ModelSpec("gru", 4, 6, ds.num_outputs, task=task))
    bundle.weights["head.bias"] += 3.0  # raw units far from the normalized ones
    tuned = finetune(bundle, ds, TrainConfig(epochs=1, lr=1e-12, val_fraction=0))
    # float32 round trip through W / s * s: a few ulps
    np.testing.assert_allclose(predict(tuned, ds.test), predict(bundle, ds.test), atol=1e-5)
