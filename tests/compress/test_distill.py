"""Distillation: the loss, teacher checks, any cell into any cell, and that it helps."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from edgegru.compress import Distillation, DistillConfig, check_teacher, distill
from edgegru.errors import BadInput
from edgegru.evaluate import evaluate
from edgegru.train import TrainConfig, _Trainer, train
from edgegru.types import ModelSpec
from tests.compress.conftest import random_bundle, synthetic


def _trainer(ds):
    return _Trainer(ModelSpec("gru", 4, 3, ds.num_outputs, task=ds.task), ds, TrainConfig(), None)


def test_loss_mixes_soft_and_hard_terms(toy):
    teacher = random_bundle(ModelSpec("lstm", 4, 6, 3))
    trainer = _trainer(toy)
    x = torch.from_numpy(toy.train.X[:8])
    lengths = torch.full((8,), x.shape[1])
    y = torch.from_numpy(toy.train.y[:8].astype(np.int64))
    out = torch.randn(8, 3)
    hard = F.cross_entropy(out, y)
    assert Distillation(teacher, alpha=0.0).batch_loss(trainer, out, y, (x, lengths)) == hard
    T = 3.0
    t = Distillation(teacher).teacher(x, lengths)
    p = F.softmax(t / T, dim=1)
    kl = (p * (p.log() - F.log_softmax(out / T, dim=1))).sum(1).mean() * T * T
    got = Distillation(teacher, T, 0.25).batch_loss(trainer, out, y, (x, lengths))
    torch.testing.assert_close(got, 0.25 * kl + 0.75 * hard)
    # A student that equals its teacher has nothing left to learn from it.
    same = Distillation(teacher, T, 1.0).batch_loss(trainer, t, y, (x, lengths))
    assert float(same) == pytest.approx(0.0, abs=1e-6)


def test_regression_distills_with_mse():
    ds = synthetic("regression")
    teacher = random_bundle(ModelSpec("gru", 4, 5, 2, task="regression"))
    trainer = _trainer(ds)
    x = torch.from_numpy(ds.train.X[:8])
    lengths = torch.full((8,), x.shape[1])
    y = torch.from_numpy(ds.train.y[:8])
    t = Distillation(teacher).teacher(x, lengths)
    t_n = (t - trainer.y_mean) / trainer.y_std
    got = Distillation(teacher, alpha=1.0).batch_loss(trainer, t_n, y, (x, lengths))
    assert float(got) == pytest.approx(0.0, abs=1e-10)


def test_an_ensemble_teaches_the_mean_of_its_softened_probabilities(toy):
    teachers = [random_bundle(ModelSpec("gru", 4, 5, 3), seed=k) for k in range(3)]
    trainer = _trainer(toy)
    x = torch.from_numpy(toy.train.X[:8])
    lengths = torch.full((8,), x.shape[1])
    y = torch.from_numpy(toy.train.y[:8].astype(np.int64))
    out = torch.randn(8, 3)
    T = 2.0
    ens = Distillation(teachers, T, 1.0)
    p = torch.stack([F.softmax(m(x, lengths) / T, dim=1) for m in ens.teachers]).mean(0)
    kl = (p * (p.log() - F.log_softmax(out / T, dim=1))).sum(1).mean() * T * T
    torch.testing.assert_close(ens.batch_loss(trainer, out, y, (x, lengths)), kl)
    # one teacher in a list is that teacher
    one = Distillation(teachers[:1], T, 1.0).batch_loss(trainer, out, y, (x, lengths))
    torch.testing.assert_close(one, Distillation(teachers[0], T, 1.0).batch_loss(
        trainer, out, y, (x, lengths)))


def test_mixup_mixes_inputs_and_labels_by_one_share(toy):
    """Function matching with mixup: the student and the teacher see the same mixed inputs, and
    the labels term mixes both labels by the share each input got."""
    teacher = random_bundle(ModelSpec("gru", 4, 5, 3))
    trainer = _trainer(toy)
    x = torch.from_numpy(toy.train.X[:16])
    lengths = torch.full((16,), x.shape[1])
    lengths[0] = 3  # a shorter sequence is never mixed (its padding would enter the other)
    y = torch.from_numpy(toy.train.y[:16].astype(np.int64))
    d = Distillation(teacher, alpha=0.0, mixup=0.5)
    xm = d.mix_batch(trainer, x, lengths)
    partner, share = d._mix
    assert float(share.max()) <= 0.5 and float(share.min()) >= 0.0 and share[0] == 0
    w = share[:, None, None]
    torch.testing.assert_close(xm, (1 - w) * x + w * x[partner])
    out = torch.randn(16, 3)
    hard = d.batch_loss(trainer, out, y, (xm, lengths))
    want = ((1 - share) * F.cross_entropy(out, y, reduction="none")
            + share * F.cross_entropy(out, y[partner], reduction="none")).mean()
    torch.testing.assert_close(hard, want)
    assert Distillation(teacher, mixup=0.0).mix_batch(trainer, x, lengths) is x  # 0: off
    with pytest.raises(ValueError, match="mixup"):
        DistillConfig(mixup=0.7)


def test_prune_from_distills_wide_then_prunes_to_the_student(toy, tmp_path):
    import json

    cfg = TrainConfig(epochs=1, val_fraction=0)
    teacher = train(ModelSpec("gru", 4, 8, 3), toy, cfg, tmp_path / "t").bundle
    kd = DistillConfig(alpha=1.0, mixup=0.5, prune_from=6, prune_epochs=1, train=cfg)
    result = distill(teacher, ModelSpec("gru", 4, 3, 3), toy, kd, tmp_path / "s")
    assert result.bundle.spec.hidden_size == 3
    step = result.bundle.provenance["compression"][-1]
    assert step["before"]["hidden_size"] == 6 and step["after"]["hidden_size"] == 3
    assert result.bundle.provenance["distilled_from"]["hidden_size"] == 8
    record = json.loads((tmp_path / "s" / "metrics.json").read_text())
    assert record["test"]["accuracy"] == result.test_metrics["accuracy"]
    assert "test_before_pruning" in record
    with pytest.raises(BadInput, match="must be larger than the student's hidden size"):
        distill(teacher, ModelSpec("gru", 4, 6, 3), toy, kd, tmp_path / "x")
    with pytest.raises(ValueError, match="prune_from"):
        DistillConfig(prune_from=1)


def test_bad_teachers_are_refused(toy):
    with pytest.raises(BadInput, match="teacher takes 5 input features, the data has 4"):
        check_teacher(random_bundle(ModelSpec("gru", 5, 4, 3)), toy)
    with pytest.raises(BadInput, match="3 classes"):
        check_teacher(random_bundle(ModelSpec("gru", 4, 4, 2)), toy)
    with pytest.raises(BadInput, match="regression"):
        check_teacher(random_bundle(ModelSpec("gru", 4, 4, 3, task="regression")), toy)


@pytest.mark.parametrize(("teacher_cell", "student_cell"), [("lstm", "gru"), ("gru", "peephole")])
def test_any_cell_teaches_any_cell(toy, tmp_path, teacher_cell, student_cell):
    cfg = TrainConfig(epochs=2, val_fraction=0)
    teacher = train(ModelSpec(teacher_cell, 4, 8, 3), toy, cfg, tmp_path / "t").bundle
    student = ModelSpec(student_cell, 4, 3, 3)
    result = distill(teacher, student, toy, DistillConfig(train=cfg), tmp_path / "s")
    assert result.bundle.spec.cell == student_cell
    prov = result.bundle.provenance["distilled_from"]
    assert prov["cell"] == teacher_cell and prov["temperature"] == 4.0


def test_distillation_beats_labels_when_the_labels_are_noisy(tmp_path):
    """A teacher that learned from clean data teaches a student whose own labels are 40% wrong:
    the taught student beats the same student trained on those labels (3 seeds, mean)."""
    clean = synthetic(n=256, seed=1)
    rng = np.random.default_rng(0)
    y = clean.train.y[:64].copy()
    flip = rng.random(64) < 0.4
    y[flip] = rng.integers(0, 3, int(flip.sum()))
    noisy = dataclasses.replace(clean, train=dataclasses.replace(
        clean.train, X=clean.train.X[:64], y=y))  # fmt: skip
    cfg = TrainConfig(epochs=12, batch_size=16, val_fraction=0, lr=1e-2)
    teacher = train(ModelSpec("gru", 4, 16, 3), clean, cfg, tmp_path / "t").bundle
    assert evaluate(teacher, clean)["accuracy"] > 0.9
    labels, taught = [], []
    for seed in range(3):
        c = dataclasses.replace(cfg, seed=seed)
        spec = ModelSpec("gru", 4, 4, 3)
        labels.append(
            evaluate(train(spec, noisy, c, tmp_path / f"l{seed}").bundle, clean)["accuracy"]
        )
        # mixup off: this is about the soft targets; mixing needs longer than 12 toy epochs
        kd = DistillConfig(train=c, alpha=0.9, mixup=0.0)
        student = distill(teacher, spec, noisy, kd, tmp_path / f"d{seed}").bundle
        taught.append(evaluate(student, clean)["accuracy"])
    assert np.mean(taught) > np.mean(labels), (taught, labels)
