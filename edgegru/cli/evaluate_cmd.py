"""edgegru evaluate: score a model bundle on data."""

from __future__ import annotations

import click

from edgegru.cli._common import (
    data_options,
    echo_json,
    json_option,
    model_argument,
    resolve_data,
    rows_scored,
    table,
)


@click.command("evaluate")
@model_argument
@data_options
@click.option("--split", type=click.Choice(["test", "train"]), default="test", show_default=True)
@click.option(
    "--min-accuracy",
    type=float,
    default=None,
    help="Exit 1 when accuracy is below this (classification).",
)
@json_option("Print the metrics as JSON.")
def command(model, dataset, data, test_data, split, min_accuracy, as_json) -> None:
    """Accuracy, per-class scores and the confusion matrix (or MAE/RMSE for regression).

    With no data option the model is scored on the dataset it was trained on; `--data FILE`
    scores the test part of a split of FILE, `--test-data FILE` alone every row of FILE. The
    first line says which rows were scored.

    \b
    Examples:
      edgegru evaluate runs/gru32
      edgegru evaluate runs/gru32 --test-data holdout.npz --json
    """
    from edgegru.bundle import load_bundle
    from edgegru.errors import BadInput, CheckFailed
    from edgegru.evaluate import evaluate

    bundle = load_bundle(model)
    default = bundle.provenance.get("dataset")
    if test_data and not data and split == "train":
        raise BadInput("--split train needs --data: --test-data alone is every row as test")
    ds = resolve_data(dataset, data, test_data, default=default if not data else None,
                      score_only=True, num_outputs=bundle.spec.num_outputs)  # fmt: skip
    m = evaluate(bundle, ds, split)
    scored = rows_scored(ds, split)
    if as_json:
        echo_json(m | {"rows_scored": scored})
    elif m["task"] == "classification":
        click.echo(scored)
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
        click.echo(scored)
        click.echo(
            f"{model} on {ds.info.name} ({split}, n={m['n']}): "
            f"MAE {m['mae']:.4g}, RMSE {m['rmse']:.4g}"
        )
        rows = [(n, s["mae"], s["rmse"]) for n, s in m["per_output"].items()]
        click.echo(table(rows, ["output", "mae", "rmse"]))
    if min_accuracy is not None and m["task"] == "classification" and m["accuracy"] < min_accuracy:
        raise CheckFailed(f"accuracy {m['accuracy']:.4f} < --min-accuracy {min_accuracy}")
