from __future__ import annotations

import numpy as np
import pytest
import torch

from edgegru.model import SequenceModel, bundle_from_model
from edgegru.types import Bundle, Dataset, DatasetInfo, ModelSpec, SequenceData


def random_bundle(spec: ModelSpec, seed: int = 0) -> Bundle:
    """An untrained model with PyTorch's initialisation: enough for surgery and exactness."""
    torch.manual_seed(seed)
    return bundle_from_model(SequenceModel(spec))


def synthetic(task: str = "classification", n: int = 96, t: int = 12, seed: int = 0) -> Dataset:
    """A small learnable task: the class is which of 3 channels carries an offset (regression:
    the offset's size); a few epochs separate it."""
    rng = np.random.default_rng(seed)

    def part(m: int) -> SequenceData:
        X = rng.normal(0, 0.3, (m, t, 4)).astype(np.float32)
        cls = rng.integers(0, 3, m)
        amp = rng.uniform(0.5, 2.0, m).astype(np.float32)
        X[np.arange(m), :, cls] += amp[:, None]
        y = cls if task == "classification" else np.stack([amp, amp * 2], 1).astype(np.float32)
        return SequenceData(X, y)

    labels = ("a", "b", "c") if task == "classification" else ("amp", "twice")
    info = DatasetInfo("synthetic", "three channels", "tests", "none")
    return Dataset(info, task, part(n), part(n // 2), ("x0", "x1", "x2", "x3"), labels)


@pytest.fixture(scope="session")
def toy() -> Dataset:
    return synthetic()
