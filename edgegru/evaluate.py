"""Run a bundle's float model on data (PyTorch) and score it."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from edgegru.errors import BadInput
from edgegru.metrics import compute_metrics
from edgegru.model import model_from_bundle
from edgegru.types import Bundle, Dataset, SequenceData


@torch.no_grad()
def predict(bundle: Bundle, data: SequenceData, batch_size: int = 512) -> np.ndarray:
    """Outputs [N, O]: logits (classification) or predictions in raw units (regression)."""
    if data.X.ndim != 3 or data.X.shape[2] != bundle.spec.input_size:
        raise BadInput(
            f"data has shape {tuple(data.X.shape)}; "
            f"the model takes [N, T, {bundle.spec.input_size}]"
        )
    model = model_from_bundle(bundle)
    X = torch.from_numpy(np.ascontiguousarray(data.X, dtype=np.float32))
    lengths = None if data.lengths is None else torch.from_numpy(data.lengths.astype(np.int64))
    outs = [
        model(X[i : i + batch_size], None if lengths is None else lengths[i : i + batch_size])
        for i in range(0, len(X), batch_size)
    ]
    return torch.cat(outs).numpy() if outs else np.zeros((0, bundle.spec.num_outputs), np.float32)


def evaluate(bundle: Bundle, data: Dataset, split: str = "test") -> dict[str, Any]:
    if bundle.spec.task != data.task:
        raise BadInput(f"the model is for {bundle.spec.task}, the data is {data.task}")
    if bundle.spec.num_outputs != data.num_outputs:
        raise BadInput(
            f"the model has {bundle.spec.num_outputs} outputs, "
            f"the data {data.num_outputs} classes/targets"
        )
    part = data.test if split == "test" else data.train
    return compute_metrics(data.task, part.y, predict(bundle, part), bundle.spec.labels)
