"""edgegru sweep: search the pipeline's keys on Ray Tune; report the Pareto fronts."""

from __future__ import annotations

import json
from pathlib import Path

import click

from edgegru.cli._common import echo_json, json_option, out_option


@click.command("sweep")
@click.argument("config", type=click.Path(dir_okay=False, path_type=Path))
@out_option("Output folder: trials/<id>/, cache/, sweep.md, results.json, plots.")
@click.option(
    "--address",
    default=None,
    help="An existing Ray cluster: auto (the local one) or ray://HOST:PORT. "
    "Default: start Ray inside this process.",
)
@click.option(
    "--resume",
    is_flag=True,
    help="Continue a killed sweep in OUT; finished trials are not run again.",
)
@click.option("--no-plots", is_flag=True, help="Skip the PNG plots.")
@json_option("Print the results as JSON.")
def command(config, out, address, resume, no_plots, as_json) -> None:  # fmt: skip
    """Train, compress, quantize and check many candidates; find the Pareto front.

    CONFIG is a pipeline config (the base of every trial) with a [sweep] section. Each trial is
    one pipeline run into OUT/trials/<id>/; trials that share upstream keys reuse those stages.
    Exit 1 when a [[sweep.constraints]] set has no trial within it (or no trial finished).

    \b
    Example:
      edgegru sweep sweep.toml -o runs/sweep
      edgegru sweep sweep.toml -o runs/sweep --resume        # after a kill
      edgegru sweep sweep.toml -o runs/sweep --address auto  # on a running Ray cluster
      edgegru sweep sweep.toml -o runs/sweep --address ray://HEAD:10001   # Ray Client
    \b
    Config:
      [data]  dataset = "watch"
      [check] emulated = "off"
      [sweep]
      search = "grid"                 # grid | random | optuna
      trials = 8                      # random / optuna
      cpus_per_trial = 1
      objectives = ["accuracy", "size"]  # + latency, params; arena, flash (tflm target)
      [sweep.space]
      "train.hidden" = [16, 32]
      "quantize.scheme" = ["static", "dynamic"]
      "train.lr" = { min = 1e-3, max = 1e-2, log = true }
      [[sweep.constraints]]
      name = "4 KB"
      max_params_kb = 4
    """
    from edgegru.sweep.config import load_sweep
    from edgegru.sweep.engine import require_ray, run_sweep

    sweep = load_sweep(config)
    require_ray()

    def say(message: str) -> None:
        if not as_json:
            click.echo(f"[sweep] {message}", err=True)

    report = run_sweep(sweep, out, address=address, resume=resume, plots=not no_plots, say=say)
    results = json.loads((report.parent / "results.json").read_text())
    if as_json:
        echo_json(results | {"report": str(report)})
    else:
        click.echo(f"report: {report}")
    done = [t for t in results["trials"] if t["status"] == "done"]
    unmet = [b["name"] for b in results["best"] if b["trial"] is None]
    if unmet or not done:
        from edgegru.errors import CheckFailed

        raise CheckFailed(f"no trial within {', '.join(unmet)}" if unmet else "no trial finished")
