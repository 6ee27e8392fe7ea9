"""edgegru.datasets: the shipped datasets and the user's .npz files (bad input -> BadInput)."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from numpy.lib.stride_tricks import sliding_window_view

from edgegru.datasets import DATASETS, list_datasets, load_dataset, load_npz
from edgegru.datasets._base import load_shipped
from edgegru.errors import BadInput
from edgegru.registry import Registry
from edgegru.types import Dataset

ROOT = Path(__file__).resolve().parent.parent

# name: (task, train shape, test shape, num outputs)
SHIPPED = {
    "watch": ("classification", (3193, 100, 6), (1484, 100, 6), 7),
    "basicmotions": ("classification", (40, 100, 6), (40, 100, 6), 4),
    "japanesevowels": ("classification", (270, 29, 12), (370, 29, 12), 9),
    "sunspots": ("regression", (224, 24, 1), (57, 24, 1), 3),
}


@pytest.fixture(scope="module", params=sorted(SHIPPED))
def shipped(request: pytest.FixtureRequest) -> Dataset:
    return load_dataset(request.param)


# --- shipped datasets ------------------------------------------------------------------------


def test_registry_holds_exactly_the_shipped_datasets() -> None:
    assert DATASETS.names() == sorted(SHIPPED)


def test_shapes_and_dtypes(shipped: Dataset) -> None:
    task, train_shape, test_shape, outputs = SHIPPED[shipped.info.name]
    assert shipped.task == task
    assert shipped.train.X.shape == train_shape
    assert shipped.test.X.shape == test_shape
    assert shipped.num_outputs == outputs
    assert len(shipped.feature_names) == shipped.num_features
    for part in (shipped.train, shipped.test):
        assert part.X.dtype == np.float32
        assert np.isfinite(part.X).all()
        assert np.isfinite(part.y).all()
        if task == "classification":
            assert part.y.dtype == np.int64
            assert part.y.shape == (len(part),)
            assert part.y.min() >= 0
            assert part.y.max() < outputs
        else:
            assert part.y.dtype == np.float32
            assert part.y.shape == (len(part), outputs)
    if task == "classification":  # every class is in train
        assert set(np.unique(shipped.train.y)) == set(range(outputs))


def test_lengths_are_consistent(shipped: Dataset) -> None:
    for part in (shipped.train, shipped.test):
        if part.lengths is None:
            continue
        steps = part.X.shape[1]
        assert part.lengths.shape == (len(part),)
        assert part.lengths.min() >= 1
        assert part.lengths.max() <= steps
        padded = np.arange(steps)[None, :] >= part.lengths[:, None]  # [N, T]
        assert not part.X[padded].any()


def test_watch_split_by_subject() -> None:
    ds = load_dataset("watch")
    assert ds.labels == ("PEN", "ABD", "FEL", "IR", "ER", "TRAP", "ROW")
    assert ds.feature_names == ("ax", "ay", "az", "wx", "wy", "wz")
    assert set(ds.train.groups.tolist()) == set(range(1, 8))
    assert set(ds.test.groups.tolist()) == {8, 9, 10}
    assert len(ds.train.groups) == len(ds.train)
    assert len(ds.test.groups) == len(ds.test)


def test_watch_windows_overlap_by_half() -> None:
    data = load_shipped("watch")
    first = data["values"][data["offsets"][0] : data["offsets"][1]]  # recording 0, subject 7
    train = load_dataset("watch").train
    np.testing.assert_array_equal(train.X[0], first[:100])
    np.testing.assert_array_equal(train.X[1], first[50:150])


def test_uea_lengths() -> None:
    basic = load_dataset("basicmotions")
    assert (basic.train.lengths == 100).all()
    assert (basic.test.lengths == 100).all()
    assert basic.labels == ("Standing", "Running", "Walking", "Badminton")
    vowels = load_dataset("japanesevowels")
    all_lengths = np.concatenate([vowels.train.lengths, vowels.test.lengths])
    assert all_lengths.min() == 7
    assert all_lengths.max() == 29
    assert vowels.labels == tuple("123456789")


def test_sunspots_split_is_chronological_without_shared_target_years() -> None:
    series = load_shipped("sunspots")["sunactivity"]
    assert len(series) == 309
    ds = load_dataset("sunspots")
    assert ds.labels == ("t+1", "t+2", "t+3")
    inputs = sliding_window_view(series, 24)  # [N, 24]: window i starts at year index i

    def starts(X: np.ndarray) -> np.ndarray:
        return np.array([np.flatnonzero((inputs == x[:, 0]).all(axis=1))[0] for x in X])

    train_start, test_start = starts(ds.train.X), starts(ds.test.X)
    assert (np.diff(train_start) == 1).all()
    assert (np.diff(test_start) == 1).all()
    assert test_start[-1] + 27 == len(series)  # the last window ends at 2008
    for s, y in zip(test_start, ds.test.y, strict=True):
        np.testing.assert_array_equal(y, series[s + 24 : s + 27])
    train_targets = {s + k for s in train_start for k in range(24, 27)}
    test_targets = {s + k for s in test_start for k in range(24, 27)}
    assert not train_targets & test_targets
    assert 0.18 < len(ds.test) / (len(ds.train) + len(ds.test)) < 0.22


def test_list_datasets_is_json() -> None:
    listed = json.loads(json.dumps(list_datasets()))
    assert [d["name"] for d in listed] == sorted(SHIPPED)
    by_name = {d["name"]: d for d in listed}
    assert by_name["watch"]["num_classes"] == 7
    assert by_name["watch"]["licence"] == "BSD-3-Clause"
    assert by_name["sunspots"]["num_outputs"] == 3
    assert by_name["sunspots"]["num_classes"] is None
    assert by_name["japanesevowels"]["train_shape"] == [270, 29, 12]


def test_unknown_dataset_names_the_known_ones() -> None:
    with pytest.raises(BadInput, match=r"unknown dataset 'nope'.*watch"):
        load_dataset("nope")


def test_registry_refuses_duplicates() -> None:
    registry: Registry[Callable[[], Dataset]] = Registry("dataset")
    registry.register("a")(lambda: load_dataset("sunspots"))
    with pytest.raises(ValueError, match="registered twice"):
        registry.register("a")(lambda: load_dataset("sunspots"))


def test_import_pulls_in_no_heavy_packages() -> None:
    code = (
        "import sys, edgegru.datasets as d; d.list_datasets(); "
        "heavy = ('torch', 'sktime', 'seglearn', 'statsmodels', 'pandas', 'sklearn'); "
        "print(','.join(m for m in heavy if m in sys.modules))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
        env={"PYTHONPATH": str(ROOT), "PATH": ""},
    )
    assert out.stdout.strip() == ""


# --- the user's .npz -------------------------------------------------------------------------


def sequences(n: int = 40, steps: int = 8, features: int = 3, classes: int = 4) -> dict[str, Any]:
    rng = np.random.default_rng(1)
    return {
        "X": rng.normal(size=(n, steps, features)).astype(np.float32),
        "y": np.arange(n) % classes,
    }


def save(tmp_path: Path, name: str = "data.npz", **arrays: Any) -> Path:
    path = tmp_path / name
    np.savez(path, **arrays)
    return path


def test_single_file_is_split_stratified_and_reproducibly(tmp_path: Path) -> None:
    path = save(tmp_path, **sequences())
    ds = load_npz(path, test_fraction=0.25, seed=3)
    assert ds.task == "classification"
    assert ds.labels == ("0", "1", "2", "3")
    assert ds.feature_names == ("f0", "f1", "f2")
    assert (len(ds.train), len(ds.test)) == (32, 8)
    assert np.bincount(ds.test.y).tolist() == [2, 2, 2, 2]
    again = load_npz(path, test_fraction=0.25, seed=3)
    np.testing.assert_array_equal(ds.test.X, again.test.X)
    other = load_npz(path, test_fraction=0.25, seed=4)
    assert not np.array_equal(ds.test.X, other.test.X)


def test_separate_files_and_label_names(tmp_path: Path) -> None:
    names = np.array(["walk", "run", "sit", "lie"])
    train = save(tmp_path, "train.npz", **sequences(), labels=names)
    test = save(tmp_path, "test.npz", **sequences(n=6))
    ds = load_npz(train, test)
    assert ds.labels == ("walk", "run", "sit", "lie")
    assert (len(ds.train), len(ds.test)) == (40, 6)
    assert ds.info.source == f"{train}, {test}"


def test_lengths_zero_the_padding(tmp_path: Path) -> None:
    arrays = sequences(n=10)
    arrays["X"] += 1.0  # no accidental zeros
    lengths = np.array([1, 2, 3, 4, 5, 6, 7, 8, 8, 8])
    ds = load_npz(save(tmp_path, **arrays, lengths=lengths), test_fraction=0.3)
    for part in (ds.train, ds.test):
        for x, n in zip(part.X, part.lengths, strict=True):
            assert not x[n:].any()
            assert x[:n].all()


def test_groups_split_whole_groups(tmp_path: Path) -> None:
    groups = np.repeat(np.array(["a", "b", "c", "d", "e"]), 8)
    ds = load_npz(save(tmp_path, **sequences(), groups=groups), test_fraction=0.4, seed=0)
    assert not set(ds.train.groups.tolist()) & set(ds.test.groups.tolist())
    assert len(set(ds.test.groups.tolist())) == 2


@pytest.mark.parametrize("shape", [(40,), (40, 2)])
def test_regression(tmp_path: Path, shape: tuple[int, ...]) -> None:
    y = np.linspace(0.0, 1.0, int(np.prod(shape))).reshape(shape)
    ds = load_npz(save(tmp_path, X=sequences()["X"], y=y))
    outputs = 1 if len(shape) == 1 else shape[1]
    assert ds.task == "regression"
    assert ds.labels == tuple(f"y{i}" for i in range(outputs))
    assert ds.train.y.dtype == np.float32
    assert ds.train.y.shape == (32, outputs)
    assert len(ds.test) == 8


def test_task_can_be_forced(tmp_path: Path) -> None:
    ds = load_npz(save(tmp_path, **sequences()), task="regression")
    assert ds.task == "regression"
    assert ds.train.y.shape[1] == 1
    ds = load_npz(save(tmp_path, X=sequences()["X"], y=np.arange(40.0) % 4), task="classification")
    assert ds.task == "classification"
    assert ds.train.y.dtype == np.int64


def with_(**changes: Any) -> dict[str, Any]:
    """``sequences()`` with some keys replaced (None removes a key)."""
    arrays = {**sequences(), **changes}
    return {k: v for k, v in arrays.items() if v is not None}


X40 = sequences()["X"]
NAN_X = X40.copy()
NAN_X[5, 2, 1] = np.nan
Y_FLOAT_NAN = np.linspace(0, 1, 40)
Y_FLOAT_NAN[3] = np.inf

BAD_ARRAYS = {
    "missing X": (with_(X=None), "missing key 'X' (found: y)"),
    "missing y": (with_(y=None), "missing key 'y'"),
    "X 2-D": (with_(X=X40[:, :, 0]), "X must be [N, T, F]"),
    "X strings": (with_(X=np.full((40, 2, 1), "a")), "X has dtype <U1"),
    "X empty": (with_(X=X40[:0], y=np.zeros(0, np.int64)), "no sequences"),
    "X no steps": (with_(X=X40[:, :0]), "at least one time step"),
    "X NaN": (with_(X=NAN_X), "X holds NaN or inf in 1 sequences (first: 5)"),
    "X overflows float32": (with_(X=X40.astype(np.float64) * 1e300), "NaN or inf"),
    "N mismatch": (with_(y=np.arange(39) % 4), "y has shape (39,) but X has 40"),
    "y 2-D int": (with_(y=np.zeros((40, 2), np.int64)), "y must be [N] class indices"),
    "y NaN regression": (with_(y=Y_FLOAT_NAN), "y holds NaN or inf"),
    "y strings": (with_(y=np.array(["a"] * 40)), "y has dtype <U1"),
    "negative label": (with_(y=np.arange(40) % 4 - 1), "negative class labels (e.g. -1)"),
    "missing classes": (with_(y=np.arange(40) % 3 * 2), "missing: 1, 3"),
    "labels too few": (with_(labels=np.array(["a", "b"])), "labels names only 2"),
    "labels extra class": (with_(labels=np.array(list("abcde"))), "missing: 4"),
    "labels not strings": (with_(labels=np.arange(4)), "labels must be a 1-D string array"),
    "lengths zero": (with_(lengths=np.array([0] + [8] * 39)), "got 0 at sequence 0"),
    "lengths too long": (with_(lengths=np.array([8] * 39 + [9])), "1..T=8; got 9 at sequence 39"),
    "lengths shape": (with_(lengths=np.full(39, 8)), "lengths must be [40]"),
    "lengths fractional": (with_(lengths=np.full(40, 2.5)), "non-integer step counts"),
    "groups shape": (with_(groups=np.zeros(3)), "groups must be [40]"),
    "one group": (with_(groups=np.zeros(40, np.int64)), "one group"),
    "feature names": (with_(feature_names=np.array(["a"])), "1 names for 3 features"),
    "too few to split": (with_(X=X40[:2], y=np.array([0, 1])), "too few"),
    "object array": (with_(y=np.array([1, "a"] * 20, dtype=object)), "pickled Python objects"),
}


@pytest.mark.parametrize("case", sorted(BAD_ARRAYS))
def test_bad_arrays(tmp_path: Path, case: str) -> None:
    arrays, message = BAD_ARRAYS[case]
    expect_bad(lambda: load_npz(save(tmp_path, **arrays)), "data.npz", message)


def test_non_integer_labels_when_forced(tmp_path: Path) -> None:
    path = save(tmp_path, X=X40, y=np.linspace(0, 3, 40))
    expect_bad(lambda: load_npz(path, task="classification"), "non-integer class labels")


def expect_bad(load: Callable[[], object], *fragments: str) -> None:
    with pytest.raises(BadInput) as info:
        load()
    message = str(info.value)
    assert "\n" not in message
    for fragment in fragments:
        assert fragment in message


def test_bad_files(tmp_path: Path) -> None:
    expect_bad(lambda: load_npz(tmp_path / "absent.npz"), "absent.npz: no such file")
    text = tmp_path / "text.npz"
    text.write_text("X,y\n1,2\n")
    expect_bad(lambda: load_npz(text), "text.npz: is not an .npz file")
    npy = tmp_path / "single.npz"
    with npy.open("wb") as f:
        np.save(f, X40)
    expect_bad(lambda: load_npz(npy), "single.npz: is a single .npy array")
    good = save(tmp_path, "good.npz", **sequences()).read_bytes()
    truncated = tmp_path / "truncated.npz"
    truncated.write_bytes(good[: len(good) // 2])
    expect_bad(lambda: load_npz(truncated), "truncated.npz: is not a readable .npz")
    corrupt = bytearray(good)
    corrupt[len(good) // 3 : len(good) // 3 + 16] = b"\xff" * 16  # inside X's data
    (tmp_path / "corrupt.npz").write_bytes(bytes(corrupt))
    expect_bad(lambda: load_npz(tmp_path / "corrupt.npz"), "corrupt.npz: is not a readable .npz")


def test_bad_options_and_mismatched_test_file(tmp_path: Path) -> None:
    train = save(tmp_path, "train.npz", **sequences())
    expect_bad(lambda: load_npz(train, test_fraction=1.0), "test_fraction")
    expect_bad(lambda: load_npz(train, task="ranking"), "unknown task 'ranking'")
    wide = save(tmp_path, "wide.npz", **sequences(features=4))
    expect_bad(lambda: load_npz(train, wide), "wide.npz: X has 4 features but", "train.npz has 3")
    more = save(tmp_path, "more.npz", **sequences(classes=6))
    expect_bad(lambda: load_npz(train, more), "more.npz: y has classes [4, 5] not in")
    named = save(tmp_path, "named.npz", **sequences(), labels=np.array(list("wxyz")))
    other = save(tmp_path, "other.npz", **sequences(), labels=np.array(list("abcd")))
    expect_bad(lambda: load_npz(named, other), "other.npz: labels differ")
    reg = save(tmp_path, "reg.npz", X=X40, y=np.zeros((40, 2)))
    reg3 = save(tmp_path, "reg3.npz", X=X40, y=np.zeros((40, 3)))
    expect_bad(lambda: load_npz(reg, reg3), "reg3.npz: y has 3 outputs but")
    empty = save(tmp_path, "empty.npz", X=X40[:0], y=np.zeros(0, np.int64))
    expect_bad(lambda: load_npz(train, empty), "empty.npz: X holds no sequences")
