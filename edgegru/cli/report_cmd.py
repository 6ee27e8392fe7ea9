"""edgegru report: re-render a pipeline output folder's report."""

from __future__ import annotations

from pathlib import Path

import click


@click.command("report")
@click.argument("outdir", type=click.Path(file_okay=False, path_type=Path))
@click.option("--no-plots", is_flag=True, help="Skip the PNG plots.")
def command(outdir, no_plots) -> None:
    """Re-render OUTDIR/report.md, results.json and the plots from the stages' manifests
    (a sweep's OUTDIR: sweep.md, results.json and the Pareto plots from the trials' records).

    \b
    Example:
      edgegru report runs/pipeline
      edgegru report runs/sweep
    """
    if (outdir / "sweep.json").is_file():
        from edgegru.sweep.report import render_sweep_report

        click.echo(f"report: {render_sweep_report(outdir, plots=not no_plots)}")
        return
    from edgegru.pipeline.report import render_report

    click.echo(f"report: {render_report(outdir, plots=not no_plots)}")
