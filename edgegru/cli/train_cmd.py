"""edgegru train: train a model on a shipped dataset or your own arrays."""

from __future__ import annotations

import time
from pathlib import Path

import click

from edgegru.cli._choices import RegistryChoice
from edgegru.cli._common import (
    data_options,
    echo_json,
    field_options,
    json_option,
    kib,
    model_spec,
    out_option,
    resolve_data,
    rows_scored,
)
from edgegru.names import cells
from edgegru.pipeline.config import TrainSection
from edgegru.train_config import TrainConfig
from edgegru.types import HEADS

# the TrainConfig fields `edgegru train` sets (the pipeline's [train] takes every field)
TRAIN_OPTIONS = ("epochs", "batch_size", "min_steps", "lr", "patience", "val_fraction", "jitter",
                 "seed", "threads")  # fmt: skip


@click.command("train")
@data_options
@click.option(
    "--cell",
    type=RegistryChoice(cells),
    default="gru",
    show_default=True,
    help="Recurrent cell; `peephole` is the Gers & Schmidhuber LSTM.",
)
@click.option(
    "--hidden",
    type=click.IntRange(1),
    default=TrainSection.hidden,  # one default, the pipeline's [train]
    show_default=True,
    help="Hidden units H.",
)
@click.option("--layers", type=click.IntRange(1), default=TrainSection.layers, show_default=True)
@click.option(
    "--head",
    type=click.Choice(HEADS),
    default="last",
    show_default=True,
    help="Pool the last step or the mean over valid steps.",
)
@click.option("--no-bias", is_flag=True, help="Cells without bias vectors.")
@field_options(TrainConfig(), TRAIN_OPTIONS, "train_values")
@click.option(
    "--resume", is_flag=True, help="Continue a killed run from its last checkpoint in -o."
)
@out_option("Output bundle folder [default: runs/DATASET-CELLH].", required=False)
@json_option()
def command(
    dataset, data, test_data, cell, hidden, layers, head, no_bias, train_values, resume, out,
    as_json,
) -> None:  # fmt: skip
    """Train a GRU / LSTM / peephole-LSTM classifier or forecaster.

    Writes a model bundle (model.safetensors + model.json), metrics.json and a checkpoint every
    epoch into the output folder.

    \b
    Examples:
      edgegru train --dataset watch --cell gru --hidden 32 -o runs/gru32
      edgegru train --data my.npz --cell peephole --layers 2 --head mean -o runs/mine
      edgegru train --dataset watch -o runs/gru32 --resume     # after an interruption
    """
    from edgegru.errors import BadInput

    ds = resolve_data(dataset, data, test_data)
    try:
        cfg = TrainConfig(**train_values)
        spec = model_spec(ds, cell, hidden, layers, head, bias=not no_bias)
    except ValueError as e:
        raise BadInput(str(e)) from None
    out = out or Path("runs") / f"{ds.info.name}-{cell}{hidden}"
    t0 = time.perf_counter()
    result = _train_with_progress(spec, ds, cfg, out, resume, quiet=as_json)
    seconds = time.perf_counter() - t0
    summary = {
        "out": str(out),
        "seconds": round(seconds, 2),
        "epochs_run": len(result.history),
        "optimizer_steps": result.steps,
        "batch_size": result.schedule.batch_size if result.schedule else None,
        "stopped_early": result.stopped_early,
        "warning": result.warning,
        "parameters": spec.num_parameters(),
        "test": result.test_metrics,
    }
    if as_json:
        echo_json(summary | {"rows_scored": rows_scored(ds)})
        return
    n = spec.num_parameters()
    m = result.test_metrics
    score = (
        f"test accuracy {m['accuracy']:.4f}"
        if ds.task == "classification"
        else f"test MAE {m['mae']:.4g}, RMSE {m['rmse']:.4g}"
    )
    click.echo(
        f"{cell} x{layers} H={hidden} on {ds.info.name}: {score} "
        f"({len(result.history)} epochs, {result.steps} optimizer steps of batch "
        f"{summary['batch_size']}, {seconds:.1f} s)"
    )
    click.echo(f"trained on {len(ds.train):,} rows; {rows_scored(ds)}")
    if result.warning:
        click.echo(f"warning: {result.warning}", err=True)
    click.echo(f"{n:,} parameters ({kib(4 * n)} float32, {kib(spec.int8_bytes())} int8) -> {out}")


def _train_with_progress(spec, ds, cfg, out, resume, quiet):
    from tqdm import tqdm

    from edgegru.train import train

    with tqdm(
        total=cfg.schedule_for(len(ds.train)).epochs,
        desc="train",
        unit="epoch",
        disable=True if quiet else None,
        dynamic_ncols=True,
    ) as bar:

        def on_epoch(log):
            bar.total, bar.n = log.epochs, log.epoch
            metric = "val_acc" if ds.task == "classification" else "val_-rmse"
            bar.set_postfix(
                {
                    "loss": f"{log.loss:.4f}",
                    metric: f"{log.val_score:.4f}",
                    "best": f"{log.best_score:.4f}",
                }
            )

        return train(spec, ds, cfg, out, resume=resume, on_epoch=on_epoch)
