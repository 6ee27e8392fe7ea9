"""A structurally pruned model is an ordinary, smaller bundle: it exports through the ONNX and
TFLite writers unchanged and the runtimes compute what the NumPy reference says (1e-5, as for
any float export)."""

from __future__ import annotations

import numpy as np
import onnxruntime as ort
import pytest

from edgegru.cells import CELLS
from edgegru.compress import StructuredPruneConfig, prune_
from edgegru.export import ExportConfig, export
from edgegru.export.tflite import runtime
from edgegru.reference import random_weights, reference_forward
from edgegru.types import Bundle, ModelSpec, Normalization


@pytest.mark.parametrize("cell", CELLS.names())
def test_pruned_model_exports_and_matches_reference(cell, tmp_path):
    spec = ModelSpec(cell=cell, input_size=3, hidden_size=10, num_outputs=4, num_layers=2,
                     normalization=Normalization((0.5, -1.0, 2.0), (2.0, 0.5, 1.5)))  # fmt: skip
    bundle = Bundle(spec, random_weights(spec, seed=1), {"seq_len": 9})
    prune_(bundle, StructuredPruneConfig(hidden_size=6, finetune_epochs=0))
    assert bundle.spec.hidden_size == 6
    X = np.random.default_rng(0).standard_normal((3, 9, 3)).astype(np.float32)
    want = reference_forward(bundle.spec, bundle.weights, X)
    cfg = ExportConfig(formats=("onnx", "tflite"), forms=("sequence",))
    arts = {a.format: a for a in export(bundle, cfg, tmp_path)}
    sess = ort.InferenceSession(arts["onnx"].path, providers=["CPUExecutionProvider"])
    np.testing.assert_allclose(sess.run(None, {"x": X})[0], want, atol=1e-5)
    run = runtime.load(arts["tflite"].path, "interpreter")
    got = np.concatenate([run(x=X[b : b + 1])["y"] for b in range(3)])
    np.testing.assert_allclose(got, want, atol=1e-5)
