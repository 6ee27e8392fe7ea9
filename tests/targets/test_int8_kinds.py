"""int8 artifacts on every target: full-integer and hybrid TFLite, ONNX int8-dynamic.

What must hold on a device: the outputs stay within the tolerance the manifest states (vs the
float model), and the predicted classes agree with the float model on nearly every row. On the
host the full-integer file also equals the NumPy int8 reference bit for bit (its "xnnpack" mode
reproduces XNNPACK's int8 ADD/SUB/MUL/QUANTIZE arithmetic).
"""

from __future__ import annotations

import copy
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from edgegru.quantize import QuantizeConfig, quantize_
from edgegru.quantize.compare import predict_quantized
from edgegru.reference import reference_forward
from edgegru.targets import make_target
from edgegru.targets.config import RunConfig
from edgegru.targets.qemu_rootfs import is_ready
from edgegru.types import Dataset, DatasetInfo, SequenceData
from tests.targets import artifacts as A

CFG = RunConfig(warmup=1, runs=3, timeout_s=600)
KINDS = [  # (format, form, precision)
    ("tflite", "sequence", "int8-static"),
    ("tflite", "step", "int8-static"),
    ("tflite", "sequence", "int8-dynamic"),
    ("tflite", "step", "int8-dynamic"),
    ("onnx", "sequence", "int8-dynamic"),
    ("onnx", "step", "int8-dynamic"),
    ("ort", "sequence", "int8-dynamic"),
    ("ort", "step", "int8-dynamic"),
]


@dataclass
class Int8Built:
    files: dict[tuple[str, str, str], Path]
    data: Path
    X: np.ndarray
    float_ref: np.ndarray
    int8_ref: np.ndarray


# The peephole LSTM's int8 files: TFLite's integer 8x8_16 LSTM kernel (static) and the hybrid
# fused LSTM (dynamic); ONNX int8 LSTM is covered by tests/export.
LSTM_KINDS = [k for k in KINDS if k[0] == "tflite"]


def _build(folder: Path, cell: str, kinds: list[tuple[str, str, str]]) -> Int8Built:
    b = A.bundle(cell)
    X, _ = A.data(b, n=64, T=6, seed=3)
    y = np.zeros(len(X), np.int64)
    part = SequenceData(X, y)
    ds = Dataset(DatasetInfo("synthetic", "", "", ""), "classification", part, part,
                 ("x0", "x1", "x2"), ("a", "b", "c", "d"))  # fmt: skip
    files = {}
    quantized = {}
    for scheme, precision in (("static", "int8-static"), ("dynamic", "int8-dynamic")):
        q = quantize_(copy.deepcopy(b), QuantizeConfig(scheme=scheme, calib=64), ds)
        quantized[precision] = q
        for fmt, form, prec in kinds:
            if prec == precision:
                files[(fmt, form, prec)] = A.make(q, fmt, form, folder / scheme, precision=prec)
    X = X[:12]
    np.savez(folder / "data.npz", X=X)
    float_ref = reference_forward(b.spec, b.weights, X)
    int8_ref = predict_quantized(quantized["int8-static"], SequenceData(X, y[:12]), "xnnpack")
    return Int8Built(files, folder / "data.npz", X, float_ref, int8_ref)


@pytest.fixture(scope="module")
def int8_built(tmp_path_factory) -> Int8Built:
    return _build(tmp_path_factory.mktemp("int8"), "gru", KINDS)


@pytest.fixture(scope="module")
def lstm_int8_built(tmp_path_factory) -> Int8Built:
    return _build(tmp_path_factory.mktemp("int8lstm"), "peephole", LSTM_KINDS)


def check_outputs(built: Int8Built, key, outputs: np.ndarray) -> None:
    from edgegru.export import read_manifest

    tol = read_manifest(built.files[key]).details.get("tolerance")
    err = np.abs(outputs - built.float_ref).max()
    if tol is not None:
        assert err <= tol, (key, err, tol)
    agree = (outputs.argmax(1) == built.float_ref.argmax(1)).mean()
    assert agree >= 0.9, (key, agree)


def run_all(target_name: str, built: Int8Built) -> dict:
    target = make_target(target_name)
    results = {}
    with target:
        for key, path in built.files.items():
            r = target.run(path, path.with_name(path.name + ".json"), built.data, CFG)
            results[key] = np.array(r["outputs"])
    return results


def test_int8_kinds_on_local(int8_built):
    outs = run_all("local", int8_built)
    for key, y in outs.items():
        check_outputs(int8_built, key, y)
    # the full-integer file computes exactly what the NumPy int8 reference computes
    for key in (("tflite", "sequence", "int8-static"), ("tflite", "step", "int8-static")):
        np.testing.assert_array_equal(outs[key], int8_built.int8_ref.astype(outs[key].dtype))


@pytest.mark.slow
def test_int8_kinds_over_ssh(int8_built, sshd):
    for key, y in run_all(sshd.target(), int8_built).items():
        check_outputs(int8_built, key, y)


@pytest.mark.slow
@pytest.mark.parametrize("board", ["pi4", "pi5"])
def test_int8_kinds_on_the_emulated_pi(int8_built, board):
    if not is_ready():
        if os.environ.get("CI"):
            pytest.fail("CI must build the userland: edgegru targets setup qemu-aarch64")
        pytest.skip("no emulated userland: edgegru targets setup qemu-aarch64")
    for key, y in run_all(f"qemu-aarch64:{board}", int8_built).items():
        check_outputs(int8_built, key, y)


STATIC = (("tflite", "sequence", "int8-static"), ("tflite", "step", "int8-static"))


def test_lstm_int8_kinds_on_local(lstm_int8_built):
    outs = run_all("local", lstm_int8_built)
    for key, y in outs.items():
        check_outputs(lstm_int8_built, key, y)
    for key in STATIC:  # the integer LSTM kernel == lstm_reference, bit for bit
        np.testing.assert_array_equal(outs[key], lstm_int8_built.int8_ref.astype(outs[key].dtype))


@pytest.mark.slow
@pytest.mark.parametrize("board", ["pi4", "pi5"])
def test_lstm_int8_kinds_on_the_emulated_pi(lstm_int8_built, board):
    """On aarch64 LiteRT runs the integer LSTM's NEON kernels (on x86 most of them forward to the
    portable code): the NumPy reference must still match them bit for bit."""
    if not is_ready():
        if os.environ.get("CI"):
            pytest.fail("CI must build the userland: edgegru targets setup qemu-aarch64")
        pytest.skip("no emulated userland: edgegru targets setup qemu-aarch64")
    outs = run_all(f"qemu-aarch64:{board}", lstm_int8_built)
    for key, y in outs.items():
        check_outputs(lstm_int8_built, key, y)
    for key in STATIC:
        np.testing.assert_array_equal(outs[key], lstm_int8_built.int8_ref.astype(outs[key].dtype))
