"""Options of a device run and the budgets of a check (DESIGN.md 8.3: validated dataclasses that
survive a JSON round trip)."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

DELEGATES = ("auto", "xnnpack", "builtin", "reference")
APIS = ("auto", "compiled", "interpreter")


@dataclass
class RunConfig:
    """How the runner runs an artifact on the device.

    ``delegate``: LiteRT CPU kernels (auto = XNNPACK with the in-memory weight cache; builtin =
    TFLite's own kernels; reference = the reference kernels); ONNX Runtime: xnnpack asks for its
    XNNPACK execution provider. ``api``: LiteRT ``CompiledModel`` or ``Interpreter`` (auto: the
    first where the runtime has it). ``cpus`` pins the process to these CPUs (e.g. a Pi's big
    cores) so latency is comparable between runs.
    """

    threads: int = 1
    delegate: str = "auto"
    api: str = "auto"
    warmup: int = 20
    runs: int = 200
    cpus: tuple[int, ...] = ()
    timeout_s: float = 900.0

    def __post_init__(self) -> None:
        self.cpus = tuple(self.cpus)
        if not isinstance(self.threads, int) or self.threads < 1:
            raise ValueError("threads must be an integer >= 1")
        if self.delegate not in DELEGATES:
            raise ValueError(f"delegate must be one of {', '.join(DELEGATES)}")
        if self.api not in APIS:
            raise ValueError(f"api must be one of {', '.join(APIS)}")
        if self.warmup < 0 or self.runs < 1:
            raise ValueError("warmup must be >= 0 and runs >= 1")
        if any(c < 0 for c in self.cpus):
            raise ValueError("cpus are CPU numbers >= 0")
        if self.timeout_s <= 0:
            raise ValueError("timeout_s must be > 0")

    def runner_args(self) -> list[str]:
        args = ["--threads", str(self.threads), "--delegate", self.delegate, "--api", self.api]
        args += ["--warmup", str(self.warmup), "--runs", str(self.runs)]
        if self.cpus:
            args += ["--cpus", ",".join(map(str, self.cpus))]
        return args

    def to_json(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @staticmethod
    def from_json(data: dict[str, Any]) -> RunConfig:
        return RunConfig(**data)


@dataclass
class Budgets:
    """What a check demands; None = not checked.

    ``max_accuracy_drop`` is in percentage points against the float model on the same inputs;
    ``max_latency_us`` applies to the median (p50) of the timed runs; ``max_logit_error`` is the
    largest absolute difference from the float model's outputs (None: the artifact's stated
    tolerance, see ``check.tolerance``). ``max_arena_kb`` / ``max_flash_kb`` apply to the
    ``tflm`` target's rows: the tensor arena TFLite Micro needs and the model's bytes.
    """

    max_accuracy_drop: float | None = None
    min_agreement: float | None = None
    max_latency_us: float | None = None
    max_size_kb: float | None = None
    max_rss_mb: float | None = None
    max_logit_error: float | None = None
    max_arena_kb: float | None = None
    max_flash_kb: float | None = None

    def __post_init__(self) -> None:
        for f in dataclasses.fields(self):
            v = getattr(self, f.name)
            if v is not None and (not isinstance(v, int | float) or v < 0):
                raise ValueError(f"{f.name} must be a number >= 0")
        if self.min_agreement is not None and self.min_agreement > 1:
            raise ValueError("min_agreement is a fraction in [0, 1]")

    def to_json(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @staticmethod
    def from_json(data: dict[str, Any]) -> Budgets:
        return Budgets(**data)
