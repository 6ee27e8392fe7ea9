"""The pipeline's stages, in run order. One stage = one function registered with ``@stage``.

Stages import their libraries inside the function so loading the pipeline stays light.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from edgegru.pipeline.runner import Context, sha256_file, stage


def _data_inputs(ctx: Context) -> dict[str, Any]:
    d = ctx.config.data
    if not d.path:
        return {"dataset": d.dataset}
    files = {"path": d.path, "test_path": d.test_path}
    return {k: sha256_file(Path(v)) for k, v in files.items() if v and Path(v).is_file()}


def _train_inputs(ctx: Context) -> dict[str, Any]:
    model = ctx.config.train.model
    extra = _data_inputs(ctx)
    if model and Path(model, "model.safetensors").is_file():
        extra["model"] = sha256_file(Path(model, "model.safetensors"))
    return extra


@stage("train", section="train", extra_inputs=_train_inputs)
def train_stage(ctx: Context, folder: Path) -> dict[str, Any]:
    """Train the float model (or take the bundle named by ``model``) and score it."""
    from edgegru.bundle import load_bundle, save_bundle
    from edgegru.errors import BadInput
    from edgegru.evaluate import evaluate
    from edgegru.train import TrainConfig, train
    from edgegru.types import ModelSpec

    t = ctx.config.train
    ds = ctx.data()
    if t.model:
        bundle = load_bundle(t.model)
        save_bundle(bundle, folder)
        metrics = evaluate(bundle, ds)
    else:
        try:
            spec = ModelSpec(
                cell=t.cell, input_size=ds.num_features, hidden_size=t.hidden,
                num_outputs=ds.num_outputs, num_layers=t.layers, head=t.head, task=ds.task,
            )  # fmt: skip
        except ValueError as e:
            raise BadInput(f"[train]: {e}") from None
        cfg = TrainConfig(epochs=t.epochs, lr=t.lr, jitter=t.jitter, seed=t.seed)

        def on_epoch(log: Any) -> None:
            ctx.progress("train", log.epoch, log.epochs)

        result = train(spec, ds, cfg, folder, on_epoch=on_epoch)
        bundle, metrics = result.bundle, result.test_metrics
    spec = bundle.spec
    return {
        "bundle": ".",
        "dataset": ds.info.name,
        "parameters": spec.num_parameters(),
        "spec": spec.to_json(),
        "test_metrics": {k: v for k, v in metrics.items() if not isinstance(v, (dict, list))},
    }


@stage("export", section="export", needs=("train",))
def export_stage(ctx: Context, folder: Path) -> dict[str, Any]:
    """Write every configured format and form of the float model."""
    from edgegru.bundle import load_bundle
    from edgegru.export import ExportConfig, export

    e = ctx.config.export
    bundle = load_bundle(ctx.results["train"].folder)
    artifacts = export(bundle, ExportConfig(formats=tuple(e.formats), forms=tuple(e.forms)), folder)
    return {
        "artifacts": [
            {"file": Path(a.path).name, "format": a.format, "form": a.form,
             "precision": a.precision, "size_bytes": a.size_bytes,
             "nodes": a.details.get("nodes", a.details.get("ops"))}
            for a in artifacts
        ]
    }  # fmt: skip
