"""The flatbuffer writer, read back: buffers, names, signature, metadata, the builder's states,
and the properties of the GRU lowering that make it fast (one XNNPACK partition) and small."""

from __future__ import annotations

import json

import numpy as np
import pytest

from edgegru.export.tflite.builder import ALIGNMENT, ModelBuilder
from edgegru.export.tflite.graph import build_sequence, build_step
from edgegru.export.tflite.lowerings.gru import LAYOUTS
from edgegru.export.tflite.reader import read_model, summarize
from edgegru.reference import random_weights
from edgegru.types import Bundle, ModelSpec, Normalization


def workload_p(hidden: int = 64, layers: int = 1, head: str = "last") -> Bundle:
    """Workload P: GRU 40 -> H, 12 classes (labels and normalization as a real model)."""
    spec = ModelSpec(
        cell="gru", input_size=40, hidden_size=hidden, num_outputs=12, num_layers=layers,
        head=head, labels=tuple(f"class{i}" for i in range(12)),
        normalization=Normalization(tuple(np.linspace(-1, 1, 40)), tuple(np.linspace(0.5, 2, 40))),
    )  # fmt: skip
    return Bundle(spec, random_weights(spec, 0))


def test_round_trip_buffers_names_signature_metadata():
    bundle = workload_p(8, 2, "mean")
    data = build_sequence(bundle, 6, {"layout": "loop"}, "f" * 64).data
    model = read_model(data)
    s = summarize(data)
    assert model.buffers[0].data is None  # the empty sentinel
    assert all(off % ALIGNMENT == 0 for off in s.buffer_offsets)
    datas = [bytes(b.data) for b in model.buffers[1:] if b.data is not None]
    assert len(datas) == len(set(datas)), "a constant is stored twice"
    for names in s.tensors:
        assert all(names) and len(names) == len(set(names))
    assert s.ops[0].count("WHILE") == 1 and len(s.ops) == 3
    assert s.signatures == {"serving_default": {"inputs": ["x"], "outputs": ["y"]}}
    meta = json.loads(s.metadata["edgegru"])
    assert meta["labels"] == list(bundle.spec.labels)
    assert meta["normalization"]["applied_in_graph"] is True
    assert np.allclose(meta["normalization"]["mean"], bundle.spec.normalization.mean)
    assert meta["source_sha256"] == "f" * 64 and meta["seq_len"] == 6
    assert meta["edgegru_version"] and meta["layout"] == "loop"


def test_weights_shared_by_steps_and_subgraphs_are_stored_once():
    bundle = workload_p(8)
    data = build_sequence(bundle, 10, {"layout": "unrolled"}, "s").data
    weight_bytes = bundle.spec.num_parameters() * 4
    R_hh = bundle.weights["rnn.weight_hh_l0"].nbytes
    assert len(data) < weight_bytes + 10 * 1500 + 3000  # not 10 copies of R
    assert len(data) > weight_bytes - R_hh  # and all of it once


def test_builder_state_machine():
    m = ModelBuilder()
    g = m.subgraph("main")
    x = g.tensor("x", (1, 2))
    with pytest.raises(ValueError, match="used twice"):
        g.tensor("x", (1, 2))
    c1 = g.const("a", np.ones(2, np.float32))
    assert g.const("b", np.ones(2, np.float32)) == c1  # same constant, same tensor
    with pytest.raises(TypeError):
        g.const("d", np.ones(2))
    y = g.tensor("y", (1, 2))
    g.op("ADD", [x, c1], [y])
    g.set_io([x], [y])
    m.signature("serving_default", g, {"x": x}, {"y": y})
    data = m.finish()
    assert data[4:8] == b"TFL3"
    with pytest.raises(RuntimeError, match="finished"):
        m.finish()
    with pytest.raises(RuntimeError, match="finished"):
        g.tensor("z", (1,))
    with pytest.raises(ValueError, match="not a TFLite"):
        read_model(b"garbage!")


def test_per_channel_quantization_params_are_written():
    """The int8 hook: a per-channel quantized constant survives the round trip."""
    from edgegru.export.tflite.builder import Quantization

    m = ModelBuilder()
    g = m.subgraph("main")
    q = Quantization(scale=(0.5, 0.25), zero_point=(0, 0), axis=0)
    g.const("W", np.array([[1, -2], [3, 4]], np.int8), quantization=q)
    t = read_model(m.finish()).subgraphs[0].tensors[0]
    assert list(t.quantization.scale) == [0.5, 0.25] and t.quantization.quantizedDimension == 0


def _xnnpack_friendly(data: bytes, subgraph: int = 0) -> list[str]:
    """Op names of one subgraph, asserting nothing in it splits an XNNPACK partition: no T-way
    SPLIT (XNNPACK takes 2-4 outputs) or CONCATENATION (2-5 inputs), no SPLIT_V, no
    FULLY_CONNECTED with a computed bias (tflite/delegates/xnnpack: measured)."""
    model, names = read_model(data), summarize(data).ops[subgraph]
    sg = model.subgraphs[subgraph]
    assert "SPLIT_V" not in names
    for op, name in zip(sg.operators, names, strict=True):
        if name == "SPLIT":
            assert 2 <= len(op.outputs) <= 4
        if name == "CONCATENATION":
            assert 2 <= len(op.inputs) <= 5
        if name == "FULLY_CONNECTED" and op.inputs[2] >= 0:
            assert sg.tensors[op.inputs[2]].buffer > 0, "FULLY_CONNECTED with a computed bias"
    return names


