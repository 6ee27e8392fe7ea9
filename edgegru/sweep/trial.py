"""One trial: a pipeline run into ``OUTDIR/trials/<id>/`` and its record, ``trial.json``.

The record is the sweep's ledger entry: written atomically at the end of the trial, it is what
``--resume`` reads to skip finished trials and what the report is rendered from. A trial that
fails (bad input in its combination of keys, an error in a stage) is recorded as failed with one
line; only a worker that dies leaves no record, and Ray runs the trial again.
"""

from __future__ import annotations

import json
import os
import socket
import time
from pathlib import Path
from typing import Any

from edgegru.io import atomic_write_json
from edgegru.sweep.config import Sweep
from edgegru.sweep.stages import TrialStages, device_resource

RECORD = "trial.json"
ATTEMPTS = "attempts.json"


def trial_dir(outdir: Path, trial_id: str) -> Path:
    return outdir / "trials" / trial_id


def read_record(folder: Path) -> dict[str, Any] | None:
    try:
        return json.loads((folder / RECORD).read_text())
    except (OSError, ValueError):
        return None


def _ray_node() -> str | None:
    """The Ray node running this trial (None outside Ray): tells trials on a cluster apart."""
    import sys

    if "ray" not in sys.modules:
        return None
    import ray

    return ray.get_runtime_context().get_node_id() if ray.is_initialized() else None


def _count_attempt(folder: Path) -> int:
    """How many times this trial has started (the report names trials that needed more than
    one: a worker died, or the sweep was killed and resumed)."""
    try:
        n = int(json.loads((folder / ATTEMPTS).read_text())["attempts"]) + 1
    except (OSError, ValueError, KeyError, TypeError):
        n = 1
    atomic_write_json(
        folder / ATTEMPTS, {"attempts": n, "node_id": _ray_node(), "pid": os.getpid()}
    )
    return n


def candidate(results: dict[str, Any], fmt: str, form: str, precision: str,
              target: str) -> dict[str, Any] | None:  # fmt: skip
    """The trial's compared file and its check on ``target`` from the trial's results.json."""
    names = {target, target.split("?", 1)[0]}  # check rows name a target without its ?options
    for a in results.get("artifacts", []):
        if (a["format"], a["form"], a["precision"]) != (fmt, form, precision):
            continue
        # TFLite Micro's arena and flash come from the file's tflm check, whatever the target
        mcu = next((c["mcu"] for c in a.get("checks", []) if c.get("mcu")), None)
        for c in a.get("checks", []):
            if c.get("target") in names:
                return {"file": a["file"], "size_bytes": a["size_bytes"], "check": c, "mcu": mcu}
    return None


def _metrics(out: Path, sweep: Sweep, cfg: Any, ctx: Any) -> dict[str, Any]:
    from edgegru.bundle import load_bundle
    from edgegru.compress import model_sizes
    from edgegru.errors import BadInput
    from edgegru.pipeline.stages import model_folder

    results = json.loads((out / "results.json").read_text())
    s = sweep.section
    precision = sweep.precision(cfg)
    found = candidate(results, s.format, s.form, precision, sweep.target)
    if found is None:
        skipped = results["stages"].get("export", {}).get("outputs", {}).get("skipped", [])
        why = f": {skipped[0]}" if skipped else ""
        raise BadInput(f"no {s.format} {s.form} {precision} file checked on "
                       f"{sweep.target}{why}")  # fmt: skip
    c = found["check"]
    if c.get("accuracy") is None:
        raise BadInput(f"{found['file']} on {sweep.target}: no accuracy (the sweep ranks "
                       "classifiers)")  # fmt: skip
    mcu = found["mcu"] or {}
    if sweep.needs_tflm and not mcu:
        raise BadInput(f"{found['file']}: no tflm check to read {sweep.needs_tflm} from "
                       "(TFLite Micro does not run this file)")  # fmt: skip
    latency = c.get("p50_us", (c.get("latency_us") or {}).get("p50"))
    spec = load_bundle(model_folder(ctx)).spec
    sizes = model_sizes(spec)
    return {
        "file": found["file"],
        "accuracy": c["accuracy"],
        "float_accuracy": c.get("reference_accuracy"),
        "accuracy_drop_pts": c.get("accuracy_drop_pts"),
        "agreement": c.get("agreement"),
        "size_bytes": found["size_bytes"],
        # what the compared file stores for the weights: int8 (full-integer layout) or float32
        "param_bytes": sizes["int8_bytes" if precision.startswith("int8") else "float32_bytes"],
        "parameters": spec.num_parameters(),
        "hidden": spec.hidden_size,
        "p50_us": latency,
        "peak_rss_mb": c.get("peak_rss_mb"),
        "arena_bytes": mcu.get("arena_bytes"),
        "flash_bytes": mcu.get("flash_bytes"),
        "check_failures": c.get("failures", []),
    }


def _one_line(e: BaseException) -> str:
    text = " ".join(str(e).split()) or type(e).__name__
    return text if type(e).__name__ == "BadInput" else f"{type(e).__name__}: {text}"


def run_trial(sweep: Sweep, outdir: Path, trial_id: str, params: dict[str, Any],
              cpus: int = 1, on_event: Any = None) -> dict[str, Any]:  # fmt: skip
    """Run one trial (or return its record when it already finished) and write the record."""
    out = trial_dir(outdir, trial_id)
    done = read_record(out)
    if done is not None and done.get("params") == params:
        return done
    out.mkdir(parents=True, exist_ok=True)
    attempts = _count_attempt(out)
    os.environ["OMP_NUM_THREADS"] = str(cpus)  # edgegru.train's default_threads() reads it
    import torch

    torch.set_num_threads(cpus)
    from edgegru.pipeline import Context, render_report, run_pipeline

    t0 = time.perf_counter()
    record: dict[str, Any] = {
        "id": trial_id, "params": params, "attempts": attempts, "host": socket.gethostname(),
        "node_id": _ray_node(), "pid": os.getpid(), "started": round(time.time(), 3),
    }  # fmt: skip
    hooks = None
    try:
        cfg = sweep.trial_config(params, f"trial {trial_id}")
        devices = [r for t in cfg.check.targets if (r := device_resource(t))]
        hooks = TrialStages(outdir / "cache", devices)
        ctx = Context(out=out, config=cfg, on_event=on_event, hooks=hooks)
        run_pipeline(ctx)
        render_report(out, plots=False)
        record.update(status="done", metrics=_metrics(out, sweep, cfg, ctx))
    except Exception as e:  # recorded with one line; the sweep goes on
        record.update(status="failed", error=_one_line(e))
    finally:
        if hooks is not None:
            hooks.close()
            if hooks.held:
                record["device_leases"] = hooks.held
    record["seconds"] = round(time.perf_counter() - t0, 3)
    atomic_write_json(out / RECORD, record)
    return record
