"""Two multivariate UEA archive datasets (via sktime's bundled .ts files), fixed train/test."""

from __future__ import annotations

from edgegru.datasets._base import DATASETS, load_shipped, names, pad, unstack
from edgegru.types import Dataset, DatasetInfo, SequenceData

SOURCE = "UEA multivariate archive via sktime (sktime/datasets/data/{}); Bagnall et al. 2018"


def load_uea(name: str, info: DatasetInfo) -> Dataset:
    """Pad both splits to the longest series of either, so their shapes agree; ``lengths`` says
    where each one ends."""
    data = load_shipped(name)
    series = {s: unstack(data[f"{s}_values"], data[f"{s}_offsets"]) for s in ("train", "test")}
    steps = max(len(r) for recordings in series.values() for r in recordings)
    splits = {}
    for split, recordings in series.items():
        X, lengths = pad(recordings, steps)
        splits[split] = SequenceData(X=X, y=data[f"{split}_y"], lengths=lengths)
    return Dataset(
        info=info,
        task="classification",
        train=splits["train"],
        test=splits["test"],
        feature_names=names(data["feature_names"]),
        labels=names(data["labels"]),
    )


@DATASETS.register("basicmotions")
def load_basicmotions() -> Dataset:
    return load_uea(
        "basicmotions",
        DatasetInfo(
            name="basicmotions",
            description=(
                "UEA BasicMotions: smartwatch 3D accelerometer + 3D gyroscope, 10 s at 10 Hz "
                "(100 steps), 4 activities; the archive's split, 40 train / 40 test"
            ),
            source=SOURCE.format("BasicMotions"),
            licence="BSD-3-Clause",
        ),
    )


@DATASETS.register("japanesevowels")
def load_japanesevowels() -> Dataset:
    return load_uea(
        "japanesevowels",
        DatasetInfo(
            name="japanesevowels",
            description=(
                "UEA JapaneseVowels: 12 LPC cepstrum coefficients per frame, 7..29 frames, "
                "9 speakers; the archive's split, 270 train / 370 test; zero-padded, see lengths"
            ),
            source=SOURCE.format("JapaneseVowels") + " / Kudo et al. 1999 (UCI)",
            licence="BSD-3-Clause",
        ),
    )
