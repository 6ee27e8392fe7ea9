"""The schemes end to end: dynamic, static, qat; the NumPy int8 reference against the float model
and against QAT's fake-quantized model; the coverage guard (docs/extending.md)."""

from __future__ import annotations

import copy
import dataclasses

import numpy as np
import pytest
import torch

from edgegru.errors import BadInput
from edgegru.quantize import SCHEMES, QuantizeConfig, load_schemes, quantize_
from edgegru.quantize.compare import compare, predict_quantized, sqnr_db
from edgegru.quantize.points import gru_points
from edgegru.quantize.reference import predict_int8
from edgegru.quantize.weights import per_tensor_blocks
from edgegru.reference import random_weights, reference_forward
from edgegru.types import Bundle, ModelSpec, QuantParams, SequenceData
from tests.quantize.conftest import small_gru

SCHEMES_TESTED = {"dynamic", "static", "qat"}


def test_every_scheme_has_a_test():
    load_schemes()
    assert set(SCHEMES.names()) <= SCHEMES_TESTED


def test_dynamic_rounds_only_the_weights(watch_small):
    b = small_gru(watch_small, layers=2, head="mean")
    q = quantize_(copy.deepcopy(b), QuantizeConfig(scheme="dynamic"))  # needs no data
    assert q.quant.scheme == "dynamic" and not q.quant.is_static
    r = compare(b, q, watch_small.test, watch_small.task)
    # int8 per-channel weights alone: > 35 dB on these random weights (measured 42 dB on the
    # trained watch GRU-32)
    assert r["sqnr_db"] > 35 and r["agreement"] > 0.97


@pytest.mark.parametrize(("layers", "head"), [(1, "last"), (2, "mean")])
def test_static_calibrates_every_point_and_tracks_the_float_model(watch_small, layers, head):
    b = small_gru(watch_small, layers=layers, head=head, scale=0.3)
    q = quantize_(copy.deepcopy(b), QuantizeConfig(calib=96, method="mse"), watch_small)
    assert set(q.quant.activations) == set(gru_points(b.spec))
    assert q.quant.calibration["sequences"] == 96
    r = compare(b, q, watch_small.test, watch_small.task)
    # full integer, 40 steps of int8 state on random weights: an SQNR floor (measured 20-27 dB
    # here; 20.5 dB on the trained watch GRU-32 over 100 steps)
    assert r["sqnr_db"] > 15, r
    assert r["agreement"] > 0.85, r


def test_reference_matches_the_fake_quantized_model(watch_small):
    """QAT's fake quantization and the integer reference compute the same graph: after one step
    they differ by rounding ties only (<= 2 LSB of the logits, few elements)."""
    from edgegru.model import model_from_bundle
    from edgegru.quantize.qgru import QuantGruModel

    b = small_gru(watch_small, scale=0.3)
    quantize_(b, QuantizeConfig(calib=64, logits_bits=8), watch_small)  # bounds in int8 steps
    X = np.ascontiguousarray(watch_small.test.X[:, :1])  # one step
    y_ref = predict_int8(b, X)
    blocks = per_tensor_blocks(b.quant.weight_scales, b.spec)  # static's per-tensor blocks
    fq = QuantGruModel(model_from_bundle(b), b.quant.activations, blocks).eval()
    with torch.no_grad():
        y_fq = fq(torch.from_numpy(X)).numpy()
    lsb = np.abs(y_ref - y_fq) / b.quant.activations["head.y"].scale
    assert lsb.max() <= 2 and lsb.mean() < 0.1


def test_float_mode_of_the_decomposed_gru_is_the_float_model(watch_small):
    from edgegru.model import model_from_bundle
    from edgegru.quantize.qgru import QuantGruModel

    b = small_gru(watch_small, layers=2, head="mean")
    X = watch_small.test.X[:8]
    m = QuantGruModel(model_from_bundle(b))
    with torch.no_grad():
        y = m(torch.from_numpy(X)).numpy()
    np.testing.assert_allclose(y, reference_forward(b.spec, b.weights, X), atol=1e-5)


