"""What Ray Tune costs and gains in ``edgegru sweep``: the same 8-trial sweep (basicmotions,
GRU H in {8, 12, 16, 20} x seeds {0, 1}, int8-static, checked on this machine; every trial trains
its own model, so the stage cache saves nothing) run

  loop    the 8 pipelines one after another in this process (``edgegru.sweep.run_trial``), no Ray
  ray-1   ``edgegru sweep`` on in-process Ray, one trial at a time (max_concurrent = 1)
  ray-2   the same, two trials at a time (one per core)

Per-trial overhead = (ray-1 wall - loop wall) / trials, with and without Ray's start-up;
scaling efficiency = ray-1 wall / (2 x ray-2 wall) (1.0: two workers halve the time). The
machine's load average is recorded: other processes on the same cores lower the efficiency.

    .venv/bin/python -m bench.sweep            # writes bench/results/sweep.json

``--watch`` runs ``bench/sweep_watch.toml`` (GRU H in {16, 24, 29, 32} on `watch`, int8-static
and float) into runs/sweep-watch and writes bench/results/sweep_watch.json (the fronts, the float
GRU-32, the best trial within 4,000 parameter bytes) and docs/sweep_watch.png.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.timing import write_results


def config(epochs: int, concurrent: int) -> dict[str, Any]:
    return {
        "data": {"dataset": "basicmotions"},
        "train": {"epochs": epochs},
        "compress": {"enabled": False},
        "quantize": {"schemes": ["static"]},
        "check": {"emulated": "off", "runs": 50, "warmup": 5},
        "sweep": {"search": "grid", "max_concurrent": concurrent,
                  "space": {"train.hidden": [8, 12, 16, 20], "train.seed": [0, 1]}},
    }  # fmt: skip


def run_loop(epochs: int, out: Path) -> dict[str, Any]:
    from edgegru.sweep import parse_sweep, run_trial

    sweep = parse_sweep(config(epochs, 1))
    t0 = time.perf_counter()
    records = [run_trial(sweep, out, t["id"], t["params"]) for t in sweep.plan()]
    wall = time.perf_counter() - t0
    assert all(r["status"] == "done" for r in records), records
    return {"wall_s": wall, "trial_s": [r["seconds"] for r in records]}


def run_ray(epochs: int, concurrent: int, out: Path) -> dict[str, Any]:
    from edgegru.sweep import parse_sweep
    from edgegru.sweep.engine import run_sweep

    marks: dict[str, float] = {}
    t0 = time.perf_counter()

    def say(message: str) -> None:
        if message.startswith("Ray started"):
            marks["ray_started"] = time.perf_counter() - t0

    run_sweep(parse_sweep(config(epochs, concurrent)), out, plots=False, say=say)
    wall = time.perf_counter() - t0
    results = json.loads((out / "results.json").read_text())
    assert all(t["status"] == "done" for t in results["trials"]), results["failed"]
    return {"wall_s": wall, "ray_start_s": marks.get("ray_started"),
            "trial_s": [t["seconds"] for t in results["trials"]]}  # fmt: skip


ROOT = Path(__file__).resolve().parent.parent


def run_watch(out: Path) -> None:
    """The sweep on `watch`; resumable (a re-run continues it)."""
    from edgegru.sweep import load_sweep
    from edgegru.sweep.engine import run_sweep

    t0 = time.perf_counter()
    run_sweep(load_sweep(ROOT / "bench" / "sweep_watch.toml"), out,
              resume=(out / "sweep.json").is_file(), say=print)  # fmt: skip
    r = json.loads((out / "results.json").read_text())
    trials = {t["id"]: t for t in r["trials"]}
    float32 = next(t for t in r["trials"] if t["params"] == {"quantize.scheme": "none",
                                                            "train.hidden": 32})  # fmt: skip
    best = r["best"][0]["trial"]
    summary = {
        "config": "bench/sweep_watch.toml",
        "wall_s": time.perf_counter() - t0,
        "trials": [
            {
                "id": t["id"],
                "params": t["params"],
                "status": t["status"],
                **{
                    k: t.get("metrics", {}).get(k)
                    for k in ("accuracy", "float_accuracy", "size_bytes", "param_bytes", "p50_us")
                },
            }
            for t in r["trials"]
        ],
        "fronts": r["fronts"],
        "float_gru32": {"id": float32["id"], "accuracy": float32["metrics"]["accuracy"]},
        "best_within_4000_bytes": best
        and {"id": best, **trials[best]["params"], **trials[best]["metrics"]},
    }
    if best:
        summary["best_minus_float_gru32_pts"] = 100 * (
            trials[best]["metrics"]["accuracy"] - float32["metrics"]["accuracy"]
        )
        summary["best_on_size_front"] = best in r["fronts"]["size"]
    shutil.copyfile(out / "pareto_size.png", ROOT / "docs" / "sweep_watch.png")
    print(json.dumps(summary, indent=2))
    print(f"-> {write_results('sweep_watch', summary)}")


def markdown_cost(d: dict[str, Any]) -> list[str]:
    """bench/results/sweep.json as the performance page's table."""
    load = d["load_average_1min"]
    lines = [
        f"{d['trials']} trials, {d['epochs']} epochs each; load average "
        f"{load['before']:.1f} -> {load['after']:.1f}.",
        "",
        "| run | wall s | Ray start-up s | mean trial s |",
        "|---|---|---|---|",
    ]
    for name, key in (("plain loop", "loop"), ("Ray, 1 trial at a time", "ray_1_worker"),
                      ("Ray, 2 trials at a time", "ray_2_workers")):  # fmt: skip
        r = d[key]
        start = r.get("ray_start_s")
        lines.append(f"| {name} | {r['wall_s']:.1f} | {'-' if start is None else f'{start:.1f}'} "
                     f"| {sum(r['trial_s']) / len(r['trial_s']):.1f} |")  # fmt: skip
    lines += [
        "",
        f"Scaling efficiency (2 vs 1): {d['scaling_efficiency']:.2f}; overhead per trial vs the "
        f"loop: {d['per_trial_overhead_s']:.1f} s ({d['per_trial_overhead_after_start_s']:.1f} s "
        "after Ray's start-up).",
        "",
    ]
    return lines


