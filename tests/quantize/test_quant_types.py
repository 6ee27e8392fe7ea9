"""QuantParams / QuantizeConfig values, their JSON round trips and the bundle's quant section."""

from __future__ import annotations

import json

import numpy as np
import pytest

from edgegru.bundle import load_bundle, save_bundle
from edgegru.errors import BadInput
from edgegru.quantize import QuantizeConfig
from edgegru.quantize.observers import Observer, act_quant, quant_error
from edgegru.quantize.weights import (
    channel_scales,
    per_tensor_blocks,
    quantize_weight,
    weight_scales,
)
from edgegru.reference import random_weights
from edgegru.types import ActQuant, Bundle, ModelSpec, QuantParams


def test_quantize_config_round_trips_and_validates():
    cfg = QuantizeConfig(scheme="qat", calib=64, method="percentile", qat_epochs=2)
    assert QuantizeConfig.from_json(json.loads(json.dumps(cfg.to_json()))) == cfg
    for bad in (
        {"scheme": "int4"}, {"method": "kl"}, {"calib": 0}, {"percentile": 20.0},
        {"qat_epochs": 0}, {"qat_lr": float("nan")}, {"weights": "group"},
    ):  # fmt: skip
        with pytest.raises(ValueError, match="must"):
            QuantizeConfig(**bad)


def test_quant_params_round_trip_exactly():
    q = QuantParams(
        scheme="static",
        weight_scales={"head.weight": (0.1, 0.2)},
        activations={"head.y": ActQuant(0.123456789, -3)},
        calibration={"method": "mse"},
    )
    back = QuantParams.from_json(json.loads(json.dumps(q.to_json())))
    assert back == q
    assert back.activations["head.y"].scale == float(np.float32(0.123456789))  # float32 scales
    with pytest.raises(ValueError, match="calibrated"):
        QuantParams(scheme="static", weight_scales={})  # static without activations
    with pytest.raises(ValueError, match="zero point"):
        ActQuant(0.1, 128)
    with pytest.raises(ValueError, match="scale"):
        ActQuant(-1.0, 0)


def test_bundle_keeps_its_quant_section_and_old_bundles_still_load(tmp_path):
    spec = ModelSpec("gru", 3, 4, 2)
    b = Bundle(spec, random_weights(spec))
    save_bundle(b, tmp_path / "f")
    assert load_bundle(tmp_path / "f").quant is None
    meta = json.loads((tmp_path / "f" / "model.json").read_text())
    assert "quant" not in meta and meta["format_version"] == 1
    b.quant = QuantParams(scheme="dynamic", weight_scales=weight_scales(b))
    save_bundle(b, tmp_path / "q")
    assert load_bundle(tmp_path / "q").quant == b.quant
    # a quant section naming a tensor with the wrong number of rows is rejected
    bad = json.loads((tmp_path / "q" / "model.json").read_text())
    bad["quant"]["weight_scales"]["head.weight"] = [1.0]
    (tmp_path / "q" / "model.json").write_text(json.dumps(bad))
    with pytest.raises(BadInput, match=r"head\.weight"):
        load_bundle(tmp_path / "q")


def test_weights_are_symmetric_per_channel():
    w = np.array([[0.5, -1.0, 0.25], [0.0, 0.0, 0.0], [2.0, 1.0, -0.01]], np.float32)
    s = channel_scales(w)
    np.testing.assert_allclose(s, [1 / 127, 1 / 127, 2 / 127], rtol=1e-6)
    q = quantize_weight(w, s)
    assert q.dtype == np.int8 and q[0, 1] == -127 and q[2, 0] == 127 and q[2, 2] == -1
    assert np.abs(q).max() <= 127  # TFLite's symmetric int8 weight range


def test_weight_granularity_per_block():
    """ "tensor": one scale per block of rows one int8 FULLY_CONNECTED holds (GRU: r|z and n);
    "auto": one scale only where that costs <= 6 dB of the block's weight SQNR."""
    spec = ModelSpec("gru", 3, 2, 2)
    w = random_weights(spec, seed=0)
    w["rnn.weight_hh_l0"][:] = 0.5  # every row alike: one scale costs nothing
    w["rnn.weight_ih_l0"][0] *= 100.0  # one row 100x the others in block r|z
    b = Bundle(spec, w)
    ch, ten, auto = (weight_scales(b, g) for g in ("channel", "tensor", "auto"))
    assert ch == weight_scales(b)  # the default (dynamic) is per channel
    ih = "rnn.weight_ih_l0"
    assert len(set(ten[ih][:4])) == 1 and len(set(ten[ih][4:])) == 1 and ten[ih][0] != ten[ih][4]
    assert per_tensor_blocks(ten, spec) == {
        (n, i) for n in ch for i in (0, 1) if n != "head.weight"
    } | {("head.weight", 0)}
    blocks = per_tensor_blocks(auto, spec)
    assert ("rnn.weight_hh_l0", 0) in blocks and (ih, 0) not in blocks
    assert auto[ih][:4] == ch[ih][:4]  # the outlier block stays per channel
    # QAT re-derives its tuned weights' scales with the blocks static chose
    assert weight_scales(b, per_tensor=blocks) == auto


def test_act_quant_holds_zero_exactly_and_the_range():
    for lo, hi in [(-1.0, 1.0), (0.2, 3.0), (-5.0, -0.1), (-0.3, 7.0)]:
        q = act_quant(lo, hi)
        assert q.scale * (-128 - q.zero_point) <= min(lo, 0) + q.scale
        assert q.scale * (127 - q.zero_point) >= max(hi, 0) - q.scale
        assert -128 <= q.zero_point <= 127


def test_calibration_methods_clip_outliers():
    rng = np.random.default_rng(0)
    x = rng.normal(size=200_000).astype(np.float32)
    x[:5] = [40.0, -35.0, 30.0, 25.0, -20.0]  # rare outliers
    obs = Observer()
    for part in np.split(x, 10):
        obs.update(part)
    lo, hi = obs.range("minmax")
    assert (lo, hi) == (-35.0, 40.0)
    _, p_hi = obs.range("percentile", 99.99)
    m_lo, m_hi = obs.range("mse")
    assert p_hi < 10 and m_hi <= hi
    sample = obs.sample()
    # MSE-optimal trades clipping error against rounding error: never worse than min/max
    assert quant_error(sample, act_quant(m_lo, m_hi)) <= quant_error(sample, act_quant(lo, hi))


def test_observer_rejects_nan_and_empty():
    with pytest.raises(BadInput):
        Observer().update(np.array([1.0, np.nan]))
    with pytest.raises(BadInput):
        Observer().range("minmax")
