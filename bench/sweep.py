"""What Ray Tune costs and gains in ``edgegru sweep``: the same 8-trial sweep (basicmotions,
GRU H in {8, 12, 16, 20} x seeds {0, 1}, int8-static, checked on this machine; every trial trains
its own model, so the stage cache saves nothing) run

  loop    the 8 pipelines one after another in one process (``edgegru.sweep.run_trial``), no Ray
  ray-1   ``edgegru sweep`` on in-process Ray, one trial at a time (max_concurrent = 1)
  ray-2   the same, two trials at a time (one per core)

Each run is a fresh Python process in its own session (the loop pays its imports of torch and
the runtimes as a Ray worker does), and the runs are interleaved loop, ray-1, ray-2, ray-2, ray-1,
loop (``--reps 2``), so a load that drifts over the benchmark hits every kind alike; each kind's
numbers are the mean of its runs. While a run goes, the CPU time of every process of its session
is sampled from /proc: the loop's process, or Tune's driver, Ray's daemons (raylet, GCS, agents,
idle workers) and the trial workers (with the check processes they start).

Per-trial overhead = (ray-1 wall - loop wall) / trials, with and without Ray's start-up; the same
in CPU seconds (less moved by other jobs on the machine than wall time); scaling efficiency =
ray-1 wall / (2 x ray-2 wall) (1.0: two workers halve the time).

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
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.timing import write_results

KINDS = {"loop": 0, "ray_1_worker": 1, "ray_2_workers": 2}  # kind -> max_concurrent (0: no Ray)


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


def _timeline(t0: float, records: list[dict[str, Any]]) -> dict[str, Any]:
    """When the first trial started (s after the run began) and the idle gaps between one
    trial's end and the next one's start on the same worker process (Tune's scheduling)."""
    starts = sorted(records, key=lambda r: r["started"])
    ends: dict[int, float] = {}
    gaps = []
    for r in starts:
        if r["pid"] in ends:
            gaps.append(r["started"] - ends[r["pid"]])
        ends[r["pid"]] = r["started"] + r["seconds"]
    span = max(ends.values()) - starts[0]["started"]
    # trials running at once on average, from the first start to the last end: 2.0 when Ray
    # kept both workers busy all along
    busy = sum(r["seconds"] for r in records) / span
    return {"first_trial_start_s": starts[0]["started"] - t0, "gaps_s": gaps,
            "workers": len(ends), "concurrency": busy}  # fmt: skip


def run_one(kind: str, epochs: int, out: Path) -> dict[str, Any]:
    """One run of ``kind`` in this process (``--run``): wall time, Ray's start-up, the trials."""
    from edgegru.sweep import parse_sweep, run_trial

    t0 = time.time()
    marks: dict[str, float] = {}
    sweep = parse_sweep(config(epochs, KINDS[kind]))
    if kind == "loop":
        records = [run_trial(sweep, out, t["id"], t["params"]) for t in sweep.plan()]
    else:
        from edgegru.sweep.engine import run_sweep

        def say(message: str) -> None:
            if message.startswith("Ray started"):
                marks["ray_started"] = time.time() - t0

        run_sweep(sweep, out, plots=False, say=say)
        records = json.loads((out / "results.json").read_text())["trials"]
    wall = time.time() - t0
    assert all(r["status"] == "done" for r in records), records
    return {"wall_s": wall, "ray_start_s": marks.get("ray_started"),
            "trial_s": [r["seconds"] for r in records], **_timeline(t0, records)}  # fmt: skip


def _role(cmd: str) -> str:
    if cmd.startswith(("ray::ImplicitFunc", "ray::_trainable")):
        return "trial_workers"
    return "ray_daemons"


def _sample(session: int, seen: dict[int, tuple[int, str, float]]) -> None:
    tick = os.sysconf("SC_CLK_TCK")
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
            fields = stat.rsplit(")", 1)[1].split()
            if int(fields[3]) != session:
                continue
            cmd = Path(f"/proc/{entry}/cmdline").read_bytes().replace(b"\0", b" ").decode()
        except (OSError, ValueError, IndexError):
            continue  # the process ended between listing and reading
        pid = int(entry)
        if pid in seen and _role(seen[pid][1]) == "trial_workers":
            cmd = seen[pid][1]  # a trial worker stays one (it turns IDLE again as Tune ends)
        seen[pid] = (int(fields[1]), cmd, (int(fields[11]) + int(fields[12])) / tick)


def _cpu_by_role(root: int, seen: dict[int, tuple[int, str, float]]) -> dict[str, float]:
    """CPU seconds per role: the run's own process is the loop (or Tune's driver); a process
    whose ancestor is a trial worker counts as the trial's (the check runs a subprocess)."""

    def role(pid: int) -> str:
        if pid == root:
            return "driver"
        ppid, cmd, _ = seen[pid]
        if _role(cmd) == "trial_workers":
            return "trial_workers"
        return role(ppid) if ppid in seen and ppid != root else "ray_daemons"

    cpu: dict[str, float] = {"driver": 0.0, "trial_workers": 0.0, "ray_daemons": 0.0}
    for pid, (_, _, seconds) in seen.items():
        cpu[role(pid)] += seconds
    return cpu


SPIN = (
    "import time\nt = time.perf_counter()\nx = 0\nfor i in range(20_000_000):\n    x += i\n"
    "print(time.perf_counter() - t)"
)


def machine_speedup() -> float:
    """How much faster two CPU-bound processes finish the work of two than one alone does, now
    (2.0 on two idle cores): what the machine's other jobs leave for two workers."""

    def spin(n: int) -> float:
        procs = [subprocess.Popen([sys.executable, "-c", SPIN], stdout=subprocess.PIPE, text=True)
                 for _ in range(n)]  # fmt: skip
        return max(float(p.communicate()[0]) for p in procs)

    return 2 * spin(1) / spin(2)


def measure(kind: str, epochs: int, out: Path) -> dict[str, Any]:
    """Run ``kind`` in a fresh process in its own session; sample its processes' CPU time."""
    report = out.with_suffix(".json")
    speedup = machine_speedup()  # just before the run: the load it starts under
    cmd = [sys.executable, "-m", "bench.sweep", "--run", kind, "--epochs", str(epochs),
           "--out", str(out), "--report", str(report)]  # fmt: skip
    # one thread per trial in every kind: Ray sets it for its workers; the loop's process must
    # have it before numpy loads (OpenBLAS reads it once), or its idle threads spin on the cores
    env = dict(os.environ, OMP_NUM_THREADS="1")
    proc = subprocess.Popen(cmd, cwd=ROOT, start_new_session=True, env=env)
    seen: dict[int, tuple[int, str, float]] = {}
    while proc.poll() is None:
        _sample(proc.pid, seen)
        time.sleep(0.5)
    if proc.returncode != 0:
        raise SystemExit(f"bench.sweep --run {kind} failed with exit {proc.returncode}")
    result = json.loads(report.read_text())
    result["cpu_s"] = _cpu_by_role(proc.pid, seen)
    result["machine_speedup"] = speedup
    if kind == "loop":  # one process runs the trials: no driver, no daemons
        result["cpu_s"] = {"trials": sum(result["cpu_s"].values())}
    return result


def _mean(values: list[float]) -> float:
    return sum(values) / len(values)


def summarize(runs: dict[str, list[dict[str, Any]]]) -> dict[str, Any]:
    """Each kind's mean over its runs, and the overheads against the loop."""
    kinds: dict[str, Any] = {}
    for kind, rs in runs.items():
        cpu_roles = rs[0]["cpu_s"].keys()
        start = [r["ray_start_s"] for r in rs if r["ray_start_s"] is not None]
        kinds[kind] = {
            "wall_s": _mean([r["wall_s"] for r in rs]),
            "ray_start_s": _mean(start) if start else None,
            "first_trial_start_s": _mean([r["first_trial_start_s"] for r in rs]),
            "trial_s": [_mean(list(t)) for t in zip(*(r["trial_s"] for r in rs), strict=True)],
            "gap_s": _mean([g for r in rs for g in r["gaps_s"]] or [0.0]),
            "concurrency": _mean([r["concurrency"] for r in rs]),
            "machine_speedup": _mean([r["machine_speedup"] for r in rs]),
            "cpu_s": {k: _mean([r["cpu_s"][k] for r in rs]) for k in cpu_roles},
            "runs": rs,
        }
    loop, ray1, ray2 = kinds["loop"], kinds["ray_1_worker"], kinds["ray_2_workers"]
    n = len(loop["trial_s"])
    loop_cpu, ray_cpu = loop["cpu_s"]["trials"], ray1["cpu_s"]
    after_start = ray1["wall_s"] - ray1["ray_start_s"]
    return {
        "trials": n,
        **kinds,
        "per_trial_overhead_s": (ray1["wall_s"] - loop["wall_s"]) / n,
        "per_trial_overhead_after_start_s": (after_start - loop["wall_s"]) / n,
        "per_trial_cpu_overhead_s": {
            "total": (sum(ray_cpu.values()) - loop_cpu) / n,
            "driver": ray_cpu["driver"] / n,
            "ray_daemons": ray_cpu["ray_daemons"] / n,
            "trial_workers": (ray_cpu["trial_workers"] - loop_cpu) / n,
        },
        "scaling_efficiency": ray1["wall_s"] / (2 * ray2["wall_s"]),
        # the speedup against what the machine gave two CPU-bound processes at the time
        "scaling_vs_machine": ray1["wall_s"] / ray2["wall_s"] / ray2["machine_speedup"],
    }


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
        f"{d['trials']} trials, {d['epochs']} epochs each, {d['reps']} interleaved runs of each "
        f"kind (means); load average {load['before']:.1f} -> {load['after']:.1f}.",
        "",
        "| run | wall s | Ray start-up s | first trial starts s | mean trial s | gap between "
        "trials s | CPU s: trials | driver | Ray daemons |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for name, key in (("plain loop", "loop"), ("Ray, 1 trial at a time", "ray_1_worker"),
                      ("Ray, 2 trials at a time", "ray_2_workers")):  # fmt: skip
        r = d[key]
        cpu = r["cpu_s"]
        lines.append(
            f"| {name} | {r['wall_s']:.1f} | {_opt(r['ray_start_s'])} | "
            f"{r['first_trial_start_s']:.1f} | {_mean(r['trial_s']):.1f} | {r['gap_s']:.2f} | "
            f"{cpu.get('trials', cpu.get('trial_workers', 0.0)):.1f} | {_opt(cpu.get('driver'))} "
            f"| {_opt(cpu.get('ray_daemons'))} |"
        )
    c = d["per_trial_cpu_overhead_s"]
    ray2 = d["ray_2_workers"]
    lines += [
        "",
        f"Scaling efficiency (2 vs 1): {d['scaling_efficiency']:.2f}. With two trials at a time "
        f"Ray kept {ray2['concurrency']:.2f} trials running on average, while two CPU-bound "
        f"processes got {ray2['machine_speedup']:.2f}x of one from this machine's cores (its "
        f"other jobs take the rest): {d['scaling_vs_machine']:.2f} of that. Overhead per trial "
        "vs the "
        f"loop: {d['per_trial_overhead_s']:.1f} s ({d['per_trial_overhead_after_start_s']:.1f} s "
        f"after Ray's start-up); in CPU time {c['total']:.1f} s per trial (Tune's driver "
        f"{c['driver']:.1f}, Ray's daemons {c['ray_daemons']:.1f}, the trial workers "
        f"{c['trial_workers']:+.1f} against the loop).",
        "",
    ]
    return lines


