"""Pieces shared by `edgegru prune` and `edgegru distill`: the before/after table, progress."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import click

from edgegru.cli._common import kib, table


def model_row(bundle: Any, metrics: dict[str, Any]) -> dict[str, Any]:
    """Size and score of one model, as both commands print and return them."""
    from edgegru.compress import model_sizes

    spec = bundle.spec
    row: dict[str, Any] = {
        "cell": spec.cell,
        "hidden_size": spec.hidden_size,
        "num_layers": spec.num_layers,
        **model_sizes(spec),
    }
    if metrics["task"] == "classification":
        row["accuracy"] = metrics["accuracy"]
    else:
        row["mae"], row["rmse"] = metrics["mae"], metrics["rmse"]
    return row


def echo_table(rows: dict[str, dict[str, Any]]) -> None:
    """Columns are the models (e.g. before / after), rows the quantities."""
    names = list(rows)
    first = rows[names[0]]
    labels = {
        "parameters": "parameters",
        "float32_bytes": "float32 size",
        "int8_bytes": "int8 size (int32 biases)",
        "sparsity": "weight sparsity",
        "float32_gzip_bytes": "float32 gzip",
        "int8_gzip_bytes_estimate": "int8 gzip (estimate)",
        "accuracy": "test accuracy",
        "mae": "test MAE",
        "rmse": "test RMSE",
    }
    out = [["model", *(f"{rows[n]['cell']} H={rows[n]['hidden_size']}" for n in names)]]
    for key, label in labels.items():
        if key not in first:
            continue
        out.append([label, *(_cell(key, rows[n].get(key)) for n in names)])
    click.echo(table(out, ["", *names]))


def _cell(key: str, value: Any) -> str:
    if value is None:
        return "-"
    if "bytes" in key:
        return kib(value)
    if key == "parameters":
        return f"{value:,}"
    return f"{value:.4f}" if isinstance(value, float) else str(value)


def progress(total: int, quiet: bool, desc: str) -> tuple[Any, Callable[[Any], None]]:
    """A tqdm bar over ``total`` epochs and the ``on_epoch`` callback that advances it."""
    from tqdm import tqdm

    bar = tqdm(total=total, desc=desc, unit="epoch", disable=True if quiet else None,
               dynamic_ncols=True)  # fmt: skip

    def on_epoch(log: Any) -> None:
        bar.update(1)
        bar.set_postfix({"loss": f"{log.loss:.4f}"})

    return bar, on_epoch
