"""adb target WITHOUT A DEVICE: command construction and parsing against recorded real outputs
of benchmark_model and onnxruntime_perf_test (tests/targets/data/SOURCES.md says where each
came from), and the whole push-run-remove path against a fake ``adb`` that replays them.
A real phone is never touched here; docs/targets.md says how to run it on one."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from edgegru.errors import BadInput
from edgegru.targets import make_target
from edgegru.targets.adb import AdbTarget
from edgegru.targets.adb_parse import parse_benchmark_model, parse_perf_test
from edgegru.targets.base import TargetError
from edgegru.targets.config import RunConfig

DATA = Path(__file__).parent / "data"


def test_parse_benchmark_model_newer_output_mock_no_device():
    r = parse_benchmark_model((DATA / "benchmark_model_am62x_cpu.txt").read_text())
    assert r["init_us"] == 5579 and r["first_inference_us"] == 1357602
    lat = r["latency_us"]
    # the timed line, not the warm-up line (count=1); 1.24027e+06 parses as a float
    assert lat["count"] == 50 and lat["mean"] == pytest.approx(1.24027e6)
    assert (lat["min"], lat["max"], lat["std"], lat["p50"]) == (1238588, 1252566, 2565, 1239807)
    assert r["peak_rss_kb"] == pytest.approx(109.832 * 1024)


def test_parse_benchmark_model_android_output_mock_no_device():
    r = parse_benchmark_model((DATA / "benchmark_model_android_mi11.txt").read_text())
    assert r["latency_us"]["mean"] == 159413 and r["latency_us"]["p50"] is None
    assert r["init_us"] == 1829 and r["warmup_avg_us"] == 184951
    with pytest.raises(BadInput, match=r"printed no timings: Benchmarking failed\."):
        parse_benchmark_model((DATA / "benchmark_model_android_mi11_failed.txt").read_text())


def test_parse_perf_test_mock_no_device():
    r = parse_perf_test((DATA / "perf_test_acl_android.txt").read_text())
    assert r["init_us"] == pytest.approx(127918)
    assert r["latency_us"]["mean"] == pytest.approx(144871) and r["latency_us"]["count"] == 10
    assert r["peak_rss_kb"] == pytest.approx(158171136 / 1024)
    with pytest.raises(BadInput):
        parse_perf_test("Session creation time cost: 0.1 s\n")


def test_parse_perf_test_percentiles_mock_no_device():
    text = (DATA / "perf_test_percentiles.txt").read_text()
    text = text.replace("Average time cost", "Average inference time cost")
    lat = parse_perf_test(text)["latency_us"]
    assert lat["p50"] == pytest.approx(58710.8) and lat["p99"] == pytest.approx(61951.7)
    assert lat["min"] == pytest.approx(55977.7) and lat["max"] == pytest.approx(62347.2)


def test_command_construction_mock_no_device():
    cfg = RunConfig(threads=4, warmup=5, runs=100, cpus=(4, 5, 6, 7))
    meta = {"inputs": [], "details": {"signature": "serving_default"}}
    argv = AdbTarget.tool_command(
        "/data/local/tmp/benchmark_model", "tflite", "/d/m.tflite", meta, cfg
    )
    assert argv == ["taskset", "f0", "/data/local/tmp/benchmark_model", "--graph=/d/m.tflite",
                    "--num_threads=4", "--warmup_runs=5", "--num_runs=100", "--use_xnnpack=true",
                    "--signature_to_run_for=serving_default"]  # fmt: skip
    meta = {"inputs": [{"shape": ["batch", "time", 6]}], "details": {}}
    argv = AdbTarget.tool_command("pt", "onnx", "/d/m.onnx", meta, RunConfig(runs=7))
    assert argv == ["pt", "-e", "cpu", "-m", "times", "-r", "7", "-x", "1", "-I", "-s",
                    "-f", "batch:1", "-f", "time:50", "/d/m.onnx"]  # fmt: skip


FAKE_ADB = """#!/bin/sh
# A stand-in for adb: logs each call, answers like a phone would, replays recorded outputs.
for a in "$@"; do printf '%s\t' "$a"; done >> "$LOG"; echo >> "$LOG"
[ "$1" = "-s" ] && shift 2
case "$1" in
  push) exit 0 ;;
  shell)
    case "$2" in
      *mktemp*) echo /data/local/tmp/edgegru.AbCd1234 ;;
      *getprop*) echo "Pixel 7" ;;
      *benchmark_model\\ --graph*) cat "$REPLAY" ;;
      *onnxruntime_perf_test\\ -e*) cat "$REPLAY" ;;
    esac ;;
esac
exit 0
"""


@pytest.fixture
def fake_adb(tmp_path, monkeypatch):
    adb = tmp_path / "adb"
    adb.write_text(FAKE_ADB)
    adb.chmod(0o755)
    monkeypatch.setenv("LOG", str(tmp_path / "log"))
    return adb


def test_full_run_against_a_fake_adb_mock_no_device(fake_adb, tmp_path, monkeypatch):
    monkeypatch.setenv("REPLAY", str(DATA / "benchmark_model_android_mi11.txt"))
    model = tmp_path / "my model.tflite"
    model.write_bytes(b"TFL3")
    manifest = tmp_path / "my model.tflite.json"
    manifest.write_text(json.dumps({"format": "tflite", "form": "sequence", "inputs": [],
                                    "details": {"signature": "serving_default"}}))  # fmt: skip
    target = make_target(f"adb:R58M123?adb={fake_adb}")
    with target:
        r = target.run(model, manifest, tmp_path / "unused.npz", RunConfig(runs=50))
    assert r["outputs"] is None and r["latency_us"]["mean"] == 159413
    assert r["device"]["device_model"] == "Pixel 7" and r["api"] == "benchmark_model"
    calls = [
        line.rstrip("\t").split("\t") for line in Path(os.environ["LOG"]).read_text().splitlines()
    ]
    assert all(c[:2] == ["-s", "R58M123"] for c in calls)
    assert ["push", str(model), "/data/local/tmp/edgegru.AbCd1234/model.tflite"] == calls[1][2:]
    assert calls[-2][2:] == ["shell", "rm -rf /data/local/tmp/edgegru.AbCd1234"]  # removed


def test_missing_tool_and_missing_adb_mock_no_device(fake_adb, tmp_path):
    # the phone has no onnxruntime_perf_test: `test -x PATH` fails
    fake_adb.write_text(FAKE_ADB.replace('case "$2" in', 'case "$2" in\n      test*) exit 1 ;;'))
    model = tmp_path / "m.onnx"
    model.write_bytes(b"x")
    manifest = tmp_path / "m.onnx.json"
    manifest.write_text(json.dumps({"format": "onnx", "form": "step", "inputs": []}))
    with (
        make_target(f"adb?adb={fake_adb}") as target,
        pytest.raises(TargetError, match="onnxruntime_perf_test is missing on the phone"),
    ):
        target.run(model, manifest, tmp_path / "d.npz", RunConfig())
    with pytest.raises(TargetError, match="not found: install Android platform-tools"):
        make_target("adb?adb=/nonexistent/adb").__enter__()
