"""The pipeline's stages, in run order. One stage = one function registered with ``@stage``.

Stages import their libraries inside the function so loading the pipeline stays light.
"""

from __future__ import annotations

import dataclasses
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


def model_folder(ctx: Context) -> Path:
    """The float model that flows downstream: the compressed one when compress ran."""
    if "compress" in ctx.results and ctx.config.compress.deploy == "compressed":
        return ctx.results["compress"].folder / "model"
    return ctx.results["train"].folder


@stage("compress", section="compress", needs=("train",))
def compress_stage(ctx: Context, folder: Path) -> dict[str, Any]:
    """Prune the trained model (or distill a student from it) to ``hidden``; score every size of
    ``curve`` too. Writes ``folder/model`` (what flows on) and ``folder/h<H>`` for the curve."""
    import copy

    from edgegru.bundle import load_bundle, save_bundle
    from edgegru.compress import DistillConfig, StructuredPruneConfig, distill, model_sizes, prune_
    from edgegru.errors import BadInput
    from edgegru.evaluate import evaluate

    c = ctx.config.compress
    teacher = load_bundle(ctx.results["train"].folder)
    ds = ctx.data()
    for h in (c.hidden, *c.curve):
        if c.method == "prune" and h >= teacher.spec.hidden_size:
            raise BadInput(f"[compress]: hidden {h} is not smaller than the model's "
                           f"{teacher.spec.hidden_size}")  # fmt: skip

    def make(h: int, out: Path) -> Any:
        ctx.say("compress", f"{c.method} to H={h}")
        if c.method == "prune":
            bundle = copy.deepcopy(teacher)
            prune_(bundle, StructuredPruneConfig(hidden_size=h, finetune_epochs=c.finetune_epochs),
                   ds)  # fmt: skip
            save_bundle(bundle, out)
            return bundle
        student = dataclasses.replace(teacher.spec, hidden_size=h, cell=c.cell or teacher.spec.cell,
                                      normalization=None)  # fmt: skip
        wide = round(c.widen * h)
        cfg = DistillConfig(
            prune_from=wide if wide > h else None,
            train=dataclasses.replace(
                DistillConfig().train, epochs=c.epochs, seed=ctx.config.train.seed
            ),
        )
        return distill(teacher, student, ds, cfg, out).bundle

    curve = [{"hidden": teacher.spec.hidden_size, "model": "trained",
              **model_sizes(teacher.spec), **_score(evaluate(teacher, ds))}]  # fmt: skip
    for h in sorted({c.hidden, *c.curve}, reverse=True):
        out = folder / ("model" if h == c.hidden else f"h{h}")
        bundle = make(h, out)
        curve.append({"hidden": h, "model": c.method, **model_sizes(bundle.spec),
                      **_score(evaluate(bundle, ds))})  # fmt: skip
    return {"method": c.method, "hidden": c.hidden, "deploy": c.deploy, "curve": curve}


def _score(metrics: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in metrics.items() if k in ("accuracy", "macro_f1", "mae", "rmse")}


PRECISION_OF_SCHEME = {"dynamic": "int8-dynamic", "static": "int8-static", "qat": "int8-static"}


@stage("quantize", section="quantize", needs=("train",))
def quantize_stage(ctx: Context, folder: Path) -> dict[str, Any]:
    """One int8 bundle per scheme in ``folder/<scheme>``; a scheme the model's cell does not
    support yet is recorded as skipped with the reason."""
    import copy

    from edgegru.bundle import load_bundle, save_bundle
    from edgegru.errors import BadInput
    from edgegru.quantize import QuantizeConfig, quantize_
    from edgegru.quantize.compare import compare

    q = ctx.config.quantize
    float_bundle = load_bundle(model_folder(ctx))
    ds = ctx.data()
    done: dict[str, Any] = {}
    skipped: dict[str, str] = {}
    for scheme in q.schemes:
        ctx.say("quantize", scheme)
        cfg = QuantizeConfig(
            scheme=scheme, calib=q.calib, method=q.method, qat_epochs=q.qat_epochs,
            weights=q.weights, head_bits=q.logits_bits,
        )  # fmt: skip
        bundle = copy.deepcopy(float_bundle)
        try:
            quantize_(bundle, cfg, ds)
        except BadInput as e:
            skipped[scheme] = str(e)
            continue
        save_bundle(bundle, folder / scheme)
        result = compare(float_bundle, bundle, ds.test, ds.task)
        done[scheme] = {
            "bundle": scheme, "precision": PRECISION_OF_SCHEME[scheme],
            "float": result["float"], "int8": result["int8"],
            "sqnr_db": result["sqnr_db"], "agreement": result.get("agreement"),
        }  # fmt: skip
    return {"schemes": done, "skipped": skipped}


def _row(a: Any, folder: Path) -> dict[str, Any]:
    return {"file": str(Path(a.path).relative_to(folder)), "format": a.format, "form": a.form,
            "precision": a.precision, "size_bytes": a.size_bytes,
            "nodes": a.details.get("nodes", a.details.get("ops"))}  # fmt: skip


def _checks_on_tflm(ctx: Context) -> bool:
    c = ctx.config.check
    return c.enabled and any(t.partition("?")[0] == "tflm" for t in c.targets)


def _export_inputs(ctx: Context) -> dict[str, Any]:
    return {"tflm": _checks_on_tflm(ctx)}  # LSTM cells then export float files lowered


