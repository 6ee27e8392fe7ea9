"""The pipeline's TOML config: one dataclass per section, validated, unknown keys refused.

```toml
[data]      dataset = "watch"            # or path = "my.npz" (+ test_path)
[train]     cell = "gru"  hidden = 32    # or model = "runs/gru32" to start from a bundle
[compress]  method = "prune"  hidden = 24  curve = [16]  deploy = "trained"
[quantize]  schemes = ["dynamic", "static"]
[export]    formats = ["onnx", "ort", "tflite"]  lengths = "auto"   # docs/padding.md
[check]     targets = ["local"]  emulated = "auto"   # + qemu-aarch64:pi4/pi5 when set up, "tflm"
            max_size_kb = { int8 = 16 }          # budgets; default_budgets = true
[report]    enabled = true
```
Every section has ``enabled``; a missing section takes its defaults
(docs/architecture.md#cli-and-pipeline).
"""

from __future__ import annotations

import dataclasses
import difflib
import sys
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from edgegru.compress.config import DistillConfig, default_distill_train
from edgegru.compress.structured import StructuredPruneConfig
from edgegru.errors import BadInput
from edgegru.names import cells, export_formats, quant_schemes
from edgegru.quantize.config import QuantizeConfig
from edgegru.targets.config import Budgets, RunConfig
from edgegru.train_config import TrainConfig
from edgegru.types import FORMS, HEADS

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib


@dataclass
class DataSection:
    dataset: str | None = "watch"
    path: str | None = None  # the user's .npz (overrides dataset)
    test_path: str | None = None

    def __post_init__(self) -> None:
        if not self.dataset and not self.path:
            raise ValueError("give dataset or path")
        if self.test_path and not self.path:
            raise ValueError("test_path goes with path")


@dataclass
class TrainSection(TrainConfig):
    """The model to train, and every ``TrainConfig`` setting under its own name and with its one
    default (``edgegru/train_config.py``): epochs, batch_size (none: from the training rows),
    min_steps (a floor on optimizer steps; docs/training.md), lr, jitter, seed, ..."""

    enabled: bool = True
    model: str | None = None  # an existing bundle instead of training
    cell: str = "gru"
    hidden: int = 32
    layers: int = 1
    head: str = "last"

    def __post_init__(self) -> None:
        if self.cell not in cells():
            raise ValueError(f"cell must be one of {', '.join(cells())}")
        if self.head not in HEADS:
            raise ValueError(f"head must be one of {', '.join(HEADS)}")
        if min(self.hidden, self.layers, self.epochs) < 1:
            raise ValueError("hidden, layers and epochs must be >= 1")
        if not self.enabled and not self.model:
            raise ValueError("with enabled = false, name an existing bundle as model")
        super().__post_init__()  # TrainConfig's checks

    def train_config(self) -> TrainConfig:
        """The section's ``TrainConfig`` part."""
        names = [f.name for f in dataclasses.fields(TrainConfig)]
        return TrainConfig(**{n: getattr(self, n) for n in names})


_DISTILL_TRAIN = default_distill_train()


