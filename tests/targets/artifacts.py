"""Test artifacts for the targets, exported by ``edgegru.export`` (manifest beside each file).
``kinds()`` lists the float kinds; tests/targets/test_int8_kinds.py adds the int8 ones."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from edgegru.reference import random_weights
from edgegru.types import Bundle, ModelSpec, Normalization


def bundle(cell: str = "gru", head: str = "last", layers: int = 1, seed: int = 0) -> Bundle:
    spec = ModelSpec(
        cell=cell,
        input_size=3,
        hidden_size=8,
        num_outputs=4,
        num_layers=layers,
        head=head,
        normalization=Normalization((0.5, -0.2, 0.1), (2.0, 1.5, 0.5)),
    )
    return Bundle(spec, random_weights(spec, seed=seed), {"seq_len": 6})


def kinds() -> list[tuple[str, str, str]]:
    """(format, form, precision) of every float artifact the exporters make."""
    return [
        (fmt, form, "float32") for fmt in ("onnx", "ort", "tflite") for form in ("sequence", "step")
    ]


def make(b: Bundle, fmt: str, form: str, out_dir: Path, precision: str = "float32") -> Path:
    """Write one artifact (+ manifest) into ``out_dir`` with edgegru's exporter; its path."""
    from edgegru.export import ExportConfig, export

    out_dir.mkdir(parents=True, exist_ok=True)
    cfg = ExportConfig(formats=(fmt,), forms=(form,), precision=precision)
    (artifact,) = export(b, cfg, out_dir)
    return Path(artifact.path)


def data(b: Bundle, n: int = 5, T: int = 6, seed: int = 1, lengths: bool = False):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, T, b.spec.input_size)).astype(np.float32)
    L = rng.integers(2, T + 1, n).astype(np.int64) if lengths else None
    if L is not None:
        for i, length in enumerate(L):
            X[i, length:] = 0.0
    return X, L
