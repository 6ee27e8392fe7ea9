"""The user's own sequences from ``.npz`` files, validated with one-line ``BadInput`` errors.

Keys: ``X`` [N, T, F] numbers; ``y`` [N] int class indices 0..K-1 (classification) or float [N] /
[N, O] (regression); optional ``lengths`` [N] in 1..T, ``groups`` [N], ``labels`` [K or O] and
``feature_names`` [F] strings. Other keys are ignored.
"""

from __future__ import annotations

import math
import os
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from edgegru.errors import BadInput
from edgegru.types import TASKS, Dataset, DatasetInfo, SequenceData

PathLike = str | Path


@dataclass(frozen=True)
class Part:
    """One validated file, before the train/test cross-checks."""

    path: Path
    data: SequenceData
    labels: tuple[str, ...] | None
    feature_names: tuple[str, ...] | None


def bad(path: Path, problem: str) -> BadInput:
    return BadInput(f"{path}: {problem}")


# A .npy header is a few hundred bytes; numpy refuses > 10 kB by default, which a file with many
# named fields or a long shape legitimately exceeds. Bounded: the header is parsed as a literal.
MAX_NPY_HEADER = 1 << 20
# Sizes beyond which no sequence dataset of this toolchain lies; checked from the declared
# shapes before anything is allocated.
MAX_ARRAY_BYTES = 8 << 30
_HEADER_READERS = {
    (1, 0): np.lib.format.read_array_header_1_0,
    (2, 0): np.lib.format.read_array_header_2_0,
}


def _available_bytes() -> int:
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):  # pragma: no cover - not Linux
        return MAX_ARRAY_BYTES


def _member_header(path: Path, zf: zipfile.ZipFile, info: zipfile.ZipInfo) -> tuple[tuple, Any]:
    """(shape, dtype) from one member's .npy header, checked against the member's size; nothing
    of the array is read."""
    key = info.filename.removesuffix(".npy")
    with zf.open(info) as f:
        version = np.lib.format.read_magic(f)
        reader = _HEADER_READERS.get(version)
        if reader is None:
            raise bad(path, f"array {key!r} uses .npy format {version}; save it with np.savez")
        shape, _, dtype = reader(f, max_header_size=MAX_NPY_HEADER)
        header_end = f.tell()
    if dtype.hasobject:
        raise bad(
            path,
            f"array {key!r} holds pickled Python objects (dtype=object), which are not loaded "
            "for safety; store plain numeric or string arrays",
        )
    nbytes = math.prod(shape) * dtype.itemsize
    if nbytes > MAX_ARRAY_BYTES or header_end + nbytes != info.file_size:
        raise bad(
            path,
            f"array {key!r} declares shape {shape} ({nbytes:,} bytes) but its member holds "
            f"{info.file_size - header_end:,} bytes of data (corrupt or truncated)",
        )
    return shape, dtype


def read_npz(path: Path) -> dict[str, np.ndarray]:
    """Every array in the archive, read eagerly so a corrupt member fails here, never pickled.

    Each member's header is checked first (dtype, declared size against the member's real size,
    the total against the memory available), so a damaged or hostile file fails with one line
    before anything large is allocated."""
    if not path.is_file():
        raise bad(path, "no such file")
    with path.open("rb") as f:
        magic = f.read(6)
    if magic == b"\x93NUMPY":
        raise bad(path, "is a single .npy array; save an .npz with np.savez(path, X=..., y=...)")
    if not magic.startswith(b"PK"):
        raise bad(path, "is not an .npz file (no zip header); save one with np.savez(path, X=, y=)")
    arrays: dict[str, np.ndarray] = {}
    try:
        with zipfile.ZipFile(path) as zf:
            members = [i for i in zf.infolist() if i.filename.endswith(".npy")]
            headers = {i.filename: _member_header(path, zf, i) for i in members}
            # each array once as read, X once more as float32
            need = sum(math.prod(s) * d.itemsize for s, d in headers.values())
            need += 4 * math.prod(headers.get("X.npy", ((0,), None))[0])
            if need > _available_bytes():
                raise bad(path, f"needs ~{need / 2**30:.1f} GiB of memory to load, more than "
                                f"the {_available_bytes() / 2**30:.1f} GiB available")  # fmt: skip
            for info in members:
                with zf.open(info) as f:
                    arrays[info.filename.removesuffix(".npy")] = np.lib.format.read_array(
                        f, allow_pickle=False, max_header_size=MAX_NPY_HEADER
                    )
    except BadInput:
        raise
    # A truncated or damaged archive surfaces as any of these, depending on where it broke.
    except (zipfile.BadZipFile, zlib.error, OSError, ValueError, EOFError, KeyError,
            SyntaxError, TypeError, OverflowError, MemoryError) as e:  # fmt: skip
        detail = str(e).splitlines()[0] if str(e) else type(e).__name__
        raise bad(path, f"is not a readable .npz (truncated or corrupt?): {detail}") from None
    return arrays


