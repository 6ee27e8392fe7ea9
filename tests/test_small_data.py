"""Small training sets: the batch size from N, the floor on optimizer steps, the near-chance
warning; scoring every row of a test file (`--test-data FILE` alone)."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from edgegru.datasets import load_dataset
from edgegru.train import TrainConfig, fit_warning, train
from edgegru.types import ModelSpec


def test_schedule_from_n():
    cfg = TrainConfig()
    # basicmotions: 40 rows -> batch 8, 5 steps an epoch, 120 epochs to reach 600 steps
    s = cfg.schedule_for(40)
    assert (s.batch_size, s.steps_per_epoch, s.epochs) == (8, 5, 120)
    # watch: 3,193 rows -> batch 64 and its 40 epochs (2,000 steps): unchanged
    assert (s := cfg.schedule_for(3193)) and (s.batch_size, s.epochs) == (64, 40)
    # japanesevowels: 270 rows -> batch 16, 17 steps an epoch, 40 epochs are 680 steps
    assert (s := cfg.schedule_for(270)) and (s.batch_size, s.epochs) == (16, 40)
    # an explicit batch size is kept; min_steps 0 turns the floor off
    assert TrainConfig(batch_size=64, min_steps=0).schedule_for(40).epochs == 40
    assert TrainConfig(batch_size=64).schedule_for(40).epochs == 600
    with pytest.raises(ValueError, match="min_steps"):
        TrainConfig(min_steps=-1)


def test_fit_warning_thresholds():
    assert "near chance (ln 4" in fit_warning("classification", 4, 0.95 * math.log(4), 0.9)
    assert "training accuracy 0.500 is low" in fit_warning("classification", 4, 0.2, 0.5)
    assert fit_warning("classification", 4, 0.2, 0.95) is None
    assert "near chance (1.0)" in fit_warning("regression", 1, 0.9, 0.0)


def test_small_set_runs_the_floor_and_warns_when_barely_trained(tmp_path):
    ds = load_dataset("basicmotions")
    spec = ModelSpec("gru", ds.num_features, 4, ds.num_outputs, task=ds.task)
    r = train(spec, ds, TrainConfig(epochs=1, min_steps=10, lr=1e-4), tmp_path / "m")
    assert r.steps == 10 and len(r.history) == 2 and r.schedule.batch_size == 8
    metrics = json.loads((tmp_path / "m" / "metrics.json").read_text())
    assert metrics["optimizer_steps"] == 10 and metrics["schedule"]["batch_size"] == 8
    # 10 steps at lr 1e-4 leave the loss at chance: the warning is in metrics.json
    assert "near chance" in metrics["warning"] and metrics["final_train_loss"] > 1.2


def test_train_cli_reports_steps_and_the_warning(cli, tmp_path):
    proc = cli("train", "--dataset", "basicmotions", "--hidden", "4", "--epochs", "1",
               "--min-steps", "0", "--batch-size", "64", "--lr", "1e-4", "-o",
               str(tmp_path / "m"))  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert "(1 epochs, 1 optimizer steps of batch 64," in proc.stdout
    assert "trained on 40 rows; rows scored: 40, the test split of basicmotions" in proc.stdout
    warning = [ln for ln in proc.stderr.splitlines() if ln.startswith("warning: ")]
    assert len(warning) == 1 and "near chance" in warning[0]


def test_evaluate_test_data_alone_scores_every_row(cli, tmp_path):
    ds = load_dataset("basicmotions")
    spec = ModelSpec("gru", ds.num_features, 4, ds.num_outputs, task=ds.task)
    train(spec, ds, TrainConfig(epochs=1, min_steps=0), tmp_path / "m")
    # a test file with classes 0..2 only: the model's 4 classes still name the outputs
    keep = ds.test.y < 3
    np.savez(tmp_path / "t.npz", X=ds.test.X[keep], y=ds.test.y[keep])
    n = int(keep.sum())
    proc = cli("evaluate", str(tmp_path / "m"), "--test-data", str(tmp_path / "t.npz"), "--json")
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    assert out["n"] == n and out["rows_scored"] == f"rows scored: {n}, every row of t.npz"
    np.savez(tmp_path / "all.npz", X=ds.test.X, y=ds.test.y)
    proc = cli("evaluate", str(tmp_path / "m"), "--data", str(tmp_path / "all.npz"))
    assert "rows scored: 8, the test part of" in proc.stdout.splitlines()[0]
    for extra, why in [(["--split", "train"], "--split train needs --data"),
                       (["--dataset", "basicmotions"], "not with --dataset")]:  # fmt: skip
        proc = cli("evaluate", str(tmp_path / "m"), "--test-data", str(tmp_path / "t.npz"), *extra)
        assert proc.returncode == 2 and why in proc.stderr, proc.stderr
