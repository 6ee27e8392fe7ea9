"""edgegru import: turn a PyTorch state_dict (nn.GRU / nn.LSTM + nn.Linear) into a bundle."""

from __future__ import annotations

from pathlib import Path

import click

from edgegru.cli._common import echo_json, json_option, out_option
from edgegru.types import HEADS, TASKS


@click.command("import")
@click.argument("state_dict", type=click.Path(dir_okay=False, path_type=Path))
@click.option(
    "--head",
    type=click.Choice(HEADS),
    default="last",
    show_default=True,
    help="How the original model pooled the RNN outputs.",
)
@click.option("--task", type=click.Choice(TASKS), default="classification", show_default=True)
@click.option("--labels", default=None, help="Comma-separated class labels, in output order.")
@click.option(
    "--norm-from",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Training data (.npz with X, y) to fit the input normalization on (default: none; "
    "the model then takes already-normalized input).",
)
@click.option(
    "--norm",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help='The normalization the model was trained with: a JSON file {"mean": [...], "std": '
    "[...]}, one value per input feature (x_n = (x - mean) / std).",
)
@click.option(
    "--rnn-prefix", default=None, help="Key prefix of the RNN, e.g. 'gru.' (when ambiguous)."
)
@click.option("--head-prefix", default=None, help="Key prefix of the Linear head, e.g. 'fc.'.")
@out_option("Output bundle folder.")
@json_option()
def command(
    state_dict, head, task, labels, norm_from, norm, rnn_prefix, head_prefix, out, as_json
) -> None:
    """Import a PyTorch state_dict of an nn.GRU or nn.LSTM with an nn.Linear head.

    Reads .safetensors, or .pt/.pth with torch.load(weights_only=True). Input size, hidden size,
    layers, cell and number of outputs come from the tensor shapes; the rest from options.

    \b
    Examples:
      edgegru import classifier.pt --head last --labels walk,run,sit -o runs/imported
      edgegru import classifier.pt --norm classifier.norm.json -o runs/imported
    """
    from edgegru.bundle import save_bundle
    from edgegru.errors import BadInput
    from edgegru.importer import (
        ImportConfig,
        bundle_from_state_dict,
        read_normalization,
        read_state_dict,
    )

    if norm is not None and norm_from is not None:
        raise BadInput("give --norm (the model's own) or --norm-from (fit on data), not both")
    normalization, norm_source = None, "none: the model takes already-normalized input"
    if norm is not None:
        normalization = read_normalization(norm)
        norm_source = f"given: {norm}"
    if norm_from is not None:
        from edgegru.datasets import load_npz
        from edgegru.train import fit_normalization

        ds = load_npz(norm_from, norm_from)  # the whole file as the training split
        normalization = fit_normalization(ds.train.X, ds.train.lengths)
        norm_source = f"fitted on {norm_from}"
    cfg = ImportConfig(
        head=head,
        task=task,
        labels=tuple(labels.split(",")) if labels else (),
        normalization=normalization,
        rnn_prefix=rnn_prefix,
        head_prefix=head_prefix,
        provenance={"imported_from": str(state_dict), "normalization": norm_source},
    )
    bundle = bundle_from_state_dict(read_state_dict(state_dict), cfg)
    save_bundle(bundle, out)
    s = bundle.spec
    if as_json:
        echo_json({"out": str(out), "spec": s.to_json(), "parameters": s.num_parameters()})
    else:
        click.echo(
            f"imported {s.cell} x{s.num_layers} H={s.hidden_size}, input {s.input_size}, "
            f"{s.num_outputs} outputs ({s.num_parameters():,} parameters) -> {out}"
        )
