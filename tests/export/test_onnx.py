"""ONNX and ORT export against the NumPy reference (edgegru/reference.py) and the PyTorch model.

Tolerance 1e-5 absolute on outputs: ONNX Runtime's float32 kernels vs the float64 reference over
T <= 12 steps with weights of scale 0.5 accumulate ~2e-7 of rounding (measured); 1e-5 leaves
margin without hiding a wrong gate order or a missing peephole (those change outputs by > 1e-2).
"""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch

from edgegru.bundle import save_bundle, weights_sha256
from edgegru.cells import CELLS
from edgegru.errors import BadInput
from edgegru.export import ExportConfig, export, read_manifest
from edgegru.export.onnx import graph
from edgegru.export.onnx.writer import build_model
from edgegru.model import model_from_bundle
from edgegru.reference import random_weights, reference_forward
from edgegru.types import Bundle, ModelSpec, Normalization
from tests.conftest import assert_one_line_error

TOL = 1e-5
FORMATS_TESTED = {"onnx", "ort"}  # read by tests/export/test_formats_covered.py

LENS = {"sequence_lens": "yes"}  # the older spelling of ExportConfig(lengths=True)


def make_bundle(
    cell: str, layers: int = 1, head: str = "last", bias: bool = True, seed: int = 0
) -> Bundle:
    spec = ModelSpec(
        cell=cell, input_size=3, hidden_size=5, num_outputs=4, num_layers=layers, head=head,
        bias=bias, labels=("a", "b", "c", "d"),
        normalization=Normalization((0.5, -1.0, 2.0), (2.0, 0.5, 1.5)),
    )  # fmt: skip
    return Bundle(spec, random_weights(spec, seed), {"seq_len": 12})


def session(bundle: Bundle, form: str, **options: str) -> ort.InferenceSession:
    model = build_model(bundle, form, ExportConfig(options=options))[0]
    return ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])


def torch_forward(bundle: Bundle, X: np.ndarray, lengths: np.ndarray | None = None) -> np.ndarray:
    with torch.no_grad():
        lt = None if lengths is None else torch.from_numpy(lengths.astype(np.int64))
        return model_from_bundle(bundle)(torch.from_numpy(X), lt).numpy()


def run_steps(sess: ort.InferenceSession, bundle: Bundle, X: np.ndarray) -> list[np.ndarray]:
    """Feed X [B, T, F] one step at a time from zero states; y after every step."""
    B, spec = X.shape[0], bundle.spec
    L, H = spec.num_layers, spec.hidden_size
    zeros = {"h": (L, B, H), "c": (L, B, H), "sum": (B, H), "count": (B, 1)}
    state = {n: np.zeros(zeros[n], np.float32) for n in spec.state_names}
    names = [o.name for o in sess.get_outputs()]
    ys = []
    for t in range(X.shape[1]):
        out = dict(zip(names, sess.run(None, {"x": X[:, t], **state}), strict=True))
        state = {n: out[n + "_out"] for n in spec.state_names}
        ys.append(out["y"])
    return ys


@pytest.mark.parametrize("cell", CELLS.names())
@pytest.mark.parametrize("layers", [1, 2, 3])
@pytest.mark.parametrize("head", ["last", "mean"])
@pytest.mark.parametrize("bias", [True, False])
def test_sequence_matches_reference_and_torch(cell, layers, head, bias):
    bundle = make_bundle(cell, layers, head, bias, seed=layers)
    X = np.random.default_rng(1).standard_normal((3, 12, 3)).astype(np.float32)
    (got,) = session(bundle, "sequence").run(None, {"x": X})
    np.testing.assert_allclose(got, reference_forward(bundle.spec, bundle.weights, X), atol=TOL)
    np.testing.assert_allclose(got, torch_forward(bundle, X), atol=TOL)


