"""edgegru check: run artifacts on devices, compare with the float model, enforce budgets."""

from __future__ import annotations

from pathlib import Path

import click

from edgegru.cli._common import (
    data_options,
    echo_json,
    json_option,
    resolve_data,
    rows_scored,
    table,
)
from edgegru.targets.config import LATENCY_FIGURES, RunConfig

_BUDGET_HELP = {
    "max_accuracy_drop": "Percentage points below the float model [default: 1].",
    "min_agreement": "Fraction of predictions equal to the float model's [default: 0.95].",
    "max_latency_us": "Median (p50) of the --latency-figure's timed runs.",
    "max_size_kb": "File size.",
    "max_rss_mb": "Peak resident memory.",
    "max_logit_error": "Max abs output difference [default: the artifact's stated tolerance].",
    "max_arena_kb": "tflm: the tensor arena TFLite Micro needs (the smallest that works).",
    "max_flash_kb": "tflm: the model's bytes.",
}


def budget_options(f):
    """--max-accuracy-drop N|SCOPE=N ... (repeatable) and --no-default-budgets; the command
    gets them as ``budget_values`` {name: (text, ...)} and ``default_budgets``."""

    def collect(ctx, param, value):
        ctx.params.setdefault("budget_values", {})[param.name] = value

    f = click.option(
        "--default-budgets/--no-default-budgets",
        default=True,
        help="Apply the default accuracy-drop and agreement budgets [default: on].",
    )(f)
    for name, text in reversed(_BUDGET_HELP.items()):
        f = click.option(
            "--" + name.replace("_", "-"),
            name,
            multiple=True,
            metavar="N|SCOPE=N",
            callback=collect,
            expose_value=False,
            help=text,
        )(f)
    return f


def _opt(v, fmt: str = "{:.4f}") -> str:
    return "-" if v is None else fmt.format(v)


