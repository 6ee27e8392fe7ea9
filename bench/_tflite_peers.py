"""Peer conversions for bench/tflite.py, run INSIDE the optional peers venv (TensorFlow, tf_keras
and litert-torch are never installed in the project env). Reads workload weights from an .npz,
writes .tflite files and a JSON of what worked (each failure recorded with its error). The bench
runs one peer per process: TensorFlow's full-int8 calibrator crashes the process on a Keras GRU
WHILE loop (measured), and a crash must cost only that peer.

    bench/.peers-venv/bin/python bench/_tflite_peers.py WEIGHTS.npz OUT_DIR [PEER,PEER]
"""

from __future__ import annotations

import json
import os
import sys
import traceback
from pathlib import Path

import numpy as np


def _keras_order(a: np.ndarray, H: int) -> np.ndarray:
    """PyTorch gate rows r, z, n -> Keras z, r, h (along axis 0)."""
    r, z, n = a[:H], a[H : 2 * H], a[2 * H :]
    return np.concatenate([z, r, n])


def keras(w: dict, T: int, out: Path, mode: str, unroll: bool = False) -> str:
    """Keras GRU (reset_after=True: PyTorch's equations) -> TensorFlow's converter.

    Keras 2 (tf_keras, selected with TF_USE_LEGACY_KERAS=1 before TensorFlow is imported) and
    ``TFLiteConverter.from_keras_model``: the path whose numbers the issue quotes (a WHILE loop,
    ~90 KB float at h64). Keras 3's GRU does not convert with TF 2.21 (its SavedModel keeps a
    TensorListReserve without a static element shape; measured, recorded in bench results).
    ``mode``: float, dynamic (dynamic-range int8 weights), int8 (full integer, calibrated on 64
    random-normal sequences as edgegru's int8 bench is)."""
    os.environ["TF_USE_LEGACY_KERAS"] = "1"
    import tensorflow as tf
    import tf_keras

    n_in, H, L = int(w["I"]), int(w["H"]), int(w["L"])
    x = tf_keras.Input(shape=(T, n_in), batch_size=1, name="x")
    y = x
    grus = []
    for k in range(L):
        gru = tf_keras.layers.GRU(H, reset_after=True, return_sequences=k < L - 1, unroll=unroll)
        y = gru(y)
        grus.append(gru)
    dense = tf_keras.layers.Dense(int(w["O"]))
    model = tf_keras.Model(x, dense(y))
    for k, gru in enumerate(grus):
        gru.set_weights([
            _keras_order(w[f"rnn.weight_ih_l{k}"], H).T,
            _keras_order(w[f"rnn.weight_hh_l{k}"], H).T,
            np.stack([_keras_order(w[f"rnn.bias_ih_l{k}"], H),
                      _keras_order(w[f"rnn.bias_hh_l{k}"], H)]),
        ])  # fmt: skip
    dense.set_weights([w["head.weight"].T, w["head.bias"]])

    conv = tf.lite.TFLiteConverter.from_keras_model(model)
    if mode != "float":
        conv.optimizations = [tf.lite.Optimize.DEFAULT]
    if mode == "int8":
        X = np.random.default_rng(0).standard_normal((64, 1, T, n_in)).astype(np.float32)
        conv.representative_dataset = lambda: ([x] for x in X)
        conv.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    path = out / f"keras{'_unrolled' if unroll else ''}_{mode}.tflite"
    path.write_bytes(conv.convert())
    return str(path)


def keras_lstm(w: dict, T: int, out: Path, mode: str, peephole: bool = False) -> str:
    """Keras 2 LSTM -> TensorFlow's converter (fused UNIDIRECTIONAL_SEQUENCE_LSTM), or a Keras
    RNN of tf_keras.experimental.PeepholeLSTMCell (the only Keras peephole LSTM: not fused).
    Keras gate order i, f, c, o is PyTorch's i, f, g, o; one bias (b_ih + b_hh); peepholes as
    Keras applies them (p_i, p_f on c, p_o on c'), the equations of docs/architecture.md#cells."""
    os.environ["TF_USE_LEGACY_KERAS"] = "1"
    import tensorflow as tf
    import tf_keras

    n_in, H, L = int(w["I"]), int(w["H"]), int(w["L"])
    x = tf_keras.Input(shape=(T, n_in), batch_size=1, name="x")
    y = x
    layers = []
    for k in range(L):
        seq = k < L - 1
        if peephole and not hasattr(tf_keras.experimental, "PeepholeLSTMCell"):
            raise RuntimeError(
                f"tf_keras {tf_keras.__version__} has no PeepholeLSTMCell (removed from Keras): "
                "TensorFlow has no peephole LSTM layer left to convert"
            )
        if peephole:
            layer = tf_keras.layers.RNN(
                tf_keras.experimental.PeepholeLSTMCell(H), return_sequences=seq
            )
        else:
            layer = tf_keras.layers.LSTM(H, return_sequences=seq)
        y = layer(y)
        layers.append(layer)
    dense = tf_keras.layers.Dense(int(w["O"]))
    model = tf_keras.Model(x, dense(y))
    for k, layer in enumerate(layers):
        values = [
            w[f"rnn.weight_ih_l{k}"].T,
            w[f"rnn.weight_hh_l{k}"].T,
            w[f"rnn.bias_ih_l{k}"] + w[f"rnn.bias_hh_l{k}"],
        ]
        if peephole:
            values += list(w[f"rnn.weight_peep_l{k}"])  # p_i, p_f, p_o: Keras' order too
        layer.set_weights(values)
    dense.set_weights([w["head.weight"].T, w["head.bias"]])
    conv = tf.lite.TFLiteConverter.from_keras_model(model)
    if mode == "dynamic":
        conv.optimizations = [tf.lite.Optimize.DEFAULT]
    path = out / f"keras_{'peephole' if peephole else 'lstm'}_{mode}.tflite"
    path.write_bytes(conv.convert())
    return str(path)


