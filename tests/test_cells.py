"""Every registered cell against the NumPy reference (edgegru/reference.py).

Tolerance 1e-5 absolute on outputs: float32 PyTorch vs float64 reference over T <= 12 steps with
weights of scale 0.5 accumulates ~1e-6 of rounding; 1e-5 leaves margin without hiding a wrong gate
(a swapped gate or a missing peephole changes outputs by > 1e-2).
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch

from edgegru.bundle import load_bundle, save_bundle
from edgegru.cells import CELLS
from edgegru.model import model_from_bundle
from edgegru.reference import random_weights, reference_forward
from edgegru.types import Bundle, ModelSpec, Normalization

TOL = 1e-5


def make_bundle(cell: str, layers: int, head: str, bias: bool = True, seed: int = 0) -> Bundle:
    norm = Normalization((0.5, -1.0, 2.0), (2.0, 0.5, 1.5))
    spec = ModelSpec(
        cell=cell,
        input_size=3,
        hidden_size=5,
        num_outputs=4,
        num_layers=layers,
        head=head,
        bias=bias,
        normalization=norm,
    )
    return Bundle(spec, random_weights(spec, seed))


def run_torch(bundle: Bundle, X: np.ndarray, lengths=None) -> np.ndarray:
    model = model_from_bundle(bundle)
    with torch.no_grad():
        lt = None if lengths is None else torch.from_numpy(lengths)
        return model(torch.from_numpy(X), lt).numpy()


@pytest.mark.parametrize("cell", CELLS.names())
@pytest.mark.parametrize("layers", [1, 2, 3])
@pytest.mark.parametrize("head", ["last", "mean"])
@pytest.mark.parametrize("bias", [True, False])
def test_full_sequence_matches_reference(cell, layers, head, bias):
    bundle = make_bundle(cell, layers, head, bias, seed=layers)
    X = np.random.default_rng(1).standard_normal((3, 12, 3)).astype(np.float32)
    np.testing.assert_allclose(
        run_torch(bundle, X), reference_forward(bundle.spec, bundle.weights, X), atol=TOL
    )


@pytest.mark.parametrize("cell", CELLS.names())
@pytest.mark.parametrize("head", ["last", "mean"])
def test_variable_length_ignores_padding(cell, head):
    bundle = make_bundle(cell, 2, head)
    rng = np.random.default_rng(2)
    X = rng.standard_normal((4, 10, 3)).astype(np.float32)
    lengths = np.array([10, 3, 7, 1])
    ref = reference_forward(bundle.spec, bundle.weights, X, lengths)
    got = run_torch(bundle, X, lengths)
    np.testing.assert_allclose(got, ref, atol=TOL)
    X2 = X.copy()
    for b, n in enumerate(lengths):
        X2[b, n:] = rng.standard_normal((10 - n, 3)) * 100  # garbage past the end changes nothing
    np.testing.assert_allclose(run_torch(bundle, X2, lengths), got, atol=TOL)


@pytest.mark.parametrize("cell", CELLS.names())
@pytest.mark.parametrize("layers", [1, 3])
@pytest.mark.parametrize("head", ["last", "mean"])
def test_streaming_steps_equal_full_sequence(cell, layers, head):
    """T calls of the step form == the full sequence after every prefix."""
    bundle = make_bundle(cell, layers, head)
    model = model_from_bundle(bundle)
    X = np.random.default_rng(3).standard_normal((2, 8, 3)).astype(np.float32)
    state = model.zero_state(2)
    assert tuple(state) == bundle.spec.state_names
    with torch.no_grad():
        for t in range(8):
            y_t, state = model.step(torch.from_numpy(X[:, t]), state)
            ref = reference_forward(bundle.spec, bundle.weights, X[:, : t + 1])
            np.testing.assert_allclose(y_t.numpy(), ref, atol=TOL)


def test_peepholes_are_used():
    bundle = make_bundle("peephole", 1, "last")
    X = np.random.default_rng(4).standard_normal((2, 6, 3)).astype(np.float32)
    zeroed = dict(bundle.weights, **{"rnn.weight_peep_l0": np.zeros((3, 5), np.float32)})
    assert np.abs(run_torch(bundle, X) - run_torch(Bundle(bundle.spec, zeroed), X)).max() > 1e-3
    # and with zero peepholes the cell is exactly PyTorch's nn.LSTM
    lstm = Bundle(
        dataclasses.replace(bundle.spec, cell="lstm"),
        {k: v for k, v in zeroed.items() if "peep" not in k},
    )
    np.testing.assert_allclose(
        run_torch(Bundle(bundle.spec, zeroed), X), run_torch(lstm, X), atol=TOL
    )


@pytest.mark.parametrize("cell", CELLS.names())
def test_bundle_round_trip(cell, tmp_path):
    bundle = make_bundle(cell, 2, "mean")
    bundle.provenance = {"seed": 3}
    save_bundle(bundle, tmp_path / "m")
    back = load_bundle(tmp_path / "m")
    assert back.spec == bundle.spec
    assert back.provenance == {"seed": 3}
    for k, v in bundle.weights.items():
        np.testing.assert_array_equal(back.weights[k], v)
