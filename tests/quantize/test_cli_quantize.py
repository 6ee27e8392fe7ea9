"""`edgegru quantize` end to end (real subprocesses) and its bad inputs: exit 2, one line."""

from __future__ import annotations

import json

import numpy as np
import pytest

from edgegru.bundle import load_bundle, save_bundle
from edgegru.reference import random_weights
from edgegru.types import Bundle, ModelSpec, Normalization


def _data(path, n=60, nan=False):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(n, 12, 4)).astype(np.float32)
    y = (X[:, :, 0].mean(axis=1) > 0).astype(np.int64)
    if nan:
        X[7, 3, 2] = np.nan
    np.savez(path, X=X, y=y)
    return path


@pytest.fixture
def model_dir(tmp_path):
    spec = ModelSpec("gru", 4, 8, 2, normalization=Normalization((0.0,) * 4, (1.0,) * 4))
    return save_bundle(Bundle(spec, random_weights(spec, 0, 0.5)), tmp_path / "m")


def one_line_exit_2(proc, needle):
    assert proc.returncode == 2, (proc.stdout, proc.stderr)
    assert "Traceback" not in proc.stderr and len(proc.stderr.strip().splitlines()) == 1
    assert needle in proc.stderr, proc.stderr


def test_quantize_static_prints_accuracy_and_sqnr(cli, model_dir, tmp_path):
    data = _data(tmp_path / "d.npz")
    out = tmp_path / "q"
    proc = cli("quantize", str(model_dir), "--data", str(data), "--calib", "16", "-o", str(out))
    assert proc.returncode == 0, proc.stderr
    assert "NumPy int8 reference" in proc.stdout and "SQNR" in proc.stdout
    q = load_bundle(out)
    assert q.quant.scheme == "static" and q.quant.calibration["sequences"] == 16
    assert q.quant.activations["head.y"].bits == 16  # the default: int16 logits
    proc = cli(
        "quantize", str(model_dir), "--data", str(data), "--calib", "16", "--weights", "channel",
        "--logits-bits", "8", "-o", str(tmp_path / "q8"),
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    q8 = load_bundle(tmp_path / "q8")
    assert q8.quant.activations["head.y"].bits == 8
    assert q8.quant.calibration["weights"] == "channel"
    proc = cli(
        "quantize", str(model_dir), "--scheme", "dynamic", "--data", str(data), "--json",
        "-o", str(tmp_path / "d"),
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout)
    assert result["scheme"] == "dynamic" and result["sqnr_db"] > 20
    assert set(result["int8"]) >= {"accuracy"} and set(result["float"]) >= {"accuracy"}


def test_quantize_bad_inputs_exit_2(cli, model_dir, tmp_path):
    out = tmp_path / "q"
    nan = _data(tmp_path / "nan.npz", nan=True)
    one_line_exit_2(cli("quantize", str(model_dir), "--data", str(nan), "-o", str(out)), "NaN")
    np.savez(tmp_path / "empty.npz", X=np.zeros((0, 12, 4), np.float32), y=np.zeros(0, np.int64))
    proc = cli("quantize", str(model_dir), "--data", str(tmp_path / "empty.npz"), "-o", str(out))
    assert proc.returncode == 2 and len(proc.stderr.strip().splitlines()) == 1, proc.stderr
    # a model without calibration asked for a full-integer export
    proc = cli("export", str(model_dir), "--precision", "int8-static", "-o", str(out))
    one_line_exit_2(proc, "calibrated model")
    proc = cli("quantize", str(model_dir), "--logits-bits", "4", "-o", str(out))
    assert proc.returncode == 2 and "Traceback" not in proc.stderr  # click's choice error,
    assert "logits-bits" in proc.stderr and "'16'" in proc.stderr  # as for train --cell
    # static needs data when the bundle names no dataset
    one_line_exit_2(cli("quantize", str(model_dir), "-o", str(out)), "calibration data")
    assert not out.exists()


@pytest.mark.parametrize("cell", ["lstm", "peephole"])
def test_quantize_static_lstm_then_export_int8_tflite(cli, tmp_path, cell):
    """LSTM / peephole: quantize --scheme static (TFLite's integer LSTM kernel, host numbers from
    lstm_reference), then export the full-integer sequence and step files; without calibration
    the export is one line, exit 2."""
    spec = ModelSpec(cell, 4, 8, 2, normalization=Normalization((0.0,) * 4, (1.0,) * 4))
    model = save_bundle(Bundle(spec, random_weights(spec, 0, 0.5), {"seq_len": 12}),
                        tmp_path / "m")  # fmt: skip
    proc = cli("export", str(model), "--format", "tflite", "--precision", "int8-static",
               "-o", str(tmp_path / "x"))  # fmt: skip
    one_line_exit_2(proc, "calibrated model")
    data = _data(tmp_path / "d.npz")
    out = tmp_path / "q"
    proc = cli("quantize", str(model), "--data", str(data), "--calib", "16", "--json",
               "-o", str(out))  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["sqnr_db"] > 10
    proc = cli("export", str(out), "--format", "tflite", "--precision", "int8-static",
               "-o", str(tmp_path / "e"))  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert {p.name for p in (tmp_path / "e").glob("*.tflite")} == {
        "model.int8.tflite", "model.step.int8.tflite"}  # fmt: skip
