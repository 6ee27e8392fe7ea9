"""The dataset registry and helpers shared by the loaders of the shipped files.

Kept apart from ``__init__`` so each loader module can register into ``DATASETS`` without a
circular import. numpy only: the runtime never imports torch, sktime, seglearn or pandas.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from importlib import resources

import numpy as np

from edgegru.registry import Registry
from edgegru.types import Dataset

DATASETS: Registry[Callable[[], Dataset]] = Registry("dataset")


def load_shipped(name: str) -> dict[str, np.ndarray]:
    """Every array of ``data/<name>.npz`` (written by tools/vendor_datasets.py), read eagerly."""
    # importlib.resources rather than __file__, so it also works from a zipped install.
    ref = resources.files("edgegru.datasets").joinpath("data").joinpath(f"{name}.npz")
    if not ref.is_file():
        raise FileNotFoundError(
            f"shipped dataset file data/{name}.npz is missing from edgegru.datasets; "
            "reinstall edgegru or run tools/vendor_datasets.py"
        )
    with ref.open("rb") as f, np.load(f, allow_pickle=False) as npz:
        return {key: npz[key] for key in npz.files}


def unstack(values: np.ndarray, offsets: np.ndarray) -> list[np.ndarray]:
    """Split stacked recordings: recording i is ``values[offsets[i]:offsets[i + 1]]`` [T_i, C]."""
    return [values[a:b] for a, b in itertools.pairwise(offsets.tolist())]


def pad(recordings: list[np.ndarray], steps: int) -> tuple[np.ndarray, np.ndarray]:
    """Zero-pad [T_i, C] recordings to ``steps`` -> (X [N, steps, C] float32, lengths [N] int64)."""
    lengths = np.array([len(r) for r in recordings], dtype=np.int64)
    X = np.zeros((len(recordings), steps, recordings[0].shape[1]), dtype=np.float32)
    for i, r in enumerate(recordings):
        X[i, : len(r)] = r
    return X, lengths


def names(array: np.ndarray) -> tuple[str, ...]:
    return tuple(str(s) for s in array.tolist())
