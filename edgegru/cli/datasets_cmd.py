"""edgegru datasets: list the shipped datasets."""

from __future__ import annotations

import click

from edgegru.cli._common import echo_json, json_option, table


@click.command("datasets")
@json_option("Print JSON instead of a table.")
def command(as_json: bool) -> None:
    """List the shipped datasets with shapes, classes, splits, source and licence.

    \b
    Example:
      edgegru datasets --json
    """
    from edgegru.datasets import list_datasets

    items = list_datasets()
    if as_json:
        echo_json(items)
        return
    rows = [
        (
            d["name"],
            d["task"],
            "x".join(map(str, d["train_shape"])),
            "x".join(map(str, d["test_shape"])),
            d["num_outputs"],
            d["licence"],
        )
        for d in items
    ]
    click.echo(
        table(rows, ["name", "task", "train [N,T,F]", "test [N,T,F]", "classes/outputs", "licence"])
    )
    for d in items:
        click.echo(f"\n{d['name']}: {d['description']}\n  source: {d['source']}")
