"""edgegru info: what a model bundle holds."""

from __future__ import annotations

from pathlib import Path

import click

from edgegru.cli._common import echo_json, json_option, kib, model_argument


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
        "int8_bytes": spec.int8_bytes(),  # int8 weights, int32 biases (docs/quantization.md)
        "state_names": list(spec.state_names),
        "normalization": normalization_summary(bundle),
        "provenance": bundle.provenance,
    }


def normalization_summary(bundle) -> str:
    """Which input normalization the model applies, and where it came from."""
    norm, prov = bundle.spec.normalization, bundle.provenance
    if norm is None or all(m == 0 and s == 1 for m, s in zip(norm.mean, norm.std, strict=True)):
        return "none: the model takes already-normalized input"
    source = prov.get("normalization")
    if source is None and "train_config" in prov:
        source = f"fitted on the training split of {prov.get('dataset', '?')}"
    what = f"per-feature mean/std of {len(norm.mean)} features, inside the model"
    return f"{what} ({source})" if source else what


@click.command("info")
@model_argument
@json_option("Print JSON.")
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
    click.echo(f"normalization: {info['normalization']}")
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