@pytest.mark.parametrize("cell", CELLS.names())
@pytest.mark.parametrize("layers", [1, 2])
@pytest.mark.parametrize("head", ["last", "mean"])
def test_variable_length_with_sequence_lens(cell, layers, head):
    bundle = make_bundle(cell, layers, head, seed=5)
    rng = np.random.default_rng(2)
    X = rng.standard_normal((4, 10, 3)).astype(np.float32)
    lengths = np.array([10, 3, 7, 1], np.int32)
    sess = session(bundle, "sequence", **LENS)
    (got,) = sess.run(None, {"x": X, "lengths": lengths})
    ref = reference_forward(bundle.spec, bundle.weights, X, lengths)
    np.testing.assert_allclose(got, ref, atol=TOL)
    np.testing.assert_allclose(got, torch_forward(bundle, X, lengths), atol=TOL)
    for b, n in enumerate(lengths):
        X[b, n:] = rng.standard_normal((10 - n, 3)) * 100  # garbage past the end changes nothing
    np.testing.assert_allclose(sess.run(None, {"x": X, "lengths": lengths})[0], got, atol=TOL)


@pytest.mark.parametrize("cell", CELLS.names())
@pytest.mark.parametrize("layers", [1, 3])
@pytest.mark.parametrize("head", ["last", "mean"])
@pytest.mark.parametrize("bias", [True, False])
def test_streaming_steps_equal_full_sequence(cell, layers, head, bias):
    """T runs of the step model == the full-sequence model and the reference, after every prefix."""
    bundle = make_bundle(cell, layers, head, bias, seed=7)
    X = np.random.default_rng(3).standard_normal((2, 8, 3)).astype(np.float32)
    full = session(bundle, "sequence")
    for t, y_t in enumerate(run_steps(session(bundle, "step"), bundle, X)):
        prefix = X[:, : t + 1]
        np.testing.assert_allclose(y_t, full.run(None, {"x": prefix})[0], atol=TOL)
        np.testing.assert_allclose(
            y_t, reference_forward(bundle.spec, bundle.weights, prefix), atol=TOL
        )


def test_step_states_equal_torch_step():
    bundle = make_bundle("peephole", 2, "mean", seed=9)
    X = np.random.default_rng(4).standard_normal((3, 5, 3)).astype(np.float32)
    sess, model = session(bundle, "step"), model_from_bundle(bundle)
    state_t = model.zero_state(3)
    state = {n: v.numpy() for n, v in state_t.items()}
    names = [o.name for o in sess.get_outputs()]
    with torch.no_grad():
        for t in range(5):
            out = dict(zip(names, sess.run(None, {"x": X[:, t], **state}), strict=True))
            y_t, state_t = model.step(torch.from_numpy(X[:, t]), state_t)
            np.testing.assert_allclose(out["y"], y_t.numpy(), atol=TOL)
            for n in bundle.spec.state_names:
                np.testing.assert_allclose(out[n + "_out"], state_t[n].numpy(), atol=TOL)
            state = {n: out[n + "_out"] for n in bundle.spec.state_names}


def test_dynamic_batch_and_time_axes():
    bundle = make_bundle("gru", 2, "mean")
    sess = session(bundle, "sequence")
    for B, T in [(1, 1), (1, 17), (6, 4)]:
        X = np.random.default_rng(B * T).standard_normal((B, T, 3)).astype(np.float32)
        (got,) = sess.run(None, {"x": X})
        np.testing.assert_allclose(got, reference_forward(bundle.spec, bundle.weights, X), atol=TOL)


def test_fused_ops_and_node_counts():
    """One fused node per layer, the gate reorder attributes, nothing unrolled."""
    for cell, op in [("gru", "GRU"), ("lstm", "LSTM"), ("peephole", "LSTM")]:
        model = build_model(make_bundle(cell, 2), "sequence", ExportConfig())[0]
        nodes = model.graph.node
        fused = [n for n in nodes if n.op_type == op]
        assert len(fused) == 2
        # Transpose, fused, Squeeze (between layers), fused, Squeeze (Y_h), Gemm; the
        # normalization is folded into W and B
        assert [n.op_type for n in nodes] == ["Transpose", op, "Squeeze", op, "Squeeze", "Gemm"]
        attrs = {a.name: onnx.helper.get_attribute_value(a) for a in fused[0].attribute}
        assert attrs == (
            {"hidden_size": 5, "linear_before_reset": 1} if op == "GRU" else {"hidden_size": 5}
        )
        names = {i.name for i in model.graph.initializer}
        assert ("P_l0" in names) == (cell == "peephole")


