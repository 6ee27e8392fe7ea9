"""seglearn's smartwatch shoulder-exercise IMU data (Burns et al. 2018), windowed by subject."""

from __future__ import annotations

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from edgegru.datasets._base import DATASETS, load_shipped, names, unstack
from edgegru.types import Dataset, DatasetInfo, SequenceData

RATE_HZ = 50
WINDOW = 2 * RATE_HZ  # 2 s windows
STRIDE = WINDOW // 2  # 50% overlap, for the test windows too (more test windows, same recordings)
TEST_SUBJECTS = (8, 9, 10)  # subjects 1-7 train; split by subject so no person is in both


def windows(recordings: list[np.ndarray], y: np.ndarray, subject: np.ndarray) -> SequenceData:
    """Cut every recording into [WINDOW, C] windows every STRIDE samples (a short tail is dropped);
    each window takes its recording's label and subject."""
    xs: list[np.ndarray] = []
    ys: list[np.ndarray] = []
    groups: list[np.ndarray] = []
    for rec, label, subj in zip(recordings, y, subject, strict=True):
        if len(rec) < WINDOW:
            continue
        w = sliding_window_view(rec, WINDOW, axis=0)[::STRIDE]  # [n, C, WINDOW]
        xs.append(w.transpose(0, 2, 1))  # [n, WINDOW, C]
        ys.append(np.full(len(w), label, dtype=np.int64))
        groups.append(np.full(len(w), subj, dtype=np.int64))
    return SequenceData(
        X=np.ascontiguousarray(np.concatenate(xs), dtype=np.float32),
        y=np.concatenate(ys),
        groups=np.concatenate(groups),
    )


@DATASETS.register("watch")
def load_watch() -> Dataset:
    data = load_shipped("watch")
    recordings = unstack(data["values"], data["offsets"])
    is_test = np.isin(data["subject"], TEST_SUBJECTS)
    split = {
        name: windows(
            [r for r, t in zip(recordings, keep, strict=True) if t],
            data["y"][keep],
            data["subject"][keep],
        )
        for name, keep in (("train", ~is_test), ("test", is_test))
    }
    info = DatasetInfo(
        name="watch",
        description=(
            "Smartwatch 6-axis IMU (ax..wz, 50 Hz) of 10 subjects doing 7 shoulder exercises, "
            "140 recordings; 2 s windows (100 samples) with 50% overlap (stride 50) in train and "
            "test alike; subjects 1-7 train, 8-10 test; groups = subject id"
        ),
        source="seglearn (seglearn/data/watch_dataset.npy); Burns et al. 2018, arXiv:1802.01489",
        licence="BSD-3-Clause",
    )
    return Dataset(
        info=info,
        task="classification",
        train=split["train"],
        test=split["test"],
        feature_names=names(data["feature_names"]),
        labels=names(data["labels"]),
    )
