"""Full-sequence files with a ``lengths`` input compute the masked recurrence (edgegru/reference.py
with lengths): every cell, layout and head, float32 and int8-dynamic weights, in LiteRT."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from edgegru.cells import CELLS
from edgegru.export.tflite import runtime
from edgegru.export.tflite.graph import build_sequence
from edgegru.export.tflite.lowerings.lstm_lowered import LOWERED_LAYOUTS
from edgegru.reference import reference_forward
from tests.export.test_tflite import layouts_for, make_bundle, modes_for
from tests.quantize.conftest import watch_small  # noqa: F401 (fixture)

T = 8  # even, so the loop runs 2 steps per iteration and odd lengths end mid-iteration
LENGTHS = np.array([1, 3, 8, 6, 0, 11])  # 0 and 11 are clamped to 1 and T
TOL = 1e-5


def run_with_lengths(data: bytes, mode: str, X: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    run = runtime.load(data, mode)
    return np.concatenate([
        run(x=X[b : b + 1], lengths=lengths[b : b + 1].astype(np.int32))["y"]
        for b in range(len(X))
    ])  # fmt: skip


@pytest.mark.parametrize("cell", CELLS.names())
@pytest.mark.parametrize("layers", [1, 2])
@pytest.mark.parametrize("head", ["last", "mean"])
def test_sequence_with_lengths_matches_masked_reference(cell, layers, head):
    bundle = make_bundle(cell, layers, head, seed=layers)
    X = np.random.default_rng(3).standard_normal((len(LENGTHS), T, 3)).astype(np.float32)
    ref = reference_forward(bundle.spec, bundle.weights, X, np.clip(LENGTHS, 1, T))
    for layout in layouts_for(cell):
        # LSTM's builtin-op layouts are float32 only (no int8-dynamic form: lstm.py)
        for weights in ("float32",) if layout in LOWERED_LAYOUTS else ("float32", "int8"):
            options = {"layout": layout, "steps_per_iteration": 2}
            if weights == "int8":
                options["weights"] = "int8"
            data = build_sequence(bundle, T, options, "src", with_lengths=True).data
            for mode in modes_for(cell, "sequence"):
                got = run_with_lengths(data, mode, X, LENGTHS)
                tol = TOL if weights == "float32" else 0.1 * np.abs(ref).max()
                np.testing.assert_allclose(got, ref, atol=tol, err_msg=f"{layout} {weights} {mode}")


# ---------------------------------------------------------------------------- full integer

INT8_CASES = [
    ("gru", 1, "last"), ("gru", 2, "mean"), ("lstm", 1, "mean"), ("lstm", 2, "last"),
    ("peephole", 1, "last"), ("peephole", 1, "mean"),
]  # fmt: skip
N_INT8 = 24


def _int8_bundle(data, cell: str, layers: int, head: str):
    from tests.export import test_tflite_int8 as gru8
    from tests.export import test_tflite_lstm_int8 as lstm8

    if cell == "gru":
        return gru8._quantized(data, layers, head)
    return lstm8._quantized(data, cell, layers, head)


@pytest.mark.parametrize(("cell", "layers", "head"), INT8_CASES)
def test_full_integer_with_lengths_is_bit_exact(watch_small, cell, layers, head):  # noqa: F811
    """int8-static files with ``lengths`` equal the int8 reference with lengths bit for bit,
    under XNNPACK and the builtin kernels; files without it are unchanged (other tests)."""
    from edgegru.export.tflite.graph_int8 import build_sequence_int8
    from edgegru.quantize.reference import predict_int8

    bundle = _int8_bundle(watch_small, cell, layers, head)
    X = watch_small.test.X[:N_INT8]
    T = X.shape[1]
    lengths = np.random.default_rng(4).integers(1, T + 1, N_INT8)
    lengths[:3] = (1, T, T - 1)
    X = np.where(np.arange(T)[None, :, None] < lengths[:, None, None], X, 0).astype(np.float32)
    kernels = [("interpreter", "xnnpack"), ("builtin", "optimized")]
    layouts = ("loop", "unrolled") if cell == "gru" else ("fused",)
    for layout in layouts:
        options = {"layout": layout, "steps_per_iteration": 2} if cell == "gru" else {}
        data = build_sequence_int8(bundle, T, options, "s", with_lengths=True).data
        for mode, requant in kernels:
            got = run_with_lengths(data, mode, X, lengths)
            ref = predict_int8(bundle, X, lengths, requant)
            np.testing.assert_array_equal(got, ref, err_msg=f"{layout} {mode}")


def test_int8_reference_with_lengths_is_the_truncated_rows(watch_small):  # noqa: F811
    """The int8 reference's masking: a row with length n gives what its first n steps give."""
    from edgegru.quantize.reference import predict_int8

    for cell, layers, head in (("gru", 2, "mean"), ("peephole", 1, "last")):
        bundle = _int8_bundle(watch_small, cell, layers, head)
        X = watch_small.test.X[:4]
        lengths = np.array([5, 40, 17, 1])
        got = predict_int8(bundle, X, lengths, "xnnpack")
        for i, n in enumerate(lengths):
            cut = predict_int8(bundle, X[i : i + 1, :n], None, "xnnpack")
            np.testing.assert_array_equal(got[i : i + 1], cut)


