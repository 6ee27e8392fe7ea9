"""bench.timing.interleaved: every path timed ``runs`` times; ``burst`` calls back to back."""

from __future__ import annotations

from bench.timing import interleaved


def test_interleaved_burst_calls_each_path_burst_times_and_times_the_last():
    calls = {"a": 0, "b": 0}

    def make(name):
        def fn():
            calls[name] += 1

        return fn

    out = interleaved({n: make(n) for n in calls}, runs=4, warmup=2, burst=3)
    assert calls == {"a": 2 + 4 * 3, "b": 2 + 4 * 3}
    assert out["a"]["runs"] == 4 and out["b"]["runs"] == 4
