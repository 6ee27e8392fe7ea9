"""The ssh target against a real OpenSSH server on 127.0.0.1 (conftest's sshd fixture)."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import numpy as np
import pytest

from edgegru.targets import make_target
from edgegru.targets.base import TargetError
from edgegru.targets.config import RunConfig
from tests.targets.test_local import AWKWARD, copy_as

CFG = RunConfig(warmup=1, runs=10)


def test_every_kind_over_ssh_with_awkward_names_and_no_leftovers(built, sshd, tmp_path):
    target = make_target(sshd.target())
    with target:
        for (fmt, form), src in built.files.items():
            path = copy_as(src, tmp_path / f"{fmt} {form}", AWKWARD.replace(".onnx", src.suffix))
            r = target.run(path, path.with_name(path.name + ".json"), built.data, CFG)
            assert np.abs(np.array(r["outputs"]) - built.expected(fmt, form)).max() < 1e-5, (
                fmt,
                form,
            )
        control = Path(target._control)
        assert control.exists()  # one master connection served every run
    assert len(target.remote_dirs) == len(built.files)
    # The "device" is this machine: its temp folders must be gone.
    assert not any(Path(d).exists() for d in target.remote_dirs)
    assert not control.exists()


def test_one_session_runs_every_kind_with_every_latency_figure(built, sshd, tmp_path):
    """run_many: one runner process for all files (two with the same name), each result with
    the invoke / call / per-window figures."""
    jobs = []
    for (fmt, form), src in built.files.items():
        path = copy_as(src, tmp_path / f"{fmt} {form}", AWKWARD.replace(".onnx", src.suffix))
        jobs.append((path, path.with_name(path.name + ".json")))
    target = make_target(sshd.target())
    with target:
        results = target.run_many(jobs, built.data, CFG)
    assert len(target.remote_dirs) == 1 and not Path(target.remote_dirs[0]).exists()
    for ((fmt, form), _), r in zip(built.files.items(), results, strict=True):
        assert np.abs(np.array(r["outputs"]) - built.expected(fmt, form)).max() < 1e-5
        lat = r["latency_us"]
        assert lat["invoke"]["count"] == lat["call"]["count"] == 10, (fmt, form)
        assert lat["window_invoke"]["p50"] > 0 and lat["window_call"]["p50"] > 0
        if form == "step":
            assert lat["window_invoke"]["p50"] > lat["invoke"]["p50"]


def test_unreachable_host(sshd):
    target = make_target(sshd.target().replace(str(sshd.port), "1", 1))
    with pytest.raises(TargetError, match=r"host is unreachable.*sshd runs"):
        target.__enter__()


def test_refused_key(sshd):
    spec = sshd.target(identity=str(sshd.other_key))
    with pytest.raises(TargetError, match=r"key was refused.*ssh-copy-id"):
        make_target(spec).__enter__()


def test_unknown_host_key(sshd, tmp_path):
    empty = tmp_path / "known_hosts"
    empty.write_text("")
    with pytest.raises(TargetError, match=r"host key is not known.*ssh-keyscan"):
        make_target(sshd.target(known_hosts=str(empty))).__enter__()


def test_missing_runtime_on_the_device(built, sshd, tmp_path):
    site = tmp_path / "site"
    site.mkdir()
    (site / "numpy").symlink_to(np.__path__[0])
    python = f"env PYTHONPATH={site} {sys.executable} -S"
    path = built.files[("onnx", "step")]
    target = make_target(sshd.target(python=python.replace(" ", "%20")))
    with target, pytest.raises(TargetError, match="pip install onnxruntime on the device"):
        target.run(path, path.with_name(path.name + ".json"), built.data, CFG)
    assert not any(Path(d).exists() for d in target.remote_dirs)


def test_missing_python_on_the_device(built, sshd):
    path = built.files[("onnx", "step")]
    target = make_target(sshd.target(python="/nonexistent/python3"))
    with target, pytest.raises(TargetError, match="cannot start /nonexistent/python3"):
        target.run(path, path.with_name(path.name + ".json"), built.data, CFG)


def test_bad_target_strings():
    with pytest.raises(TargetError, match="expected ssh://user@host"):
        make_target("ssh://")
    with pytest.raises(TargetError, match="unknown option"):
        make_target("ssh://pi@host?colour=red")
    assert shutil.which("ssh")
