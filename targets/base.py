"""What every transport shares: the Target interface and, for the transports that run the Python
runner (local, ssh, qemu), copying it with the artifacts and data to a fresh temporary folder on
the device, running every artifact in one runner session, reading one JSON result per artifact
and removing the folder in ``finally``."""

from __future__ import annotations

import abc
import json
import subprocess
from importlib import resources
from pathlib import Path
from typing import Any

from edgegru.errors import BadInput
from edgegru.targets.config import RunConfig
from edgegru.types import Artifact

MARKER = "EDGEGRU-RESULT "

# What to install on the device when the runner cannot import a module.
FIXES = {
    "numpy": "pip install numpy on the device",
    "onnxruntime": "pip install onnxruntime on the device",
    "ai_edge_litert": "pip install ai-edge-litert on the device (tflite-runtime on older Pis)",
    "tflite_micro": "pip install --pre tflite-micro (make setup installs it: the micro extra)",
}


class TargetError(BadInput):
    """The device could not be used: the message names the cause and the fix (exit code 2)."""


def runner_source() -> bytes:
    """The runner file as shipped in the package (package data)."""
    return resources.files("edgegru.targets").joinpath("runner.py").read_bytes()


class Target(abc.ABC):
    """A device. Use as a context manager: a connection opened on enter serves every run."""

    name: str = ""
    emulated: bool = False  # timings mean nothing (qemu)
    has_outputs: bool = True  # the device returns model outputs (adb's benchmark tools do not)

    def __enter__(self) -> Target:
        return self

    def __exit__(self, *exc: object) -> None:
        return None

    @abc.abstractmethod
    def run(self, model: Path, manifest: Path, data: Path, cfg: RunConfig) -> dict[str, Any]:
        """Run one artifact; returns the runner's JSON (see targets/runner.py)."""

    def run_many(
        self, jobs: list[tuple[Path, Path]], data: Path, cfg: RunConfig
    ) -> list[dict[str, Any] | TargetError]:
        """Every (model, manifest) in one session where the transport can; one result (or the
        error that artifact met) per job, in order. Default: one ``run`` each."""
        out: list[dict[str, Any] | TargetError] = []
        for model, manifest in jobs:
            try:
                out.append(self.run(model, manifest, data, cfg))
            except TargetError as e:
                out.append(e)
        return out
    def accepts(self, artifact: Artifact) -> bool:
        """Whether this target runs such a file at all (a check skips the others, e.g. the
        C++ sources of a c-array export)."""
        return artifact.format in ("onnx", "ort", "tflite")