def as_index(path: Path, name: str, values: np.ndarray, what: str) -> np.ndarray:
    """Integer-valued numbers -> int64; ``what`` names them in the error."""
    if values.dtype.kind in "iub":
        if values.dtype == np.uint64 and values.size and values.max() > np.iinfo(np.int64).max:
            raise bad(path, f"{name} holds {what} beyond the int64 range")
        return values.astype(np.int64)
    if values.dtype.kind != "f":
        raise bad(path, f"{name} has dtype {values.dtype}; expected integer {what}")
    if not np.isfinite(values).all():
        raise bad(path, f"{name} holds NaN or inf")
    frac = values[values != np.round(values)]
    if frac.size:
        raise bad(path, f"{name} holds non-integer {what} (e.g. {frac[0]:g})")
    huge = values[np.abs(values) >= 2**53]  # beyond exact integers (and int64's range)
    if huge.size:
        raise bad(path, f"{name} holds {what} too large to be exact (e.g. {huge[0]:g})")
    return values.astype(np.int64)


def string_array(path: Path, name: str, values: np.ndarray | None) -> tuple[str, ...] | None:
    if values is None:
        return None
    if values.dtype.kind not in "US" or values.ndim != 1:
        raise bad(path, f"{name} must be a 1-D string array, got {values.dtype} {values.shape}")
    return tuple(v.decode() if isinstance(v, bytes) else str(v) for v in values.tolist())


def check_X(path: Path, X: np.ndarray) -> np.ndarray:
    if X.dtype.kind not in "fiu":
        raise bad(path, f"X has dtype {X.dtype}; expected numbers")
    if X.ndim != 3:
        hint = " (one feature: X[..., None])" if X.ndim == 2 else ""
        raise bad(path, f"X must be [N, T, F], got shape {X.shape}{hint}")
    if X.shape[0] == 0:
        raise bad(path, "X holds no sequences (N = 0)")
    if 0 in X.shape:
        raise bad(path, f"X has shape {X.shape}; needs at least one time step and one feature")
    with np.errstate(over="ignore"):  # checked right below: a huge float64 becomes inf
        X = X.astype(np.float32)
    bad_rows = np.flatnonzero(~np.isfinite(X).all(axis=(1, 2)))
    if bad_rows.size:
        raise bad(path, f"X holds NaN or inf in {bad_rows.size} sequences (first: {bad_rows[0]})")
    return X


def check_y(path: Path, y: np.ndarray, n: int, task: str) -> np.ndarray:
    if y.ndim == 0 or y.shape[0] != n:
        raise bad(path, f"y has shape {y.shape} but X has {n} sequences")
    if task == "classification":
        if y.ndim != 1:
            raise bad(path, f"y must be [N] class indices for classification, got shape {y.shape}")
        y = as_index(path, "y", y, "class labels")
        if (y < 0).any():
            raise bad(path, f"y holds negative class labels (e.g. {y[y < 0][0]})")
        return y
    if y.dtype.kind not in "fiu":
        raise bad(path, f"y has dtype {y.dtype}; expected float regression targets")
    if y.ndim not in (1, 2) or 0 in y.shape:
        raise bad(path, f"y must be [N] or [N, O] for regression, got shape {y.shape}")
    with np.errstate(over="ignore"):  # a huge float64 becomes inf, checked below
        y = y.reshape(n, -1).astype(np.float32)  # [N, O]
    if not np.isfinite(y).all():
        raise bad(path, "y holds NaN or inf")
    return y


def check_lengths(path: Path, lengths: np.ndarray, n: int, steps: int) -> np.ndarray:
    if lengths.shape != (n,):
        raise bad(path, f"lengths must be [{n}], got shape {lengths.shape}")
    lengths = as_index(path, "lengths", lengths, "step counts")
    out = np.flatnonzero((lengths < 1) | (lengths > steps))
    if out.size:
        i = out[0]
        raise bad(path, f"lengths must be in 1..T={steps}; got {lengths[i]} at sequence {i}")
    return lengths