@dataclass
class CompressSection:
    """What to compress to, and the settings of ``StructuredPruneConfig`` and ``DistillConfig``
    under their own names and with their one default (docs/compression.md#defaults)."""

    enabled: bool = True
    method: str = "prune"  # prune: structured pruning of the trained model; distill: a student
    hidden: int = 24  # the compressed model's H
    curve: list[int] = field(default_factory=lambda: [16])  # more H values, for the curve
    # Which model flows on to quantize, export and check: "trained" (the default: on `watch`
    # pruning cost 1-2 points, so the curve is shown and the full model deployed) or
    # "compressed" (the H above).
    deploy: str = "trained"
    # prune: rounds of prune -> fine-tune, and the unit importance
    finetune_epochs: int = StructuredPruneConfig.finetune_epochs
    steps: int = StructuredPruneConfig.steps
    importance: str = StructuredPruneConfig.importance
    # prune: fine-tune with the trained model as teacher as well as the labels (`edgegru prune
    # --distill`); off, as in `edgegru prune`
    distill: bool = False
    epochs: int = _DISTILL_TRAIN.epochs  # distill: the student's training epochs
    cell: str | None = None  # distill: the student's cell (default: the teacher's)
    # distill: teach a student round(widen * H) wide, then prune it to H and fine-tune with the
    # teacher (DistillConfig.prune_from); 1.1 is the recipe measured on watch
    # (docs/compression.md); 1.0 distils straight to H
    widen: float = 1.1
    # the distillation loss (distill, and prune with distill = true)
    temperature: float = DistillConfig.temperature
    alpha: float = DistillConfig.alpha
    mixup: float = DistillConfig.mixup

    def __post_init__(self) -> None:
        if self.deploy not in ("trained", "compressed"):
            raise ValueError("deploy must be 'trained' or 'compressed'")
        if self.method not in ("prune", "distill"):
            raise ValueError("method must be 'prune' or 'distill'")
        if self.hidden < 1 or any(h < 1 for h in self.curve):
            raise ValueError("hidden sizes must be >= 1")
        if not (isinstance(self.widen, (int, float)) and 1.0 <= self.widen <= 4.0):
            raise ValueError("widen must be in [1, 4]")
        if self.cell is not None and self.cell not in cells():
            raise ValueError(f"cell must be one of {', '.join(cells())}")
        if self.epochs < 1:
            raise ValueError("epochs must be >= 1")
        self.prune_config(self.hidden)  # the library's checks, with its messages
        self.distill_config()

    def prune_config(self, hidden: int) -> StructuredPruneConfig:
        return StructuredPruneConfig(
            hidden_size=hidden, importance=self.importance, steps=self.steps,
            finetune_epochs=self.finetune_epochs,
        )  # fmt: skip

    def distill_config(self, prune_from: int | None = None, seed: int = 0) -> DistillConfig:
        train = dataclasses.replace(_DISTILL_TRAIN, epochs=self.epochs, seed=seed)
        return DistillConfig(temperature=self.temperature, alpha=self.alpha, mixup=self.mixup,
                             prune_from=prune_from, train=train)  # fmt: skip


@dataclass
class QuantizeSection:
    enabled: bool = True
    # dynamic: int8 weights; static: full integer (GRU; LSTM / peephole via TFLite's integer
    # LSTM kernel); qat: static + fake-quant fine-tuning
    schemes: list[str] = field(default_factory=lambda: ["dynamic", "static"])
    # QuantizeConfig's settings, with its defaults: calib (calibration sequences from the
    # training split), method (minmax | percentile | mse), qat_epochs, weights (static/qat weight
    # scales: auto | channel | tensor) and logits_bits (16: a 16x8 head, or 8)
    calib: int = QuantizeConfig.calib
    method: str = QuantizeConfig.method
    qat_epochs: int = QuantizeConfig.qat_epochs
    weights: str = QuantizeConfig.weights
    logits_bits: int = QuantizeConfig.logits_bits

    def __post_init__(self) -> None:
        bad = [s for s in self.schemes if s not in quant_schemes()]
        if bad:
            raise ValueError(f"unknown scheme {bad[0]!r} (known: {', '.join(quant_schemes())})")
        self.quantize_config()  # the library's checks, with its messages

    def quantize_config(self, scheme: str = QuantizeConfig.scheme) -> QuantizeConfig:
        return QuantizeConfig(scheme=scheme, calib=self.calib, method=self.method,
                              qat_epochs=self.qat_epochs, weights=self.weights,
                              logits_bits=self.logits_bits)  # fmt: skip


LENGTHS_CHOICES = {"auto": None, "yes": True, "no": False}


@dataclass
class ExportSection:
    enabled: bool = True
    formats: list[str] = field(default_factory=lambda: ["onnx", "ort", "tflite"])
    forms: list[str] = field(default_factory=lambda: list(FORMS))
    # full-sequence files take a lengths input: "auto" (when the model was trained on data with
    # lengths), "yes" or "no" (docs/padding.md)
    lengths: str = "auto"

    def __post_init__(self) -> None:
        if self.lengths not in LENGTHS_CHOICES:
            raise ValueError(f"lengths must be one of {', '.join(LENGTHS_CHOICES)}")
        bad = [f for f in self.formats if f not in export_formats()]
        if bad:
            raise ValueError(f"unknown format {bad[0]!r} (known: {', '.join(export_formats())})")
        bad = [f for f in self.forms if f not in FORMS]
        if bad:
            raise ValueError(f"unknown form {bad[0]!r} (known: {', '.join(FORMS)})")


