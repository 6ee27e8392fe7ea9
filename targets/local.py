"""``local``: this machine, the runner in a subprocess of this Python (or ``?python=CMD``)."""

from __future__ import annotations

import shlex
import shutil
import subprocess
import sys
from pathlib import Path

from edgegru.io import new_temp_dir
from edgegru.targets.base import RunnerTarget
from edgegru.targets.registry import TARGETS, TargetSpec


class LocalTarget(RunnerTarget):
    def __init__(self, python: list[str] | None = None, name: str = "local") -> None:
        super().__init__()
        self.python = python or [sys.executable]
        self.name = name

    def mkdtemp(self) -> str:
        return new_temp_dir("run")  # removed by remove(); a killed run's, by the next run

    def put(self, local: Path, remote: str) -> None:
        shutil.copyfile(local, remote)

    def execute(self, argv: list[str], timeout: float) -> subprocess.CompletedProcess:
        # An argument list, no shell: names with spaces or quotes pass as they are.
        try:
            return subprocess.run(
                argv, capture_output=True, text=True, timeout=timeout, check=False
            )
        except (FileNotFoundError, PermissionError) as e:  # as a shell would report it
            return subprocess.CompletedProcess(argv, 127, "", f"{argv[0]}: not found ({e})")

    def remove(self, remote: str) -> None:
        shutil.rmtree(remote, ignore_errors=True)


@TARGETS.register("local")
def make(spec: TargetSpec) -> LocalTarget:
    python = spec.options.get("python")
    return LocalTarget(shlex.split(python) if python else None)