def infer_task(path: Path, y: np.ndarray) -> str:
    if y.dtype.kind in "iub":
        return "classification"
    if y.dtype.kind == "f":
        return "regression"
    raise bad(
        path,
        f"y has dtype {y.dtype}; expected int class indices 0..K-1 (names go in 'labels') "
        "or float regression targets",
    )


def read_part(path: Path, arrays: dict[str, np.ndarray], task: str) -> Part:
    for key in ("X", "y"):
        if key not in arrays:
            found = ", ".join(sorted(arrays)) or "nothing"
            raise bad(path, f"missing key {key!r} (found: {found})")
    X = check_X(path, arrays["X"])
    n, steps, features = X.shape
    y = check_y(path, arrays["y"], n, task)
    lengths = None
    if "lengths" in arrays:
        lengths = check_lengths(path, arrays["lengths"], n, steps)
        X[np.arange(steps)[None, :] >= lengths[:, None]] = 0.0  # zero the padded steps
    groups = arrays.get("groups")
    if groups is not None and (groups.shape != (n,) or groups.dtype.kind not in "iubUS"):
        raise bad(path, f"groups must be [{n}] ints or strings, got {groups.dtype} {groups.shape}")
    names = string_array(path, "feature_names", arrays.get("feature_names"))
    if names is not None and len(names) != features:
        raise bad(path, f"feature_names has {len(names)} names for {features} features")
    data = SequenceData(X=X, y=y, lengths=lengths, groups=groups)
    return Part(path, data, string_array(path, "labels", arrays.get("labels")), names)


def class_names(part: Part) -> tuple[str, ...]:
    """Classes 0..K-1 must all occur in ``part`` (the training data); their names."""
    y = part.data.y
    k = int(y.max()) + 1
    if k > len(y):  # every class must occur, so there are at most N of them
        raise bad(
            part.path,
            f"y has class {k - 1} but only {len(y)} sequences: classes must be 0..K-1 with every "
            "class present (map your ids to 0..K-1)",
        )
    if part.labels is not None:
        if k > len(part.labels):
            raise bad(part.path, f"y has class {k - 1} but labels names only {len(part.labels)}")
        k = len(part.labels)
    missing = sorted(set(range(k)) - set(np.unique(y).tolist()))
    if missing:
        shown = ", ".join(map(str, missing[:10])) + (", ..." if len(missing) > 10 else "")
        raise bad(part.path, f"class labels must be 0..{k - 1} with none missing; missing: {shown}")
    return part.labels or tuple(str(i) for i in range(k))


def subset(data: SequenceData, idx: np.ndarray) -> SequenceData:
    return SequenceData(
        X=data.X[idx],
        y=data.y[idx],
        lengths=None if data.lengths is None else data.lengths[idx],
        groups=None if data.groups is None else data.groups[idx],
    )


def split_indices(
    part: Part, task: str, test_fraction: float, seed: int
) -> tuple[np.ndarray, np.ndarray]:
    """Group-wise when groups are given, else stratified by class (classification) or random."""
    rng = np.random.default_rng(seed)
    data = part.data
    if data.groups is not None:
        uniq = np.unique(data.groups)
        if len(uniq) < 2:
            raise bad(part.path, "groups holds one group; a group-wise split needs two or more")
        n_test = min(max(1, round(len(uniq) * test_fraction)), len(uniq) - 1)
        test = np.isin(data.groups, rng.permutation(uniq)[:n_test])
        return np.flatnonzero(~test), np.flatnonzero(test)
    strata = data.y if task == "classification" else np.zeros(len(data), dtype=np.int64)
    test_idx = []
    for c in np.unique(strata):
        idx = rng.permutation(np.flatnonzero(strata == c))
        # Keep one of each class in train, so no class is seen only at test time.
        test_idx.append(idx[: min(round(len(idx) * test_fraction), len(idx) - 1)])
    test = np.zeros(len(data), dtype=bool)
    test[np.concatenate(test_idx)] = True
    if test.all() or not test.any():
        raise bad(
            part.path,
            f"{len(data)} sequences are too few for a {test_fraction:g} test split "
            "(empty train or test set); add data or pass a separate test file",
        )
    return np.flatnonzero(~test), np.flatnonzero(test)


