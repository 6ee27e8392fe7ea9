"""The pipeline's stages, in run order. One stage = one function registered with ``@stage``.

Stages import their libraries inside the function so loading the pipeline stays light.
"""

from __future__ import annotations

import dataclasses
import functools
from pathlib import Path
from typing import Any

from edgegru.pipeline.executor import Context, sha256_file, stage


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


def _train_plan(ctx: Context) -> tuple[Any, Any]:
    """(ModelSpec, TrainConfig) of the [train] section; ``BadInput`` naming the field."""
    from edgegru.errors import BadInput
    from edgegru.types import ModelSpec

    t, ds = ctx.config.train, ctx.data()
    try:
        spec = ModelSpec(
            cell=t.cell, input_size=ds.num_features, hidden_size=t.hidden,
            num_outputs=ds.num_outputs, num_layers=t.layers, head=t.head, task=ds.task,
        )  # fmt: skip
        return spec, t.train_config()
    except ValueError as e:
        raise BadInput(f"[train]: {e}") from None


def _start_bundle(ctx: Context) -> Any:
    """The bundle ``[train] model`` names, checked against the data."""
    from edgegru.bundle import load_bundle
    from edgegru.errors import BadInput

    bundle, ds = load_bundle(ctx.config.train.model or ""), ctx.data()
    spec = bundle.spec
    if (spec.input_size, spec.task) != (ds.num_features, ds.task) or (
        ds.task == "classification" and spec.num_outputs != ds.num_outputs
    ):
        raise BadInput(
            f"[train] model {ctx.config.train.model}: a {spec.task} model of {spec.input_size} "
            f"features and {spec.num_outputs} outputs does not fit the data ({ds.task}, "
            f"{ds.num_features} features, {ds.num_outputs} outputs)"
        )
    return bundle


def _validate_train(ctx: Context) -> None:
    if ctx.config.train.model:
        _start_bundle(ctx)
    else:
        _train_plan(ctx)


def _trained_spec(ctx: Context) -> Any:
    """The spec the train stage will produce (known before it runs)."""
    return _start_bundle(ctx).spec if ctx.config.train.model else _train_plan(ctx)[0]


