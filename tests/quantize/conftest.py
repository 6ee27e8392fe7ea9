from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from edgegru.reference import random_weights
from edgegru.types import Bundle, ModelSpec, SequenceData


@pytest.fixture(scope="session")
def watch_small():
    """`watch` cut to 192 training / 128 test windows of 40 steps: the real data's scales, small
    enough that calibration, QAT and the int8 reference take a second."""
    from edgegru.datasets import load_dataset

    ds = load_dataset("watch")

    def cut(part: SequenceData, n: int) -> SequenceData:
        idx = np.random.default_rng(0).choice(len(part), n, replace=False)
        return SequenceData(np.ascontiguousarray(part.X[idx, :40]), part.y[idx])

    return dataclasses.replace(ds, train=cut(ds.train, 192), test=cut(ds.test, 128))


def small_gru(data, hidden=16, layers=1, head="last", seed=0, scale=0.4) -> Bundle:
    from edgegru.train import fit_normalization

    spec = ModelSpec(
        "gru", data.num_features, hidden, data.num_outputs, num_layers=layers, head=head,
        normalization=fit_normalization(data.train.X, None),
    )  # fmt: skip
    return Bundle(spec, random_weights(spec, seed, scale))