def readme_line(d: dict[str, Any]) -> str:
    """The README's sentence on Ray's cost (``python -m bench.docs`` writes it there)."""
    return (
        f"Ray's cost (`python -m bench.sweep`, {d['trials']} trials): "
        f"{d['per_trial_overhead_s']:.1f} s per trial over a plain loop of the same pipelines "
        f"({d['per_trial_overhead_after_start_s']:.1f} s after Ray's start-up); 2 workers on 2 "
        f"shared cores: scaling efficiency {d['scaling_efficiency']:.2f}, "
        f"{d['scaling_vs_machine']:.2f} of what the machine gave two CPU-bound processes then."
    )


def readme_watch_line(d: dict[str, Any]) -> str:
    """The README's sentence on the watch sweep's result (``bench.docs`` writes it there)."""
    best, ref = d["best_within_4000_bytes"], d["float_gru32"]
    return (
        f"holds GRU-{best['hidden']} int8-static at {best['param_bytes']:,} parameter bytes with "
        f"{best['accuracy']:.3f} test accuracy (float GRU-32: {ref['accuracy']:.3f})."
    )


def _opt(v: float | None) -> str:
    return "-" if v is None else f"{v:.1f}"


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
    parser.add_argument("--reps", type=int, default=2, help="Runs of each kind (interleaved).")
    parser.add_argument("--watch", action="store_true", help="The README's sweep on watch.")
    parser.add_argument("--run", choices=list(KINDS), help=argparse.SUPPRESS)  # one child run
    parser.add_argument("--out", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--report", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.run:
        args.report.write_text(json.dumps(run_one(args.run, args.epochs, args.out)))
        return
    if args.watch:
        run_watch(ROOT / "runs" / "sweep-watch")
        return
    kinds = list(KINDS)
    order = [k for rep in range(args.reps) for k in (kinds if rep % 2 == 0 else kinds[::-1])]
    work = Path(tempfile.mkdtemp(prefix="edgegru-bench-sweep-"))
    load = {"before": os.getloadavg()[0]}
    runs: dict[str, list[dict[str, Any]]] = {k: [] for k in kinds}
    try:
        for i, kind in enumerate(order):
            r = measure(kind, args.epochs, work / f"{i}-{kind}")
            print(f"{kind}: {r['wall_s']:.1f} s wall, CPU {r['cpu_s']}", flush=True)
            runs[kind].append(r)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    load["after"] = os.getloadavg()[0]
    result = {"epochs": args.epochs, "reps": args.reps, "cores": os.cpu_count(),
              "load_average_1min": load, **summarize(runs)}  # fmt: skip
    path = write_results("sweep", result)
    print("\n".join(markdown_cost(result)))
    print(readme_line(result))
    print(f"-> {path}")


if __name__ == "__main__":
    main()
