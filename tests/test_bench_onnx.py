"""bench.onnx runs end to end on one small workload (timing numbers are not checked here)."""

from __future__ import annotations

import pytest


@pytest.mark.slow
def test_bench_onnx_one_workload():
    from bench.onnx import bench_workload, markdown

    r = bench_workload("gru", "h64", runs=3, warmup=1)
    assert set(r["paths"]) == {"edgegru_onnx", "torch_onnx", "torch_eager"}
    assert r["paths"]["edgegru_onnx"]["nodes"] < r["paths"]["torch_onnx"]["nodes"]
    assert r["max_abs_diff_vs_eager"] < 1e-5  # same weights, float32 both: parity, not timing
    assert r["ratio_vs_torch_onnx"] > 0 and "| gru | h64 |" in markdown([r])
