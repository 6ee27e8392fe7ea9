"""Task metrics in NumPy: accuracy, per-class scores and the confusion matrix; MAE and RMSE."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np


def compute_metrics(
    task: str, y_true: np.ndarray, outputs: np.ndarray, labels: Sequence[str] = ()
) -> dict[str, Any]:
    """``outputs`` are logits [N, K] (classification) or predictions [N, O] (regression)."""
    if task == "classification":
        return classification_metrics(
            y_true, outputs.argmax(axis=1), len(labels) or outputs.shape[1], labels
        )
    return regression_metrics(y_true, outputs, labels)


def classification_metrics(
    y_true: np.ndarray, y_pred: np.ndarray, num_classes: int, labels: Sequence[str] = ()
) -> dict[str, Any]:
    names = list(labels) or [str(k) for k in range(num_classes)]
    cm = np.zeros((num_classes, num_classes), dtype=np.int64)  # rows: true, columns: predicted
    np.add.at(cm, (y_true.astype(np.int64), y_pred.astype(np.int64)), 1)
    tp = np.diag(cm).astype(np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        precision = np.nan_to_num(tp / cm.sum(axis=0))
        recall = np.nan_to_num(tp / cm.sum(axis=1))
        f1 = np.nan_to_num(2 * precision * recall / (precision + recall))
    per_class = {
        n: {"precision": float(p), "recall": float(r), "f1": float(f), "support": int(s)}
        for n, p, r, f, s in zip(names, precision, recall, f1, cm.sum(axis=1), strict=True)
    }
    return {
        "task": "classification",
        "n": len(y_true),
        "accuracy": float(tp.sum() / max(1, len(y_true))),
        "macro_f1": float(f1.mean()),
        "per_class": per_class,
        "labels": names,
        "confusion_matrix": cm.tolist(),
    }


def regression_metrics(
    y_true: np.ndarray, y_pred: np.ndarray, labels: Sequence[str] = ()
) -> dict[str, Any]:
    y_true = y_true.reshape(len(y_true), -1).astype(np.float64)
    y_pred = y_pred.reshape(len(y_pred), -1).astype(np.float64)
    err = y_pred - y_true
    names = list(labels) or [f"y{k}" for k in range(y_true.shape[1])]
    return {
        "task": "regression",
        "n": len(y_true),
        "mae": float(np.abs(err).mean()),
        "rmse": float(np.sqrt((err**2).mean())),
        "per_output": {
            n: {"mae": float(np.abs(e).mean()), "rmse": float(np.sqrt((e**2).mean()))}
            for n, e in zip(names, err.T, strict=True)
        },
    }
