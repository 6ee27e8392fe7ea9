"""Target configs: validation, JSON round trips, the target syntax, and the coverage guard."""

from __future__ import annotations

import json

import pytest

from edgegru.targets import TARGETS, TargetSpec, load_transports
from edgegru.targets.config import Budgets, RunConfig
from tests.conftest import ROOT


def test_run_config_round_trip_and_runner_args():
    cfg = RunConfig(threads=2, delegate="builtin", api="interpreter", warmup=3, runs=9, cpus=(2, 3))
    assert RunConfig.from_json(json.loads(json.dumps(cfg.to_json()))) == cfg
    assert cfg.runner_args()[-2:] == ["--cpus", "2,3"]


@pytest.mark.parametrize(
    "bad", [{"threads": 0}, {"delegate": "gpu"}, {"api": "x"}, {"runs": 0}, {"cpus": (-1,)}]
)
def test_run_config_refuses(bad):
    with pytest.raises(ValueError, match=r"must|cpus"):
        RunConfig(**bad)


def test_budgets_round_trip_and_refusals():
    b = Budgets(max_accuracy_drop=1.0, min_agreement=0.99, max_latency_us=500)
    assert Budgets.from_json(json.loads(json.dumps(b.to_json()))) == b
    with pytest.raises(ValueError, match=r"fraction in \[0, 1\]"):
        Budgets(min_agreement=1.5)
    with pytest.raises(ValueError, match="max_size_kb must be a number >= 0"):
        Budgets(max_size_kb=-1)


def test_target_syntax():
    s = TargetSpec.parse("ssh://pi@raspberrypi:2222?python=/opt/venv/bin/python")
    assert (s.scheme, s.rest, s.options) == ("ssh", "pi@raspberrypi:2222",
                                             {"python": "/opt/venv/bin/python"})  # fmt: skip
    assert TargetSpec.parse("qemu-aarch64:pi5").rest == "pi5"
    assert TargetSpec.parse("adb").rest == ""


# docs/extending.md: a registered target without a test fails here.
COVERED = {
    "local": "test_local.py",
    "ssh": "test_ssh.py",
    "qemu-aarch64": "test_qemu.py",
    "adb": "test_adb_mock_no_device.py",
    "tflm": "test_tflm.py",
}


def test_every_target_has_a_test():
    load_transports()
    assert set(TARGETS.names()) == set(COVERED)
    for name, test in COVERED.items():
        assert (ROOT / "tests" / "targets" / test).is_file(), name
