"""Yearly sunspot numbers 1700-2008 as a forecasting task: 24 years in -> the next 3 out."""

from __future__ import annotations

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from edgegru.datasets._base import DATASETS, load_shipped
from edgegru.types import Dataset, DatasetInfo, SequenceData

INPUT_YEARS = 24  # a little over two ~11-year solar cycles
HORIZON = 3
TEST_FRACTION = 0.2


def split_windows(series: np.ndarray) -> tuple[SequenceData, SequenceData]:
    """Every window of INPUT_YEARS + HORIZON years (stride 1), in time order; the last ~20% test.

    Train windows whose targets reach the first test target year are dropped, so no target year
    is in both splits (test inputs may be years train saw as targets: the past is known)."""
    span = INPUT_YEARS + HORIZON
    w = sliding_window_view(series, span)  # [N, span]
    first_test = len(w) - round(len(w) * TEST_FRACTION)
    # Window i targets years i + INPUT_YEARS .. i + span - 1: keep those ending before
    # first_test + INPUT_YEARS, i.e. i < first_test - (HORIZON - 1).
    n_train = first_test - (HORIZON - 1)
    return part(w[:n_train]), part(w[first_test:])


def part(rows: np.ndarray) -> SequenceData:
    return SequenceData(
        X=np.ascontiguousarray(rows[:, :INPUT_YEARS, None], dtype=np.float32),  # [N, 24, 1]
        y=np.ascontiguousarray(rows[:, INPUT_YEARS:], dtype=np.float32),  # [N, 3]
    )


@DATASETS.register("sunspots")
def load_sunspots() -> Dataset:
    train, test = split_windows(load_shipped("sunspots")["sunactivity"])
    info = DatasetInfo(
        name="sunspots",
        description=(
            "Yearly mean sunspot number 1700-2008 (309 years); input 24 years -> next 3 years "
            "(regression, windows at stride 1); chronological split, the last ~20% of windows "
            "are test and no target year is in both splits"
        ),
        source="statsmodels (statsmodels/datasets/sunspots/sunspots.csv); SIDC / NOAA NGDC",
        licence="public domain",
    )
    return Dataset(
        info=info,
        task="regression",
        train=train,
        test=test,
        feature_names=("sunactivity",),
        labels=tuple(f"t+{k}" for k in range(1, HORIZON + 1)),
    )