@pytest.mark.parametrize("ratio", [0.0, 2.0, 50.0])
def test_normalization_folded_or_applied_by_nodes(ratio):
    """|mean|/std up to FOLD_MAX_MEAN_OVER_STD folds into W, B; larger ratios get Sub + Mul."""
    std = np.array([0.1, 3.0, 20.0])
    mean = ratio * std * np.array([1, -1, 1])
    bundle = make_bundle("lstm", 1)
    spec = dataclasses.replace(bundle.spec, normalization=Normalization(tuple(mean), tuple(std)))
    bundle = Bundle(spec, bundle.weights)
    model, _, _, details = build_model(bundle, "sequence", ExportConfig())
    expect = "folded" if ratio <= graph.FOLD_MAX_MEAN_OVER_STD else "nodes"
    assert details["normalization"] == expect
    assert ("Sub" in details["op_types"]) == (expect == "nodes")
    X = (mean + std * np.random.default_rng(5).standard_normal((3, 12, 3))).astype(np.float32)
    sess = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    np.testing.assert_allclose(
        sess.run(None, {"x": X})[0], reference_forward(spec, bundle.weights, X), atol=TOL
    )


def test_no_normalization_means_no_nodes():
    bundle = make_bundle("gru")
    bundle = Bundle(dataclasses.replace(bundle.spec, normalization=None), bundle.weights)
    details = build_model(bundle, "sequence", ExportConfig())[3]
    assert details["normalization"] == "none"


@pytest.mark.parametrize("cell", CELLS.names())
def test_export_writes_onnx_and_ort_that_agree(cell, tmp_path):
    bundle = make_bundle(cell, 2, "mean")
    arts = export(bundle, ExportConfig(formats=("onnx", "ort")), tmp_path)
    files = sorted(p.name for p in tmp_path.iterdir())
    assert files == sorted(
        n + s for n in ("model.onnx", "model.step.onnx", "model.ort", "model.step.ort")
        for s in ("", ".json")
    )  # fmt: skip
    X = np.random.default_rng(6).standard_normal((2, 9, 3)).astype(np.float32)
    ref = reference_forward(bundle.spec, bundle.weights, X)
    for name in ("model.onnx", "model.ort"):
        sess = ort.InferenceSession(str(tmp_path / name), providers=["CPUExecutionProvider"])
        np.testing.assert_allclose(sess.run(None, {"x": X})[0], ref, atol=TOL)
    for name in ("model.step.onnx", "model.step.ort"):
        sess = ort.InferenceSession(str(tmp_path / name), providers=["CPUExecutionProvider"])
        np.testing.assert_allclose(run_steps(sess, bundle, X)[-1], ref, atol=TOL)
    assert {(a.format, a.form) for a in arts} == {
        (f, m) for f in ("onnx", "ort") for m in ("sequence", "step")
    }


