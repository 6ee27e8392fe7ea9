"""Parsers of the Android benchmark tools' output (there is no Python on a phone).

- TFLite's ``benchmark_model``: the ``count=... first=... min=... max=... avg=... std=...``
  line of the timed runs (newer builds add p5/median/p95), ``Inference timings in us: Init: ...,
  First inference: ...``, and the memory line (``Peak memory footprint (MB): init=.. overall=..``
  or, newer, ``Memory footprint delta from the start of the tool (MB): ...``). Lines may carry an
  ``INFO:`` or logcat prefix. Numbers may be printed as ``1.24027e+06``.
- ONNX Runtime's ``onnxruntime_perf_test``: ``Session creation time cost: S s``, ``Average
  inference time cost: MS ms``, ``Total inference requests: N``, ``Peak working set size: B
  bytes`` and, with ``-s``, ``Min/Max/P50/P90/P95/P99/P999 Latency is S sec``.

The recorded real outputs these are tested against are in tests/targets/data/ with their sources.
"""

from __future__ import annotations

import re
from typing import Any

from edgegru.errors import BadInput

NUM = r"([-+]?\d+(?:\.\d+)?(?:[eE][-+]?\d+)?)"


def _kv(line: str) -> dict[str, float]:
    return {k: float(v) for k, v in re.findall(r"(\w+)=" + NUM, line)}


def parse_benchmark_model(text: str) -> dict[str, Any]:
    """benchmark_model's stdout -> the runner's timing fields (microseconds, KiB)."""
    runs = [_kv(ln) for ln in text.splitlines() if re.search(r"\bcount=\d+ first=", ln)]
    summary = re.search(
        rf"Inference timings in us: Init: {NUM}, First inference: {NUM}, "
        rf"Warmup \(avg\): {NUM}, Inference \(avg\): {NUM}",
        text,
    )
    if not runs or not summary:
        last = text.strip().splitlines()[-1:] or ["no output"]
        raise BadInput(f"benchmark_model printed no timings: {last[0]}")
    timed = runs[-1]  # the warm-up line has no "first="; the last "first=" line is the timed one
    latency = {
        "count": int(timed["count"]),
        "mean": timed["avg"],
        "std": timed["std"],
        "min": timed["min"],
        "max": timed["max"],
        "p50": timed.get("median"),
        "p90": None,
        "p99": None,
        "p95": timed.get("p95"),
    }
    memory = re.search(
        rf"(Peak memory footprint|Memory footprint delta from the start of the tool) "
        rf"\(MB\): init={NUM} overall={NUM}",
        text,
    )
    return {
        "init_us": float(summary[1]),
        "first_inference_us": float(summary[2]),
        "warmup_avg_us": float(summary[3]),
        "latency_us": latency,
        "peak_rss_kb": None if not memory else float(memory[3]) * 1024.0,
        "memory_kind": None if not memory else memory[1],
    }


def parse_perf_test(text: str) -> dict[str, Any]:
    """onnxruntime_perf_test's stdout -> the runner's timing fields (microseconds, KiB)."""

    def find(pattern: str) -> float | None:
        m = re.search(pattern + r"\s*:?\s*" + NUM, text)
        return None if m is None else float(m[1])

    mean_ms = find(r"Average inference time cost")
    if mean_ms is None:
        last = text.strip().splitlines()[-1:] or ["no output"]
        raise BadInput(f"onnxruntime_perf_test printed no timings: {last[0]}")

    def latency(name: str) -> float | None:
        s = find(rf"{name} Latency(?: is)?")
        return None if s is None else s * 1e6

    session_s = find(r"Session creation time cost")
    requests = find(r"Total inference requests")
    peak = find(r"Peak working set size")
    first_ms = find(r"First inference time cost")
    return {
        "init_us": None if session_s is None else session_s * 1e6,
        "first_inference_us": None if first_ms is None else first_ms * 1e3,
        "latency_us": {
            "count": None if requests is None else int(requests),
            "mean": mean_ms * 1e3,
            "std": None,
            "min": latency("Min"),
            "max": latency("Max"),
            "p50": latency("P50"),
            "p90": latency("P90"),
            "p99": latency("P99"),
        },
        "peak_rss_kb": None if peak is None else peak / 1024.0,
    }
