"""edgegru prune: remove hidden units (structured) or zero small weights (unstructured)."""

from __future__ import annotations

from pathlib import Path

import click

from edgegru.cli._common import (
    DISTILL_LOSS,
    data_options,
    echo_json,
    field_options,
    json_option,
    model_argument,
    out_option,
    resolve_data,
    rows_scored,
)
from edgegru.compress.config import DistillConfig, default_finetune_config
from edgegru.compress.sparsity import UnstructuredPruneConfig
from edgegru.compress.structured import StructuredPruneConfig


@click.command("prune")
@model_argument
@click.option("--hidden", type=int, default=None, help="Structured: keep this many hidden units.")
@click.option(
    "--params",
    type=int,
    default=None,
    help="Structured: the largest H within this many parameters.",
)
@click.option(
    "--sparsity",
    type=float,
    default=None,
    help="Unstructured: zero this share of the weight-matrix entries, in [0, 1).",
)
@click.option(
    "--finetune-epochs",
    type=click.IntRange(0),
    default=None,
    help=f"Fine-tuning epochs (per round for structured) [default: "
    f"{StructuredPruneConfig.finetune_epochs} structured, "
    f"{UnstructuredPruneConfig.finetune_epochs} unstructured].",
)
@click.option(
    "--steps",
    type=click.IntRange(1),
    default=StructuredPruneConfig.steps,
    show_default=True,
    help="Structured rounds.",
)
@click.option(
    "--importance",
    default=StructuredPruneConfig.importance,
    show_default=True,
    help="Structured: unit importance over all weights touching it (l2 | l1).",
)
@click.option(
    "--scope",
    default=UnstructuredPruneConfig.scope,
    show_default=True,
    help="Unstructured: one magnitude threshold for all matrices (global) or per-tensor.",
)
@click.option(
    "--distill/--no-distill",
    default=None,
    help="Fine-tune with a teacher (the unpruned model, or --teacher) as well as the labels "
    "[default: only with --teacher, as the pipeline's [compress] distill = false].",
)
@click.option(
    "--teacher",
    type=click.Path(path_type=Path),
    multiple=True,
    help="Fine-tune with this teacher bundle instead of the unpruned model (e.g. the big model "
    "a small one was distilled from); repeat for an ensemble.",
)
@field_options(DistillConfig(), DISTILL_LOSS, "loss_values")
@field_options(default_finetune_config(), ("lr", "seed"), "train_values")
@data_options
@out_option("Output bundle folder.")
@json_option()
def command(
    model, hidden, params, sparsity, finetune_epochs, steps, importance, scope, distill, teacher,
    loss_values, train_values, dataset, data, test_data, out, as_json,
) -> None:  # fmt: skip
    """Prune a model bundle and fine-tune it; prints sizes and accuracy before and after.

    Structured pruning (--hidden / --params) removes whole hidden units: the result is a smaller
    dense model, so every exported file shrinks and runs faster. Unstructured pruning
    (--sparsity) zeros small weights: dense runtimes keep the zeros, so only the compressed
    (gzip) size shrinks. Fine-tuning uses the data the model was trained on unless given.

    \b
    Examples:
      edgegru prune runs/gru128 --hidden 24 -o runs/gru24-pruned
      edgegru prune runs/gru128 --params 4000 --finetune-epochs 10 -o runs/small
      edgegru prune runs/gru32 --sparsity 0.7 --json -o runs/gru32-sparse
      edgegru prune runs/gru32-distilled --hidden 29 --teacher runs/gru128 -o runs/gru29
    """
    import dataclasses

    from edgegru.bundle import load_bundle, save_bundle
    from edgegru.cli._compress import echo_table, model_row, progress
    from edgegru.compress import (
        Distillation,
        check_teacher,
        prune_,
        sparsity_report,
    )
    from edgegru.compress.distill import teacher_provenance
    from edgegru.compress.structured import schedule, target_hidden
    from edgegru.errors import BadInput
    from edgegru.evaluate import evaluate

    if sum(v is not None for v in (hidden, params, sparsity)) != 1:
        raise BadInput("give exactly one of --hidden, --params and --sparsity")
    try:
        if sparsity is not None:
            cfg = UnstructuredPruneConfig(sparsity=sparsity, scope=scope)
        else:
            cfg = StructuredPruneConfig(hidden_size=hidden, max_params=params,
                                        importance=importance, steps=steps)  # fmt: skip
        if finetune_epochs is not None:
            cfg = dataclasses.replace(cfg, finetune_epochs=finetune_epochs)
        train_cfg = dataclasses.replace(default_finetune_config(), **train_values)
        kd = DistillConfig(**loss_values, train=train_cfg)
    except ValueError as e:
        raise BadInput(str(e)) from None
    if teacher and distill is False:
        raise BadInput("--teacher teaches the fine-tuning: drop --no-distill")
    distill = bool(distill or teacher)
    bundle = load_bundle(model)
    teachers = [load_bundle(t) for t in teacher] or [bundle]
    rounds = 1
    if isinstance(cfg, StructuredPruneConfig):
        target = target_hidden(bundle.spec, cfg)  # a too-large --hidden fails before any work
        rounds = len(schedule(bundle.spec.hidden_size, target, cfg.steps))
    default = bundle.provenance.get("dataset")
    ds = resolve_data(dataset, data, test_data, default=default if not data else None)
    for t in (bundle, *teachers):
        check_teacher(t, ds)  # the same checks: the model (and each teacher) must fit the data
    before = model_row(bundle, evaluate(bundle, ds))
    if isinstance(cfg, UnstructuredPruneConfig):
        before.update(_sparse(sparsity_report(bundle)))
    objective = Distillation.from_config(teachers, kd) if distill else None
    # before prune_: it rewrites `bundle` (the default teacher) in place
    teacher_info = teacher_provenance(teachers, kd) if objective and cfg.finetune_epochs else None
    bar, on_epoch = progress(rounds * cfg.finetune_epochs, as_json, "prune")
    with bar:
        prune_(bundle, cfg, ds, train=train_cfg, objective=objective, on_epoch=on_epoch)
    if teacher_info is not None:
        bundle.provenance["compression"][-1]["teacher"] = teacher_info
    metrics = evaluate(bundle, ds)
    bundle.provenance["test_metrics"] = {
        k: v for k, v in metrics.items() if not isinstance(v, (list, dict))
    }
    save_bundle(bundle, out)
    after = model_row(bundle, metrics)
    if isinstance(cfg, UnstructuredPruneConfig):
        after.update(_sparse(sparsity_report(bundle)))
    result = {"out": str(out), "config": cfg.to_json(), "before": before, "after": after}
    if as_json:
        echo_json(result | {"rows_scored": rows_scored(ds)})
        return
    click.echo(f"{model} -> {out} ({cfg.scheme} pruning, {ds.info.name} test split)")
    click.echo(rows_scored(ds))
    echo_table({"before": before, "after": after})
    if isinstance(cfg, UnstructuredPruneConfig):
        click.echo(
            "note: dense runtimes store and multiply the zeros; only a compressed download "
            "(gzip) shrinks. Structured pruning (--hidden) shrinks every file and the latency."
        )


def _sparse(report: dict) -> dict:
    keys = ("sparsity", "float32_gzip_bytes", "int8_gzip_bytes_estimate")
    return {k: report["matrix_sparsity" if k == "sparsity" else k] for k in keys}
