"""All-or-nothing outputs under faults: a full disk, a read-only folder, SIGKILL during export;
and the pipeline started from an existing bundle."""

from __future__ import annotations

import contextlib
import hashlib
import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import assert_one_line_error
from tests.faults import invoke, snapshot


@pytest.fixture(scope="module")
def bundle(tmp_path_factory):
    out = tmp_path_factory.mktemp("b") / "m"
    result = invoke("train", "--dataset", "basicmotions", "--hidden", "8", "--epochs", "2",
                    "-o", out)  # fmt: skip
    assert result.code == 0, result.stderr
    return out


@contextlib.contextmanager
def small_fs(path: Path, options: str):
    """A tmpfs at ``path`` (root only); the test is skipped where mounting is not permitted."""
    path.mkdir(parents=True, exist_ok=True)
    proc = subprocess.run(["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(path)],
                          capture_output=True, text=True, check=False)  # fmt: skip
    if proc.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here ({proc.stderr.strip() or 'not root'})")
    try:
        yield path
    finally:
        subprocess.run(["umount", str(path)], check=False)


def test_full_disk_leaves_no_new_file(bundle, tmp_path):
    with small_fs(tmp_path / "fs", "size=24k") as fs:
        (fs / "earlier.txt").write_text("an earlier result\n")
        before = snapshot(fs)
        args = ["--format", "onnx", "--format", "tflite"]
        result = invoke("export", bundle, *args, "-o", fs / "exp")
        assert result.code == 2 and not result.traceback, result.stderr
        assert "No space left" in result.stderr and len(result.stderr.splitlines()) == 1
        assert snapshot(fs) == before  # not one of the files written before the disk filled
        result = invoke("quantize", bundle, "--scheme", "dynamic", "-o", fs / "q")
        assert result.code in (0, 2) and not result.traceback, result.stderr
        if result.code == 2:
            assert snapshot(fs) == before


def test_full_disk_pipeline_leaves_only_completed_stages(bundle, tmp_path):
    config = tmp_path / "c.toml"
    config.write_text(f'[data]\ndataset = "basicmotions"\n[train]\nenabled = false\n'
                      f'model = "{bundle}"\n[compress]\nenabled = false\n[quantize]\n'
                      'schemes = ["dynamic"]\n[export]\nformats = ["onnx", "tflite"]\n'
                      '[check]\nemulated = "off"\nlimit = 4\nruns = 2\nwarmup = 0\n')  # fmt: skip
    with small_fs(tmp_path / "fs", "size=48k") as fs:
        result = invoke("pipeline", config, "-o", fs / "run")
        assert result.code == 2 and not result.traceback, result.stderr
        assert "No space left" in result.stderr.strip().splitlines()[-1]
        for stage in (fs / "run").iterdir():
            assert not stage.name.startswith("."), f"temp folder {stage.name} left behind"
            if stage.is_dir():  # every stage folder there is complete
                manifest = json.loads((stage / "stage.json").read_text())
                for rel, digest in manifest["files"].items():
                    assert hashlib.sha256((stage / rel).read_bytes()).hexdigest() == digest


def test_read_only_output(bundle, tmp_path):
    with small_fs(tmp_path / "ro", "ro,size=64k") as ro:
        for args in (("export", bundle, "-o", ro / "exp"),
                     ("quantize", bundle, "--scheme", "dynamic", "-o", ro / "q"),
                     ("pipeline", "-o", ro / "run"),
                     ("import", bundle / "model.safetensors", "-o", ro / "imp")):  # fmt: skip
            result = invoke(*args)
            assert result.code == 2 and not result.traceback, (args, result.stderr)
            assert len(result.stderr.strip().splitlines()) == 1, result.stderr
    below_a_file = tmp_path / "file"
    below_a_file.write_text("x")
    for cmd in (("export", bundle), ("pipeline",), ("quantize", bundle, "--scheme", "dynamic")):
        assert_one_line_error(_as_proc(invoke(*cmd, "-o", below_a_file / "out")), "file")


def _as_proc(out):
    return subprocess.CompletedProcess([], out.code, "", out.stderr)


def test_kill_during_export_leaves_the_old_files_or_the_new(bundle, tmp_path):
    """SIGKILL at several moments of a real export into a folder holding an earlier export: the
    folder always holds one complete set (every file matching its manifest); the next export
    sweeps the killed one's temp folder."""
    out = tmp_path / "exp"
    args = [sys.executable, "-m", "edgegru", "export", str(bundle), "--format", "onnx",
            "--format", "tflite", "-o", str(out)]  # fmt: skip
    assert subprocess.run(args, capture_output=True, check=False).returncode == 0
    complete = snapshot(out)
    mid_export = 0
    for delay in (0.0, 0.05, 0.2, 0.5, 1.0):
        proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 60
        while not list(tmp_path.glob(".exp.tmp-*")) and time.monotonic() < deadline:
            if proc.poll() is not None:
                break
            time.sleep(0.005)
        time.sleep(delay)
        mid_export += bool(list(tmp_path.glob(".exp.tmp-*"))) and proc.poll() is None
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        assert snapshot(out).keys() == complete.keys()
        for manifest in out.glob("*.json"):
            digest = json.loads(manifest.read_text())["sha256"]
            model = manifest.with_suffix("")
            assert hashlib.sha256(model.read_bytes()).hexdigest() == digest, model
    assert mid_export >= 3, f"only {mid_export} kills landed while the export was writing"
    assert subprocess.run(args, capture_output=True, check=False).returncode == 0
    assert not list(tmp_path.glob(".exp.tmp-*"))


def test_a_killed_checks_temp_folders_are_swept(bundle, tmp_path):
    """A check killed with SIGKILL leaves its folders in the system temp dir; the next check
    removes those whose process is gone (and never another live run's)."""
    import os
    import tempfile

    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    root = Path(tempfile.gettempdir())
    stale = [root / f"edgegru-{k}-{dead.pid}-test" for k in ("check", "run")]
    live = root / f"edgegru-check-{os.getpid()}-test"
    for p in (*stale, live):
        p.mkdir(exist_ok=True)
    exported = tmp_path / "exp"
    assert invoke("export", bundle, "--no-streaming", "-o", exported).code == 0
    result = invoke("check", exported / "model.onnx", "--dataset", "basicmotions", "--runs", "1",
                    "--warmup", "0", "--limit", "2")  # fmt: skip
    assert result.code == 0, result.stderr
    assert not any(p.exists() for p in stale) and live.is_dir()
    live.rmdir()


def test_pipeline_starts_from_a_bundle(bundle, tmp_path):
    """[train] enabled = false + model: every later stage runs on that bundle; a missing or
    corrupt bundle is one line before anything is written."""
    text = (f'[data]\ndataset = "basicmotions"\n[train]\nenabled = false\nmodel = "{bundle}"\n'
            '[compress]\nenabled = false\n[quantize]\nschemes = ["dynamic"]\n[export]\n'
            'formats = ["onnx"]\nforms = ["sequence"]\n[check]\nemulated = "off"\nlimit = 8\n'
            'runs = 2\nwarmup = 0\n[report]\nplots = false\n')  # fmt: skip
    config = tmp_path / "c.toml"
    config.write_text(text)
    run = tmp_path / "run"
    result = invoke("pipeline", config, "-o", run, "--json")
    assert result.code == 0, result.stderr
    assert (run / "train" / "model.safetensors").read_bytes() == (
        bundle / "model.safetensors"
    ).read_bytes()
    for stage in ("quantize", "export", "check"):
        assert (run / stage / "stage.json").is_file(), stage
    rows = json.loads((run / "check" / "stage.json").read_text())["outputs"]["rows"]
    assert {r["file"] for r in rows} == {"model.onnx", "dynamic/model.dynint8.onnx"}
    before = snapshot(run)
    for model in (tmp_path / "missing", tmp_path / "corrupt"):
        if model.name == "corrupt":
            import shutil

            shutil.copytree(bundle, model)
            (model / "model.safetensors").write_bytes(b"\0" * 16)
        config.write_text(text.replace(str(bundle), str(model)))
        result = invoke("pipeline", config, "-o", run)
        assert result.code == 2 and len(result.stderr.strip().splitlines()) == 1, result.stderr
        assert str(model) in result.stderr
        assert snapshot(run) == before
