"""``adb[:serial]``: an Android phone. Android has no Python, so this transport pushes the
artifact and runs the runtime's own benchmark tool, which the user pushes once:

- ``.tflite``: TFLite's ``benchmark_model`` (``?benchmark_model=PATH`` on the device, default
  /data/local/tmp/benchmark_model);
- ``.onnx`` / ``.ort``: ``onnxruntime_perf_test`` (``?perf_test=PATH``, default
  /data/local/tmp/onnxruntime_perf_test).

Both feed random inputs: the result has timings and memory but no model outputs, so accuracy
and agreement are not checked on a phone (the check says so). ``?adb=PATH`` names the adb
binary. docs/targets.md has the steps.
"""

from __future__ import annotations

import json
import shlex
import shutil
import subprocess
from pathlib import Path
from typing import Any

from edgegru.targets.adb_parse import parse_benchmark_model, parse_perf_test
from edgegru.targets.base import Target, TargetError
from edgegru.targets.config import RunConfig
from edgegru.targets.registry import TARGETS, TargetSpec

DEVICE_TMP = "/data/local/tmp"


class AdbTarget(Target):
    has_outputs = False

    def __init__(
        self,
        serial: str = "",
        *,
        adb: str = "adb",
        benchmark_model: str = f"{DEVICE_TMP}/benchmark_model",
        perf_test: str = f"{DEVICE_TMP}/onnxruntime_perf_test",
    ) -> None:
        self.serial, self.adb = serial, adb
        self.benchmark_model, self.perf_test = benchmark_model, perf_test
        self.name = f"adb:{serial}" if serial else "adb"
        self.remote_dirs: list[str] = []

    def base(self) -> list[str]:
        return [self.adb, *(["-s", self.serial] if self.serial else [])]

    def shell(self, command: list[str], timeout: float) -> subprocess.CompletedProcess:
        # adb shell joins its arguments with spaces for the device's sh: quote each one.
        return self._adb(["shell", shlex.join(command)], timeout)

    def _adb(self, args: list[str], timeout: float) -> subprocess.CompletedProcess:
        try:
            proc = subprocess.run(
                [*self.base(), *args], capture_output=True, text=True, timeout=timeout, check=False
            )
        except FileNotFoundError:
            raise TargetError(
                f"{self.name}: {self.adb} not found: install Android platform-tools "
                "or name it with ?adb=PATH"
            ) from None
        except subprocess.TimeoutExpired:
            raise TargetError(f"{self.name}: adb gave no answer within {timeout:.0f} s") from None
        if proc.returncode != 0 and ("no devices" in proc.stderr or "not found" in proc.stderr):
            raise TargetError(
                f"{self.name}: {proc.stderr.strip().splitlines()[-1]}: connect the "
                "phone with USB debugging on (adb devices lists it)"
            )
        return proc

    def __enter__(self) -> AdbTarget:
        if shutil.which(self.adb) is None and not Path(self.adb).is_file():
            raise TargetError(
                f"{self.name}: {self.adb} not found: install Android platform-tools "
                "or name it with ?adb=PATH"
            )
        return self

    @staticmethod
    def tool_command(
        tool: str, fmt: str, remote_model: str, manifest: dict[str, Any], cfg: RunConfig
    ) -> list[str]:
        """The benchmark command line for one artifact (tested without a device)."""
        if fmt == "tflite":
            xnnpack = "false" if cfg.delegate in ("builtin", "reference") else "true"
            argv = [
                tool,
                f"--graph={remote_model}",
                f"--num_threads={cfg.threads}",
                f"--warmup_runs={cfg.warmup}",
                f"--num_runs={cfg.runs}",
                f"--use_xnnpack={xnnpack}",
            ]
            signature = manifest.get("details", {}).get("signature")
            if signature:
                argv.append(f"--signature_to_run_for={signature}")
        else:
            # -I: generated inputs; -f fixes the dynamic axes to one batch-1 call.
            argv = [
                tool,
                "-e",
                "cpu",
                "-m",
                "times",
                "-r",
                str(cfg.runs),
                "-x",
                str(cfg.threads),
                "-I",
                "-s",
            ]
            dims = {d for t in manifest.get("inputs", []) for d in t["shape"] if isinstance(d, str)}
            T = manifest.get("details", {}).get("seq_len", 50)
            for d in sorted(dims):
                argv += ["-f", f"{d}:{1 if d == 'batch' else T}"]
            argv.append(remote_model)
        if cfg.cpus:
            mask = sum(1 << c for c in cfg.cpus)
            argv = ["taskset", f"{mask:x}", *argv]
        return argv

    def run(self, model: Path, manifest: Path, data: Path, cfg: RunConfig) -> dict[str, Any]:
        meta = json.loads(manifest.read_text())
        fmt = meta["format"]
        tool = self.benchmark_model if fmt == "tflite" else self.perf_test
        proc = self.shell(["mktemp", "-d", f"{DEVICE_TMP}/edgegru.XXXXXXXX"], 30)
        folder = proc.stdout.strip()
        if proc.returncode != 0 or not folder.startswith(f"{DEVICE_TMP}/edgegru."):
            raise TargetError(f"{self.name}: cannot make a temp folder: {proc.stderr.strip()}")
        self.remote_dirs.append(folder)
        try:
            # A plain name on the device: benchmark tools take --graph=PATH without quoting.
            remote = f"{folder}/model.{fmt}"
            push = self._adb(["push", str(model), remote], 300)
            if push.returncode != 0:
                raise TargetError(f"{self.name}: adb push failed: {push.stderr.strip()}")
            if self.shell(["test", "-x", tool], 30).returncode != 0:
                what = "benchmark_model" if fmt == "tflite" else "onnxruntime_perf_test"
                key = "benchmark_model" if fmt == "tflite" else "perf_test"
                raise TargetError(
                    f"{self.name}: {tool} is missing on the phone: adb push the "
                    f"Android {what} there (or name it with ?{key}=PATH)"
                )
            out = self.shell(self.tool_command(tool, fmt, remote, meta, cfg), cfg.timeout_s)
            text = out.stdout + "\n" + out.stderr
            try:
                parsed = parse_benchmark_model(text) if fmt == "tflite" else parse_perf_test(text)
            except ValueError as e:
                raise TargetError(f"{self.name}: {e}") from None
        finally:
            self.shell(["rm", "-rf", folder], 60)
        model_name = self.shell(["getprop", "ro.product.model"], 30).stdout.strip() or None
        return {
            "ok": True,
            "format": fmt,
            "form": meta["form"],
            "api": Path(tool).name,
            "threads": cfg.threads,
            "delegate": cfg.delegate,
            "outputs": None,
            "versions": {},
            "device": {"device_model": model_name, "system": "Android"},
            "notes": [
                f"{Path(tool).name} feeds random inputs: no device outputs, accuracy "
                "not checked on this target"
            ],
            **parsed,
        }


@TARGETS.register("adb")
def make(spec: TargetSpec) -> AdbTarget:
    o = spec.options
    return AdbTarget(
        spec.rest,
        adb=o.get("adb", "adb"),
        benchmark_model=o.get("benchmark_model", f"{DEVICE_TMP}/benchmark_model"),
        perf_test=o.get("perf_test", f"{DEVICE_TMP}/onnxruntime_perf_test"),
    )
