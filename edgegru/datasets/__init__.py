"""Datasets: the shipped ones by name (``load_dataset``) and the user's own ``.npz`` files.

Shipped data lives in ``data/`` as compact .npz files made once by tools/vendor_datasets.py and
is read with numpy alone (``allow_pickle=False``): this package never imports torch, sktime,
seglearn, statsmodels or pandas. Adding a dataset = one module + ``@DATASETS.register`` + its
import below + a test.
"""

from __future__ import annotations

from typing import Any

# Imported for their @DATASETS.register side effect: explicit, no module scan
# (docs/architecture.md#style, rule 2).
from edgegru.datasets import sunspots, uea, watch  # noqa: F401
from edgegru.datasets._base import DATASETS
from edgegru.datasets.npz import load_npz, load_test_npz
from edgegru.types import Dataset

__all__ = ["DATASETS", "list_datasets", "load_dataset", "load_npz", "load_test_npz"]


def load_dataset(name: str) -> Dataset:
    """A shipped dataset by name; ``BadInput`` names the known ones when ``name`` is not."""
    return DATASETS.get(name)()


def describe(ds: Dataset) -> dict[str, Any]:
    """A JSON-able summary of one dataset."""
    classification = ds.task == "classification"
    return {
        "name": ds.info.name,
        "task": ds.task,
        "description": ds.info.description,
        "train_shape": [int(n) for n in ds.train.X.shape],
        "test_shape": [int(n) for n in ds.test.X.shape],
        "num_features": ds.num_features,
        "num_classes": ds.num_outputs if classification else None,
        "num_outputs": ds.num_outputs,
        "labels": list(ds.labels),
        "variable_length": ds.train.lengths is not None,
        "source": ds.info.source,
        "licence": ds.info.licence,
    }


def list_datasets() -> list[dict[str, Any]]:
    """Every shipped dataset, summarised (loads each; they are small)."""
    return [describe(load_dataset(name)) for name in DATASETS.names()]
