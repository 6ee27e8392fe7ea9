"""edgegru train: train a model on a shipped dataset or your own arrays."""

from __future__ import annotations

import time
from pathlib import Path

import click

from edgegru.cli._choices import RegistryChoice
from edgegru.cli._common import data_options, echo_json, kib, resolve_data, rows_scored
from edgegru.names import cells
from edgegru.types import HEADS


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
    "--hidden", type=click.IntRange(1), default=32, show_default=True, help="Hidden units H."
)
@click.option("--layers", type=click.IntRange(1), default=1, show_default=True)
@click.option(
    "--head",
    type=click.Choice(HEADS),
    default="last",
    show_default=True,
    help="Pool the last step or the mean over valid steps.",
)
@click.option("--no-bias", is_flag=True, help="Cells without bias vectors.")
@click.option("--epochs", type=click.IntRange(1), default=40, show_default=True)
@click.option(
    "--batch-size",
    type=click.IntRange(1),
    default=None,
    help="Rows per optimizer step [default: N/16 between 8 and 64, so small sets get enough "
    "steps: 8 on basicmotions, 64 on watch].",
)
@click.option(
    "--min-steps",
    type=click.IntRange(0),
    default=600,
    show_default=True,
    help="A floor on optimizer steps: a run whose epochs give fewer gets more epochs (0: off).",
)
@click.option(
    "--lr", type=float, default=5e-3, show_default=True, help="Adam learning rate (cosine decay)."
)
@click.option(
    "--patience",
    type=click.IntRange(1),
    default=10,
    show_default=True,
    help="Stop after this many epochs without a better validation score.",
)
@click.option(
    "--val-fraction",
    type=float,
    default=0.0,
    show_default=True,
    help="Share of the training split (whole subjects where known) held out for early stopping; "
    "0 trains on all of it and keeps the lowest-loss epoch.",
)
@click.option(
    "--jitter",
    type=float,
    default=0.1,
    show_default=True,
    help="Gaussian input noise during training, in units of each feature's std (0: off).",
)
@click.option("--seed", type=int, default=0, show_default=True)
@click.option(
    "--threads",
    type=click.IntRange(1),
    default=None,
    help="Torch threads [default: 1 on machines with <= 4 cores, where more is slower].",
)
@click.option(
    "--resume", is_flag=True, help="Continue a killed run from its last checkpoint in -o."
)
@click.option(
    "-o",
    "--out",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Output bundle folder [default: runs/DATASET-CELLH].",
)
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
def command(
    dataset,
    data,
    test_data,
    cell,
    hidden,
    layers,
    head,
    no_bias,
    epochs,
    batch_size,
    min_steps,
    lr,
    patience,
    val_fraction,
    jitter,
    seed,
    threads,
    resume,
    out,
    as_json,
) -> None:
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
    from edgegru.train import TrainConfig
    from edgegru.types import ModelSpec

    ds = resolve_data(dataset, data, test_data)
    try:
        cfg = TrainConfig(
            epochs=epochs,
            batch_size=batch_size,
            min_steps=min_steps,
            lr=lr,
            patience=patience,
            val_fraction=val_fraction,
            jitter=jitter,
            seed=seed,
            threads=threads,
        )
        spec = ModelSpec(
            cell=cell,
            input_size=ds.num_features,
            hidden_size=hidden,
            num_outputs=ds.num_outputs,
            num_layers=layers,
            head=head,
            task=ds.task,
            bias=not no_bias,
        )
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
