"""edgegru pipeline: the whole road from one TOML config, and the report."""

from __future__ import annotations

from pathlib import Path

import click

from edgegru.cli._common import echo_json, json_option, out_option


@click.command("pipeline")
@click.argument("config", required=False, type=click.Path(dir_okay=False, path_type=Path))
@out_option("Output folder.", required=False, default=Path("runs/pipeline"))
@click.option("--print-config", is_flag=True, help="Print the effective config as JSON and exit.")
@json_option("Print the results as JSON.")
def command(config, out, print_config, as_json) -> None:
    """Run train -> compress -> quantize -> export -> check -> report (default config: `watch`).

    Each stage writes its own folder under OUT with a manifest; a re-run skips every stage whose
    config and inputs did not change. The report is OUT/report.md (+ PNGs, results.json).

    \b
    Examples:
      edgegru pipeline -o runs/pipeline             # built-in default
      edgegru pipeline my.toml -o runs/mine
    \b
    Config (every section optional, unknown keys are errors):
      [data]    dataset = "watch"      # or path = "my.npz", test_path = "test.npz"
      [train]   cell = "gru"  hidden = 32  layers = 1  head = "last"  epochs = 40
                model = "runs/gru32"   # start from a bundle instead (with enabled = false)
      [compress] method = "prune"  hidden = 24  curve = [16]  deploy = "trained"
      [quantize] schemes = ["dynamic", "static"]
      [export]  formats = ["onnx", "ort", "tflite"]  forms = ["sequence", "step"]
      [check]   targets = ["local", "ssh://pi@raspberrypi"]  emulated = "auto"
                max_accuracy_drop = 1.0  max_latency_us = 500   # budgets: exit 1 when broken
                max_size_kb = { all = 64, int8 = 16 }  # scoped to a precision or format
                default_budgets = true   # accuracy drop <= 1 point, agreement >= 0.95
      [report]  plots = true
    """
    from edgegru.pipeline import Context, load_config, render_report, run_pipeline

    cfg = load_config(config)
    if print_config:
        echo_json(cfg.to_json())
        return

    from tqdm import tqdm

    bars: dict[str, tqdm] = {}

    def on_event(stage: str, message: str) -> None:
        if stage in bars:
            bars.pop(stage).close()
        if not as_json:
            click.echo(f"[{stage}] {message}", err=True)

    def on_progress(stage: str, done: int, total: int) -> None:
        if stage not in bars:
            bars[stage] = tqdm(total=total, desc=stage, disable=True if as_json else None)
        bars[stage].n = done
        bars[stage].refresh()

    ctx = Context(out=out, config=cfg, on_event=on_event, on_progress=on_progress)
    try:
        results = run_pipeline(ctx)
    finally:
        for bar in bars.values():
            bar.close()
    report = render_report(out, plots=cfg.report.plots) if cfg.report.enabled else None
    if as_json:
        summary = {
            name: {"outputs": r.outputs, "skipped": r.skipped, "seconds": r.seconds}
            for name, r in results.items()
        }
        echo_json(summary | {"report": str(report) if report else None})
    elif report is not None:
        click.echo(f"report: {report}")
    checked = results["check"].outputs if "check" in results else {}
    broken = checked.get("broken", [])
    if checked.get("failures"):
        from edgegru.cli._common import table
        from edgegru.errors import CheckFailed
        from edgegru.targets.check import broken_summary, broken_table

        pairs = len(checked.get("rows", []))
        if not as_json:
            header, lines = broken_table(broken, pairs)
            click.echo("Budgets broken (every file and target: results.json):", err=True)
            click.echo(table(lines, header), err=True)
        raise CheckFailed(broken_summary(broken, pairs))