def test_manifest_and_metadata(tmp_path):
    bundle = make_bundle("peephole", 2, "mean")
    export(bundle, ExportConfig(formats=("onnx",), options=LENS), tmp_path)
    seq, step = read_manifest(tmp_path / "model.onnx"), read_manifest(tmp_path / "model.step.onnx")
    assert seq.format == "onnx" and seq.form == "sequence" and seq.precision == "float32"
    assert [(t.name, t.shape, t.dtype) for t in seq.inputs] == [
        ("x", ("batch", "time", 3), "float32"),
        ("lengths", ("batch",), "int32"),
    ]
    assert [(t.name, t.shape) for t in seq.outputs] == [("y", ("batch", 4))]
    assert [t.name for t in step.inputs] == ["x", "h", "c", "sum", "count"]
    assert [t.name for t in step.outputs] == ["y", "h_out", "c_out", "sum_out", "count_out"]
    assert step.details["states"][0] == {
        "input": "h", "output": "h_out", "shape": [2, "batch", 5], "initial": 0.0
    }  # fmt: skip
    assert seq.source_sha256 == weights_sha256(bundle) and seq.spec == bundle.spec
    assert seq.details["opset"] == graph.OPSET and seq.details["op_types"]["LSTM"] == 2
    assert seq.details["dynamic_axes"]["x"] == {"0": "batch", "1": "time"}
    assert step.details["dynamic_axes"]["c_out"] == {"1": "batch"}
    assert seq.details["lengths"] is True and seq.details["padding"] == "masked"
    assert step.details["padding"] == "not fed"
    model = onnx.load(tmp_path / "model.onnx")
    assert seq.details["nodes"] == len(model.graph.node)
    onnx.checker.check_model(model, full_check=True)
    props = {p.key: p.value for p in model.metadata_props}
    assert json.loads(props["labels"]) == ["a", "b", "c", "d"]
    assert json.loads(props["normalization"]) == {
        "mean": [0.5, -1.0, 2.0], "std": [2.0, 0.5, 1.5], "applied": "folded"
    }  # fmt: skip
    assert json.loads(props["lengths"]) is True
    assert props["source_sha256"] == weights_sha256(bundle)
    assert (
        props["edgegru_version"] and ModelSpec.from_json(json.loads(props["spec"])) == bundle.spec
    )


def test_bad_options_and_precision(tmp_path):
    bundle = make_bundle("gru")
    with pytest.raises(BadInput, match="sequence_lens"):
        export(bundle, ExportConfig(options={"sequence_lens": "maybe"}), tmp_path)
    with pytest.raises(BadInput, match="calibrated model"):
        export(bundle, ExportConfig(precision="int8-static"), tmp_path)
    with pytest.raises(BadInput, match="unknown export format 'bogus'"):
        export(bundle, ExportConfig(formats=("onnx", "bogus")), tmp_path)
    assert list(tmp_path.iterdir()) == []  # nothing written, not even the valid format


# The CLI end to end (subprocesses: slow-ish, so few).


@pytest.fixture
def bundle_dir(tmp_path):
    return save_bundle(make_bundle("gru", 2, "last"), tmp_path / "m")


def test_cli_exports_onnx_and_ort(cli, bundle_dir, tmp_path):
    out = tmp_path / "out"
    proc = cli("export", str(bundle_dir), "--format", "onnx", "--format", "ort", "-o", str(out))
    assert proc.returncode == 0, proc.stderr
    for name in ("model.onnx", "model.step.onnx", "model.ort", "model.step.ort"):
        assert name in proc.stdout and (out / (name + ".json")).is_file()
    (row,) = [r for r in proc.stdout.splitlines() if r.startswith("model.onnx ")]
    # the node count of the 2-layer sequence graph; no lengths input (trained on full rows)
    assert row.split()[-2:] == ["6", "processed"]
    assert proc.stderr == ""  # ONNX Runtime's converter chatter stays inside
    proc = cli("export", str(bundle_dir), "--streaming", "--json", "-o", str(tmp_path / "s"))
    assert proc.returncode == 0, proc.stderr
    (art,) = json.loads(proc.stdout)
    assert art["form"] == "step" and art["details"]["nodes"] > 0


def test_cli_bad_inputs_exit_2_and_write_nothing(cli, bundle_dir, tmp_path):
    bad = tmp_path / "bad"
    bad.mkdir()
    for f in bundle_dir.iterdir():
        (bad / f.name).write_bytes(f.read_bytes())
    w = bad / "model.safetensors"
    w.write_bytes(w.read_bytes()[:100])
    out = tmp_path / "out"
    assert_one_line_error(cli("export", str(bad), "-o", str(out)), "model.safetensors")
    assert_one_line_error(cli("export", str(bundle_dir), "--format", "bogus", "-o", str(out)))
    assert not out.exists()
    (tmp_path / "file").write_text("x")  # a folder under a file cannot be made, even as root
    assert_one_line_error(
        cli("export", str(bundle_dir), "-o", str(tmp_path / "file" / "out")), "file"
    )
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad", "file", "m"]