def litert_torch(w: dict, T: int, out: Path, dynamic: bool = False) -> str:
    import litert_torch as lt
    import torch

    n_in, H, L, n_out = int(w["I"]), int(w["H"]), int(w["L"]), int(w["O"])

    class Model(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.rnn = torch.nn.GRU(n_in, H, L, batch_first=True)
            self.head = torch.nn.Linear(H, n_out)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.head(self.rnn(x)[0][:, -1])

    m = Model().eval()
    m.load_state_dict({k: torch.from_numpy(np.asarray(w[k])) for k in m.state_dict()})
    if dynamic:
        return _litert_torch_dynamic(m, T, n_in, out)
    path = out / "litert_torch_float.tflite"
    lt.convert(m, (torch.zeros(1, T, n_in),)).export(str(path))
    return str(path)


def _litert_torch_dynamic(m, T: int, n_in: int, out: Path) -> str:
    """litert-torch's documented PT2E dynamic int8 recipe (per-channel int8 weights, activations
    quantized at run time): export -> prepare_pt2e -> one calibration call -> convert_pt2e ->
    convert with the quantizer's QuantConfig."""
    import litert_torch as lt
    import torch
    from litert_torch.quantize import pt2e_quantizer
    from litert_torch.quantize.quant_config import QuantConfig
    from torchao.quantization.pt2e import quantize_pt2e

    args = (torch.randn(1, T, n_in),)
    quantizer = pt2e_quantizer.PT2EQuantizer().set_global(
        pt2e_quantizer.get_symmetric_quantization_config(is_per_channel=True, is_dynamic=True)
    )
    g = torch.export.export(m, args).module()
    g = quantize_pt2e.prepare_pt2e(g, quantizer)
    g(*args)
    g = quantize_pt2e.convert_pt2e(g, fold_quantize=False)
    path = out / "litert_torch_dynamic.tflite"
    lt.convert(g, args, quant_config=QuantConfig(pt2e_quantizer=quantizer)).export(str(path))
    return str(path)


def main() -> None:
    weights, out = Path(sys.argv[1]), Path(sys.argv[2])
    out.mkdir(parents=True, exist_ok=True)
    w = dict(np.load(weights))
    T = int(w["T"])
    jobs = {
        "keras_float": lambda: keras(w, T, out, "float"),
        "keras_dynamic": lambda: keras(w, T, out, "dynamic"),
        "keras_int8": lambda: keras(w, T, out, "int8"),
        "keras_unrolled_float": lambda: keras(w, T, out, "float", unroll=True),
        "keras_unrolled_int8": lambda: keras(w, T, out, "int8", unroll=True),
        "keras_lstm_float": lambda: keras_lstm(w, T, out, "float"),
        "keras_lstm_dynamic": lambda: keras_lstm(w, T, out, "dynamic"),
        "keras_peephole_float": lambda: keras_lstm(w, T, out, "float", peephole=True),
        "litert_torch_float": lambda: litert_torch(w, T, out),
        "litert_torch_dynamic": lambda: litert_torch(w, T, out, dynamic=True),
    }
    only = sys.argv[3].split(",") if len(sys.argv) > 3 else None
    jobs = {k: v for k, v in jobs.items() if only is None or k in only}
    result = {}
    for name, job in jobs.items():
        try:
            result[name] = {"path": job()}
        except Exception as e:  # a failing peer is a result, not a crash
            result[name] = {"error": f"{type(e).__name__}: {e}"[:500],
                            "trace": traceback.format_exc()[-1500:]}  # fmt: skip
    (out / f"peers-{'-'.join(sorted(result))}.json").write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