@pytest.mark.parametrize("cell", CELLS.names())
@pytest.mark.parametrize("head", ["last", "mean"])
def test_onnx_int8_dynamic_with_lengths_ignores_the_padding(cell, head):
    """The int8-dynamic ONNX file (DynamicQuantizeLSTM for LSTM / peephole) with ``lengths``:
    near the masked float reference, and a zero-padded row gives what the row cut to its
    length gives."""
    import onnxruntime as ort

    from edgegru.export import ExportConfig
    from edgegru.export.onnx.writer import build_model

    bundle = make_bundle(cell, 2, head, seed=6)
    cfg = ExportConfig(precision="int8-dynamic", lengths=True)
    model, inputs, _, details = build_model(bundle, "sequence", cfg)
    assert [t.name for t in inputs] == ["x", "lengths"] and details["padding"] == "masked"
    sess = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    X = np.random.default_rng(5).standard_normal((4, T, 3)).astype(np.float32)
    lengths = np.array([T, 3, 6, 1], np.int32)
    (got,) = sess.run(None, {"x": X, "lengths": lengths})
    ref = reference_forward(bundle.spec, bundle.weights, X, lengths)
    np.testing.assert_allclose(got, ref, atol=0.1 * np.abs(ref).max())
    for b, n in enumerate(lengths):  # one row at a time: the per-call input quantization
        X[b, n:] = 0.0  # sees the whole batch; zero padding stays inside its range
        one = {"x": X[b : b + 1], "lengths": lengths[b : b + 1]}
        cut = {"x": X[b : b + 1, :n], "lengths": lengths[b : b + 1]}
        np.testing.assert_array_equal(sess.run(None, one)[0], sess.run(None, cut)[0])


def test_tflite_io_manifest_and_metadata_say_lengths(tmp_path):
    """The bundle trained on data with lengths exports files that take them (the default);
    the manifest and the file's metadata say so; --no-lengths leaves them out."""
    from edgegru.export import ExportConfig, export
    from edgegru.export.tflite.metadata import read_metadata
    from edgegru.export.tflite.reader import summarize
    from edgegru.types import VARIABLE_LENGTH

    bundle = make_bundle("gru", 1, "mean")
    bundle.provenance = {"seq_len": T, VARIABLE_LENGTH: True}
    seq, step = export(bundle, ExportConfig(formats=("tflite",)), tmp_path / "a")
    assert [(t.name, t.shape, t.dtype) for t in seq.inputs] == [
        ("x", (1, T, 3), "float32"), ("lengths", (1,), "int32")]  # fmt: skip
    assert (seq.details["lengths"], seq.details["padding"]) == (True, "masked")
    assert "WHILE stops" in seq.details["padding_how"]
    meta = read_metadata(summarize(Path(seq.path).read_bytes()).metadata)
    assert (meta["lengths"], meta["padding"]) == (True, "masked")
    assert step.details["padding"] == "not fed" and len(step.inputs) == 4  # x, h, sum, count
    (plain,) = export(bundle, ExportConfig(formats=("tflite",), forms=("sequence",),
                                           lengths=False), tmp_path / "b")  # fmt: skip
    assert [t.name for t in plain.inputs] == ["x"] and plain.details["padding"] == "processed"


def test_variable_length_means_some_row_is_shorter_than_T():
    """What train records in the provenance (VARIABLE_LENGTH), so exports take lengths: true
    for japanesevowels; false for basicmotions, whose lengths all equal T, and for watch."""
    from edgegru.datasets import load_dataset
    from edgegru.train import is_variable_length

    got = {
        n: is_variable_length(load_dataset(n)) for n in ("japanesevowels", "basicmotions", "watch")
    }
    assert got == {"japanesevowels": True, "basicmotions": False, "watch": False}


def test_runner_feeds_lengths_to_a_file_with_a_longer_T(tmp_path):
    """The device runner pads rows shorter than the file's fixed T and feeds their own length
    (with or without a ``lengths`` array in the data): the masked file then ignores the pad."""
    import json

    from edgegru.export import ExportConfig, export
    from edgegru.targets import runner

    bundle = make_bundle("lstm", 1, "mean")
    cfg = ExportConfig(formats=("tflite",), forms=("sequence",), seq_len=T, lengths=True)
    (art,) = export(bundle, cfg, tmp_path)
    manifest = json.loads(Path(art.path + ".json").read_text())
    model = runner.load_model(art.path, manifest, argparse_namespace())
    X = np.random.default_rng(7).standard_normal((3, T - 2, 3)).astype(np.float32)
    ref = reference_forward(bundle.spec, bundle.weights, X)
    for lengths in (None, np.full(3, T - 2)):
        notes: list[str] = []
        got = runner.validate(model, runner.Plan(manifest), X, lengths, notes)
        np.testing.assert_allclose(got, ref, atol=TOL)
        assert not any("no length input" in n for n in notes)


def argparse_namespace():
    from argparse import Namespace

    return Namespace(threads=1, delegate="auto", api="auto")
