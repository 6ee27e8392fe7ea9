"""Unstructured magnitude pruning: exact sparsity, the schedule, masks that persist through
fine-tuning and save/load, and honest size numbers."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from edgegru.bundle import load_bundle, save_bundle
from edgegru.compress import SCHEDULES, SCOPES, UnstructuredPruneConfig, prune_, sparsity_report
from edgegru.compress.prune import FinetuneSetup
from edgegru.compress.unstructured import (
    MaskedObjective,
    magnitude_masks,
    masks_of,
    prunable,
)
from edgegru.train import Objective, TrainConfig, finetune
from edgegru.types import ModelSpec
from tests.compress.conftest import random_bundle

MATRICES = ["head.weight", "rnn.weight_hh_l0", "rnn.weight_ih_l0"]


@pytest.mark.parametrize("scope", SCOPES.names())
def test_one_shot_pruning_hits_the_sparsity_and_keeps_the_largest(scope):
    bundle = random_bundle(ModelSpec("gru", 5, 16, 4))
    original = {n: w.copy() for n, w in bundle.weights.items()}
    prune_(bundle, UnstructuredPruneConfig(0.6, scope=scope, finetune_epochs=0))
    assert prunable(bundle) == MATRICES
    zeros = {n: int((bundle.weights[n] == 0).sum()) for n in MATRICES}
    sizes = {n: bundle.weights[n].size for n in MATRICES}
    if scope == "per-tensor":
        assert all(zeros[n] == int(0.6 * sizes[n]) for n in MATRICES)
    else:
        assert sum(zeros.values()) == int(0.6 * sum(sizes.values()))
        kept = np.concatenate([np.abs(bundle.weights[n][bundle.weights[n] != 0]) for n in MATRICES])
        dropped = np.concatenate([np.abs(original[n][bundle.weights[n] == 0]) for n in MATRICES])
        assert dropped.max() <= kept.min()
    for n in bundle.weights:  # kept weights unchanged, vectors untouched
        keep = bundle.weights[n] != 0
        np.testing.assert_array_equal(bundle.weights[n][keep], original[n][keep])
    assert (bundle.weights["rnn.bias_ih_l0"] != 0).all()
    assert (
        bundle.spec.num_parameters()
        == random_bundle(ModelSpec("gru", 5, 16, 4)).spec.num_parameters()
    )


@pytest.mark.parametrize("name", SCHEDULES.names())
def test_schedules_rise_to_the_target(name):
    cfg = UnstructuredPruneConfig(0.8, schedule=name, finetune_epochs=8, ramp=0.5)
    s = [SCHEDULES.get(name)(e, cfg) for e in range(8)]
    assert all(a <= b for a, b in itertools.pairwise(s))
    assert s[0] > 0 and s[3] == pytest.approx(0.8) and s[-1] == pytest.approx(0.8)
    if name == "polynomial":
        assert s[1] - s[0] > s[3] - s[2] > 0  # cubic: fast at first, slow near the target


class _Spy(Objective):
    """Checks after every optimizer step that every masked weight is exactly zero."""

    def __init__(self) -> None:
        self.masked: MaskedObjective | None = None
        self.checks = 0

    def after_step(self, trainer) -> None:
        assert self.masked is not None
        params = dict(trainer.model.named_parameters())
        for n, keep in self.masked.masks.items():
            assert (params[n].detach()[~keep] == 0).all(), n
        self.checks += 1


def test_masks_persist_through_finetuning_and_save_load(toy, tmp_path):
    bundle = random_bundle(ModelSpec("lstm", 4, 12, 3))
    cfg = UnstructuredPruneConfig(0.75, finetune_epochs=4)
    spy = _Spy()
    masked = MaskedObjective(spy, cfg)
    spy.masked = masked
    setup = FinetuneSetup(TrainConfig(epochs=1, batch_size=32, val_fraction=0))
    tuned = setup.finetune(bundle, toy, cfg.finetune_epochs, masked)
    assert spy.checks == 4 * 3  # 96 samples in batches of 32, 4 epochs
    report = sparsity_report(tuned)
    assert report["matrix_sparsity"] == pytest.approx(0.75, abs=0.01)
    # The whole verb, then save/load: the zeros are in the file and stay zeros.
    prune_(bundle, cfg, toy, train=TrainConfig(epochs=1, val_fraction=0))
    masks = masks_of(bundle)
    assert 1 - np.mean(np.concatenate([m.ravel() for m in masks.values()])) == pytest.approx(
        0.75, abs=0.01
    )
    save_bundle(bundle, tmp_path / "sparse")
    loaded = load_bundle(tmp_path / "sparse")
    for n, keep in masks.items():
        np.testing.assert_array_equal(loaded.weights[n] == 0, ~keep)
    # A further fine-tune at the same sparsity (one shot) keeps exactly those zeros.
    again = UnstructuredPruneConfig(0.75, schedule="one-shot", finetune_epochs=2)
    tuned = finetune(loaded, toy, TrainConfig(epochs=2, val_fraction=0),
                     objective=MaskedObjective(Objective(), again))  # fmt: skip
    for n, keep in masks.items():
        assert (tuned.weights[n][~keep] == 0).all()
        assert (tuned.weights[n][keep] != loaded.weights[n][keep]).any()  # it did train


def test_sparsity_report_is_honest():
    dense = random_bundle(ModelSpec("gru", 6, 32, 7))
    sparse = random_bundle(ModelSpec("gru", 6, 32, 7))
    prune_(sparse, UnstructuredPruneConfig(0.9, finetune_epochs=0))
    d, s = sparsity_report(dense), sparsity_report(sparse)
    assert d["float32_bytes"] == s["float32_bytes"] == 4 * d["parameters"]  # dense: no change
    assert d["int8_bytes"] == s["int8_bytes"]
    assert d["matrix_sparsity"] == 0 and s["matrix_sparsity"] == pytest.approx(0.9, abs=0.01)
    assert s["float32_gzip_bytes"] < 0.4 * d["float32_gzip_bytes"]  # the download shrinks
    assert s["int8_gzip_bytes_estimate"] < d["int8_gzip_bytes_estimate"]
    assert s["nonzero"] < 0.2 * s["parameters"]


def test_masks_cover_only_the_matrices():
    bundle = random_bundle(ModelSpec("peephole", 3, 4, 2))
    cfg = UnstructuredPruneConfig(0.5, include_head=False, finetune_epochs=0)
    assert set(magnitude_masks(bundle, cfg, 0.5)) == {"rnn.weight_hh_l0", "rnn.weight_ih_l0"}
