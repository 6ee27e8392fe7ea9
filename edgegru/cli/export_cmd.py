"""edgegru export: write ONNX / ORT / TFLite artifacts of a model bundle."""

from __future__ import annotations

from pathlib import Path

import click

from edgegru.cli._choices import RegistryChoice
from edgegru.cli._common import echo_json, json_option, kib, model_argument, out_option, table
from edgegru.names import export_formats
from edgegru.types import PRECISIONS


@click.command("export")
@model_argument
@click.option(
    "--format",
    "formats",
    type=RegistryChoice(export_formats),
    multiple=True,
    default=("onnx",),
    show_default=True,
    help="Output format; repeat for several (c-array: C++ for TFLite Micro).",
)
@click.option(
    "--streaming/--no-streaming",
    default=None,
    help="Only the streaming step form / only the full-sequence form [default: both].",
)
@click.option(
    "--precision",
    type=click.Choice(("auto", *PRECISIONS)),
    default="auto",
    show_default=True,
    help="auto: the bundle's own (int8-static from `quantize --scheme static|qat`, int8-dynamic "
    "from `--scheme dynamic`, else float32); float32 from a quantized bundle by asking.",
)
@click.option(
    "--seq-len",
    type=click.IntRange(1),
    default=None,
    help="Fixed T for formats that need one (TFLite) [default: the training length].",
)
@click.option(
    "--lengths/--no-lengths",
    default=None,
    help="Give full-sequence files a `lengths` [batch] int32 input: past each row's length the "
    "state stops changing, `last` reads the last valid step, `mean` averages the valid steps "
    "(docs/padding.md) [default: when the model was trained on data with lengths].",
)
@click.option(
    "--option",
    "options",
    multiple=True,
    metavar="KEY=VALUE",
    help="Format-specific option, e.g. layout=loop for TFLite.",
)
@out_option("Output folder.")
@json_option("Print the manifests as JSON.")
def command(model, formats, streaming, precision, seq_len, lengths, options, out, as_json) -> None:
    """Export a model bundle as deployable files, each with a JSON manifest.

    \b
    Examples:
      edgegru export runs/gru32 --format onnx -o runs/gru32/export
      edgegru export runs/gru32 --format tflite --streaming -o out
      edgegru export runs/vowels --format tflite --format onnx --lengths -o out
      edgegru export runs/gru32-int8 --format tflite -o out     # int8-static, the bundle's own
    """
    from edgegru.bundle import load_bundle
    from edgegru.errors import BadInput
    from edgegru.export import ExportConfig, export
    from edgegru.io import staged_output

    forms = (
        ("sequence", "step") if streaming is None else (("step",) if streaming else ("sequence",))
    )
    parsed = {}
    for item in options:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise BadInput(f"--option {item!r}: expected KEY=VALUE")
        parsed[key] = value
    try:
        cfg = ExportConfig(
            formats=formats, forms=forms, precision=precision, seq_len=seq_len, options=parsed,
            lengths=lengths,
        )  # fmt: skip
    except ValueError as e:
        raise BadInput(str(e)) from None
    bundle = load_bundle(model)
    with staged_output(out) as work:  # all files or none: a failure leaves -o as it was
        artifacts = export(bundle, cfg, work, final_dir=out)
    if as_json:
        echo_json([a.to_json() for a in artifacts])
        return
    rows = [
        (
            Path(a.path).name,
            a.format,
            a.form,
            a.precision,
            kib(a.size_bytes),
            a.details.get("nodes", a.details.get("ops", "")),
            a.details.get("padding", ""),
        )
        for a in artifacts
    ]
    headers = ["file", "format", "form", "precision", "size", "nodes/ops", "padding"]
    click.echo(table(rows, headers))
    click.echo(f"-> {out} (each file has a .json manifest)")