@stage("train", section="train", extra_inputs=_train_inputs, validate=_validate_train)
def train_stage(ctx: Context, folder: Path) -> dict[str, Any]:
    """Train the float model (or take the bundle named by ``model``) and score it."""
    from edgegru.bundle import save_bundle
    from edgegru.evaluate import evaluate
    from edgegru.train import train

    t = ctx.config.train
    ds = ctx.data()
    schedule: dict[str, Any] = {}  # epochs, optimizer steps, batch and warning of a new run
    if t.model:
        bundle = _start_bundle(ctx)
        save_bundle(bundle, folder)
        metrics = evaluate(bundle, ds)
    else:
        spec, cfg = _train_plan(ctx)

        def on_epoch(log: Any) -> None:
            ctx.progress("train", log.epoch, log.epochs)

        result = train(spec, ds, cfg, folder, on_epoch=on_epoch)
        bundle, metrics = result.bundle, result.test_metrics
        schedule = {"epochs_run": len(result.history), "optimizer_steps": result.steps,
                    "batch_size": result.schedule.batch_size if result.schedule else None,
                    "warning": result.warning}  # fmt: skip
        if result.warning:
            ctx.say("train", f"warning: {result.warning}")
    spec = bundle.spec
    return {
        **schedule,
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


def _validate_compress(ctx: Context) -> None:
    from edgegru.errors import BadInput

    c, trained = ctx.config.compress, _trained_spec(ctx).hidden_size
    for h in (c.hidden, *c.curve):
        if c.method == "prune" and h >= trained:
            raise BadInput(f"[compress]: hidden {h} is not smaller than the model's {trained}; "
                           "prune to a smaller hidden size")  # fmt: skip


@stage("compress", section="compress", needs=("train",), validate=_validate_compress)
def compress_stage(ctx: Context, folder: Path) -> dict[str, Any]:
    """Prune the trained model (or distill a student from it) to ``hidden``; score every size of
    ``curve`` too. Writes ``folder/model`` (what flows on) and ``folder/h<H>`` for the curve."""
    import copy

    from edgegru.bundle import load_bundle, save_bundle
    from edgegru.compress import Distillation, distill, model_sizes, prune_
    from edgegru.compress.distill import teacher_provenance
    from edgegru.evaluate import evaluate

    c = ctx.config.compress
    teacher = load_bundle(ctx.results["train"].folder)
    ds = ctx.data()

    def make(h: int, out: Path) -> Any:
        ctx.say("compress", f"{c.method} to H={h}")
        if c.method == "prune":
            bundle = copy.deepcopy(teacher)
            # distill = true: the trained model teaches the fine-tuning (`edgegru prune --distill`)
            kd = c.distill_config()
            objective = Distillation.from_config(teacher, kd) if c.distill else None
            prune_(bundle, c.prune_config(h), ds, objective=objective)
            if objective is not None and c.finetune_epochs:
                bundle.provenance["compression"][-1]["teacher"] = teacher_provenance([teacher], kd)
            save_bundle(bundle, out)
            return bundle
        student = dataclasses.replace(teacher.spec, hidden_size=h, cell=c.cell or teacher.spec.cell,
                                      normalization=None)  # fmt: skip
        wide = round(c.widen * h)
        cfg = c.distill_config(prune_from=wide if wide > h else None, seed=ctx.config.train.seed)
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
    from edgegru.quantize import quantize_
    from edgegru.quantize.compare import compare

    q = ctx.config.quantize
    float_bundle = load_bundle(model_folder(ctx))
    ds = ctx.data()
    done: dict[str, Any] = {}
    skipped: dict[str, str] = {}
    for scheme in q.schemes:
        ctx.say("quantize", scheme)
        cfg = q.quantize_config(scheme)
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


def _validate_export(ctx: Context) -> None:
    from edgegru.errors import BadInput
    from edgegru.export import ExportConfig

    e = ctx.config.export
    try:
        ExportConfig(formats=tuple(e.formats), forms=tuple(e.forms))
    except ValueError as err:
        raise BadInput(f"[export]: {err}") from None


def _checks_on_tflm(ctx: Context) -> bool:
    c = ctx.config.check
    return c.enabled and any(t.partition("?")[0] == "tflm" for t in c.targets)


def _export_inputs(ctx: Context) -> dict[str, Any]:
    return {"tflm": _checks_on_tflm(ctx)}  # LSTM cells then export float files lowered


@stage(
    "export",
    section="export",
    needs=("train",),
    extra_inputs=_export_inputs,
    validate=_validate_export,
)
def export_stage(ctx: Context, folder: Path) -> dict[str, Any]:
    """Every configured format and form of the float model, and of each int8 bundle (in
    ``folder/<scheme>/``); a format that cannot write a precision yet is recorded as skipped."""
    from edgegru.bundle import load_bundle
    from edgegru.errors import BadInput
    from edgegru.export import ExportConfig, export
    from edgegru.pipeline.config import LENGTHS_CHOICES

    e = ctx.config.export
    bundle = load_bundle(model_folder(ctx))
    final = ctx.out / "export"  # where ``folder`` goes when the stage completes
    lengths = LENGTHS_CHOICES[e.lengths]
    options = {}
    tflm_layout = bundle.spec.cell_spec.tflm_layout
    if _checks_on_tflm(ctx) and tflm_layout is not None:
        options["layout"] = tflm_layout  # e.g. TFLite Micro's fused LSTM takes no peepholes
    float_cfg = ExportConfig(formats=tuple(e.formats), forms=tuple(e.forms), lengths=lengths,
                             options=options)  # fmt: skip
    artifacts = export(bundle, float_cfg, folder, final)
    rows = [_row(a, final) for a in artifacts]
    skipped: list[str] = []
    quantized = ctx.results["quantize"].outputs["schemes"] if "quantize" in ctx.results else {}
    for scheme, info in quantized.items():
        qbundle = load_bundle(ctx.results["quantize"].folder / info["bundle"])
        for fmt in e.formats:
            cfg = dataclasses.replace(float_cfg, formats=(fmt,), precision=info["precision"])
            try:
                written = export(qbundle, cfg, folder / scheme, final / scheme)
            except BadInput as err:
                skipped.append(f"{fmt} {info['precision']} ({scheme}): {err}")
                continue
            rows += [_row(a, final) for a in written]
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


def _validate_check(ctx: Context) -> None:
    """Every target string parses and names a known transport with valid options (nothing is
    contacted yet), and the budgets are numbers in range."""
    from edgegru.errors import BadInput
    from edgegru.targets.config import Budgets
    from edgegru.targets.registry import make_target

    c = ctx.config.check
    for target in c.targets:
        try:
            make_target(target)
        except BadInput as e:
            raise BadInput(f"[check] targets: {e}") from None
    try:
        Budgets(c.max_accuracy_drop, c.min_agreement, c.max_latency_us, c.max_size_kb,
                c.max_rss_mb)  # fmt: skip
    except ValueError as e:
        raise BadInput(f"[check]: {e}") from None


@stage("check", section="check", needs=("train", "export"), extra_inputs=_check_inputs,
       validate=_validate_check)  # fmt: skip
def check_stage(ctx: Context, folder: Path) -> dict[str, Any]:
    """Run every artifact on every target; compare with the float model; apply the budgets."""
    import numpy as np

    from edgegru.bundle import load_bundle
    from edgegru.evaluate import predict
    from edgegru.targets.config import Budgets, RunConfig
    from edgegru.targets.session import CheckInputs, run_check, run_concurrently
    from edgegru.types import SequenceData

    c = ctx.config.check
    bundle = load_bundle(model_folder(ctx))
    ds = ctx.data()
    export_dir = ctx.results["export"].folder
    files = [export_dir / a["file"] for a in ctx.results["export"].outputs["artifacts"]]
    budgets = Budgets(**{f.name: getattr(c, f.name) for f in dataclasses.fields(Budgets)})

    def reference(X: np.ndarray, lengths: np.ndarray | None) -> np.ndarray:
        return predict(bundle, SequenceData(X, np.zeros(len(X)), lengths))

    quantized = ctx.results["quantize"].outputs["schemes"] if "quantize" in ctx.results else {}
    int8_bundles: dict[str, Any] = {}

    def int8_reference(artifact: Any, mode: str, X: np.ndarray, lengths: np.ndarray | None):
        """The scheme's bundle (export/<scheme>/...) through the NumPy int8 reference."""
        from edgegru.quantize.lstm_lowered_reference import GRAPH_KEY
        from edgegru.quantize.reference import predict_int8

        scheme = Path(artifact.path).parent.name
        info = quantized.get(scheme)
        if info is None or info.get("precision") != "int8-static":
            return None
        if scheme not in int8_bundles:
            int8_bundles[scheme] = load_bundle(ctx.results["quantize"].folder / info["bundle"])
        graph = artifact.details.get(GRAPH_KEY)  # "lowered": builtin int8 ops, not the fused LSTM
        return predict_int8(int8_bundles[scheme], X, lengths, mode, graph=graph)

    tasks = []
    for target, limit in _check_targets(ctx):
        part = ds.test
        if limit and limit < len(part):
            # evenly spaced rows: the test split is ordered by recording, so its first rows would
            # be one subject and one or two classes
            idx = np.linspace(0, len(part) - 1, limit).round().astype(np.int64)
            part = SequenceData(part.X[idx], part.y[idx],
                                None if part.lengths is None else part.lengths[idx])  # fmt: skip
        emulated = target.startswith("qemu")
        # emulated timings mean nothing: a few runs and one window keep qemu's time down
        cfg = RunConfig(warmup=min(c.warmup, 2) if emulated else c.warmup,
                        runs=min(c.runs, 5) if emulated else c.runs,
                        windows=1 if emulated else 0)  # fmt: skip
        runs = files  # with tflm among the targets, LSTM files were exported lowered (export)
        ctx.say("check", f"{len(runs)} artifacts on {target} ({len(part)} sequences)")
        inputs = CheckInputs(part, ds.task, reference, int8_reference)
        task = functools.partial(run_check, runs, [target], inputs, cfg, budgets)
        tasks.append((emulated, task))
    rows: list[dict[str, Any]] = []
    for row in (r for target_rows in run_concurrently(tasks) for r in target_rows):
        data = row.to_json()
        # the report's latency: one window (a step form's T steps), the runtime's invoke alone
        data.update(file=str(Path(row.artifact).relative_to(export_dir)),
                    p50_us=row.latency("window_invoke"), p90_us=row.latency("window_invoke", "p90"),
                    latency_figure="window_invoke")  # fmt: skip
        rows.append(data)
    return {"rows": rows, "failures": [f for r in rows for f in r.get("failures", [])],
            "broken": [b for r in rows for b in r.get("broken", [])],
            "budgets": budgets.to_json()}  # fmt: skip
