"""qemu-aarch64 (pi4: cortex-a72, pi5: cortex-a76): every artifact kind in the emulated Pi
userland, outputs against the NumPy reference. CI builds the userland first
(`edgegru targets setup qemu-aarch64` in .ci/run); elsewhere these skip until it is built.

Tolerance 1e-5 as on x86: the aarch64 kernels are other float32 code paths (NEON), still
rounding-level apart from the float64 reference.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

from edgegru.targets import make_target
from edgegru.targets.base import TargetError
from edgegru.targets.config import RunConfig
from edgegru.targets.qemu_rootfs import BOARDS, cpuinfo, is_ready

CFG = RunConfig(warmup=1, runs=3, timeout_s=600)


def ready() -> None:
    if not is_ready():
        if os.environ.get("CI"):
            pytest.fail("CI must build the userland: edgegru targets setup qemu-aarch64")
        pytest.skip("no emulated userland: edgegru targets setup qemu-aarch64")


def test_fake_cpuinfo_names_the_board():
    text = cpuinfo(BOARDS["pi5"])
    assert "CPU part\t: 0xd0b" in text and "Raspberry Pi 5" in text
    assert text.count("processor\t:") == 4
    assert " atomics " in text and " atomics " not in cpuinfo(BOARDS["pi4"])


@pytest.mark.slow
@pytest.mark.parametrize("board", ["pi4", "pi5"])
def test_every_kind_on_the_emulated_pi(built, board):
    ready()
    target = make_target(f"qemu-aarch64:{board}")
    jobs = [(path, path.with_name(path.name + ".json")) for path in built.files.values()]
    with target:  # one emulated runner session for every file
        results = target.run_many(jobs, built.data, CFG)
        assert len(target.remote_dirs) == 1
        for ((fmt, form), _), r in zip(built.files.items(), results, strict=True):
            lat = r["latency_us"]
            assert lat["invoke"]["count"] == lat["call"]["count"] == 3, (fmt, form)
            assert lat["window_invoke"]["p50"] > 0 and lat["window_call"]["p50"] > 0
            assert np.abs(np.array(r["outputs"]) - built.expected(fmt, form)).max() < 1e-5, (
                fmt,
                form,
            )
            assert r["device"]["machine"] == "aarch64" and r["emulated"]
            assert r["device"]["cpu_model"] == {"pi4": "Cortex-A72", "pi5": "Cortex-A76"}[board]
            assert "Raspberry Pi" in r["device"]["device_model"]
            assert "timings are meaningless" in r["notes"][0]
            if fmt == "tflite":
                # the Pi 4's A72 has no LSE atomics, which LiteRT 2.3's CompiledModel aborts on
                api = "Interpreter" if board == "pi4" else "CompiledModel"
                assert r["api"].startswith(api), r["api"]
                assert (board == "pi4") == any("LSE atomics" in n for n in r["notes"])
    assert not any(Path(d).exists() for d in target.remote_dirs)


@pytest.mark.slow
def test_check_on_both_boards_one_table(cli, built, tmp_path):
    ready()
    y = np.arange(len(built.X)) % 4
    np.savez(tmp_path / "d.npz", X=built.X, y=y, lengths=built.lengths)
    path = built.files[("onnx", "step")]
    proc = cli("check", str(path), "--target", "qemu-aarch64:pi4", "--target",
               "qemu-aarch64:pi5", "--data", str(tmp_path / "d.npz"), "--test-data",
               str(tmp_path / "d.npz"), "--runs", "3", "--warmup", "0",
               "--max-latency-us", "0.001", timeout=600)  # fmt: skip
    # the latency budget is not applied on an emulated target, so this passes
    assert proc.returncode == 0, proc.stderr
    assert "emulated (qemu-user)" in proc.stdout and "budgets not applied" in proc.stdout
    assert proc.stdout.count("qemu-aarch64:pi") >= 2


def test_unknown_board_and_missing_userland(tmp_path):
    with pytest.raises(TargetError, match="unknown board"):
        make_target("qemu-aarch64:pi9")
    with pytest.raises(TargetError, match="targets setup qemu-aarch64"):
        make_target(f"qemu-aarch64:pi4?cache={tmp_path}")