class RunnerTarget(Target):
    """A device that runs ``runner.py`` with a Python: subclasses give four primitives."""

    python: list[str]

    def __init__(self) -> None:
        self.remote_dirs: list[str] = []  # every folder made on the device (tests check removal)

    @abc.abstractmethod
    def mkdtemp(self) -> str: ...

    @abc.abstractmethod
    def put(self, local: Path, remote: str) -> None: ...

    @abc.abstractmethod
    def execute(self, argv: list[str], timeout: float) -> subprocess.CompletedProcess: ...

    @abc.abstractmethod
    def remove(self, remote: str) -> None: ...

    def runner_extra_args(self) -> list[str]:
        """Runner options this transport adds to every run (e.g. the runtime)."""
        return []

    def join(self, folder: str, name: str) -> str:
        return f"{folder.rstrip('/')}/{name}"

    def run(self, model: Path, manifest: Path, data: Path, cfg: RunConfig) -> dict[str, Any]:
        (result,) = self.run_many([(model, manifest)], data, cfg)
        if isinstance(result, TargetError):
            raise result
        return result

    def run_many(
        self, jobs: list[tuple[Path, Path]], data: Path, cfg: RunConfig
    ) -> list[dict[str, Any] | TargetError]:
        """One runner session for every job: one Python start, numpy and the runtime imported
        once (under qemu that start is most of a file's time), each file loaded fresh."""
        folder = self.mkdtemp()
        self.remote_dirs.append(folder)
        try:
            runner = self.join(folder, "runner.py")
            self.put_bytes(runner_source(), runner)
            # Each job in its own subfolder: two artifacts may share a name. The artifact keeps
            # its own name (spaces, quotes, ';' and all): quoting is tested.
            remote_data = self.join(folder, data.name)
            self.put(data, remote_data)
            paths = []
            for i, (model, manifest) in enumerate(jobs):
                sub = self.join(folder, str(i))
                self.mkdir(sub)
                pair = [self.join(sub, model.name), self.join(sub, manifest.name)]
                self.put(model, pair[0])
                self.put(manifest, pair[1])
                paths.append(pair)
            first, *more = paths
            argv = [*self.python, runner, first[0], first[1], remote_data]
            for pair in more:
                argv += ["--more", *pair]
            timeout = cfg.timeout_s * len(jobs)
            try:
                proc = self.execute([*argv, *cfg.runner_args(), *self.runner_extra_args()], timeout)
            except subprocess.TimeoutExpired:
                raise TargetError(
                    f"{self.name}: the run did not finish within {timeout:.0f} s "
                    "(fewer --runs, or a smaller --limit of validation rows)"
                ) from None
            return parse_results(self.name, proc, [m for m, _ in jobs], self.python[-1])
        finally:
            self.remove(folder)

    def mkdir(self, remote: str) -> None:
        Path(remote).mkdir()

    def put_bytes(self, data: bytes, remote: str) -> None:
        import tempfile

        with tempfile.NamedTemporaryFile(suffix=".py") as f:
            f.write(data)
            f.flush()
            self.put(Path(f.name), remote)



def parse_results(
    name: str, proc: subprocess.CompletedProcess, models: list[Path], python: str
) -> list[dict[str, Any] | TargetError]:
    """One result per model: the runner's JSON, or a TargetError that says what went wrong and
    how to fix it (an error before any artifact ran is raised)."""
    lines = [ln for ln in (proc.stdout or "").splitlines() if ln.startswith(MARKER)]
    if not lines:
        err = (proc.stderr or "").strip().splitlines()
        last = err[-1] if err else f"exit code {proc.returncode}"
        if proc.returncode == 127 or "not found" in last or "No such file" in last:
            raise TargetError(
                f"{name}: cannot start {python} ({last}): install Python 3 on the device "
                "or name one with ?python=PATH"
            )
        raise TargetError(f"{name}: the runner failed without a result: {last}")
    results = [json.loads(ln[len(MARKER) :]) for ln in lines]
    if "job" not in results[0]:  # failed before the first artifact: the same for every one
        raise _explain(name, results[0], models[0])
    by_job = {r["job"]: r for r in results}
    out: list[dict[str, Any] | TargetError] = []
    for i, model in enumerate(models):
        r = by_job.get(i)
        if r is None:
            err = (proc.stderr or "").strip().splitlines()
            why = err[-1] if err else f"exit code {proc.returncode}"
            out.append(TargetError(f"{name}: {model.name}: the runner stopped before it ({why})"))
        elif r.get("ok"):
            out.append(r)
        else:
            out.append(_explain(name, r, model))
    return out


def _explain(name: str, result: dict[str, Any], model: Path) -> TargetError:
    error = result.get("error", {})
    kind, message = error.get("kind"), error.get("message", "")
    if kind == "missing_runtime":
        fix = FIXES.get(error.get("module") or "", "install the runtime on the device")
        return TargetError(f"{name}: runtime missing on the device ({message}): {fix}")
    if kind == "unsupported_ops":
        from edgegru.targets.tflm import LOWERED_FIX

        return TargetError(
            f"{name}: {model.name} uses ops TFLite Micro does not support ({message}): "
            f"{LOWERED_FIX}"
        )
    if kind == "load_failed":
        return TargetError(
            f"{name}: {model.name} could not be loaded ({message}): is the file complete? "
            "Re-export it"
        )
    return TargetError(f"{name}: {model.name}: {message}")
