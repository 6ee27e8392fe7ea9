"""`python -m bench --quick` runs the bench scripts and writes a summary, never touching the
measured results (they go to a temporary folder)."""

from __future__ import annotations

import subprocess
import sys

import pytest

from tests.conftest import ROOT


@pytest.mark.slow
def test_quick_bench_writes_a_summary_elsewhere():
    before = {p.name: p.stat().st_mtime for p in (ROOT / "bench" / "results").glob("*.json")}
    proc = subprocess.run(
        [sys.executable, "-m", "bench", "--quick", "--only", "onnx_int8"],
        cwd=ROOT, capture_output=True, text=True, timeout=900, check=False,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "## ONNX int8-dynamic vs float" in proc.stdout
    summary = proc.stderr.strip().splitlines()[-1].removeprefix("-> ")
    assert "edgegru-bench-" in summary
    after = {p.name: p.stat().st_mtime for p in (ROOT / "bench" / "results").glob("*.json")}
    assert after == before
