"""A sweep's TOML: the pipeline's own sections (the base every trial starts from) plus ``[sweep]``.

```toml
[data]   dataset = "basicmotions"
[train]  epochs = 5
[sweep]
search = "grid"                      # grid | random | optuna (Optuna's TPE through Ray Tune)
trials = 8                           # random / optuna; grid runs every combination
[sweep.space]                        # pipeline keys: a list of choices or a range
"train.hidden" = [16, 32]
"quantize.scheme" = ["static", "dynamic"]      # one scheme per trial ("none": float only)
"train.lr" = { min = 1e-3, max = 1e-2, log = true }
[[sweep.constraints]]                # best trial under each set of budgets
name = "4 KB"
max_params_kb = 4.0
```

Everything is validated here, before Ray starts: every grid point (and every choice of a random
or model-based search) is built into a ``PipelineConfig``, so a typo fails with one line.
"""

from __future__ import annotations

import dataclasses
import difflib
import hashlib
import itertools
import json
import math
import random
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from edgegru.errors import BadInput
from edgegru.names import quant_schemes
from edgegru.pipeline.config import PipelineConfig

SEARCHES = ("grid", "random", "optuna")
# objective -> (the trial metric it reads, the direction that is better)
OBJECTIVES = {
    "accuracy": ("accuracy", "max"),
    "size": ("size_bytes", "min"),
    "params": ("param_bytes", "min"),
    "latency": ("p50_us", "min"),
    # TFLite Micro's tensor arena and the model's flash bytes: read from the trial's tflm check
    "arena": ("arena_bytes", "min"),
    "flash": ("flash_bytes", "min"),
}
# objectives and constraints that only the tflm target measures
TFLM_METRICS = ("arena_bytes", "flash_bytes")
# The pseudo-key: one int8 scheme per trial (a trial deploys one file), or "none" for float only.
SCHEME_KEY = "quantize.scheme"
NO_SCHEME = "none"
# Stage order of the sections: grid trials vary the latest stage's keys slowest, so the first
# trials train distinct models and later ones reuse them from the stage cache.
SECTION_ORDER = ("data", "train", "compress", "quantize", "export", "check", "report")
# constraint key -> (trial metric, "max" = metric <= value / "min" = metric >= value, scale)
CONSTRAINTS = {
    "min_accuracy": ("accuracy", "min", 1.0),
    "max_accuracy_drop": ("accuracy_drop_pts", "max", 1.0),
    "min_agreement": ("agreement", "min", 1.0),
    "max_size_kb": ("size_bytes", "max", 1024.0),
    "max_params_kb": ("param_bytes", "max", 1024.0),
    "max_latency_us": ("p50_us", "max", 1.0),
    "max_rss_mb": ("peak_rss_mb", "max", 1.0),
    "max_arena_kb": ("arena_bytes", "max", 1024.0),
    "max_flash_kb": ("flash_bytes", "max", 1024.0),
}


@dataclass
class SweepSection:
    search: str = "grid"
    trials: int = 8  # random / optuna: how many trials (grid: every combination)
    seed: int = 0  # random / optuna sampling
    cpus_per_trial: int = 1  # Ray CPUs per trial; torch's threads match
    max_concurrent: int = 0  # 0: as many trials at once as the cluster's CPUs allow
    retries: int = 2  # a trial whose worker dies runs again up to this many times
    target: str | None = None  # ranks trials by accuracy / latency here (default: first target)
    format: str = "tflite"  # the file of each trial that is compared: format and form
    form: str = "sequence"
    objectives: list[str] = field(default_factory=lambda: ["accuracy", "size"])
    space: dict[str, Any] = field(default_factory=dict)
    constraints: list[dict[str, Any]] = field(default_factory=list)

    def __post_init__(self) -> None:
        if self.search not in SEARCHES:
            raise ValueError(f"search must be one of {', '.join(SEARCHES)}")
        if min(self.trials, self.cpus_per_trial) < 1 or min(self.max_concurrent, self.retries) < 0:
            raise ValueError(
                "trials and cpus_per_trial must be >= 1, max_concurrent and retries >= 0"
            )
        bad = [o for o in self.objectives if o not in OBJECTIVES]
        if bad or not self.objectives:
            raise ValueError(f"objectives: unknown {bad[0]!r} (known: {', '.join(OBJECTIVES)})"
                             if bad else "objectives: name at least one")  # fmt: skip