def test_reference_requant_modes_and_lengths(watch_small):
    b = small_gru(watch_small, scale=0.3)
    quantize_(b, QuantizeConfig(calib=64, logits_bits=8), watch_small)  # bounds in int8 steps
    X = watch_small.test.X[:16]
    a = predict_int8(b, X, requant="reference")
    o = predict_int8(b, X, requant="optimized")
    assert np.abs(a - o).max() <= 8 * b.quant.activations["head.y"].scale  # ties, amplified
    # variable lengths: the last head reads each sequence's own last step
    lengths = np.full(len(X), 25)
    np.testing.assert_array_equal(predict_int8(b, X, lengths), predict_int8(b, X[:, :25]))


def test_qat_fine_tunes_through_the_fake_quantized_graph(watch_small):
    b = small_gru(watch_small, scale=0.3)
    cfg = QuantizeConfig(scheme="qat", calib=64, qat_epochs=2, qat_lr=2e-3)
    q = quantize_(copy.deepcopy(b), cfg, watch_small)
    assert q.quant.scheme == "qat" and q.quant.is_static
    changed = [n for n in b.weights if not np.array_equal(b.weights[n], q.weights[n])]
    assert "rnn.weight_hh_l0" in changed and "head.weight" in changed
    y = predict_quantized(q, watch_small.test)
    assert y.shape == (128, watch_small.num_outputs) and np.isfinite(y).all()
    assert q.quant.calibration["qat"]["epochs"] == 2
    # the weight blocks static gave one scale keep one scale after fine-tuning
    static = quantize_(copy.deepcopy(b), dataclasses.replace(cfg, scheme="static"), watch_small)
    blocks = per_tensor_blocks(static.quant.weight_scales, b.spec)
    assert blocks and per_tensor_blocks(q.quant.weight_scales, b.spec) >= blocks


def test_static_refuses_bad_calibration_data(watch_small):
    b = small_gru(watch_small)
    with pytest.raises(BadInput, match="needs calibration data"):
        quantize_(b, QuantizeConfig(), None)
    X = watch_small.train.X.copy()
    X[3, 5, 1] = np.nan
    nan_data = dataclasses.replace(watch_small, train=SequenceData(X, watch_small.train.y))
    with pytest.raises(BadInput, match="NaN"):
        quantize_(b, QuantizeConfig(calib=1000), nan_data)
    empty = dataclasses.replace(watch_small, train=SequenceData(X[:0], watch_small.train.y[:0]))
    with pytest.raises(BadInput, match="empty"):
        quantize_(b, QuantizeConfig(), empty)


def test_sqnr():
    y = np.array([[3.0, 4.0]])
    assert sqnr_db(y, y) == float("inf")
    assert abs(sqnr_db(y, y + np.array([[0.5, 0.0]])) - 10 * np.log10(25 / 0.25)) < 1e-9


@pytest.mark.parametrize("cell", ["lstm", "peephole"])
def test_lstm_fake_quant_model_tracks_the_integer_kernel_and_qat_runs(watch_small, cell):
    """QuantLstmModel (fake quantization at the integer LSTM kernel's points) computes what the
    NumPy int8 reference computes up to rounding: within 4 output steps of head.y (the kernel
    requantizes the x-, h- and peephole terms separately and rounds ties its own way; a wrong
    point or scale is off by tens of steps). QAT then fine-tunes the weights through it."""
    import torch

    from edgegru.model import model_from_bundle
    from edgegru.quantize.qlstm import QuantLstmModel
    from edgegru.train import fit_normalization

    spec = ModelSpec(
        cell, watch_small.num_features, 16, watch_small.num_outputs,
        normalization=fit_normalization(watch_small.train.X, None),
    )  # fmt: skip
    b = quantize_(Bundle(spec, random_weights(spec, 0, 0.4)), QuantizeConfig(calib=64),
                  watch_small)  # fmt: skip
    X = watch_small.test.X[:32]
    fq = QuantLstmModel(model_from_bundle(b), b.quant.activations).eval()
    with torch.no_grad():
        y_fq = fq(torch.from_numpy(X)).numpy()
    s_y = b.quant.activations["head.y"].scale
    assert np.abs(y_fq - predict_int8(b, X)).max() <= 4 * s_y + 1e-6
    cfg = QuantizeConfig(scheme="qat", calib=64, qat_epochs=1)
    q = quantize_(copy.deepcopy(b), cfg, watch_small)
    assert q.quant.scheme == "qat" and "rnn.weight_hh_l0" in [
        n for n in b.weights if not np.array_equal(b.weights[n], q.weights[n])
    ]


