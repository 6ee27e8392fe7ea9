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


def model_spec(ds: Any, cell: str, hidden: int, layers: int, head: str, **extra: Any) -> Any:
    """The ModelSpec of a new model of these options for the data ``ds`` (its features, outputs
    and task); ``ValueError`` when an option is out of range."""
    from edgegru.types import ModelSpec

    return ModelSpec(cell=cell, input_size=ds.num_features, hidden_size=hidden,
                     num_outputs=ds.num_outputs, num_layers=layers, head=head, task=ds.task,
                     **extra)  # fmt: skip


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


# Options every command repeats, declared once.


def json_option(help: str = "Print the result as JSON.") -> Callable[[F], F]:
    return click.option("--json", "as_json", is_flag=True, help=help)


def out_option(
    help: str, *, required: bool = True, default: Path | None = None
) -> Callable[[F], F]:
    """-o/--out FOLDER."""
    return click.option(
        "-o",
        "--out",
        type=click.Path(file_okay=False, path_type=Path),
        required=required,
        default=default,
        show_default=default is not None,
        help=help,
    )


def model_argument(f: F) -> F:
    """MODEL: a model bundle folder."""
    return click.argument("model", type=click.Path(path_type=Path))(f)


# The options that set a config dataclass's fields: name -> (click type, help). The default of
# each comes from the dataclass (or the defaults instance a command passes), never from here.
_FIELD_OPTIONS: dict[str, tuple[Any, str | None]] = {
    # TrainConfig (edgegru/train_config.py)
    "epochs": (click.IntRange(1), None),
    "batch_size": (
        click.IntRange(1),
        "Rows per optimizer step [default: N/16 between 8 and 64, so small sets get enough "
        "steps: 8 on basicmotions, 64 on watch].",
    ),
    "min_steps": (
        click.IntRange(0),
        "A floor on optimizer steps: a run whose epochs give fewer gets more epochs (0: off).",
    ),
    "lr": (float, "Adam learning rate (cosine decay)."),
    "patience": (
        click.IntRange(1),
        "Stop after this many epochs without a better validation score.",
    ),
    "val_fraction": (
        float,
        "Share of the training split (whole subjects where known) held out for early stopping; "
        "0 trains on all of it and keeps the lowest-loss epoch.",
    ),
    "jitter": (
        float,
        "Gaussian input noise during training, in units of each feature's std (0: off); a "
        "teacher labels the noisy inputs too.",
    ),
    "seed": (int, None),
    "threads": (
        click.IntRange(1),
        "Torch threads [default: 1 on machines with <= 4 cores, where more is slower].",
    ),
    # DistillConfig (edgegru/compress/config.py)
    "temperature": (float, "Softens both models' logits; the soft loss is scaled by T^2."),
    "alpha": (float, "Weight of the teacher's term; 1 - alpha goes to the labels."),
    "mixup": (
        float,
        "Mix each input with another of the batch (share ~ U(0, mixup), at most 0.5): the "
        "teacher is asked about inputs between the training windows (function matching).",
    ),
}


# the distillation loss's settings, which `edgegru distill` and `edgegru prune` both take
DISTILL_LOSS = ("temperature", "alpha", "mixup")


def field_options(defaults: Any, names: Sequence[str], dest: str) -> Callable[[F], F]:
    """``--name`` for each field of the config ``defaults`` in ``names`` (``batch_size`` ->
    ``--batch-size``), defaulting to its value there; the command gets them as one dict
    ``dest`` {field: value}, ready for ``dataclasses.replace(defaults, **values)``."""

    def collect(ctx: click.Context, param: click.Parameter, value: Any) -> Any:
        ctx.params.setdefault(dest, {})[param.name] = value
        return value

    def decorate(f: F) -> F:
        for name in reversed(names):
            kind, text = _FIELD_OPTIONS[name]
            default = getattr(defaults, name)
            f = click.option(
                "--" + name.replace("_", "-"),
                name,
                type=kind,
                default=default,
                show_default=default is not None,
                callback=collect,
                expose_value=False,
                help=text,
            )(f)
        return f

    return decorate
