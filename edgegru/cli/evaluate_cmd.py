"""edgegru evaluate: score a model bundle on data."""

from __future__ import annotations

from pathlib import Path

import click

from edgegru.cli._common import data_options, echo_json, resolve_data, table


@click.command("evaluate")
@click.argument("model", type=click.Path(path_type=Path))
@data_options
@click.option("--split", type=click.Choice(["test", "train"]), default="test", show_default=True)
@click.option(
    "--min-accuracy",
    type=float,
    default=None,
    help="Exit 1 when accuracy is below this (classification).",
)
@click.option("--json", "as_json", is_flag=True, help="Print the metrics as JSON.")
def command(model, dataset, data, test_data, split, min_accuracy, as_json) -> None:
    """Accuracy, per-class scores and the confusion matrix (or MAE/RMSE for regression).

    With no data option the model is scored on the dataset it was trained on.

    \b
    Examples:
      edgegru evaluate runs/gru32
      edgegru evaluate runs/gru32 --data holdout.npz --json
    """
    from edgegru.bundle import load_bundle
    from edgegru.errors import CheckFailed
    from edgegru.evaluate import evaluate

    bundle = load_bundle(model)
    default = bundle.provenance.get("dataset")
    ds = resolve_data(dataset, data, test_data, default=default if not data else None)
    m = evaluate(bundle, ds, split)
    if as_json:
        echo_json(m)
    elif m["task"] == "classification":
        click.echo(
            f"{model} on {ds.info.name} ({split}, n={m['n']}): accuracy {m['accuracy']:.4f}, "
            f"macro F1 {m['macro_f1']:.4f}"
        )
        rows = [
            (n, s["precision"], s["recall"], s["f1"], s["support"])
            for n, s in m["per_class"].items()
        ]
        click.echo(table(rows, ["class", "precision", "recall", "f1", "support"]))
        click.echo("\nconfusion matrix (rows: true, columns: predicted)")
        labels = m["labels"]
        click.echo(
            table([[labels[i], *row] for i, row in enumerate(m["confusion_matrix"])], ["", *labels])
        )
    else:
        click.echo(
            f"{model} on {ds.info.name} ({split}, n={m['n']}): "
            f"MAE {m['mae']:.4g}, RMSE {m['rmse']:.4g}"
        )
        rows = [(n, s["mae"], s["rmse"]) for n, s in m["per_output"].items()]
        click.echo(table(rows, ["output", "mae", "rmse"]))
    if min_accuracy is not None and m["task"] == "classification" and m["accuracy"] < min_accuracy:
        raise CheckFailed(f"accuracy {m['accuracy']:.4f} < --min-accuracy {min_accuracy}")
