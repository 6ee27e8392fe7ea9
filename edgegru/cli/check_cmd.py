"""edgegru check: run artifacts on devices, compare with the float model, enforce budgets."""

from __future__ import annotations

from pathlib import Path

import click

from edgegru.cli._common import data_options, echo_json, resolve_data, table


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
@click.option("--max-accuracy-drop", type=click.FloatRange(0), help="Percentage points.")
@click.option(
    "--min-agreement",
    type=click.FloatRange(0, 1),
    help="Fraction of predictions equal to the float model's.",
)
@click.option("--max-latency-us", type=click.FloatRange(0), help="Median of the timed runs.")
@click.option("--max-size-kb", type=click.FloatRange(0))
@click.option("--max-rss-mb", type=click.FloatRange(0), help="Peak resident memory.")
@click.option(
    "--max-logit-error",
    type=click.FloatRange(0),
    help="Max abs output difference [default: the artifact's stated tolerance].",
)
@click.option(
    "--max-arena-kb",
    type=click.FloatRange(0),
    help="tflm: the tensor arena TFLite Micro needs (the smallest that works).",
)
@click.option("--max-flash-kb", type=click.FloatRange(0), help="tflm: the model's bytes.")
@click.option("--threads", type=click.IntRange(1), default=1, show_default=True)
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
@click.option("--warmup", type=click.IntRange(0), default=20, show_default=True)
@click.option("--runs", type=click.IntRange(1), default=200, show_default=True)
@click.option("--cpus", default="", help="Pin the runner to these CPUs, e.g. 2,3.")
@click.option("--json", "as_json", is_flag=True, help="Print every result as JSON.")
def command(
    artifacts,
    targets,
    dataset,
    data,
    test_data,
    split,
    limit,
    reference,
    max_accuracy_drop,
    min_agreement,
    max_latency_us,
    max_size_kb,
    max_rss_mb,
    max_logit_error,
    max_arena_kb,
    max_flash_kb,
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
    Examples:
      edgegru check runs/gru32/export/model.onnx --target local
      edgegru check out/*.tflite out/*.onnx --target ssh://pi@raspberrypi \\
          --target qemu-aarch64:pi5 --max-accuracy-drop 1 --max-latency-us 500
      edgegru check out/model.step.int8.tflite --target tflm --max-arena-kb 8 --max-flash-kb 12
    """
    from edgegru.errors import BadInput, CheckFailed
    from edgegru.targets.config import Budgets, RunConfig
    from edgegru.targets.session import CheckInputs, find_reference, load_manifest, run_check

    try:
        cfg = RunConfig(
            threads=threads,
            delegate=delegate,
            api=api,
            warmup=warmup,
            runs=runs,
            cpus=tuple(int(c) for c in cpus.split(",") if c.strip()),
        )
        budgets = Budgets(
            max_accuracy_drop,
            min_agreement,
            max_latency_us,
            max_size_kb,
            max_rss_mb,
            max_logit_error,
            max_arena_kb,
            max_flash_kb,
        )
    except ValueError as e:
        raise BadInput(str(e)) from None

    bundle = _reference_bundle(artifacts, reference, load_manifest, find_reference)
    default = bundle.provenance.get("dataset") if bundle is not None else None
    if not (dataset or data or default):
        raise BadInput("no data: give --dataset NAME or --data FILE.npz (or --reference MODEL)")
    ds = resolve_data(dataset, data, test_data, default=default if not data else None)
    part = ds.test if split == "test" else ds.train
    if limit is not None:
        part = _head(part, limit)
    predict = None
    if bundle is not None:
        if bundle.spec.task != ds.task:
            raise BadInput(f"the model is for {bundle.spec.task}, the data is {ds.task}")
        predict = _predictor(bundle)
    inputs = CheckInputs(part, ds.task, predict, _int8_reference(bundle))
    rows = run_check(list(artifacts), list(targets), inputs, cfg, budgets)
    failures = [f for r in rows for f in r.failures]
    if as_json:
        echo_json({"rows": [r.to_json() for r in rows], "failures": failures})
    else:
        click.echo(render(rows))
    if failures:
        raise CheckFailed("; ".join(failures))


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
        from edgegru.quantize.reference import predict_int8

        return predict_int8(bundle, X, lengths, mode)

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


def render(rows) -> str:
    body = []
    for r in rows:
        lat = r.latency_us
        star = "*" if r.emulated else ""
        body.append(
            (
                r.target,
                Path(r.artifact).name,
                r.form,
                _opt(r.accuracy),
                _opt(r.accuracy_drop_pts, "{:.2f}"),
                _opt(r.agreement),
                _opt(r.max_abs_error, "{:.2e}"),
                _opt(lat.get("p50") or lat.get("mean"), "{:.1f}") + star,
                _opt(lat.get("p99"), "{:.1f}") + star,
                _opt(lat.get("std"), "{:.1f}") + star,
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
        "p50 us",
        "p99 us",
        "std us",
        "RSS MB",
        "KB",
        "check",
    ]
    lines = [table(body, header)]
    if any(r.mcu for r in rows):
        lines += ["", mcu_table(rows)]
    if any(r.emulated for r in rows):
        lines.append("* emulated (qemu-user): real aarch64 outputs, meaningless timings")
    notes = []
    for r in rows:
        for note in (f"{r.target}: {r.api}", *(f"{r.target}: {n}" for n in r.notes)):
            if note not in notes:
                notes.append(note)
    lines += [f"  {n}" for n in notes]
    lines += [f"FAIL {f}" for r in rows for f in r.failures]
    return "\n".join(lines)


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
