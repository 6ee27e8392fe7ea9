"""ONNX int8-dynamic: int8 weights with DequantizeLinear (QDQ) in front of the fused ops.

Tolerances: against the NumPy reference run with the int8-rounded weights, 1e-5 (ONNX Runtime's
float32 kernels, the same bound as tests/export/test_onnx.py: the file computes exactly those
weights). Against the float model, the weight rounding itself: an SQNR floor of 30 dB on these
random weights (measured 31-45 dB; 42 dB on the trained watch GRU-32).
"""

from __future__ import annotations

import copy

import numpy as np
import onnx
import onnxruntime as ort
import pytest

from edgegru.errors import BadInput
from edgegru.export import ExportConfig, export
from edgegru.quantize import QuantizeConfig, quantize_
from edgegru.quantize.compare import sqnr_db
from edgegru.quantize.weights import dequantized_weights
from edgegru.reference import random_weights, reference_forward
from edgegru.types import ActQuant, Bundle, ModelSpec, Normalization, QuantParams


def make(cell: str, hidden: int = 16, layers: int = 2, head: str = "last") -> Bundle:
    spec = ModelSpec(
        cell, 10, hidden, 5, num_layers=layers, head=head,
        normalization=Normalization(tuple(np.linspace(-2, 2, 10)), tuple(np.linspace(0.5, 3, 10))),
    )  # fmt: skip
    return Bundle(spec, random_weights(spec, 1, 0.4), {"seq_len": 20})


@pytest.mark.parametrize("cell", ["gru", "lstm", "peephole"])
@pytest.mark.parametrize("head", ["last", "mean"])
def test_dynint8_computes_the_int8_weights(cell, head, tmp_path):
    b = make(cell, head=head)
    cfg = ExportConfig(precision="int8-dynamic", options={"int8_kernel": "no"})  # plain QDQ
    arts = export(b, cfg, tmp_path)
    assert [a.path.rsplit("/", 1)[1] for a in arts] == [
        "model.dynint8.onnx",
        "model.step.dynint8.onnx",
    ]
    X = np.random.default_rng(0).normal(size=(3, 20, 10)).astype(np.float32) * 2
    y = ort.InferenceSession(arts[0].path).run(None, {"x": X})[0]
    np.testing.assert_allclose(y, reference_forward(b.spec, dequantized_weights(b), X), atol=1e-5)
    assert sqnr_db(reference_forward(b.spec, b.weights, X), y) > 30
    # the streaming form carries the same weights
    step = ort.InferenceSession(arts[1].path)
    feed = {"x": X[:, 0]} | {
        t.name: np.zeros([3 if d == "batch" else d for d in t.shape], np.float32)
        for t in arts[1].inputs[1:]
    }
    y1 = step.run(["y"], feed)[0]
    ref1 = reference_forward(b.spec, dequantized_weights(b), X[:, :1])
    np.testing.assert_allclose(y1, ref1, atol=1e-5)


@pytest.mark.parametrize("cell", ["lstm", "peephole"])
def test_lstm_cells_use_ort_int8_kernel(cell, tmp_path):
    """DynamicQuantizeLSTM also quantizes its inputs per call (uint8, dynamic range): not exactly
    the int8 weights' float model any more; an SQNR floor against the float model instead
    (measured 33-40 dB on these weights; bench.onnx_int8 has its speed: 0.46-0.64x float)."""
    b = make(cell)
    arts = export(b, ExportConfig(precision="int8-dynamic"), tmp_path)
    assert arts[0].details["quantization"]["kernel"] == "com.microsoft.DynamicQuantizeLSTM"
    m = onnx.load(arts[0].path)
    ops = {n.op_type for n in m.graph.node}
    assert "DynamicQuantizeLSTM" in ops and "LSTM" not in ops
    # one scale per W / R: ORT's kernel runs 1.2x slower with per-channel ones (quant.py)
    inits = {i.name: i for i in m.graph.initializer}
    for n in (n for n in m.graph.node if n.op_type == "DynamicQuantizeLSTM"):
        assert inits[n.input[1]].data_type == inits[n.input[2]].data_type == onnx.TensorProto.INT8
        assert [list(inits[n.input[i]].dims) for i in (8, 9, 10, 11)] == [[1]] * 4
    X = np.random.default_rng(0).normal(size=(3, 20, 10)).astype(np.float32) * 2
    y = ort.InferenceSession(arts[0].path).run(None, {"x": X})[0]
    assert sqnr_db(reference_forward(b.spec, b.weights, X), y) > 28
    assert arts[0].details["ort_session_config"] == {"session.disable_quant_qdq": "1"}


def test_weights_are_int8_per_channel_and_the_file_is_about_4x_smaller(tmp_path):
    b = make("gru", hidden=128, layers=2)  # workload P's h128x2 shape but input 10
    f32 = export(b, ExportConfig(forms=("sequence",)), tmp_path / "f")[0]
    i8 = export(b, ExportConfig(forms=("sequence",), precision="int8-dynamic"), tmp_path / "q")[0]
    assert f32.size_bytes / i8.size_bytes > 3.5  # float biases and scales keep it under 4x
    m = onnx.load(i8.path)
    dq = [n for n in m.graph.node if n.op_type == "DequantizeLinear"]
    assert len(dq) == 5  # W and R of two layers, the head
    inits = {i.name: i for i in m.graph.initializer}
    assert inits["W_l0_int8"].data_type == onnx.TensorProto.INT8
    assert list(inits["W_l0_scale"].dims) == [3 * 128]  # one scale per output channel
    assert i8.precision == "int8-dynamic" and i8.details["quantization"]["activations"] == "float32"
    assert i8.details["normalization"] == "nodes"  # never folded into int8 weights


def test_a_quantized_bundle_exports_its_own_scales(tmp_path):
    b = make("lstm")
    q = quantize_(copy.deepcopy(b), QuantizeConfig(scheme="dynamic"))
    a = export(q, ExportConfig(forms=("sequence",), precision="int8-dynamic"), tmp_path)[0]
    assert a.details["quantization"]["scheme"] == "dynamic"


def test_static_needs_calibration_and_onnx_static_is_not_written_yet(tmp_path):
    b = make("gru")
    with pytest.raises(BadInput, match="calibrated model"):
        export(b, ExportConfig(precision="int8-static"), tmp_path)
    b.quant = QuantParams(
        "static", {}, {"input": ActQuant(0.1, 0)}
    )  # a calibrated bundle: ONNX int8-static is a later step
    with pytest.raises(BadInput, match="not available yet"):
        export(b, ExportConfig(precision="int8-static"), tmp_path)
    assert list(tmp_path.iterdir()) == []


def test_ort_format_of_dynint8(tmp_path):
    arts = export(make("gru"), ExportConfig(formats=("ort",), precision="int8-dynamic"), tmp_path)
    assert arts[0].path.endswith("model.dynint8.ort") and arts[0].size_bytes > 0