@dataclass(frozen=True)
class Dimension:
    """One searched key: ``choices`` or a numeric range ``[low, high]`` (``log``, ``step``)."""

    key: str
    choices: tuple[Any, ...] = ()
    low: float | None = None
    high: float | None = None
    log: bool = False
    step: float | None = None
    integer: bool = False

    def grid(self) -> list[Any]:
        if self.choices:
            return list(self.choices)
        if self.step is None:
            raise BadInput(f"[sweep.space] {self.key}: a grid needs step = ... in the range")
        assert self.low is not None and self.high is not None
        n = math.floor((self.high - self.low) / self.step + 1e-9) + 1
        values = [self.low + i * self.step for i in range(n)]
        return [round(v) if self.integer else v for v in values]

    def sample(self, rng: random.Random) -> Any:
        if self.choices:
            return rng.choice(self.choices)
        if self.step is not None:
            return rng.choice(self.grid())
        assert self.low is not None and self.high is not None
        if self.log:
            v = math.exp(rng.uniform(math.log(self.low), math.log(self.high)))
        else:
            v = rng.uniform(self.low, self.high)
        return round(v) if self.integer else v


@dataclass
class Sweep:
    """The validated sweep: the base pipeline config (as a JSON dict), ``[sweep]`` and its
    dimensions, and the raw TOML (stored in OUTDIR to refuse resuming a different sweep)."""

    base: dict[str, Any]
    section: SweepSection
    dimensions: list[Dimension]
    raw: dict[str, Any]

    @property
    def needs_tflm(self) -> str | None:
        """The objective or constraint that reads the tflm check, if any."""
        wanted = [o for o in self.section.objectives if OBJECTIVES[o][0] in TFLM_METRICS]
        wanted += [k for c in self.section.constraints for k in c
                   if k in CONSTRAINTS and CONSTRAINTS[k][0] in TFLM_METRICS]  # fmt: skip
        return wanted[0] if wanted else None

    @property
    def target(self) -> str:
        return self.section.target or PipelineConfig.from_json(self.base).check.targets[0]

    def trial_config(self, params: dict[str, Any], where: str = "trial") -> PipelineConfig:
        """The pipeline config of one trial: the base with ``params`` set, exporting and checking
        only the file the sweep compares."""
        data = json.loads(json.dumps(self.base))
        for key, value in params.items():
            if key == SCHEME_KEY:
                q = data.setdefault("quantize", {})
                if value == NO_SCHEME:
                    q["enabled"] = False
                else:
                    q["enabled"], q["schemes"] = True, [value]
                continue
            section, name = key.split(".", 1)
            data.setdefault(section, {})[name] = value
        data.setdefault("export", {}).update(
            formats=[self.section.format], forms=[self.section.form]
        )
        cfg = PipelineConfig.from_json(data, f"{where} ({_describe(params)})")
        if self.target not in cfg.check.targets:
            raise BadInput(f"{where}: [sweep] target {self.target!r} is not in [check] targets")
        tflm = self.needs_tflm
        if tflm and "tflm" not in {t.partition("?")[0] for t in cfg.check.targets}:
            raise BadInput(f"{where}: {tflm} is measured by TFLite Micro: add \"tflm\" to "
                           "[check] targets")  # fmt: skip
        if tflm and self.section.format != "tflite":
            raise BadInput(f"{where}: {tflm} is measured by TFLite Micro, which runs the "
                           "tflite file: set [sweep] format = \"tflite\"")  # fmt: skip
        if cfg.quantize.enabled and len(cfg.quantize.schemes) > 1:
            raise BadInput(
                f"{where}: a trial deploys one file: set [quantize] schemes to one scheme "
                f"or sweep over {SCHEME_KEY!r}"
            )
        return cfg

    def precision(self, cfg: PipelineConfig) -> str:
        """The precision of the file a trial is judged by: its int8 scheme's, or float32."""
        from edgegru.pipeline.stages import PRECISION_OF_SCHEME

        if cfg.quantize.enabled and cfg.quantize.schemes:
            return PRECISION_OF_SCHEME[cfg.quantize.schemes[0]]
        return "float32"

    def plan(self) -> list[dict[str, Any]]:
        """Grid and random searches: every trial's id and params, fixed up front (so a resumed
        sweep runs the same trials). The model-based search picks its trials as it goes."""
        s = self.section
        if s.search == "grid":
            # latest stage outermost: trials that differ only downstream come after the first
            # pass over the upstream keys, and find those stages in the cache
            dims = sorted(self.dimensions, key=lambda d: -_stage_rank(d.key))
            combos = [dict(zip([d.key for d in dims], values, strict=True))
                      for values in itertools.product(*(d.grid() for d in dims))]  # fmt: skip
        elif s.search == "random":
            rng = random.Random(s.seed)
            combos = [{d.key: d.sample(rng) for d in self.dimensions} for _ in range(s.trials)]
        else:
            return []
        return [{"id": f"t{i:03d}", "params": p} for i, p in enumerate(combos)]