@click.command("check")
@click.argument("artifacts", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option(
    "--target",
    "targets",
    multiple=True,
    default=("local",),
    show_default=True,
    help="local | ssh://user@host[:port][?known_hosts=F&identity=KEY&python=CMD] | "
    "qemu-aarch64[:pi4|pi5] | adb[:serial] | tflm (TFLite Micro: arena, flash, ops). "
    "Repeat for several.",
)
@data_options
@click.option("--split", type=click.Choice(["test", "train"]), default="test", show_default=True)
@click.option("--limit", type=click.IntRange(1), default=None, help="Use the first N rows only.")
@click.option(
    "--reference",
    type=click.Path(path_type=Path),
    default=None,
    help="The float model bundle [default: found beside the artifact by its hash]; a "
    "static-quantized bundle also checks its int8 files against the NumPy int8 reference.",
)
@budget_options
@click.option(
    "--latency-figure",
    type=click.Choice(LATENCY_FIGURES),
    default="invoke",
    show_default=True,
    help="The figure --max-latency-us binds: invoke (the runtime's invoke alone), call (what a "
    "Python call pays), window_invoke / window_call (one whole window; a step form's T steps).",
)
@click.option("--threads", type=click.IntRange(1), default=RunConfig.threads, show_default=True)
@click.option(
    "--delegate",
    type=click.Choice(["auto", "xnnpack", "builtin", "reference"]),
    default="auto",
    show_default=True,
)
@click.option(
    "--api",
    type=click.Choice(["auto", "compiled", "interpreter"]),
    default="auto",
    show_default=True,
    help="LiteRT API.",
)
@click.option(
    "--warmup", type=click.IntRange(0), default=RunConfig.warmup, show_default=True
)
@click.option("--runs", type=click.IntRange(1), default=RunConfig.runs, show_default=True)
@click.option("--cpus", default="", help="Pin the runner to these CPUs, e.g. 2,3.")
@json_option("Print every result as JSON.")
def command(
    artifacts,
    targets,
    dataset,
    data,
    test_data,
    split,
    limit,
    reference,
    budget_values,
    default_budgets,
    latency_figure,
    threads,
    delegate,
    api,
    warmup,
    runs,
    cpus,
    as_json,
) -> None:
    """Run exported files on devices: outputs vs the float model, latency, memory, budgets.

    \b
    Every file is compared with the float model on the rows as given (with their lengths).
    Default budgets apply unless --no-default-budgets: accuracy drop <= 1 point and agreement
    >= 0.95 against the float model. A budget is a number for every file, or SCOPE=NUMBER for a
    precision (float32, int8, int8-dynamic, int8-static) or format (onnx, ort, tflite), e.g.
    --max-size-kb 64 --max-size-kb int8=16 (the most specific scope wins).

    \b
    Examples:
      edgegru check runs/gru32/export/model.onnx --target local
      edgegru check out/*.tflite out/*.onnx --target ssh://pi@raspberrypi \\
          --target qemu-aarch64:pi5 --max-accuracy-drop 2 --max-latency-us 500
      edgegru check out/*.tflite --max-size-kb int8=16 --max-accuracy-drop int8=1.5
      edgegru check out/model.step.int8.tflite --target tflm --max-arena-kb 8 --max-flash-kb 12
    """
    from edgegru.errors import BadInput, CheckFailed
    from edgegru.targets.check import broken_summary, summarize
    from edgegru.targets.config import Budgets
    from edgegru.targets.session import CheckInputs, find_reference, load_manifest, run_check

    try:
        cfg = RunConfig(
            threads=threads,
            delegate=delegate,
            api=api,
            warmup=warmup,
            runs=runs,
            cpus=_cpu_list(cpus),
        )
        budgets = Budgets(
            **{n: Budgets.parse_option(n, v) for n, v in budget_values.items()},
            default_budgets=default_budgets,
            latency_figure=latency_figure,
        )
    except ValueError as e:
        raise BadInput(str(e)) from None

    bundle = _reference_bundle(artifacts, reference, load_manifest, find_reference)
    default = bundle.provenance.get("dataset") if bundle is not None else None
    if not (dataset or data or default):
        raise BadInput("no data: give --dataset NAME or --data FILE.npz (or --reference MODEL)")
    if test_data and not data and split == "train":
        raise BadInput("--split train needs --data: --test-data alone is every row as test")
    outputs = bundle.spec.num_outputs if bundle is not None else None
    ds = resolve_data(dataset, data, test_data, default=default if not data else None,
                      score_only=True, num_outputs=outputs)  # fmt: skip
    part = ds.test if split == "test" else ds.train
    if limit is not None:
        part = _head(part, limit)
    scored = rows_scored(ds, split, len(part), "the first --limit rows")
    predict = None
    if bundle is not None:
        if bundle.spec.task != ds.task:
            raise BadInput(f"the model is for {bundle.spec.task}, the data is {ds.task}")
        predict = _predictor(bundle)
    inputs = CheckInputs(part, ds.task, predict, _int8_reference(bundle))
    rows = run_check(list(artifacts), list(targets), inputs, cfg, budgets)
    failures = [f for r in rows for f in r.failures]
    broken = [b for r in rows for b in r.broken]
    if as_json:
        echo_json(
            {
                "rows": [r.to_json() for r in rows],
                "failures": failures,
                "broken": broken,
                "summary": summarize(broken),
                "budgets": budgets.to_json(),
                "rows_scored": scored,
            }
        )
    else:
        click.echo(render(rows, budgets))
        click.echo(scored)
    if failures:
        raise CheckFailed(broken_summary(broken, len(rows)))


def _reference_bundle(artifacts, reference, load_manifest, find_reference):
    """--reference, else the bundle every artifact names by its source hash (or None)."""
    from edgegru.bundle import load_bundle, weights_sha256
    from edgegru.errors import BadInput

    sources = {load_manifest(a)[2].source_sha256 for a in artifacts}
    if reference is not None:
        bundle = load_bundle(reference)
        if weights_sha256(bundle) not in sources or len(sources) > 1:
            raise BadInput(
                f"--reference {reference} is not the model these files were exported "
                "from (weights hash differs)"
            )
        return bundle
    if len(sources) > 1:
        return None  # artifacts of different models: no single float reference
    found = find_reference(load_manifest(artifacts[0])[0], sources.pop())
    return load_bundle(found) if found is not None else None


def _int8_reference(bundle):
    """A static-quantized --reference also yields the NumPy int8 reference of its int8 files."""
    if bundle is None or bundle.quant is None or not bundle.quant.is_static:
        return None

    def run(artifact, mode, X, lengths):
        from edgegru.quantize.lstm_lowered_reference import GRAPH_KEY
        from edgegru.quantize.reference import predict_int8

        return predict_int8(bundle, X, lengths, mode, graph=artifact.details.get(GRAPH_KEY))

    return run


def _head(part, n):
    from edgegru.types import SequenceData

    cut = None if part.lengths is None else part.lengths[:n]
    groups = None if part.groups is None else part.groups[:n]
    return SequenceData(part.X[:n], part.y[:n], cut, groups)


def _predictor(bundle):
    def predict(X, lengths):
        from edgegru.evaluate import predict as run
        from edgegru.types import SequenceData

        y = __import__("numpy").zeros(len(X))
        return run(bundle, SequenceData(X, y, lengths))

    return predict


def render(rows, budgets=None) -> str:
    from edgegru.targets.check import NOISE_SE, broken_table
    from edgegru.targets.config import DEFAULT_BUDGETS

    body = []
    for r in rows:
        star = "*" if r.emulated else ""
        body.append(
            (
                r.target,
                Path(r.artifact).name,
                r.form + ("+" if r.padded_rows else ""),
                _opt(r.accuracy),
                _opt(r.accuracy_drop_pts, "{:.2f}"),
                _opt(r.agreement),
                _opt(r.max_abs_error, "{:.2e}"),
                _opt(r.latency("invoke"), "{:.1f}") + star,
                _opt(r.latency("invoke", "p99"), "{:.1f}") + star,
                _opt(r.latency("call"), "{:.1f}") + star,
                _opt(r.latency("window_invoke"), "{:.1f}") + star,
                _opt(r.peak_rss_mb, "{:.1f}"),
                f"{r.size_kb:.1f}",
                "FAIL" if r.failures else "ok",
            )
        )
    header = [
        "target",
        "artifact",
        "form",
        "accuracy",
        "drop pts",
        "agree",
        "max|err|",
        "invoke p50 us",
        "p99",
        "call p50",
        "window p50",
        "RSS MB",
        "KB",
        "check",
    ]
    lines = [table(body, header)]
    lines.append(
        "latency (docs/latency.md): invoke = the runtime's invoke alone (inputs written once); "
        "call = write inputs, invoke, read outputs (a Python app's cost); window = invoke time of "
        "one window (a step form: its T steps, state fed back); '-' = not measured on that target"
    )
    if any(r.mcu for r in rows):
        lines += ["", mcu_table(rows)]
    if any(r.emulated for r in rows):
        lines.append("* emulated (qemu-user): real aarch64 outputs, meaningless timings")
    notes = []
    for r in rows:
        own = [("+ " if n.startswith("fixed T=") and r.padded_rows else "") + n for n in r.notes]
        for note in (f"{r.target}: {r.api}", *(f"{r.target}: {n}" for n in own)):
            if note not in notes:
                notes.append(note)
    lines += [f"  {n}" for n in notes]
    classes = any(r.agreement is not None for r in rows)  # no defaults for regression
    if budgets is not None and budgets.default_budgets and classes:
        drop, agree = DEFAULT_BUDGETS["max_accuracy_drop"], DEFAULT_BUDGETS["min_agreement"]
        lines.append(
            f"  default budgets (where none given): accuracy drop <= {drop:g} point, agreement "
            f">= {agree:g} vs the float model, each give or take {NOISE_SE:g} standard errors of "
            "sampling noise on the rows checked; --no-default-budgets turns them off"
        )
    header, broken = broken_table([b for r in rows for b in r.broken], len(rows))
    if broken:
        lines += ["", "Budgets broken (every file and target: --json):", table(broken, header)]
    return "\n".join(lines)


def _cpu_list(text: str) -> tuple[int, ...]:
    """``--cpus 2,3`` -> (2, 3); anything else is one line naming the option."""
    from edgegru.errors import BadInput

    parts = [c.strip() for c in text.split(",") if c.strip()]
    if not all(c.isascii() and c.isdigit() for c in parts):
        raise BadInput(f"--cpus {text!r}: expected CPU numbers separated by commas, e.g. 2,3")
    return tuple(int(c) for c in parts)
def mcu_table(rows) -> str:
    """The tflm rows: arena (the smallest that works), flash (the model's bytes), ops, and the
    common boards the model fits (edgegru.targets.boards)."""
    from edgegru.targets.boards import fitting

    body = []
    for r in rows:
        if not r.mcu:
            continue
        arena, flash = r.mcu["arena_bytes"], r.mcu["flash_bytes"]
        fits = fitting(arena, flash)
        body.append(
            (
                Path(r.artifact).name,
                f"{arena / 1024:.2f}",
                f"{flash / 1024:.2f}",
                len(r.mcu.get("ops", [])),
                _vs_int8(r.int8_reference_max_abs_diff),
                f"{fits[0].name} ({fits[0].ram_kb} KB RAM)" if fits else "none listed",
            )
        )
    header = ["MCU (tflm)", "arena KB", "flash KB", "ops", "vs int8 ref",
              "smallest listed board it fits"]  # fmt: skip
    return table(body, header) + (
        "\n  arena: the smallest TFLite Micro allocates in, measured on this 64-bit host (its "
        "pointer-sized bookkeeping is smaller on a 32-bit MCU); timings above are the host's, "
        "not an MCU's"
    )


def _vs_int8(diff) -> str:
    if diff is None:
        return "-"
    return "bit-exact" if diff == 0 else f"{diff:.3g}"