@stage("export", section="export", needs=("train",), extra_inputs=_export_inputs)
def export_stage(ctx: Context, folder: Path) -> dict[str, Any]:
    """Every configured format and form of the float model, and of each int8 bundle (in
    ``folder/<scheme>/``); a format that cannot write a precision yet is recorded as skipped."""
    from edgegru.bundle import load_bundle
    from edgegru.errors import BadInput
    from edgegru.export import ExportConfig, export

    e = ctx.config.export
    bundle = load_bundle(model_folder(ctx))
    options = {}
    if _checks_on_tflm(ctx) and bundle.spec.cell in ("lstm", "peephole"):
        options["layout"] = "lowered"  # TFLite Micro's fused LSTM takes no peepholes
    cfg = ExportConfig(formats=tuple(e.formats), forms=tuple(e.forms), options=options)
    artifacts = export(bundle, cfg, folder)
    rows = [_row(a, folder) for a in artifacts]
    skipped: list[str] = []
    quantized = ctx.results["quantize"].outputs["schemes"] if "quantize" in ctx.results else {}
    for scheme, info in quantized.items():
        qbundle = load_bundle(ctx.results["quantize"].folder / info["bundle"])
        for fmt in e.formats:
            cfg = ExportConfig(formats=(fmt,), forms=tuple(e.forms), precision=info["precision"])
            try:
                written = export(qbundle, cfg, folder / scheme)
            except BadInput as err:
                skipped.append(f"{fmt} {info['precision']} ({scheme}): {err}")
                continue
            rows += [_row(a, folder) for a in written]
    return {"artifacts": rows, "skipped": skipped}


def _check_targets(ctx: Context) -> list[tuple[str, int]]:
    """(target, row limit) pairs: the configured targets, plus the emulated Pis when set up."""
    c = ctx.config.check
    pairs = [(t, c.limit) for t in c.targets]
    if c.emulated == "auto":
        from edgegru.targets.qemu_rootfs import cache_dir, is_ready

        if is_ready(cache_dir()):
            named = {t for t, _ in pairs}
            pairs += [(t, c.emulated_limit) for t in ("qemu-aarch64:pi4", "qemu-aarch64:pi5")
                      if t not in named]  # fmt: skip
    return pairs


def _check_inputs(ctx: Context) -> dict[str, Any]:
    return {"targets": _check_targets(ctx)}


@stage("check", section="check", needs=("train", "export"), extra_inputs=_check_inputs)
def check_stage(ctx: Context, folder: Path) -> dict[str, Any]:
    """Run every artifact on every target; compare with the float model; apply the budgets."""
    import numpy as np

    from edgegru.bundle import load_bundle
    from edgegru.evaluate import predict
    from edgegru.targets.config import Budgets, RunConfig
    from edgegru.targets.session import CheckInputs, run_check
    from edgegru.types import SequenceData

    c = ctx.config.check
    bundle = load_bundle(model_folder(ctx))
    ds = ctx.data()
    export_dir = ctx.results["export"].folder
    files = [export_dir / a["file"] for a in ctx.results["export"].outputs["artifacts"]]
    budgets = Budgets(c.max_accuracy_drop, c.min_agreement, c.max_latency_us, c.max_size_kb,
                      c.max_rss_mb, max_arena_kb=c.max_arena_kb,
                      max_flash_kb=c.max_flash_kb)  # fmt: skip

    def reference(X: np.ndarray, lengths: np.ndarray | None) -> np.ndarray:
        return predict(bundle, SequenceData(X, np.zeros(len(X)), lengths))

    quantized = ctx.results["quantize"].outputs["schemes"] if "quantize" in ctx.results else {}
    int8_bundles: dict[str, Any] = {}

    def int8_reference(artifact: Any, mode: str, X: np.ndarray, lengths: np.ndarray | None):
        """The scheme's bundle (export/<scheme>/...) through the NumPy int8 reference."""
        from edgegru.quantize.reference import predict_int8

        scheme = Path(artifact.path).parent.name
        info = quantized.get(scheme)
        if info is None or info.get("precision") != "int8-static":
            return None
        if scheme not in int8_bundles:
            int8_bundles[scheme] = load_bundle(ctx.results["quantize"].folder / info["bundle"])
        return predict_int8(int8_bundles[scheme], X, lengths, mode)

    rows: list[dict[str, Any]] = []
    for target, limit in _check_targets(ctx):
        part = ds.test
        if limit and limit < len(part):
            # evenly spaced rows: the test split is ordered by recording, so its first rows would
            # be one subject and one or two classes
            idx = np.linspace(0, len(part) - 1, limit).round().astype(np.int64)
            part = SequenceData(part.X[idx], part.y[idx],
                                None if part.lengths is None else part.lengths[idx])  # fmt: skip
        emulated = target.startswith("qemu")
        cfg = RunConfig(warmup=min(c.warmup, 2) if emulated else c.warmup,
                        runs=min(c.runs, 5) if emulated else c.runs)  # fmt: skip
        runs = files
        if target.partition("?")[0] == "tflm":  # TFLite Micro cannot run the fused int8 LSTM
            runs = [f for f in files if not (f.name.endswith(".int8.tflite") and
                                             bundle.spec.cell in ("lstm", "peephole"))]  # fmt: skip
        ctx.say("check", f"{len(runs)} artifacts on {target} ({len(part)} sequences)")
        inputs = CheckInputs(part, ds.task, reference, int8_reference)
        for row in run_check(runs, [target], inputs, cfg, budgets):
            data = row.to_json()
            lat = row.latency_us
            data.update(file=str(Path(row.artifact).relative_to(export_dir)), p50_us=lat.get("p50"),
                        p90_us=lat.get("p90"))  # fmt: skip
            rows.append(data)
    return {"rows": rows, "failures": [f for r in rows for f in r.get("failures", [])]}
