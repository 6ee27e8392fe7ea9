"""LiteRT runs edgegru's .tflite files and matches the NumPy reference (edgegru/reference.py).

Tolerance 1e-5 absolute on outputs: the runtime computes in float32 (XNNPACK's
and TFLite's own kernels, incl. their LOGISTIC/TANH approximations) against a float64 reference
over T = 7 steps with weights of scale 0.5; we observe <= 3e-7. A wrong gate order, a missing
bias or an unused peephole changes outputs by > 1e-2.

Every file runs three ways: the Interpreter with its default XNNPACK delegate, the Interpreter
with BUILTIN_WITHOUT_DEFAULT_DELEGATES (TFLite's own kernels refuse things XNNPACK accepts), and
CompiledModel + XNNPACK weight cache where it loads the file (not the fused LSTM: LiteRT 2.3's
CompiledModel refuses variable tensors).
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from edgegru.cells import CELLS
from edgegru.export.tflite import runtime
from edgegru.export.tflite.graph import build_sequence, build_step
from edgegru.export.tflite.lowerings import load
from edgegru.reference import random_weights, reference_forward
from edgegru.types import Bundle, ModelSpec, Normalization

FORMATS_TESTED = ("tflite",)  # the coverage guard in test_formats_covered.py

TOL = 1e-5
T = 7
MODES = runtime.MODES


def make_bundle(cell: str, layers: int, head: str, bias: bool = True, seed: int = 0) -> Bundle:
    spec = ModelSpec(
        cell=cell, input_size=3, hidden_size=5, num_outputs=4, num_layers=layers, head=head,
        bias=bias, normalization=Normalization((0.5, -1.0, 2.0), (2.0, 0.5, 1.5)),
    )  # fmt: skip
    return Bundle(spec, random_weights(spec, seed))


def modes_for(cell: str, form: str) -> list[str]:
    """CompiledModel loads everything but the fused LSTM (variable tensors)."""
    return [m for m in MODES if not (m == "compiled" and form == "sequence" and cell != "gru")]


def layouts_for(cell: str) -> tuple[str, ...]:
    return load().get(cell).layouts


def run_sequence(data: bytes, mode: str, X: np.ndarray) -> np.ndarray:
    run = runtime.load(data, mode)
    return np.concatenate([run(x=X[b : b + 1])["y"] for b in range(X.shape[0])])


@pytest.mark.parametrize("cell", CELLS.names())
@pytest.mark.parametrize("layers", [1, 2, 3])
@pytest.mark.parametrize("head", ["last", "mean"])
def test_sequence_matches_reference(cell, layers, head):
    bundle = make_bundle(cell, layers, head, seed=layers)
    X = np.random.default_rng(1).standard_normal((2, T, 3)).astype(np.float32)
    ref = reference_forward(bundle.spec, bundle.weights, X)
    for layout in layouts_for(cell):
        data = build_sequence(bundle, T, {"layout": layout}, "src").data
        for mode in modes_for(cell, "sequence"):
            got = run_sequence(data, mode, X)
            np.testing.assert_allclose(got, ref, atol=TOL, err_msg=f"{layout} {mode}")


@pytest.mark.parametrize("cell", CELLS.names())
@pytest.mark.parametrize("layers", [1, 2, 3])
@pytest.mark.parametrize("head", ["last", "mean"])
def test_step_matches_reference_after_every_prefix(cell, layers, head):
    """T calls of the step model, the app carrying the states, == the reference on x[:t+1]."""
    bundle = make_bundle(cell, layers, head, bias=layers != 2, seed=layers)
    spec = bundle.spec
    X = np.random.default_rng(2).standard_normal((1, T, 3)).astype(np.float32)
    data = build_step(bundle, {}, "src").data
    shapes = {"sum": (1, 5), "count": (1, 1)}
    for mode in modes_for(cell, "step"):
        run = runtime.load(data, mode)
        state = {n: np.zeros(shapes.get(n, (layers, 1, 5)), np.float32) for n in spec.state_names}
        for t in range(T):
            out = run(x=X[:, t], **state)
            state = {n: out[n + "_out"] for n in spec.state_names}
            ref = reference_forward(spec, bundle.weights, X[:, : t + 1])
            np.testing.assert_allclose(out["y"], ref, atol=TOL, err_msg=f"{mode} t={t}")


@pytest.mark.parametrize("cell", CELLS.names())
def test_without_bias_and_odd_length(cell):
    """bias=False (b_hn absent: the GRU drops an op) and a prime T (the loop runs 1 step per
    iteration)."""
    bundle = make_bundle(cell, 2, "mean", bias=False)
    X = np.random.default_rng(3).standard_normal((1, 11, 3)).astype(np.float32)
    ref = reference_forward(bundle.spec, bundle.weights, X)
    for layout in layouts_for(cell):
        data = build_sequence(bundle, 11, {"layout": layout}, "src").data
        for mode in modes_for(cell, "sequence"):
            np.testing.assert_allclose(run_sequence(data, mode, X), ref, atol=TOL)


@pytest.mark.parametrize("cell", CELLS.names())
@pytest.mark.parametrize("mode", ["interpreter", "builtin"])
def test_repeated_invokes_do_not_leak_state(cell, mode):
    """The fused LSTM keeps h, c in variable tensors across invoke(); the reset op in front of
    each layer makes every call start from the zero state (the GRU has no hidden state)."""
    bundle = make_bundle(cell, 2, "last")
    rng = np.random.default_rng(4)
    A, B = (rng.standard_normal((1, T, 3)).astype(np.float32) for _ in range(2))
    run = runtime.load(build_sequence(bundle, T, {}, "src").data, mode)
    first = run(x=A)["y"]
    run(x=B)
    np.testing.assert_array_equal(run(x=A)["y"], first)
    np.testing.assert_allclose(first, reference_forward(bundle.spec, bundle.weights, A), atol=TOL)


def test_peepholes_are_used():
    """Zeroing the peepholes changes the outputs of the fused op and of the step model."""
    bundle = make_bundle("peephole", 1, "last")
    zeroed = Bundle(
        bundle.spec, dict(bundle.weights, **{"rnn.weight_peep_l0": np.zeros((3, 5), np.float32)})
    )
    X = np.random.default_rng(5).standard_normal((1, T, 3)).astype(np.float32)
    for build in (
        lambda b: build_sequence(b, T, {}, "s").data,
        lambda b: build_step(b, {}, "s").data,
    ):
        a, z = (runtime.load(build(b), "builtin") for b in (bundle, zeroed))
        if "h" in runtime_inputs(build(bundle)):
            state = {"h": np.zeros((1, 1, 5), np.float32), "c": np.ones((1, 1, 5), np.float32)}
            ya, yz = a(x=X[:, 0], **state)["y"], z(x=X[:, 0], **state)["y"]
        else:
            ya, yz = a(x=X)["y"], z(x=X)["y"]
        assert np.abs(ya - yz).max() > 1e-3
    # and the zeroed peephole file equals the plain LSTM's
    lstm = Bundle(
        dataclasses.replace(bundle.spec, cell="lstm"),
        {k: v for k, v in zeroed.weights.items() if "peep" not in k},
    )
    np.testing.assert_allclose(
        run_sequence(build_sequence(zeroed, T, {}, "s").data, "builtin", X),
        run_sequence(build_sequence(lstm, T, {}, "s").data, "builtin", X),
        atol=TOL,
    )


def runtime_inputs(data: bytes) -> list[str]:
    from edgegru.export.tflite.reader import summarize

    return summarize(data).signatures["serving_default"]["inputs"]
