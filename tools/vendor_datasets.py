"""Convert the bundled datasets once from their PyPI packages into compact .npz files.

Developer tool, not runtime code: run it after changing the shipped format, then commit
``edgegru/datasets/data/*.npz``. The runtime loads those files with numpy alone
(``allow_pickle=False``), so seglearn, sktime and statsmodels are never needed after this.

    PYTHONPATH=. python tools/vendor_datasets.py [--out edgegru/datasets/data]

Shipped "ragged" layout (one file per dataset, raw recordings kept so windowing and padding stay
in the loaders): ``values`` [sum of lengths, C] float32 with the recordings stacked along time,
``offsets`` [N + 1] int64 (recording i is ``values[offsets[i]:offsets[i + 1]]``), ``y`` [N] int64,
plus ``labels`` and ``feature_names`` string arrays. Files with a fixed split prefix the per-split
arrays with ``train_`` / ``test_``.
"""

from __future__ import annotations

import argparse
import csv
import importlib.util
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_OUT = ROOT / "edgegru" / "datasets" / "data"


def package_dir(name: str) -> Path:
    """The installed folder of a package, found without importing it (sktime imports slowly)."""
    spec = importlib.util.find_spec(name)
    if spec is None or spec.origin is None:
        raise SystemExit(f"package {name!r} is not installed: pip install {name}")
    return Path(spec.origin).parent


def ragged(recordings: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """Stack [T_i, C] recordings along time -> (values [sum T_i, C] float32, offsets [N + 1])."""
    lengths = np.array([len(r) for r in recordings], dtype=np.int64)
    offsets = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)
    values = np.concatenate(recordings, axis=0).astype(np.float32)
    return values, offsets


def strings(items: list[str] | tuple[str, ...]) -> np.ndarray:
    """A fixed-width unicode array: loads without pickle, unlike a list of str."""
    return np.array([str(s) for s in items], dtype=np.str_)


# --- seglearn watch --------------------------------------------------------------------------


def vendor_watch(out: Path) -> Path:
    path = package_dir("seglearn") / "data" / "watch_dataset.npy"
    # The ONE place in edgegru that unpickles: seglearn ships the data as a pickled dict of lists.
    # It is a trusted file from an installed package, read once here; the runtime never unpickles.
    data = np.load(path, allow_pickle=True).item()
    values, offsets = ragged([np.asarray(x, dtype=np.float64) for x in data["X"]])
    target = out / "watch.npz"
    np.savez_compressed(
        target,
        values=values,  # [sum T_i, 6] ax ay az wx wy wz at 50 Hz
        offsets=offsets,
        y=np.asarray(data["y"], dtype=np.int64),
        subject=np.asarray(data["subject"], dtype=np.int64),
        side=np.asarray(data["side"], dtype=np.int64),  # 1 = right arm, 0 = left
        labels=strings(data["y_labels"]),
        feature_names=strings(data["X_labels"]),
    )
    return target


# --- UEA .ts (sktime) ------------------------------------------------------------------------


def parse_ts(path: Path) -> tuple[list[np.ndarray], list[str], tuple[str, ...]]:
    """Read a UEA/sktime ``.ts`` file -> (recordings [T_i, C], label per recording, class labels).

    Format: ``#`` comments, ``@key value`` headers, then one line per case with the channels
    separated by ``:`` (values by ``,``) and the class label last. Only what these files use is
    supported (no timestamps, no missing values); anything else stops with a message.
    """
    header: dict[str, str] = {}
    recordings: list[np.ndarray] = []
    targets: list[str] = []
    in_data = False
    for lineno, raw in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if not in_data:
            key, _, value = line.partition(" ")
            if key.lower() == "@data":
                in_data = True
            elif key.startswith("@"):
                header[key[1:].lower()] = value.strip()
            continue
        *channels, label = line.split(":")
        if "?" in line or "(" in line:
            raise SystemExit(f"{path}:{lineno}: missing values or timestamps are not supported")
        series = [np.array(c.split(","), dtype=np.float64) for c in channels]
        if len({len(s) for s in series}) != 1:
            raise SystemExit(f"{path}:{lineno}: channels differ in length")
        recordings.append(np.stack(series, axis=1))  # [T_i, C]
        targets.append(label.strip())
    if header.get("timestamps", "false").lower() != "false":
        raise SystemExit(f"{path}: timestamps are not supported")
    class_line = header.get("classlabel", "").split()
    if not class_line or class_line[0].lower() != "true":
        raise SystemExit(f"{path}: not a classification file (@classLabel true ...)")
    classes = tuple(class_line[1:])
    dims = int(header.get("dimensions", len(recordings[0][0])))
    if any(r.shape[1] != dims for r in recordings):
        raise SystemExit(f"{path}: a case does not have @dimensions {dims} channels")
    unknown = set(targets) - set(classes)
    if unknown:
        raise SystemExit(f"{path}: labels {sorted(unknown)} not in @classLabel")
    return recordings, targets, classes


# Channel names: BasicMotions is a watch's 3D accelerometer then 3D gyroscope (UEA description);
# JapaneseVowels holds 12 LPC cepstrum coefficients per frame (Kudo et al. 1999).
UEA = {
    "basicmotions": ("BasicMotions", ("acc_x", "acc_y", "acc_z", "gyr_x", "gyr_y", "gyr_z")),
    "japanesevowels": ("JapaneseVowels", tuple(f"lpc{i}" for i in range(1, 13))),
}


def vendor_uea(out: Path, name: str) -> Path:
    folder, feature_names = UEA[name]
    root = package_dir("sktime") / "datasets" / "data" / folder
    arrays: dict[str, np.ndarray] = {}
    classes: tuple[str, ...] = ()
    for split in ("train", "test"):
        recordings, targets, file_classes = parse_ts(root / f"{folder}_{split.upper()}.ts")
        if classes and file_classes != classes:
            raise SystemExit(f"{folder}: train and test @classLabel lines differ")
        classes = file_classes
        values, offsets = ragged(recordings)
        arrays[f"{split}_values"] = values
        arrays[f"{split}_offsets"] = offsets
        # Class index = position on the @classLabel line, so label order follows the file.
        arrays[f"{split}_y"] = np.array([classes.index(t) for t in targets], dtype=np.int64)
    target = out / f"{name}.npz"
    np.savez_compressed(
        target, **arrays, labels=strings(classes), feature_names=strings(feature_names)
    )
    return target


# --- statsmodels sunspots --------------------------------------------------------------------


def vendor_sunspots(out: Path) -> Path:
    path = package_dir("statsmodels") / "datasets" / "sunspots" / "sunspots.csv"
    with path.open(newline="") as f:
        rows = list(csv.DictReader(f))
    year = np.array([int(float(r["YEAR"])) for r in rows], dtype=np.int64)
    activity = np.array([float(r["SUNACTIVITY"]) for r in rows], dtype=np.float32)
    if not np.array_equal(np.diff(year), np.ones(len(year) - 1)):
        raise SystemExit(f"{path}: years are not consecutive")
    target = out / "sunspots.npz"
    np.savez_compressed(target, year=year, sunactivity=activity)
    return target


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    written = [
        vendor_watch(args.out),
        vendor_uea(args.out, "basicmotions"),
        vendor_uea(args.out, "japanesevowels"),
        vendor_sunspots(args.out),
    ]
    for path in written:
        print(
            f"{path.relative_to(ROOT) if path.is_relative_to(ROOT) else path}  "
            f"{path.stat().st_size:,} bytes"
        )


if __name__ == "__main__":
    main()
