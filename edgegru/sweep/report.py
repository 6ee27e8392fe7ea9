"""The sweep's report: ``OUTDIR/sweep.md``, ``results.json`` and the Pareto plots.

Rendered from ``OUTDIR/sweep.json`` (the sweep's config and planned trials) and each trial's
record alone, so ``edgegru report OUTDIR`` re-renders it at any time; no Ray needed.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from edgegru import __version__
from edgegru.errors import BadInput
from edgegru.io import atomic_write_json, atomic_write_text
from edgegru.sweep.config import CONSTRAINTS, parse_sweep
from edgegru.sweep.trial import read_record, trial_dir

STATE = "sweep.json"
# x axis of each front: (trial metric, label, scale)
FRONTS = {"size": ("size_bytes", "file size (KB)", 1 / 1024),
          "latency": ("p50_us", "median latency per window (us)", 1.0),
          "arena": ("arena_bytes", "TFLite Micro tensor arena (KB)", 1 / 1024)}  # fmt: skip
# fronts every sweep reports; the others only when a trial has their metric (a tflm check)
ALWAYS = ("size", "latency")


def dominates(a: dict[str, Any], b: dict[str, Any], x: str) -> bool:
    """a is at least as accurate and at least as small / fast as b, and better in one."""
    return (a["accuracy"] >= b["accuracy"] and a[x] <= b[x]
            and (a["accuracy"] > b["accuracy"] or a[x] < b[x]))  # fmt: skip


def pareto_front(trials: list[dict[str, Any]], x: str) -> list[str]:
    """Ids of the done trials no other done trial dominates on (accuracy up, ``x`` down),
    smallest ``x`` first."""
    pts = [t for t in trials if t.get("status") == "done" and t["metrics"].get(x) is not None]
    front = [t for t in pts if not any(dominates(o["metrics"], t["metrics"], x) for o in pts)]
    return [t["id"] for t in sorted(front, key=lambda t: (t["metrics"][x], t["id"]))]


def meets(metrics: dict[str, Any], constraints: dict[str, Any]) -> bool:
    for key, limit in constraints.items():
        if key == "name":
            continue
        metric, kind, scale = CONSTRAINTS[key]
        v = metrics.get(metric)
        if v is None or (v > limit * scale if kind == "max" else v < limit * scale):
            return False
    return True


def best_under(trials: list[dict[str, Any]], constraints: dict[str, Any]) -> str | None:
    """The most accurate done trial within the budgets (then the smallest file)."""
    ok = [t for t in trials if t.get("status") == "done" and meets(t["metrics"], constraints)]
    if not ok:
        return None
    return min(ok, key=lambda t: (-t["metrics"]["accuracy"], t["metrics"]["size_bytes"]))["id"]


def load_state(out: Path) -> dict[str, Any]:
    try:
        return json.loads((out / STATE).read_text())
    except FileNotFoundError:
        raise BadInput(f"{out} holds no sweep ({STATE} missing)") from None
    except (OSError, ValueError) as e:
        raise BadInput(f"{out / STATE}: unreadable ({e})") from None


def collect(out: Path) -> dict[str, Any]:
    """The sweep's state and every trial: planned ones in order, then the model-based search's
    trials as found on disk."""
    state = load_state(out)
    planned = {t["id"]: t for t in state.get("plan", [])}
    ids = list(planned)
    root = out / "trials"
    if root.is_dir():
        ids += sorted(p.name for p in root.iterdir() if p.is_dir() and p.name not in planned)
    trials = []
    for tid in ids:
        record = read_record(trial_dir(out, tid))
        if record is None:
            started = trial_dir(out, tid).is_dir()
            record = {"id": tid, "params": planned.get(tid, {}).get("params", {}),
                      "status": "unfinished" if started else "not run"}  # fmt: skip
        trials.append(record)
    s = state["config"]["sweep"]
    constraints = s.get("constraints", [])
    return {
        "edgegru_version": __version__,
        "sweep": s,
        "target": state["target"],
        "candidate": state["candidate"],
        "trials": trials,
        "fronts": {
            name: pareto_front(trials, x)
            for name, (x, _, _) in FRONTS.items()
            if name in ALWAYS or _measured(trials, x)
        },
        "best": [
            {
                "name": c.get("name", f"constraints {i + 1}"),
                "constraints": {k: v for k, v in c.items() if k != "name"},
                "trial": best_under(trials, c),
            }
            for i, c in enumerate(constraints)
        ],
        "failed": [{"id": t["id"], "error": t["error"]} for t in trials if t["status"] == "failed"],
        "retried": [
            {"id": t["id"], "attempts": t["attempts"]} for t in trials if t.get("attempts", 1) > 1
        ],
    }


def _measured(trials: list[dict[str, Any]], metric: str) -> bool:
    return any(t.get("metrics", {}).get(metric) is not None for t in trials)


def _kb(v: Any) -> str:
    return _fmt(v / 1024 if v is not None else None, 1)


def _fmt(v: Any, digits: int = 4) -> str:
    if v is None:
        return "-"
    return f"{v:.{digits}f}" if isinstance(v, float) else str(v)


def _params(p: dict[str, Any]) -> str:
    return ", ".join(f"{k}={_fmt(v, 4) if isinstance(v, float) else v}" for k, v in p.items())


def render_markdown(r: dict[str, Any], plots: list[str]) -> str:
    s, trials = r["sweep"], r["trials"]
    done = [t for t in trials if t["status"] == "done"]
    cand = r["candidate"]
    lines = ["# edgegru sweep report", "",
             f"{len(trials)} trials ({s['search']} search; {len(done)} done, "
             f"{len(r['failed'])} failed). Each trial is judged by its {cand['format']} "
             f"{cand['form']} file (int8 where the trial quantizes) on `{r['target']}`: accuracy "
             "on the test split, file size, median latency per window.", ""]  # fmt: skip
    arena = _measured(trials, "arena_bytes")  # a tflm check: its arena column
    lines += ["## Trials", "",
              "| trial | params | accuracy | float | drop pts | size KB | param bytes | p50 us | "
              + ("arena KB | " if arena else "") + "front | status |",
              "|---|---|---|---|---|---|---|---|---|---|" + ("---|" if arena else "")]  # fmt: skip
    for t in trials:
        m = t.get("metrics", {})
        fronts = ", ".join(n for n, ids in r["fronts"].items() if t["id"] in ids)
        status = t["status"] if t["status"] != "failed" else f"failed: {t['error']}"
        if t.get("attempts", 1) > 1:
            status += f" (ran {t['attempts']} times)"
        lines.append(
            f"| {t['id']} | {_params(t.get('params', {}))} | {_fmt(m.get('accuracy'))} | "
            f"{_fmt(m.get('float_accuracy'))} | {_fmt(m.get('accuracy_drop_pts'), 1)} | "
            f"{_kb(m.get('size_bytes'))} | {_fmt(m.get('param_bytes'))} | "
            f"{_fmt(m.get('p50_us'), 1)} | "
            + (f"{_kb(m.get('arena_bytes'))} | " if arena else "")
            + f"{fronts or '-'} | {status} |"
        )
    lines.append("")
    for name, ids in r["fronts"].items():
        x, label, scale = FRONTS[name]
        ms = [(i, _by_id(trials, i)["metrics"]) for i in ids]
        pts = ", ".join(f"{i} ({_fmt(m['accuracy'])} at {_fmt(m[x] * scale, 1)})" for i, m in ms)
        lines += [f"Pareto front, accuracy vs {label}: {pts or 'no done trial'}.", ""]
    if r["best"]:
        lines += ["## Best trial under each set of constraints", "",
                  "| constraints | budgets | trial | accuracy | size KB | p50 us |"
                  + (" arena KB |" if arena else ""),
                  "|---|---|---|---|---|---|" + ("---|" if arena else "")]  # fmt: skip
        for b in r["best"]:
            budgets = ", ".join(f"{k} {v}" for k, v in b["constraints"].items()) or "none"
            m = _by_id(trials, b["trial"])["metrics"] if b["trial"] else {}
            lines.append(f"| {b['name']} | {budgets} | {b['trial'] or 'none meets them'} | "
                         f"{_fmt(m.get('accuracy'))} | {_kb(m.get('size_bytes'))} | "
                         f"{_fmt(m.get('p50_us'), 1)} |"
                         + (f" {_kb(m.get('arena_bytes'))} |" if arena else ""))  # fmt: skip
        lines.append("")
    if r["failed"]:
        lines += ["## Failed trials", ""] + [f"- {f['id']}: {f['error']}" for f in r["failed"]]
        lines.append("")
    if r["retried"]:
        lines += ["Trials that ran more than once (a worker died or the sweep was killed and "
                  "resumed): " + ", ".join(f"{x['id']} ({x['attempts']}x)" for x in r["retried"])
                  + ".", ""]  # fmt: skip
    lines += [f"![{p}]({p})\n" for p in plots]
    lines += [f"Trial folders: `trials/<id>/` (each a pipeline output with its own report.md). "
              f"edgegru {r['edgegru_version']}.", ""]  # fmt: skip
    return "\n".join(lines)


def _by_id(trials: list[dict[str, Any]], tid: str) -> dict[str, Any]:
    return next(t for t in trials if t["id"] == tid)


def render_plots(out: Path, r: dict[str, Any]) -> list[str]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from edgegru.pipeline.report import _save

    names = []
    done = [t for t in r["trials"] if t["status"] == "done"]
    for name in r["fronts"]:
        x, label, scale = FRONTS[name]
        pts = [t for t in done if t["metrics"].get(x) is not None]
        if not pts:
            continue
        fig, ax = plt.subplots(figsize=(6, 4))
        ax.plot([t["metrics"][x] * scale for t in pts], [t["metrics"]["accuracy"] for t in pts],
                "o", color="tab:gray", alpha=0.6, label="trial")  # fmt: skip
        front = [_by_id(done, i) for i in r["fronts"][name]]
        ax.step([t["metrics"][x] * scale for t in front],
                [t["metrics"]["accuracy"] for t in front], "o-", where="post",
                color="tab:red", label="Pareto front")  # fmt: skip
        for t in front:
            ax.annotate(t["id"], (t["metrics"][x] * scale, t["metrics"]["accuracy"]),
                        fontsize=7, xytext=(3, 3), textcoords="offset points")  # fmt: skip
        ax.set_xlabel(label + (f" on {r['target']}" if name == "latency" else ""))
        ax.set_ylabel(f"accuracy on {r['target']}")
        ax.set_title(f"Sweep: accuracy vs {name}")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8, loc="lower right")
        fig.tight_layout()
        _save(fig, out / f"pareto_{name}.png")
        plt.close(fig)
        names.append(f"pareto_{name}.png")
    return names


def render_sweep_report(out: str | Path, plots: bool = True) -> Path:
    """Write OUTDIR/sweep.md, results.json and the plots; return the report's path."""
    out = Path(out)
    r = collect(out)
    parse_sweep(load_state(out)["config"], str(out / STATE))  # the stored config is still valid
    names = render_plots(out, r) if plots else []
    atomic_write_json(out / "results.json", r)
    return atomic_write_text(out / "sweep.md", render_markdown(r, names))