def markdown_watch(d: dict[str, Any]) -> list[str]:
    """bench/results/sweep_watch.json as the performance page's table."""
    fronts = d["fronts"]
    lines = ["| trial | params | accuracy | file KB | param bytes | front |",
             "|---|---|---|---|---|---|"]  # fmt: skip
    for t in d["trials"]:
        params = ", ".join(f"{k.split('.')[-1]}={v}" for k, v in t["params"].items())
        on = ", ".join(n for n, ids in fronts.items() if t["id"] in ids) or "-"
        lines.append(f"| {t['id']} | {params} | {t['accuracy']:.4f} | "
                     f"{t['size_bytes'] / 1024:.1f} | {t['param_bytes']} | {on} |")  # fmt: skip
    best = d.get("best_within_4000_bytes")
    if best:
        lines += ["", f"Best within 4,000 parameter bytes: {best['id']} at {best['accuracy']:.4f},"
                  f" {d['best_minus_float_gru32_pts']:+.1f} points against the float GRU-32 "
                  f"({d['float_gru32']['id']}, {d['float_gru32']['accuracy']:.4f})."]  # fmt: skip
    return [*lines, ""]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=10, help="Training epochs per trial.")
    parser.add_argument("--watch", action="store_true", help="The README's sweep on watch.")
    args = parser.parse_args(argv)
    if args.watch:
        run_watch(ROOT / "runs" / "sweep-watch")
        return
    work = Path(tempfile.mkdtemp(prefix="edgegru-bench-sweep-"))
    load = {"before": os.getloadavg()[0]}
    try:
        loop = run_loop(args.epochs, work / "loop")
        ray1 = run_ray(args.epochs, 1, work / "ray1")
        ray2 = run_ray(args.epochs, 2, work / "ray2")
    finally:
        shutil.rmtree(work, ignore_errors=True)
    load["after"] = os.getloadavg()[0]
    n = len(loop["trial_s"])
    start = ray1["ray_start_s"] or 0.0
    result = {
        "trials": n,
        "epochs": args.epochs,
        "cores": os.cpu_count(),
        "load_average_1min": load,
        "loop": loop,
        "ray_1_worker": ray1,
        "ray_2_workers": ray2,
        "per_trial_overhead_s": (ray1["wall_s"] - loop["wall_s"]) / n,
        "per_trial_overhead_after_start_s": (ray1["wall_s"] - start - loop["wall_s"]) / n,
        "scaling_efficiency": ray1["wall_s"] / (2 * ray2["wall_s"]),
    }
    path = write_results("sweep", result)
    print("| run | wall s | Ray start s | mean trial s |\n|---|---|---|---|")
    for name, r in (("loop", loop), ("ray, 1 worker", ray1), ("ray, 2 workers", ray2)):
        start_s = r.get("ray_start_s")
        print(f"| {name} | {r['wall_s']:.1f} | {'-' if start_s is None else f'{start_s:.1f}'} | "
              f"{sum(r['trial_s']) / len(r['trial_s']):.2f} |")  # fmt: skip
    print(f"\nper-trial overhead vs the loop: {result['per_trial_overhead_s']:.2f} s "
          f"({result['per_trial_overhead_after_start_s']:.2f} s after Ray's start-up); "
          f"scaling efficiency with 2 workers: {result['scaling_efficiency']:.2f}; "
          f"load average {load['before']:.1f} -> {load['after']:.1f}")  # fmt: skip
    print(f"-> {path}")


if __name__ == "__main__":
    main()