@dataclass
class CheckSection(Budgets):
    """Where to check, and the budgets: every key of ``Budgets`` (the same as the check CLI's
    options, with underscores): ``max_size_kb = 64`` or ``max_size_kb = { all = 64, int8 = 16 }``,
    ``default_budgets = false``."""

    enabled: bool = True
    targets: list[str] = field(default_factory=lambda: ["local"])
    # "auto": also check on the emulated Pi 4 and Pi 5 when `edgegru targets setup
    # qemu-aarch64` has built their userland; "off": never.
    emulated: str = "auto"
    limit: int = 0  # validation rows on real targets (0: the whole test split)
    emulated_limit: int = 64  # rows on emulated targets (qemu runs ~30x slower)
    runs: int = RunConfig.runs
    warmup: int = RunConfig.warmup

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.emulated not in ("auto", "off"):
            raise ValueError("emulated must be 'auto' or 'off'")
        if min(self.limit, self.emulated_limit, self.warmup) < 0 or self.runs < 1:
            raise ValueError("limit, emulated_limit and warmup must be >= 0, runs >= 1")


@dataclass
class ReportSection:
    enabled: bool = True
    plots: bool = True


@dataclass
class PipelineConfig:
    data: DataSection = field(default_factory=DataSection)
    train: TrainSection = field(default_factory=TrainSection)
    compress: CompressSection = field(default_factory=CompressSection)
    quantize: QuantizeSection = field(default_factory=QuantizeSection)
    export: ExportSection = field(default_factory=ExportSection)
    check: CheckSection = field(default_factory=CheckSection)
    report: ReportSection = field(default_factory=ReportSection)

    def to_json(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @staticmethod
    def from_json(data: dict[str, Any], where: str = "config") -> PipelineConfig:
        return _build(PipelineConfig, data, where)


def _check_type(value: Any, hint: Any, key: str) -> None:
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        errors = []
        for arm in typing.get_args(hint):
            try:
                _check_type(value, arm, key)
                return
            except BadInput as e:
                errors.append(str(e))
        raise BadInput(errors[0])
    if hint is type(None):
        if value is not None:
            raise BadInput(f"{key} must be empty")
        return
    if origin is dict:
        _, item = typing.get_args(hint)
        if not isinstance(value, dict):
            raise BadInput(f"{key} must be a table")
        for v in value.values():
            _check_type(v, item, key)
        return
    if origin is list:
        (item,) = typing.get_args(hint)
        if not isinstance(value, list):
            raise BadInput(f"{key} must be a list")
        for v in value:
            _check_type(v, item, key)
        return
    ok = {
        bool: isinstance(value, bool),
        int: isinstance(value, int) and not isinstance(value, bool),
        float: isinstance(value, (int, float)) and not isinstance(value, bool),
        str: isinstance(value, str),
    }.get(hint, True)
    if not ok:
        raise BadInput(f"{key} must be {hint.__name__}, got {value!r}")


def _build(cls: type, data: Any, where: str) -> Any:
    if not isinstance(data, dict):
        raise BadInput(f"{where} must be a table")
    fields = {f.name: f for f in dataclasses.fields(cls)}
    hints = typing.get_type_hints(cls)
    for key in data:
        if key not in fields:
            close = difflib.get_close_matches(key, list(fields), n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            raise BadInput(f"{where}: unknown key {key!r}{hint}")
    values = {}
    for key, value in data.items():
        if dataclasses.is_dataclass(hints[key]):
            values[key] = _build(hints[key], value, f"{where} [{key}]")
        else:
            _check_type(value, hints[key], f"{where}: {key}")
            values[key] = float(value) if hints[key] is float else value
    try:
        return cls(**values)
    except ValueError as e:
        raise BadInput(f"{where}: {e}") from None


def read_toml(path: Path) -> dict[str, Any]:
    """A TOML file as a dict; a missing or malformed file is one line of bad input."""
    try:
        return tomllib.loads(path.read_text())
    except FileNotFoundError:
        raise BadInput(f"{path} does not exist") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as e:
        raise BadInput(f"{path}: not valid TOML ({e})") from None
    except RecursionError:
        raise BadInput(f"{path}: nested too deeply to be a pipeline config") from None
    except IsADirectoryError:
        raise BadInput(f"{path} is a folder, not a TOML file") from None
    except OSError as e:
        raise BadInput(f"cannot read {path}: {e.strerror or e}") from None


def load_config(path: str | Path | None) -> PipelineConfig:
    """The config in ``path`` (TOML), or the built-in default when None."""
    if path is None:
        return PipelineConfig()
    path = Path(path)
    return _build(PipelineConfig, read_toml(path), str(path))
