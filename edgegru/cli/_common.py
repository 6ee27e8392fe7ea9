"""Shared CLI pieces: data options, JSON output, plain-text tables."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, TypeVar

import click

from edgegru.errors import BadInput

F = TypeVar("F", bound=Callable[..., Any])


def data_options(f: F) -> F:
    """--dataset NAME | --data FILE.npz [--test-data FILE.npz]."""
    f = click.option(
        "--test-data",
        type=click.Path(dir_okay=False, path_type=Path),
        help="Separate test split for --data (same keys).",
    )(f)
    f = click.option(
        "--data",
        type=click.Path(dir_okay=False, path_type=Path),
        help="Your own arrays: .npz with X [N,T,F], y [N], optional lengths [N].",
    )(f)
    f = click.option("--dataset", help="A shipped dataset (see `edgegru datasets`).")(f)
    return f


def resolve_data(
    dataset: str | None,
    data: Path | None,
    test_data: Path | None,
    default: str | None = None,
    *,
    score_only: bool = False,
    num_outputs: int | None = None,
):
    """The Dataset the data options name. ``score_only`` (evaluate, check): ``--test-data
    FILE`` alone is the test split, every row of it (``num_outputs``: the model's classes)."""
    from edgegru.datasets import load_dataset, load_npz, load_test_npz

    if dataset and data:
        raise BadInput("give either --dataset or --data, not both")
    if test_data and not data:
        if dataset:
            raise BadInput("--test-data goes with --data, or alone; not with --dataset")
        if not score_only:
            raise BadInput("--test-data goes with --data (training needs a training file)")
        return load_test_npz(test_data, num_outputs=num_outputs)
    if data:
        return load_npz(data, test_data)
    name = dataset or default
    if not name:
        raise BadInput("no data: give --dataset NAME or --data FILE.npz")
    return load_dataset(name)


def rows_scored(ds: Any, split: str = "test", n: int | None = None, how: str = "") -> str:
    """One line naming the rows a command scored (``n``: a subset of ``how`` picked)."""
    from edgegru.datasets.npz import TEST_ONLY

    part = ds.test if split == "test" else ds.train
    n = len(part) if n is None else n
    of = f"{n:,} of {len(part):,}" + (f" ({how})" if how else "") if n != len(part) else f"{n:,}"
    desc = ds.info.description
    if desc.startswith(TEST_ONLY):
        return f"rows scored: {of}, {desc}"
    total = len(ds.train) + len(ds.test)
    if desc.startswith("user data from"):  # one file, split here
        how = desc.split(": ", 1)[1]
        return (
            f"rows scored: {of}, the {split} part of {ds.info.source} ({total:,} rows, {how}); "
            "--test-data FILE alone scores every row of FILE"
        )
    return f"rows scored: {of}, the {split} split of {ds.info.name} ({total:,} rows in all)"


def echo_json(data: Any) -> None:
    click.echo(json.dumps(data, indent=2, sort_keys=True, default=str))


def table(rows: Sequence[Sequence[Any]], header: Sequence[str]) -> str:
    cells = [[str(c) for c in header]] + [[_fmt(c) for c in r] for r in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(header))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in cells]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def _fmt(v: Any) -> str:
    if isinstance(v, float):
        return f"{v:.4f}" if abs(v) < 1000 else f"{v:.1f}"
    return str(v)


def kib(n: int) -> str:
    return f"{n / 1024:.1f} KiB"