def _stage_rank(key: str) -> int:
    section = key.split(".", 1)[0]
    return SECTION_ORDER.index(section) if section in SECTION_ORDER else len(SECTION_ORDER)


def _describe(params: dict[str, Any]) -> str:
    return ", ".join(f"{k}={_short(v)}" for k, v in params.items()) or "base"


def _short(v: Any) -> str:
    return f"{v:.4g}" if isinstance(v, float) else str(v)


def params_id(params: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(params, sort_keys=True).encode()).hexdigest()[:8]


def _key_hint(key: str) -> Any:
    """The type hint of a pipeline key ``section.name``; one line naming the typo otherwise."""
    if key == SCHEME_KEY:
        return str
    if "." not in key:
        raise BadInput(
            f"[sweep.space] {key!r}: name a pipeline key as section.key, e.g. train.hidden"
        )
    section, name = key.split(".", 1)
    sections = {f.name: f.type for f in dataclasses.fields(PipelineConfig)}
    if section not in sections:
        close = difflib.get_close_matches(section, list(sections), n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        raise BadInput(f"[sweep.space] {key!r}: unknown section {section!r}{hint}")
    hints = typing.get_type_hints(typing.get_type_hints(PipelineConfig)[section])
    if name not in hints:
        close = difflib.get_close_matches(name, list(hints), n=1)
        hint = f" (did you mean {section}.{close[0]}?)" if close else ""
        raise BadInput(f"[sweep.space] {key!r}: unknown key{hint}")
    return hints[name]


def _dimension(key: str, spec: Any) -> Dimension:
    hint = _key_hint(key)
    if isinstance(spec, list):
        if not spec:
            raise BadInput(f"[sweep.space] {key}: give at least one value")
        if key == SCHEME_KEY:
            known = (*quant_schemes(), NO_SCHEME)
            bad = [v for v in spec if v not in known]
            if bad:
                raise BadInput(f"[sweep.space] {key}: unknown scheme {bad[0]!r} "
                               f"(known: {', '.join(known)})")  # fmt: skip
        return Dimension(key, choices=tuple(spec))
    if not isinstance(spec, dict):
        raise BadInput(f"[sweep.space] {key}: give a list of values or a range "
                       "{ min = ..., max = ... }")  # fmt: skip
    unknown = set(spec) - {"min", "max", "log", "step"}
    if unknown:
        raise BadInput(f"[sweep.space] {key}: unknown range key {sorted(unknown)[0]!r} "
                       "(known: min, max, log, step)")  # fmt: skip
    integer = hint is int
    if hint not in (int, float):
        raise BadInput(f"[sweep.space] {key}: a range needs a numeric key; give a list of choices")
    low, high = spec.get("min"), spec.get("max")
    numbers = [v for v in (low, high, spec.get("step")) if v is not None]
    if low is None or high is None or not all(isinstance(v, (int, float)) for v in numbers):
        raise BadInput(f"[sweep.space] {key}: a range needs numeric min and max")
    if not low < high or (spec.get("log") and low <= 0) or spec.get("step", 1) <= 0:
        raise BadInput(f"[sweep.space] {key}: need min < max (> 0 with log) and step > 0")
    return Dimension(key, low=low, high=high, log=bool(spec.get("log", False)),
                     step=spec.get("step"), integer=integer)  # fmt: skip


def _flatten_space(space: dict[str, Any]) -> dict[str, Any]:
    """``"train.hidden" = [...]`` and ``[sweep.space.train] hidden = [...]`` both name
    train.hidden."""
    flat: dict[str, Any] = {}
    for key, value in space.items():
        if "." not in key and isinstance(value, dict) and not ({"min", "max"} & set(value)):
            flat.update({f"{key}.{k}": v for k, v in value.items()})
        else:
            flat[key] = value
    return flat


def _check_constraints(constraints: list[dict[str, Any]]) -> None:
    for i, c in enumerate(constraints):
        if not isinstance(c, dict):
            raise BadInput(f"[[sweep.constraints]] {i + 1}: must be a table")
        for key, value in c.items():
            if key == "name":
                continue
            if key not in CONSTRAINTS:
                close = difflib.get_close_matches(key, list(CONSTRAINTS), n=1)
                hint = f" (did you mean {close[0]!r}?)" if close else ""
                raise BadInput(f"[[sweep.constraints]]: unknown key {key!r}{hint}")
            if not isinstance(value, (int, float)) or isinstance(value, bool):
                raise BadInput(f"[[sweep.constraints]]: {key} must be a number")


def parse_sweep(raw: dict[str, Any], where: str = "sweep config") -> Sweep:
    raw = json.loads(json.dumps(raw))  # plain JSON types (TOML dates are not keys we take)
    base = {k: v for k, v in raw.items() if k != "sweep"}
    PipelineConfig.from_json(base, where)  # the base alone must be valid
    table = raw.get("sweep")
    if not isinstance(table, dict):
        raise BadInput(f"{where}: no [sweep] section (what to search: [sweep.space])")
    from edgegru.pipeline.config import _build

    section: SweepSection = _build(SweepSection, table, f"{where} [sweep]")
    _check_constraints(section.constraints)
    dims = [_dimension(k, v) for k, v in _flatten_space(section.space).items()]
    if not dims:
        raise BadInput(f"{where} [sweep.space]: name at least one key to search")
    sweep = Sweep(base, section, dims, raw)
    sweep.target  # noqa: B018  (validates [check] targets)
    if section.search == "grid":
        plan = sweep.plan()
        for trial in plan:
            sweep.trial_config(trial["params"], f"{where}: trial {trial['id']}")
    else:
        # every choice (and both ends of each range), the other keys at their first value: a
        # bad value fails here, not in trial 7
        first = {d.key: d.grid()[0] if d.choices or d.step else d.low for d in dims}
        for d in dims:
            for v in d.choices or (d.low, d.high):
                value = int(v) if d.integer else v  # type: ignore[arg-type]
                sweep.trial_config(first | {d.key: value}, f"{where}: {d.key}")
    return sweep


def load_sweep(path: str | Path) -> Sweep:
    from edgegru.pipeline.config import read_toml

    return parse_sweep(read_toml(Path(path)), str(path))
