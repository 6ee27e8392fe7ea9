"""Budgets: defaults on and off, scopes (precision, format, both), the sampling-noise allowance of
the defaults, and the short table of broken budgets. Real rows from ``make_row`` on arrays."""

from __future__ import annotations

import json

import numpy as np
import pytest

from edgegru.targets.check import apply_budgets, broken_summary, broken_table, make_row, noise
from edgegru.targets.config import DEFAULT_BUDGETS, Budgets
from edgegru.types import Artifact, ModelSpec, TensorInfo


def artifact(fmt="tflite", precision="float32", kb=20.0, name="model.tflite") -> Artifact:
    spec = ModelSpec("gru", 3, 8, 4)
    x = TensorInfo("x", "float32", (1, 6, 3))
    y = TensorInfo("y", "float32", (1, 4))
    return Artifact(f"/runs/m/export/{name}", fmt, "sequence", precision, (x,), (y,), "0" * 64,
                    int(kb * 1024), "0" * 64, spec)  # fmt: skip


def row(art: Artifact, agree: float, n: int = 400, target: str = "local", wrong_float=0.0):
    """A row whose file agrees with the float model on ``agree`` of n rows; the float model is
    right on every row but ``wrong_float`` of them, so each disagreement costs the file a row.
    Like a fixed-T file run over the padding, the file computes its own graph exactly (parity =
    its outputs): only the accuracy budgets can see the difference."""
    rng = np.random.default_rng(0)
    y = rng.integers(0, 4, n)
    ref = np.eye(4)[y] * 5.0
    ref[: int(wrong_float * n)] = np.eye(4)[(y[: int(wrong_float * n)] + 1) % 4] * 5.0
    out = ref.copy()
    k = n - round(agree * n)
    if k:
        out[-k:] = np.roll(ref[-k:], 1, axis=1)
    result = {"outputs": out.tolist(), "latency_us": {"p50": 100.0}, "peak_rss_kb": 80 * 1024}
    r = make_row(target, art, result, y, ref, "classification", parity=out)
    r.artifact = art.path
    return r


def test_defaults_catch_a_file_at_chance_and_pass_a_faithful_one():
    bad, good = row(artifact(), agree=0.25), row(artifact(), agree=1.0)
    assert bad.accuracy_drop_pts == pytest.approx(75.0)
    apply_budgets(bad, Budgets())
    assert {b["name"] for b in bad.broken} == {"max_accuracy_drop", "min_agreement"}
    assert all(b["default"] for b in bad.broken)
    assert apply_budgets(good, Budgets()) == []
    assert apply_budgets(bad, Budgets(default_budgets=False)) == []


def test_explicit_budgets_override_the_defaults():
    r = row(artifact(), agree=0.9)  # 10 points below the float model
    assert apply_budgets(r, Budgets(max_accuracy_drop=20, min_agreement=0.8)) == []
    apply_budgets(r, Budgets(max_accuracy_drop=20))
    assert [(b["name"], b["default"]) for b in r.broken] == [("min_agreement", True)]


def test_default_budgets_allow_sampling_noise_explicit_ones_do_not():
    # one flipped row of 40 is 2.5 points: within the default's noise, not within an explicit 1
    r = row(artifact(), agree=39 / 40, n=40)
    assert r.accuracy_drop_pts == pytest.approx(2.5) and r.discordant == 1
    assert noise(r, "max_accuracy_drop") == pytest.approx(2 * 100 * 1 / 40)
    assert apply_budgets(r, Budgets()) == []
    (fail,) = apply_budgets(r, Budgets(max_accuracy_drop=1.0))
    assert fail.startswith("accuracy drop 2.50 pts > --max-accuracy-drop 1 (")
    # on many rows the allowance shrinks: 2 points below on 10,000 rows breaks the default
    big = row(artifact(), agree=0.98, n=10_000)
    apply_budgets(big, Budgets())
    assert {b["name"] for b in big.broken} == {"max_accuracy_drop"}
    assert big.broken[0]["bound"] == pytest.approx(1.0 + noise(big, "max_accuracy_drop"))