@pytest.mark.parametrize("layers", [1, 3])
def test_unrolled_gru_is_one_xnnpack_partition(layers):
    """XNNPACK takes the whole unrolled graph: the Interpreter lists one DELEGATE node. T = 12
    with 3 layers stacks 12 outputs per layer above the first with a tree of CONCATENATIONs."""
    from ai_edge_litert.interpreter import Interpreter

    T = 12
    data = build_sequence(workload_p(16, layers, "mean"), T, {"layout": "unrolled"}, "s").data
    it = Interpreter(model_content=data, num_threads=1)
    it.allocate_tensors()
    assert [op["op_name"] for op in it._get_ops_details()].count("DELEGATE") == 1
    names = _xnnpack_friendly(data)
    assert not {"GATHER", "WHILE"} & set(names)
    # The ops per step (13, one recurrent FULLY_CONNECTED) and the batched input projections:
    # one FULLY_CONNECTED per layer for all T steps, the head, and T - 1 recurrent ones per layer.
    assert names.count("FULLY_CONNECTED") == layers + 1 + layers * (T - 1)
    assert names.count("CONCATENATION") == (layers - 1) * 4  # 12 -> (5, 5, 2) -> 1
    per_step = (len(names) - layers - 1 - names.count("CONCATENATION") - (T - 1)) / (layers * T)
    assert per_step < 13  # t = 0 has fewer; T - 1 ADDs of the mean head excluded


def test_loop_body_is_xnnpack_friendly_but_counter_and_gather():
    """The WHILE body: XNNPACK ops only, except the int32 counter ADD and the GATHER."""
    bundle = workload_p(16, 2)
    data = build_sequence(bundle, 12, {"layout": "loop", "steps_per_iteration": 3}, "s").data
    body = _xnnpack_friendly(data, 2)
    assert body.count("GATHER") == 1 and body.count("FULLY_CONNECTED") == 2 * 3 + 1
    assert body.count("CONCATENATION") == 1  # layer 1's 3 inputs stacked for one projection


@pytest.mark.parametrize(("hidden", "layers", "steps"), [(64, 1, 2), (128, 2, 1)])
def test_loop_steps_per_iteration_default(hidden, layers, steps):
    """S = 2 when two steps' recurrent weights fit 128 KB (h64: 2 x 48 KB), else 1 (h128x2)."""
    data = build_sequence(workload_p(hidden, layers), 50, {"layout": "loop"}, "s")
    assert data.details["steps_per_iteration"] == steps


@pytest.mark.parametrize(("hidden", "layers"), [(64, 1), (128, 2)])
def test_loop_file_is_weights_plus_8kb(hidden, layers):
    """The loop file <= the float weight bytes + 8 KB (metadata included)."""
    bundle = workload_p(hidden, layers)
    data = build_sequence(bundle, 50, {"layout": "loop"}, "0" * 64).data
    assert len(data) <= bundle.spec.num_parameters() * 4 + 8192


def test_step_model_has_no_loop_and_no_variable_tensors():
    for cell in ("gru", "lstm", "peephole"):
        spec = ModelSpec(cell=cell, input_size=3, hidden_size=4, num_outputs=2, num_layers=2)
        data = build_step(Bundle(spec, random_weights(spec)), {}, "s").data
        model = read_model(data)
        assert len(model.subgraphs) == 1
        assert not any(t.isVariable for t in model.subgraphs[0].tensors)
        assert "UNIDIRECTIONAL_SEQUENCE_LSTM" not in summarize(data).ops[0]


def test_fused_lstm_gets_the_peephole_inputs():
    spec = ModelSpec(cell="peephole", input_size=3, hidden_size=4, num_outputs=2)
    data = build_sequence(Bundle(spec, random_weights(spec)), 5, {}, "s").data
    model = read_model(data)
    names = summarize(data).ops[0]
    sg = model.subgraphs[0]
    lstm_ops = [
        op for op, n in zip(sg.operators, names, strict=True) if n == "UNIDIRECTIONAL_SEQUENCE_LSTM"
    ]
    assert len(lstm_ops) == 2  # the reset step and the layer
    for op in lstm_ops:
        assert all(i >= 0 for i in op.inputs[9:12])  # cell_to_{input, forget, output}
        assert sg.tensors[op.inputs[18]].isVariable and sg.tensors[op.inputs[19]].isVariable


def test_every_gru_layout_is_tested():
    """Coverage guard: the parity tests iterate the lowering's layouts; pin the list here so
    a new layout is a deliberate, tested change."""
    assert set(LAYOUTS) == {"unrolled", "loop"}
