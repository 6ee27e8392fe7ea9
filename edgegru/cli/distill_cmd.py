"""edgegru distill: train a small student from a bigger teacher bundle."""

from __future__ import annotations

from pathlib import Path

import click

from edgegru.cli._choices import RegistryChoice
from edgegru.cli._common import (
    DISTILL_LOSS,
    data_options,
    echo_json,
    field_options,
    json_option,
    model_spec,
    out_option,
    resolve_data,
    rows_scored,
)
from edgegru.compress.config import DistillConfig, default_distill_train
from edgegru.names import cells
from edgegru.types import HEADS


@click.command("distill")
@click.option(
    "--teacher",
    type=click.Path(path_type=Path),
    required=True,
    multiple=True,
    help="The teacher's model bundle (any cell); repeat for an ensemble (the mean of their "
    "softened probabilities).",
)
@click.option("--cell", type=RegistryChoice(cells), default="gru", show_default=True)
@click.option(
    "--hidden", type=click.IntRange(1), default=16, show_default=True, help="Student's H."
)
@click.option("--layers", type=click.IntRange(1), default=1, show_default=True)
@click.option("--head", type=click.Choice(HEADS), default="last", show_default=True)
@field_options(DistillConfig(), DISTILL_LOSS, "loss_values")
@click.option(
    "--prune-from",
    type=click.IntRange(2),
    default=None,
    help="Distill into this many hidden units first, then remove units down to --hidden "
    "(structured pruning) and fine-tune with the same teacher: the 4 KB recipe on watch.",
)
@click.option(
    "--prune-epochs",
    type=click.IntRange(0),
    default=DistillConfig.prune_epochs,
    show_default=True,
    help="Fine-tuning epochs after --prune-from's pruning.",
)
@field_options(default_distill_train(), ("epochs", "lr", "jitter", "seed", "threads"),
               "train_values")  # fmt: skip
@data_options
@out_option("Output bundle folder for the student.")
@json_option()
def command(
    teacher, cell, hidden, layers, head, loss_values, prune_from, prune_epochs, train_values,
    dataset, data, test_data, out, as_json,
) -> None:  # fmt: skip
    """Distill a teacher bundle into a smaller student (any cell into any cell).

    The student learns from the teacher's temperature-softened outputs (KL, or MSE for
    regression) mixed with the labels, on all the training data; it trains on the data the
    teacher was trained on unless given.

    \b
    Examples:
      edgegru distill --teacher runs/gru128 --cell gru --hidden 16 -o runs/gru16-distilled
      edgegru distill --teacher runs/lstm64 --cell gru --hidden 24 --alpha 0.9 --json -o runs/s
      edgegru distill --teacher runs/gru128 --hidden 29 --prune-from 32 -o runs/gru29  # <= 4 KB
    """
    import dataclasses

    from edgegru.bundle import load_bundle
    from edgegru.cli._compress import echo_table, model_row, progress
    from edgegru.compress import check_teacher, distill
    from edgegru.errors import BadInput
    from edgegru.evaluate import evaluate
    from edgegru.io import staged_output

    ts = [load_bundle(t) for t in teacher]
    default = ts[0].provenance.get("dataset")
    ds = resolve_data(dataset, data, test_data, default=default if not data else None)
    for t in ts:
        check_teacher(t, ds)
    try:
        train_cfg = dataclasses.replace(default_distill_train(), **train_values)
        cfg = DistillConfig(**loss_values, prune_from=prune_from, prune_epochs=prune_epochs,
                            train=train_cfg)  # fmt: skip
        spec = model_spec(ds, cell, hidden, layers, head)
    except ValueError as e:
        raise BadInput(str(e)) from None
    teacher_rows = {
        ("teacher" if len(ts) == 1 else f"teacher {k + 1}"): model_row(t, evaluate(t, ds))
        for k, t in enumerate(ts)
    }
    if prune_from is not None and prune_from <= hidden:
        raise BadInput(f"--prune-from ({prune_from}) must be larger than --hidden ({hidden})")
    total = train_cfg.epochs + (prune_epochs if prune_from is not None else 0)
    bar, on_epoch = progress(total, as_json, "distill")
    with bar, staged_output(out) as work:  # all files or none
        result = distill(ts, spec, ds, cfg, work, on_epoch=on_epoch)
    student_row = model_row(result.bundle, result.test_metrics)
    summary = {
        "out": str(out),
        "config": cfg.to_json(),
        "teacher": next(iter(teacher_rows.values())),
        "student": student_row,
    }
    if len(ts) > 1:
        summary["teachers"] = list(teacher_rows.values())
    if as_json:
        echo_json(summary | {"rows_scored": rows_scored(ds)})
        return
    names = " + ".join(str(t) for t in teacher)
    click.echo(f"{names} -> {out} (distilled on {ds.info.name}, test split)")
    click.echo(rows_scored(ds))
    echo_table({**teacher_rows, "student": student_row})
