"""Options of a device run and the budgets of a check (validated dataclasses that
survive a JSON round trip)."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

DELEGATES = ("auto", "xnnpack", "builtin", "reference")
APIS = ("auto", "compiled", "interpreter")
# The latency figures the runner measures (docs/latency.md); budgets bind one, invoke by default.
LATENCY_FIGURES = ("invoke", "call", "window_invoke", "window_call")


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
    windows: int = 0  # step forms: whole windows timed (0: the runner's max(5, runs / 10))
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
        if self.warmup < 0 or self.runs < 1 or self.windows < 0:
            raise ValueError("warmup and windows must be >= 0 and runs >= 1")
        if any(c < 0 for c in self.cpus):
            raise ValueError("cpus are CPU numbers >= 0")
        if self.timeout_s <= 0:
            raise ValueError("timeout_s must be > 0")

    def runner_args(self) -> list[str]:
        args = ["--threads", str(self.threads), "--delegate", self.delegate, "--api", self.api]
        args += ["--warmup", str(self.warmup), "--runs", str(self.runs)]
        if self.windows:
            args += ["--windows", str(self.windows)]
        if self.cpus:
            args += ["--cpus", ",".join(map(str, self.cpus))]
        return args

    def to_json(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @staticmethod
    def from_json(data: dict[str, Any]) -> RunConfig:
        return RunConfig(**data)


BUDGET_OPTIONS = {
    # name: (what it limits, True when the value must stay at or above the limit)
    "max_accuracy_drop": ("accuracy drop pts", False),
    "min_agreement": ("agreement", True),
    "max_latency_us": ("latency p50 us", False),
    "max_size_kb": ("size KB", False),
    "max_rss_mb": ("peak RSS MB", False),
    "max_logit_error": ("max abs output error", False),
    "max_arena_kb": ("tensor arena KB", False),  # the tflm target's rows
    "max_flash_kb": ("flash KB", False),  # the tflm target's rows: the model's bytes
}
# Applied unless ``default_budgets`` is off or an explicit budget of the same name covers the
# file. Chosen against the float model with its true inputs: the float files agree with it to
# rounding, and the int8 files edgegru makes on the shipped datasets stay within these
# (bench/results/check_defaults.json: the lowest int8 agreement and largest drop measured);
# a file at chance accuracy breaks both by tens of points.
DEFAULT_BUDGETS: dict[str, float] = {"max_accuracy_drop": 1.0, "min_agreement": 0.95}
# A budget's scope: every file ("all"), a precision ("int8" = both int8 schemes) or a format;
# "int8+tflite" narrows to files that are both.
PRECISION_SCOPES = ("float32", "int8", "int8-dynamic", "int8-static")
FORMAT_SCOPES = ("onnx", "ort", "tflite")
ALL = "all"


def scope_matches(scope: str, fmt: str, precision: str) -> bool:
    return scope == ALL or all(
        part in (fmt, precision) or (part == "int8" and precision.startswith("int8"))
        for part in scope.split("+")
    )


def _check_scope(scope: str, name: str) -> None:
    if scope == ALL:
        return
    known = PRECISION_SCOPES + FORMAT_SCOPES
    for part in scope.split("+"):
        if part not in known:
            raise ValueError(
                f"{name}: unknown scope {part!r} (a precision or format: {', '.join(known)}; "
                "join two with +, e.g. int8+tflite)"
            )


@dataclass(frozen=True)
class Limit:
    """One budget as it applies to one file: the limit and how the user asked for it."""

    name: str
    value: float
    scope: str  # "all", "int8", ...
    default: bool = False

    @property
    def label(self) -> str:
        """How the user would write it: ``--max-size-kb int8=16`` or ``--max-accuracy-drop 1``
        (the [check] key is the same name with underscores)."""
        option = "--" + self.name.replace("_", "-")
        value = f"{self.value:g}" if self.scope == ALL else f"{self.scope}={self.value:g}"
        return f"{option} {value}" + (" (default)" if self.default else "")


Scoped = float | dict[str, float] | None  # one number for every file, or scope -> number


@dataclass
class Budgets:
    """What a check demands; None = not checked (but see ``default_budgets``).

    Each budget is one number for every file, or a table scope -> number (``{"all": 64,
    "int8": 16}``: 16 KB for int8 files, 64 for the rest). A file takes the most specific scope
    that covers it (a precision or format over "all", "int8+tflite" over either); the tightest
    when two equally specific scopes do. ``default_budgets`` fills ``DEFAULT_BUDGETS`` where no
    explicit budget of that name covers the file.

    ``max_accuracy_drop`` is in percentage points against the float model on the data as given
    (with its lengths); ``max_latency_us`` applies to the median (p50) of the timed runs of
    ``latency_figure`` (docs/latency.md: ``invoke``, the runtime's invoke alone, by default;
    ``call``, the Python call; ``window_invoke`` / ``window_call``, one whole window, the T steps
    of a step form);
    ``max_logit_error`` is the largest absolute difference from the float model's outputs on the
    inputs the file ran on (None: the artifact's stated tolerance, see ``check.tolerance``).
    ``max_arena_kb`` / ``max_flash_kb`` apply to the ``tflm`` target's rows: the tensor arena
    TFLite Micro needs and the model's bytes.
    """

    max_accuracy_drop: float | dict[str, float] | None = None
    min_agreement: float | dict[str, float] | None = None
    max_latency_us: float | dict[str, float] | None = None
    max_size_kb: float | dict[str, float] | None = None
    max_rss_mb: float | dict[str, float] | None = None
    max_logit_error: float | dict[str, float] | None = None
    max_arena_kb: float | dict[str, float] | None = None
    max_flash_kb: float | dict[str, float] | None = None
    default_budgets: bool = True
    latency_figure: str = "invoke"

    def __post_init__(self) -> None:
        if self.latency_figure not in LATENCY_FIGURES:
            raise ValueError(f"latency_figure must be one of {', '.join(LATENCY_FIGURES)}")
        if not isinstance(self.default_budgets, bool):
            raise ValueError("default_budgets must be true or false")
        for name in BUDGET_OPTIONS:
            v = getattr(self, name)
            if isinstance(v, dict):
                if not v:
                    raise ValueError(f"{name} must name at least one scope")
                for scope, limit in v.items():
                    _check_scope(scope, name)
                    self._check_number(name, limit)
                setattr(self, name, {str(k): float(x) for k, x in v.items()})
            elif v is not None:
                self._check_number(name, v)

    @staticmethod
    def _check_number(name: str, v: Any) -> None:
        if isinstance(v, bool) or not isinstance(v, int | float) or v < 0:
            raise ValueError(f"{name} must be a number >= 0")
        if name == "min_agreement" and v > 1:
            raise ValueError("min_agreement is a fraction in [0, 1]")

    def limit_on(self, name: str, fmt: str, precision: str) -> Limit | None:
        """The budget ``name`` on a file of this format and precision, or None."""
        given = getattr(self, name)
        scopes = given if isinstance(given, dict) else {} if given is None else {ALL: given}
        covering = [(s, v) for s, v in scopes.items() if scope_matches(s, fmt, precision)]
        if covering:
            rank = max(_specificity(s) for s, _ in covering)
            best = [(s, v) for s, v in covering if _specificity(s) == rank]
            _, minimum = BUDGET_OPTIONS[name]
            scope, value = (max if minimum else min)(best, key=lambda sv: sv[1])
            return Limit(name, value, scope)
        if self.default_budgets and name in DEFAULT_BUDGETS:
            return Limit(name, DEFAULT_BUDGETS[name], ALL, default=True)
        return None

    @staticmethod
    def parse_option(name: str, values: tuple[str, ...] | list[str]) -> Scoped:
        """A budget from repeated CLI values: ``1`` or ``SCOPE=1`` (e.g. ``int8=16``)."""
        table: dict[str, float] = {}
        for text in values:
            scope, _, number = text.rpartition("=")
            scope = scope.strip() or ALL
            try:
                table[scope] = float(number)
            except ValueError:
                raise ValueError(
                    f"--{name.replace('_', '-')} {text!r}: give a number or SCOPE=NUMBER"
                ) from None
        if not table:
            return None
        return table[ALL] if list(table) == [ALL] else table

    def to_json(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @staticmethod
    def from_json(data: dict[str, Any]) -> Budgets:
        return Budgets(**data)


def _specificity(scope: str) -> int:
    return 0 if scope == ALL else len(scope.split("+"))
