"""Training defaults on every shipped dataset: test score of 3 seeds per model, the optimizer
steps and batch size the defaults chose, and the seconds each run took.

    python -m bench.training                            # the four-dataset table, today's defaults
    python -m bench.training --datasets basicmotions --variant batch64=batch_size=64,min_steps=0

Writes ``bench/results/training.json`` (``--variant``: ``training_<name>.json``, a comparison
with other settings). basicmotions runs every cell at H 16 and 32; the others GRU-32, the model
the README quotes.
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from typing import Any

from bench import timing

# (dataset, [(cell, H)]): basicmotions is the small set the defaults are for.
GRID = {
    "basicmotions": [(c, h) for c in ("gru", "lstm", "peephole") for h in (16, 32)],
    "japanesevowels": [("gru", 32)],
    "sunspots": [("gru", 32)],
    "watch": [("gru", 32)],
}


def parse_overrides(text: str) -> dict[str, Any]:
    """``batch_size=64,min_steps=0`` -> TrainConfig keyword arguments."""
    out: dict[str, Any] = {}
    for item in filter(None, text.split(",")):
        key, _, value = item.partition("=")
        out[key] = None if value == "None" else (float(value) if "." in value else int(value))
    return out


def run_one(dataset: str, cell: str, hidden: int, seed: int, overrides: dict[str, Any]) -> dict:
    from edgegru.datasets import load_dataset
    from edgegru.train import TrainConfig, train
    from edgegru.types import ModelSpec

    ds = load_dataset(dataset)
    spec = ModelSpec(cell=cell, input_size=ds.num_features, hidden_size=hidden,
                     num_outputs=ds.num_outputs, task=ds.task)  # fmt: skip
    cfg = TrainConfig(seed=seed, **overrides)
    with tempfile.TemporaryDirectory(prefix="edgegru-bench-train-") as tmp:
        t0 = time.perf_counter()
        result = train(spec, ds, cfg, tmp)
        seconds = time.perf_counter() - t0
    key = "accuracy" if ds.task == "classification" else "mae"
    return {
        "seed": seed,
        "score": result.test_metrics[key],
        "metric": key,
        "steps": result.steps,
        "batch_size": result.schedule.batch_size if result.schedule else None,
        "epochs_run": len(result.history),
        "final_train_loss": result.history[-1]["loss"],
        "warning": result.warning,
        "seconds": seconds,
    }


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--datasets", default=",".join(GRID), help="comma-separated dataset names")
    p.add_argument("--seeds", default="0,1,2")
    p.add_argument("--variant", default="", help="NAME=key=value,... TrainConfig overrides")
    p.add_argument("--models", default="", help="only these, e.g. peephole-16,lstm-16")
    args = p.parse_args(argv)
    name, _, text = args.variant.partition("=")
    overrides = parse_overrides(text)
    seeds = [int(s) for s in args.seeds.split(",")]
    rows = []
    for dataset in args.datasets.split(","):
        for cell, hidden in GRID[dataset]:
            if args.models and f"{cell}-{hidden}" not in args.models.split(","):
                continue
            runs = []
            for seed in seeds:
                runs.append(run_one(dataset, cell, hidden, seed, overrides))
                r = runs[-1]
                print(f"{dataset} {cell}{hidden} seed {seed}: {r['metric']} {r['score']:.4f} "
                      f"({r['steps']} steps of {r['batch_size']}, {r['seconds']:.1f} s)",
                      flush=True)  # fmt: skip
            scores = [r["score"] for r in runs]
            rows.append({
                "dataset": dataset, "cell": cell, "hidden": hidden, "metric": runs[0]["metric"],
                "mean": statistics.mean(scores), "min": min(scores), "max": max(scores),
                "mean_seconds": statistics.mean(r["seconds"] for r in runs), "runs": runs,
            })  # fmt: skip
    stem = f"training_{name}" if name else "training"
    rows = merged(stem, rows)  # a run of some datasets keeps the others' rows
    from edgegru.train import TrainConfig

    config = TrainConfig(**overrides).to_json()  # what the runs of this invocation used
    out = {"variant": name or "defaults", "overrides": overrides, "config": config,
           "seeds": seeds, "rows": rows}  # fmt: skip
    path = timing.write_results(stem, out)
    print(table(rows))
    print(f"-> {path}")
    return 0


def merged(stem: str, rows: list[dict]) -> list[dict]:
    """``rows`` plus the other models' rows already in bench/results/<stem>.json."""
    path = timing.RESULTS / f"{stem}.json"

    def key(r: dict) -> tuple:
        return r["dataset"], r["cell"], r["hidden"]

    ran = {key(r) for r in rows}
    old = json.loads(path.read_text())["rows"] if path.is_file() else []
    order = [(d, c, h) for d, models in GRID.items() for c, h in models]
    return sorted([r for r in old if key(r) not in ran] + rows, key=lambda r: order.index(key(r)))


def table(rows: list[dict]) -> str:
    lines = ["| dataset | model | metric | mean | min | max | steps | batch | s/run |",
             "|---|---|---|---|---|---|---|---|---|"]  # fmt: skip
    for r in rows:
        first = r["runs"][0]
        lines.append(
            f"| {r['dataset']} | {r['cell']}-{r['hidden']} | {r['metric']} | {r['mean']:.4f} | "
            f"{r['min']:.4f} | {r['max']:.4f} | {first['steps']} | {first['batch_size']} | "
            f"{r['mean_seconds']:.1f} |"
        )
    return "\n".join(lines)


if __name__ == "__main__":
    raise SystemExit(main())
