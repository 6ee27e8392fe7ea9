"""``qemu-aarch64[:pi4|pi5]``: the runner in an emulated Raspberry Pi userland (qemu-user).

Results are real aarch64 runtime results (the same wheels a Pi installs); timings are emulated
and mean nothing, and the report says so. Build the userland once with
``edgegru targets setup qemu-aarch64`` (see ``qemu_rootfs``).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import Any

from edgegru.targets.base import RunnerTarget, TargetError
from edgegru.targets.config import RunConfig
from edgegru.targets.qemu_rootfs import BOARDS, cache_dir, is_ready
from edgegru.targets.registry import TARGETS, TargetSpec

EMULATED_NOTE = "emulated by qemu-user: outputs are real aarch64 results, timings are meaningless"


class QemuTarget(RunnerTarget):
    emulated = True

    def __init__(self, board: str = "pi4", cache: Path | None = None) -> None:
        super().__init__()
        if board not in BOARDS:
            raise TargetError(f"qemu-aarch64:{board}: unknown board (known: {', '.join(BOARDS)})")
        cache = cache or cache_dir()
        if not is_ready(cache):
            raise TargetError(
                f"qemu-aarch64: no emulated userland in {cache}: "
                "run `edgegru targets setup qemu-aarch64` once"
            )
        qemu = shutil.which("qemu-aarch64-static") or shutil.which("qemu-aarch64")
        if qemu is None:
            raise TargetError("qemu-aarch64 is not installed: apt-get install qemu-user-static")
        self.board = BOARDS[board]
        prefix = cache / board
        self.name = f"qemu-aarch64:{board}"
        self.python = [
            qemu,
            "-cpu",
            self.board.cpu,
            "-L",
            str(prefix),
            str(prefix / "usr" / "bin" / "python3"),
        ]

    def mkdtemp(self) -> str:
        # Files must sit at paths the rootfs lacks (qemu -L looks there first): a fresh /tmp name.
        return tempfile.mkdtemp(prefix="edgegru-qemu-", dir="/tmp")

    def put(self, local: Path, remote: str) -> None:
        shutil.copyfile(local, remote)

    def execute(self, argv: list[str], timeout: float) -> subprocess.CompletedProcess:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "VIRTUAL_ENV"))}
        env |= {"PYTHONPATH": "/opt/site", "PYTHONDONTWRITEBYTECODE": "1", "PYTHONNOUSERSITE": "1"}
        return subprocess.run(
            argv, capture_output=True, text=True, timeout=timeout, env=env, check=False
        )

    def remove(self, remote: str) -> None:
        shutil.rmtree(remote, ignore_errors=True)

    def run_many(
        self, jobs: list[tuple[Path, Path]], data: Path, cfg: RunConfig
    ) -> list[dict[str, Any] | TargetError]:
        results = super().run_many(jobs, data, cfg)
        for result in results:
            if isinstance(result, TargetError):
                continue
            # The host's cpufreq and thermal files show through the emulation: not the board's.
            for key in ("governor", "cpu_freq_khz", "temperature_c", "throttling"):
                result["device"][key] = None
            result["device"]["qemu_cpu"] = self.board.cpu
            result["emulated"] = True
            result["notes"] = [
                EMULATED_NOTE,
                *result.get("notes", []),
                "peak RSS includes qemu's own memory",
            ]
        return results


@TARGETS.register("qemu-aarch64")
def make(spec: TargetSpec) -> QemuTarget:
    cache = spec.options.get("cache")
    return QemuTarget(spec.rest or "pi4", Path(cache) if cache else None)