def check_test(train: Part, test: Part, task: str, k: int) -> None:
    """The test file must fit the train file: same features, targets and class range."""
    if test.data.X.shape[2] != train.data.X.shape[2]:
        raise bad(
            test.path,
            f"X has {test.data.X.shape[2]} features but {train.path} has {train.data.X.shape[2]}",
        )
    if task == "classification":
        extra = sorted(set(np.unique(test.data.y).tolist()) - set(range(k)))
        if extra:
            raise bad(test.path, f"y has classes {extra} not in the training classes 0..{k - 1}")
    elif test.data.y.shape[1] != k:
        raise bad(test.path, f"y has {test.data.y.shape[1]} outputs but {train.path} has {k}")
    for field in ("labels", "feature_names"):
        a, b = getattr(train, field), getattr(test, field)
        if a is not None and b is not None and a != b:
            raise bad(test.path, f"{field} differ from those in {train.path}")


def load_npz(
    path: PathLike,
    test_path: PathLike | None = None,
    *,
    task: str | None = None,
    test_fraction: float = 0.2,
    seed: int = 0,
) -> Dataset:
    """A Dataset from one .npz (split by ``seed``) or separate train and test .npz files."""
    if task is not None and task not in TASKS:
        raise BadInput(f"unknown task {task!r} (known: {', '.join(TASKS)})")
    if test_path is None and not 0.0 < test_fraction < 1.0:
        raise BadInput(f"test_fraction must be between 0 and 1, got {test_fraction}")
    train_path = Path(path)
    arrays = read_npz(train_path)
    if task is None and "y" in arrays:
        task = infer_task(train_path, arrays["y"])
    task = task or "classification"  # only when y is missing, which read_part reports
    train = read_part(train_path, arrays, task)
    if task == "classification":
        labels = class_names(train)
        k = len(labels)
    else:
        k = train.data.y.shape[1]
        labels = train.labels or tuple(f"y{i}" for i in range(k))
        if len(labels) != k:
            raise bad(train_path, f"labels has {len(labels)} names for {k} regression outputs")
    if test_path is None:
        train_idx, test_idx = split_indices(train, task, test_fraction, seed)
        how = "stratified" if task == "classification" else "random"
        how = "group-wise" if train.data.groups is not None else how
        description = f"user data from {train_path.name}: {how} split, test {test_fraction:g}"
        train_data, test_data = subset(train.data, train_idx), subset(train.data, test_idx)
        source = str(train_path)
    else:
        test_file = Path(test_path)
        test = read_part(test_file, read_npz(test_file), task)
        check_test(train, test, task, k)
        description = f"user data: train {train_path.name}, test {test_file.name}"
        train_data, test_data = train.data, test.data
        source = f"{train_path}, {test_file}"
    features = train.data.X.shape[2]
    return Dataset(
        info=DatasetInfo(train_path.stem, description, source, "user-provided"),
        task=task,
        train=train_data,
        test=test_data,
        feature_names=train.feature_names or tuple(f"f{i}" for i in range(features)),
        labels=labels,
    )


def load_test_npz(
    path: PathLike, *, task: str | None = None, num_outputs: int | None = None
) -> Dataset:
    """Every row of one .npz as the test split (``evaluate`` / ``check --test-data FILE``
    alone): nothing is held back for training, so ``train`` is the same rows (scoring commands
    never fit on it). Classes need not all occur: ``num_outputs`` (the model's) counts them."""
    test_path = Path(path)
    arrays = read_npz(test_path)
    if task is None and "y" in arrays:
        task = infer_task(test_path, arrays["y"])
    task = task or "classification"
    part = read_part(test_path, arrays, task)
    y = part.data.y
    k = int(y.max()) + 1 if task == "classification" else y.shape[1]
    if num_outputs is not None and task == "classification":  # the model's classes
        if k > num_outputs:
            raise bad(test_path, f"y has class {k - 1}; the model has {num_outputs} classes")
        k = num_outputs
    labels = part.labels or tuple(str(i) if task == "classification" else f"y{i}" for i in range(k))
    features = part.data.X.shape[2]
    return Dataset(
        info=DatasetInfo(
            test_path.stem, f"{TEST_ONLY} {test_path.name}", str(test_path), "user-provided"
        ),
        task=task,
        train=part.data,
        test=part.data,
        feature_names=part.feature_names or tuple(f"f{i}" for i in range(features)),
        labels=labels,
    )


TEST_ONLY = "every row of"
