"""bench/compress.py's verdicts: the compression targets (a) and (b) on means over seeds, float AND
int8."""

from __future__ import annotations

import pytest

from bench.compress import checks, summarize


def _row(method, hidden, seed, acc, int8, int8_bytes, params=1000):
    return {"method": method, "hidden": hidden, "seed": seed, "parameters": params,
            "float32_bytes": 4 * params, "int8_bytes": int8_bytes, "accuracy": acc,
            "int8_accuracy_xnnpack": int8, "int8_accuracy_reference": int8}  # fmt: skip


def test_b_needs_the_mean_over_seeds_in_float_and_int8():
    teacher = [_row("teacher", 128, s, 0.86, None, 54_000, 53_127) for s in range(3)]
    rows = [
        *teacher,
        _row("kd", 29, 0, 0.85, 0.85, 3972), _row("kd", 29, 1, 0.84, 0.845, 3972),
        _row("kd", 29, 2, 0.86, 0.85, 3972),  # mean float 0.85, int8 0.848: meets (b)
        _row("labels", 29, 0, 0.85, 0.84, 3972), _row("labels", 29, 1, 0.85, 0.84, 3972),
        _row("big", 30, 0, 0.90, 0.90, 4198),  # over 4,000 bytes
        _row("wide", 48, 0, 0.855, 0.852, 9300),  # (a): <= 1/20 of 212 KB, >= 0.86 - 1 pt
    ]  # fmt: skip
    summary = summarize(rows)
    kd = next(s for s in summary if s["method"] == "kd")
    assert kd["seeds"] == [0, 1, 2] and kd["int8_accuracy_mean"] == pytest.approx(0.84833, 1e-4)
    verdict = checks(summary)
    assert verdict["b"]["meeting"] == [("kd", 29)]  # labels: float yes, int8 no
    assert verdict["a"]["meeting"] == [("big", 30), ("wide", 48)]
