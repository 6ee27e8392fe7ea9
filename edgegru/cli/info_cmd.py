"""edgegru info: what a model bundle holds."""

from __future__ import annotations

from pathlib import Path

import click

from edgegru.cli._common import echo_json, kib


def model_summary(path: Path) -> dict:
    from edgegru.bundle import load_bundle

    bundle = load_bundle(path)
    spec = bundle.spec
    n = spec.num_parameters()
    return {
        "path": str(path),
        "spec": spec.to_json(),
        "parameters": n,
        "float32_bytes": 4 * n,
        "int8_bytes": spec.int8_bytes(),  # int8 weights, int32 biases (DESIGN.md 4)
        "state_names": list(spec.state_names),
        "provenance": bundle.provenance,
    }


@click.command("info")
@click.argument("model", type=click.Path(path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def command(model: Path, as_json: bool) -> None:
    """Show a model bundle's architecture, size and provenance.

    \b
    Example:
      edgegru info runs/gru32
    """
    info = model_summary(model)
    if as_json:
        echo_json(info)
        return
    s = info["spec"]
    click.echo(
        f"{model}: {s['cell']} x{s['num_layers']} hidden {s['hidden_size']}, head {s['head']}, "
        f"{s['task']} with {s['num_outputs']} outputs, input {s['input_size']} features"
    )
    click.echo(
        f"parameters {info['parameters']:,}: float32 {kib(info['float32_bytes'])}, "
        f"int8 ~{kib(info['int8_bytes'])}"
    )
    if s["labels"]:
        click.echo("labels: " + ", ".join(s["labels"]))
    prov = info["provenance"]
    if prov:
        click.echo(
            "provenance: "
            + ", ".join(f"{k}={v}" for k, v in sorted(prov.items()) if not isinstance(v, dict))
        )
        if "test_metrics" in prov:
            click.echo(
                "test metrics: "
                + ", ".join(
                    f"{k}={v:.4f}" if isinstance(v, float) else f"{k}={v}"
                    for k, v in prov["test_metrics"].items()
                )
            )