@pytest.mark.parametrize(
    ("budget", "expected"),
    [
        # (max_size_kb as given, the limit on: float32 tflite, int8-static tflite, int8 onnx)
        (64, (64, 64, 64)),
        ({"int8": 16}, (None, 16, 16)),
        ({"all": 64, "int8": 16}, (64, 16, 16)),
        ({"all": 64, "tflite": 30, "int8": 16}, (30, 16, 16)),  # equally specific: tightest
        ({"all": 64, "int8": 16, "int8+onnx": 40}, (64, 16, 40)),  # two parts beat one
        ({"int8-dynamic": 12}, (None, None, 12)),
    ],
)
def test_scopes_pick_the_most_specific_limit(budget, expected):
    b = Budgets(max_size_kb=budget)
    files = [("tflite", "float32"), ("tflite", "int8-static"), ("onnx", "int8-dynamic")]
    got = [b.limit_on("max_size_kb", f, p) for f, p in files]
    assert tuple(None if lim is None else lim.value for lim in got) == expected
    assert Budgets.from_json(json.loads(json.dumps(b.to_json()))) == b


def test_cli_values_parse_to_the_same_budgets_as_the_config():
    assert Budgets.parse_option("max_size_kb", ["64"]) == 64.0
    assert Budgets.parse_option("max_size_kb", ["64", "int8=16"]) == {"all": 64, "int8": 16}
    assert Budgets.parse_option("max_size_kb", []) is None
    with pytest.raises(ValueError, match="give a number or SCOPE=NUMBER"):
        Budgets.parse_option("max_size_kb", ["int8=x"])
    with pytest.raises(ValueError, match="unknown scope 'int9'"):
        Budgets(max_size_kb={"int9": 16})
    with pytest.raises(ValueError, match=r"fraction in \[0, 1\]"):
        Budgets(min_agreement={"int8": 1.5})


def test_broken_budgets_read_as_a_short_table_with_the_full_list_kept():
    # 8 files x 3 targets break a size budget scoped to int8; float files are out of scope
    rows = []
    for target in ("local", "qemu-aarch64:pi4", "qemu-aarch64:pi5"):
        for i in range(8):
            art = artifact(precision="int8-static", kb=20 + i, name=f"m{i}.int8.tflite")
            rows.append(row(art, agree=1.0, target=target))
        rows.append(row(artifact(kb=40), agree=1.0, target=target))
    budgets = Budgets(max_size_kb={"int8": 16})
    for r in rows:
        apply_budgets(r, budgets)
    broken = [b for r in rows for b in r.broken]
    assert len(broken) == 24  # the full list, one record per file x target
    header, lines = broken_table(broken, len(rows))
    assert header[:4] == ["budget", "limit", "worst", "broken"]
    ((budget, limit, worst, count, files, targets),) = lines
    assert (budget, limit, worst, count) == ("--max-size-kb", "int8=16", "27.0 KB", "24 of 27")
    assert files == "m0.int8.tflite, m1.int8.tflite +6 more"
    assert targets == "local, qemu-aarch64:pi4 +1 more"
    summary = broken_summary(broken, len(rows))
    assert summary.startswith("1 budget broken: --max-size-kb int8=16 (worst 27.0 KB")
    assert len(summary) < 120


def test_the_documented_defaults_and_numbers_are_the_measured_ones():
    """docs/checks.md states the defaults and quotes bench/results/check_defaults.json: there,
    every file that honours the lengths passes the defaults and every fixed-T file without a
    length input on variable-length rows fails them."""
    from bench.check_defaults import markdown
    from tests.conftest import ROOT

    doc = (ROOT / "docs" / "checks.md").read_text()
    drop, agree = DEFAULT_BUDGETS["max_accuracy_drop"], DEFAULT_BUDGETS["min_agreement"]
    assert f"accuracy drop <= {drop:g} point" in doc and f"agreement >= {agree:g}" in doc
    measured = json.loads((ROOT / "bench" / "results" / "check_defaults.json").read_text())
    assert markdown(measured["datasets"]) in doc
    rows = [r for splits in measured["datasets"].values() for s in splits.values() for r in s]
    assert any(r["padded"] for r in rows) and any(r["precision"] != "float32" for r in rows)
    for r in rows:
        assert bool(r["defaults_broken"]) == r["padded"], r
