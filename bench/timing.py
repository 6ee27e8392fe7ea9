"""Interleaved latency measurement and result files shared by the bench scripts."""

from __future__ import annotations

import json
import os
import platform
import random
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

# A smoke run (`python -m bench --quick`) points this elsewhere so it never overwrites the
# measured results that docs/performance.md quotes.
RESULTS = Path(
    os.environ.get("EDGEGRU_BENCH_RESULTS") or Path(__file__).resolve().parent / "results"
)


def stats_us(samples_s: list[float]) -> dict[str, float]:
    us = np.asarray(samples_s) * 1e6
    return {
        "median_us": float(np.median(us)),
        "p90_us": float(np.percentile(us, 90)),
        "mean_us": float(us.mean()),
        "std_us": float(us.std()),
        "min_us": float(us.min()),
        "max_us": float(us.max()),
        "runs": len(us),
    }


def interleaved(
    paths: dict[str, Callable[[], Any]], runs: int = 300, warmup: int = 30, burst: int = 1
) -> dict[str, dict[str, float]]:
    """Time every path ``runs`` times, one call of each in turn, so machine noise hits all alike.

    The order is shuffled every round (seeded), so each path follows every other one about
    equally often: a call runs measurably slower right after a cache-thrashing one (ONNX
    Runtime's GRU h64 right after a PyTorch eager call: +5 us of 40), which a fixed (or merely
    rotated: the cyclic order stays) order charges to one path.

    ``burst`` > 1 calls each path that many times in a row and times only the last call: the
    steady state of a runner that invokes one model back to back, where the model's own weights
    and runtime state are in cache. With ``burst`` = 1 every call follows other paths' calls
    (caches partly cold): a path with a large footprint (an unrolled graph's ~3 KB of runtime
    state per operator) pays more for that than a small one.
    """
    for _ in range(warmup):
        for fn in paths.values():
            fn()
    samples: dict[str, list[float]] = {name: [] for name in paths}
    items = list(paths.items())
    shuffle = random.Random(0).shuffle
    clock = time.perf_counter
    for _ in range(runs):
        shuffle(items)
        for name, fn in items:
            for _ in range(burst - 1):
                fn()
            t0 = clock()
            fn()
            samples[name].append(clock() - t0)
    return {name: stats_us(s) for name, s in samples.items()}


def environment() -> dict[str, Any]:
    cpu = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    versions = {}
    for mod in ("numpy", "torch", "onnx", "onnxruntime", "ai_edge_litert"):
        try:
            versions[mod] = __import__(mod).__version__
        except Exception:  # a missing or broken peer is recorded, not fatal
            versions[mod] = None
    return {
        "machine": platform.machine(),
        "cpu": cpu,
        "cores": os.cpu_count(),
        "python": platform.python_version(),
        "versions": versions,
        "time": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }


def write_results(name: str, data: dict[str, Any]) -> Path:
    """bench/results/<name>.json, written atomically, with the environment."""
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / f"{name}.json"
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps({"environment": environment(), **data}, indent=2, sort_keys=True))
    os.replace(tmp, path)
    return path
