"""Test artifacts for the targets: exported by ``edgegru.export`` where its writers have landed,
else a small ONNX GRU built here with ``onnx.helper`` (the same contract: manifest beside the
file, inputs/outputs named as the exporters name them), so the runner and transports are tested
either way. ``kinds()`` says which kinds this checkout can make.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from edgegru.bundle import weights_sha256
from edgegru.types import Artifact, Bundle, ModelSpec, Normalization, TensorInfo
from tests.reference import random_weights


def bundle(cell: str = "gru", head: str = "last", layers: int = 1, seed: int = 0) -> Bundle:
    spec = ModelSpec(
        cell=cell,
        input_size=3,
        hidden_size=8,
        num_outputs=4,
        num_layers=layers,
        head=head,
        normalization=Normalization((0.5, -0.2, 0.1), (2.0, 1.5, 0.5)),
    )
    return Bundle(spec, random_weights(spec, seed=seed), {"seq_len": 6})


def _registered() -> list[str]:
    from edgegru.export import EXPORTERS, _load_writers

    _load_writers()
    return EXPORTERS.names()


def kinds() -> list[tuple[str, str, str]]:
    """(format, form, precision) this checkout can export."""
    formats = _registered()
    out = []
    for fmt in ("onnx", "ort", "tflite"):
        if fmt in formats or (fmt in ("onnx", "ort") and "onnx" not in formats):
            out += [(fmt, "sequence", "float32"), (fmt, "step", "float32")]
    return out


def make(b: Bundle, fmt: str, form: str, out_dir: Path, precision: str = "float32") -> Path:
    """Write one artifact (+ manifest) into ``out_dir``; returns the file's path."""
    out_dir.mkdir(parents=True, exist_ok=True)
    if fmt in _registered():
        from edgegru.export import ExportConfig, export

        cfg = ExportConfig(formats=(fmt,), forms=(form,), precision=precision)
        (artifact,) = export(b, cfg, out_dir)
        return Path(artifact.path)
    return _own_onnx(b, fmt, form, out_dir)


# --- a small ONNX GRU of our own (single layer, last head), until the exporter lands ----------


def _gru_weights(b: Bundle):
    """PyTorch (r, z, n) -> ONNX (z, r, h) with the normalization folded into W and B."""
    w, H = b.weights, b.spec.hidden_size
    norm = b.spec.normalization
    mean, std = np.array(norm.mean, np.float32), np.array(norm.std, np.float32)
    W_ih = w["rnn.weight_ih_l0"] / std  # [3H, F]: x_n = (x - mean) / std folded in
    b_ih = w["rnn.bias_ih_l0"] - W_ih @ mean
    order = [1, 0, 2]

    def reorder(m):
        return np.concatenate([m[k * H : (k + 1) * H] for k in order])

    W = reorder(W_ih)[None]  # [1, 3H, F]
    R = reorder(w["rnn.weight_hh_l0"])[None]  # [1, 3H, H]
    B = np.concatenate([reorder(b_ih), reorder(w["rnn.bias_hh_l0"])])[None]  # [1, 6H]
    return W.astype(np.float32), R.astype(np.float32), B.astype(np.float32)


def _own_onnx(b: Bundle, fmt: str, form: str, out_dir: Path) -> Path:
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    spec = b.spec
    assert spec.cell == "gru" and spec.head == "last" and spec.num_layers == 1
    H, F, K = spec.hidden_size, spec.input_size, spec.num_outputs
    W, R, B = _gru_weights(b)
    inits = [
        numpy_helper.from_array(W, "W"),
        numpy_helper.from_array(R, "R"),
        numpy_helper.from_array(B, "B"),
        numpy_helper.from_array(b.weights["head.weight"], "head_W"),
        numpy_helper.from_array(b.weights["head.bias"], "head_b"),
        numpy_helper.from_array(np.array([0], np.int64), "axis0"),
    ]
    gru = {"hidden_size": H, "linear_before_reset": 1}
    if form == "sequence":
        ins = [TensorInfo("x", ("batch", "time", F), "float32")]
        outs = [TensorInfo("y", ("batch", K), "float32")]
        nodes = [
            helper.make_node("Transpose", ["x"], ["xt"], perm=[1, 0, 2]),
            helper.make_node("GRU", ["xt", "W", "R", "B"], ["", "Y_h"], **gru),
            helper.make_node("Squeeze", ["Y_h", "axis0"], ["top"]),
        ]
    else:
        ins = [
            TensorInfo("x", ("batch", F), "float32"),
            TensorInfo("h", (1, "batch", H), "float32"),
        ]
        outs = [
            TensorInfo("y", ("batch", K), "float32"),
            TensorInfo("h_out", (1, "batch", H), "float32"),
        ]
        nodes = [
            helper.make_node("Unsqueeze", ["x", "axis0"], ["x1"]),
            helper.make_node("GRU", ["x1", "W", "R", "B", "", "h"], ["", "h_out"], **gru),
            helper.make_node("Squeeze", ["h_out", "axis0"], ["top"]),
        ]
    nodes.append(helper.make_node("Gemm", ["top", "head_W", "head_b"], ["y"], transB=1))

    def vi(t):
        return helper.make_tensor_value_info(t.name, TensorProto.FLOAT, list(t.shape))

    graph = helper.make_graph(nodes, "g", [vi(t) for t in ins], [vi(t) for t in outs], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    data = model.SerializeToString()
    if fmt == "ort":
        data = _to_ort(data)
    name = ("model.step" if form == "step" else "model") + (".ort" if fmt == "ort" else ".onnx")
    path = out_dir / name
    path.write_bytes(data)
    import hashlib

    artifact = Artifact(
        path=str(path),
        format=fmt,
        form=form,
        precision="float32",
        inputs=tuple(ins),
        outputs=tuple(outs),
        sha256=hashlib.sha256(data).hexdigest(),
        size_bytes=len(data),
        source_sha256=weights_sha256(b),
        spec=spec,
        details={"fixture": "tests/targets/artifacts.py"},
    )
    Path(str(path) + ".json").write_text(json.dumps(artifact.to_json()))
    return path


def _to_ort(onnx_bytes: bytes) -> bytes:
    import contextlib
    import io
    import tempfile

    from onnxruntime.tools.convert_onnx_models_to_ort import (
        OptimizationStyle,
        convert_onnx_models_to_ort,
    )

    with tempfile.TemporaryDirectory() as tmp:
        src = Path(tmp) / "model.onnx"
        src.write_bytes(onnx_bytes)
        with contextlib.redirect_stdout(io.StringIO()):
            convert_onnx_models_to_ort(
                src, output_dir=Path(tmp) / "out", optimization_styles=[OptimizationStyle.Fixed]
            )
        return (Path(tmp) / "out" / "model.ort").read_bytes()


def data(b: Bundle, n: int = 5, T: int = 6, seed: int = 1, lengths: bool = False):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, T, b.spec.input_size)).astype(np.float32)
    L = rng.integers(2, T + 1, n).astype(np.int64) if lengths else None
    if L is not None:
        for i, length in enumerate(L):
            X[i, length:] = 0.0
    return X, L
