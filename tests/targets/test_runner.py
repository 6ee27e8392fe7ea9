"""The device runner on the real runtimes (here: this machine's Python, via the local target).

Tolerance 1e-5 against the float64 NumPy reference: float32 fused GRU kernels differ from it by
rounding only (measured 1.7e-7 on these 6-step rows).
"""

from __future__ import annotations

import ast
import sys

import numpy as np
import pytest

from edgegru.targets.base import TargetError
from edgegru.targets.config import RunConfig
from edgegru.targets.local import LocalTarget
from tests.conftest import ROOT

RUNNER = ROOT / "targets" / "runner.py"
CFG = RunConfig(warmup=2, runs=30)


def run_local(path, data, cfg=CFG, python=None):
    with LocalTarget(python) as t:
        return t.run(path, path.with_name(path.name + ".json"), data, cfg)


def test_runner_imports_nothing_from_edgegru():
    tree = ast.parse(RUNNER.read_text())
    names = [a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names]
    names += [n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and n.module]
    assert not [n for n in names if n.startswith("edgegru")], names


def test_every_kind_matches_the_reference(built):
    assert built.files, "no artifact kinds"
    for (fmt, form), path in built.files.items():
        r = run_local(path, built.data)
        out = np.array(r["outputs"])
        err = np.abs(out - built.expected(fmt, form)).max()
        assert err < 1e-5, (fmt, form, err)
        lat = r["latency_us"]
        for figure in ("invoke", "call", "window_invoke", "window_call"):
            s = lat[figure]
            assert s["min"] <= s["p50"] <= s["p90"] <= s["max"], (fmt, form, figure)
        assert lat["invoke"]["count"] == lat["call"]["count"] == 30
        if form == "step":  # a window is T steps: longer than one; max(5, 30 / 10) windows
            assert lat["window_invoke"]["count"] == 5 and r["window_steps"] > 1
            assert lat["window_invoke"]["p50"] > lat["invoke"]["p50"]
            assert lat["window_call"]["p50"] > lat["window_invoke"]["p50"]
        else:  # one call is one window
            assert lat["window_invoke"] == lat["invoke"] and lat["window_call"] == lat["call"]
        assert r["init_us"] > 0 and r["first_inference_us"] > 0 and r["peak_rss_kb"] > 0
        assert r["form"] == form and r["versions"]["numpy"] == np.__version__
        assert r["device"]["cpu_model"] and r["device"]["machine"]
        if fmt == "tflite":
            assert r["api"].startswith("CompiledModel")  # ai_edge_litert 2.x has it
        else:
            assert r["api"].startswith("InferenceSession") and "onnxruntime" in r["versions"]


def test_tflite_interpreter_fallback_is_recorded(built):
    path = built.files.get(("tflite", "sequence"))
    if path is None:
        pytest.skip("the TFLite exporter has not landed in this checkout")
    r = run_local(path, built.data, RunConfig(api="interpreter", warmup=1, runs=5))
    assert r["api"].startswith("Interpreter")
    assert np.abs(np.array(r["outputs"]) - built.expected("tflite", "sequence")).max() < 1e-4


def test_threads_and_cpu_pinning_are_applied(built):
    path = built.files[("onnx", "step")]
    r = run_local(path, built.data, RunConfig(threads=2, cpus=(0,), warmup=1, runs=5))
    assert r["threads"] == 2 and r["cpus"] == "0"


def test_equal_length_rows_without_lengths(built, tmp_path):
    np.savez(tmp_path / "d.npz", X=built.X[:3, :4])
    from edgegru.reference import reference_forward
    from tests.targets import artifacts as A

    b = A.bundle()
    ref = reference_forward(b.spec, b.weights, built.X[:3, :4])
    for (fmt, form), path in built.files.items():
        if (fmt, form) == ("tflite", "sequence"):
            continue  # fixed T: padding is tested on the check path
        r = run_local(path, tmp_path / "d.npz", RunConfig(warmup=0, runs=1))
        assert np.abs(np.array(r["outputs"]) - ref).max() < 1e-5, (fmt, form)


def test_corrupt_artifact_is_one_clear_error(built, tmp_path):
    src = built.files[("onnx", "sequence")]
    bad = tmp_path / "model.onnx"
    bad.write_bytes(src.read_bytes()[: src.stat().st_size // 2])
    (tmp_path / "model.onnx.json").write_text(src.with_name(src.name + ".json").read_text())
    with pytest.raises(TargetError, match=r"model.onnx could not be loaded .*Re-export it"):
        run_local(bad, built.data)


def test_missing_runtime_names_the_pip_install(built, tmp_path):
    # -S: no site-packages, so numpy itself is missing; then numpy alone without onnxruntime.
    with pytest.raises(TargetError, match=r"runtime missing.*pip install numpy on the device"):
        run_local(built.files[("onnx", "step")], built.data, python=[sys.executable, "-S"])
    site = tmp_path / "site"
    site.mkdir()
    (site / "numpy").symlink_to(np.__path__[0])
    py = ["env", f"PYTHONPATH={site}", sys.executable, "-S"]
    with pytest.raises(TargetError, match="pip install onnxruntime on the device"):
        run_local(built.files[("onnx", "step")], built.data, python=py)


def test_missing_python_is_one_clear_error(built):
    with pytest.raises(TargetError, match=r"cannot start .*install Python 3"):
        run_local(built.files[("onnx", "step")], built.data, python=["/nonexistent/python3"])


def test_bad_data_is_reported(built, tmp_path):
    np.savez(tmp_path / "d.npz", X=np.zeros((2, 3), np.float32))
    with pytest.raises(TargetError, match=r"X must be \[N, T, F\]"):
        run_local(built.files[("onnx", "step")], tmp_path / "d.npz")


@pytest.mark.parametrize(("cell", "head", "layers"), [("lstm", "last", 2), ("peephole", "mean", 2)])
def test_other_cells_and_heads_match_the_reference(cell, head, layers, tmp_path):
    """LSTM, peephole LSTM, the mean head (running sum/count states) and 2 layers, every kind."""
    from edgegru.reference import reference_forward
    from tests.targets import artifacts as A

    b = A.bundle(cell, head, layers, seed=3)
    X, L = A.data(b, n=4, lengths=True)
    np.savez(tmp_path / "d.npz", X=X, lengths=L)
    for fmt, form, _ in A.kinds():
        path = A.make(b, fmt, form, tmp_path / fmt)
        r = run_local(path, tmp_path / "d.npz", RunConfig(warmup=0, runs=2))
        padded = (fmt, form) == ("tflite", "sequence")
        ref = reference_forward(b.spec, b.weights, X, None if padded else L)
        err = np.abs(np.array(r["outputs"]) - ref).max()
        assert err < 1e-5, (cell, head, fmt, form, err)