def test_int16_logits_resolve_what_int8_logits_tie(watch_small):
    """logits_bits 16: the head is a 16x8 FULLY_CONNECTED (int16 logits, zero point 0) on the same
    int8 state; its logits are the int8 head's to within one int8 step, and never tie where the
    float logits differ (the basicmotions drop: int8 logits tied two near-tie windows)."""
    b = small_gru(watch_small, scale=0.3)
    q8 = quantize_(copy.deepcopy(b), QuantizeConfig(calib=64, logits_bits=8), watch_small)
    q16 = quantize_(copy.deepcopy(b), QuantizeConfig(calib=64), watch_small)
    y = q16.quant.activations["head.y"]
    assert (y.bits, y.zero_point) == (16, 0)
    assert {k: v for k, v in q8.quant.activations.items() if k != "head.y"} == {
        k: v for k, v in q16.quant.activations.items() if k != "head.y"
    }
    X = watch_small.test.X
    a, c = predict_int8(q8, X), predict_int8(q16, X)
    s8, zp8 = q8.quant.activations["head.y"].pair
    inside = (a > s8 * (-128 - zp8) + 1e-6) & (a < s8 * (127 - zp8) - 1e-6)  # mse clips int8
    assert inside.mean() > 0.9 and np.abs(a - c)[inside].max() <= 1.01 * s8
    from edgegru.evaluate import predict

    f = predict(b, watch_small.test)
    top2 = np.sort(f, axis=1)[:, -2:]
    distinct = top2[:, 1] - top2[:, 0] > 1e-3
    ties = lambda y: np.sort(y, axis=1)[:, -1] == np.sort(y, axis=1)[:, -2]  # noqa: E731
    assert not ties(c)[distinct].any()
    # the JSON round trip keeps the 16 bits
    assert QuantParams.from_json(q16.quant.to_json()).activations["head.y"] == y


@pytest.mark.parametrize("head", ["last", "mean"])
def test_calibration_observes_only_the_valid_steps(watch_small, head):
    """Variable-length data: padded steps (here garbage 50x the data's range) must not reach the
    observers. Every sequence is valid for its first 25 of 40 steps, so calibrating the padded
    set must give exactly the ranges of the same sequences cut to 25 steps."""
    from edgegru.quantize.calibrate import calibrate

    b = small_gru(watch_small, layers=2, head=head, scale=0.3)
    X = watch_small.train.X[:64].copy()
    X[:, 25:] = 50.0 * np.abs(X).max()
    lengths = np.full(len(X), 25, np.int64)
    cfg = QuantizeConfig(calib=64, method="minmax")
    padded = calibrate(b, X, lengths, cfg)
    cut = calibrate(b, np.ascontiguousarray(X[:, :25]), None, cfg)
    assert padded == cut
    # mixed lengths 5..25: the garbage starts at each sequence's own end
    lengths = np.arange(len(X)) % 21 + 5
    X[np.arange(X.shape[1])[None, :] >= lengths[:, None]] = 50.0 * np.abs(X[:, :25]).max()
    mixed = calibrate(b, X, lengths, cfg)
    for name, q in mixed.items():  # a subset of the steps seen above: never a wider range
        assert q.scale <= cut[name].scale * (1 + 1e-6), name
