"""Registries, config dataclasses (validated, JSON round trip), atomic writes."""

from __future__ import annotations

import json

import pytest

from edgegru.errors import BadInput
from edgegru.io import atomic_write_bytes
from edgegru.registry import Registry
from edgegru.train import TrainConfig
from edgegru.types import ModelSpec, Normalization


def test_registry_refuses_duplicates_and_names_known():
    reg: Registry[int] = Registry("thing")
    reg.register("a")(1)
    with pytest.raises(ValueError, match="twice"):
        reg.register("a")(2)
    with pytest.raises(BadInput, match="known: a"):
        reg.get("b")


def test_configs_survive_json():
    spec = ModelSpec(
        cell="peephole",
        input_size=2,
        hidden_size=3,
        num_outputs=2,
        num_layers=2,
        head="mean",
        labels=("x", "y"),
        normalization=Normalization((1.0, 2.0), (3.0, 4.0)),
    )
    assert ModelSpec.from_json(json.loads(json.dumps(spec.to_json()))) == spec
    cfg = TrainConfig(epochs=3, min_steps=0, jitter=0.1, threads=1)
    assert TrainConfig.from_json(json.loads(json.dumps(cfg.to_json()))) == cfg


@pytest.mark.parametrize(
    "bad",
    [
        dict(cell="rnn"),
        dict(hidden_size=0),
        dict(head="max"),
        dict(labels=("a",)),
        dict(num_layers=1.5),
    ],
)
def test_model_spec_validates(bad):
    args = dict(cell="gru", input_size=2, hidden_size=3, num_outputs=2) | bad
    with pytest.raises(ValueError, match=r"unknown|must be|labels"):
        ModelSpec(**args)


@pytest.mark.parametrize(
    "bad",
    [
        dict(epochs=0),
        dict(lr=-1.0),
        dict(val_fraction=0.95),
        dict(schedule="step"),
        dict(scale=1.5),
    ],
)
def test_train_config_validates(bad):
    with pytest.raises(ValueError, match=r"must be"):
        TrainConfig(**bad)


def test_atomic_write_keeps_old_file_on_failure(tmp_path, monkeypatch):
    target = tmp_path / "f.bin"
    atomic_write_bytes(target, b"old")

    def boom(*_a, **_k):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr("os.replace", boom)
    with pytest.raises(BadInput, match="No space left"):
        atomic_write_bytes(target, b"new")
    assert target.read_bytes() == b"old"
    assert [p.name for p in tmp_path.iterdir()] == ["f.bin"]


def test_atomic_write_respects_umask(tmp_path):
    import os

    path = atomic_write_bytes(tmp_path / "f", b"x")
    mask = os.umask(0)
    os.umask(mask)
    assert path.stat().st_mode & 0o777 == 0o666 & ~mask


def test_int8_bytes_counts_int8_weights_and_int32_biases():
    """int8 weights, int32 biases; the GRU's default int16 logits take an int64 head bias."""
    spec = ModelSpec(cell="gru", input_size=6, hidden_size=32, num_outputs=7)
    matrices = 96 * 6 + 96 * 32 + 7 * 32
    assert spec.int8_bytes(logits_bits=8) == matrices + 4 * (96 + 96 + 7)
    assert spec.int8_bytes() == matrices + 4 * (96 + 96) + 8 * 7
    peep = ModelSpec(cell="peephole", input_size=2, hidden_size=3, num_outputs=2, bias=False)
    assert peep.int8_bytes() == 12 * 2 + 12 * 3 + 2 * 3 + 2 * 3 * 3 + 4 * 2
