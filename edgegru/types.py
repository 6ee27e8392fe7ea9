"""Plain typed values that flow between the stages (docs/architecture.md#layout).

This is the leaf module: it imports nothing from edgegru but ``errors`` and ``cellspec`` (what each
cell is) and never imports torch.
Model -> compress -> quantize -> export -> target all hand each other these values.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np

from edgegru.cellspec import CellSpec, cell_names, cell_spec

HeadKind = Literal["last", "mean"]
TaskKind = Literal["classification", "regression"]

HEADS: tuple[str, ...] = ("last", "mean")
TASKS: tuple[str, ...] = ("classification", "regression")



# Far above any model this toolchain targets (a GRU with H=2048 has 25M), far below what would
# exhaust a machine's memory when allocated.
MAX_PARAMETERS = 100_000_000


def _numbers(value: Any, what: str) -> tuple[float, ...]:
    if not isinstance(value, (list, tuple)) or not all(
        isinstance(v, (int, float)) and not isinstance(v, bool) for v in value
    ):
        raise ValueError(f"{what} must be a list of numbers, got {type(value).__name__}")
    return tuple(float(v) for v in value)


def _strings(value: Any, what: str) -> tuple[str, ...]:
    if not isinstance(value, (list, tuple)) or not all(isinstance(v, str) for v in value):
        raise ValueError(f"{what} must be a list of strings")
    return tuple(value)


@dataclass(frozen=True)
class Normalization:
    """Per-feature input normalization x_n = (x - mean) / std, fitted on the training split."""

    mean: tuple[float, ...]
    std: tuple[float, ...]

    def __post_init__(self) -> None:
        if len(self.mean) != len(self.std):
            raise ValueError("normalization mean and std differ in length")
        if not all(math.isfinite(v) for v in (*self.mean, *self.std)):
            raise ValueError("normalization holds a non-finite value")
        if any(s <= 0 for s in self.std):
            raise ValueError("normalization std must be > 0")

    @staticmethod
    def identity(n: int) -> Normalization:
        return Normalization((0.0,) * n, (1.0,) * n)


@dataclass(frozen=True)
class ModelSpec:
    """The architecture of a model: enough to rebuild it from its weights."""

    cell: str
    input_size: int
    hidden_size: int
    num_outputs: int
    num_layers: int = 1
    head: str = "last"
    task: str = "classification"
    bias: bool = True
    labels: tuple[str, ...] = ()
    feature_names: tuple[str, ...] = ()
    normalization: Normalization | None = None

    def __post_init__(self) -> None:
        if self.cell not in cell_names():  # the registered cells (edgegru/cellspec.py)
            raise ValueError(f"unknown cell {self.cell!r} (known: {', '.join(cell_names())})")
        if self.head not in HEADS:
            raise ValueError(f"unknown head {self.head!r} (known: {', '.join(HEADS)})")
        if self.task not in TASKS:
            raise ValueError(f"unknown task {self.task!r} (known: {', '.join(TASKS)})")
        for name in ("input_size", "hidden_size", "num_outputs", "num_layers"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ValueError(f"{name} must be a positive integer, got {value!r}")
        if self.labels and len(self.labels) != self.num_outputs:
            raise ValueError(f"{len(self.labels)} labels for {self.num_outputs} outputs")
        if self.feature_names and len(self.feature_names) != self.input_size:
            raise ValueError(
                f"{len(self.feature_names)} feature names for {self.input_size} inputs"
            )
        if self.normalization is not None and len(self.normalization.mean) != self.input_size:
            raise ValueError(
                f"the normalization has {len(self.normalization.mean)} values per statistic, "
                f"the model takes {self.input_size} input features"
            )
        # Checked before anything is allocated: a typo'd hidden size (1000000) would otherwise
        # ask the allocator for terabytes.
        n = self.num_parameters()
        if n > MAX_PARAMETERS:
            raise ValueError(
                f"the model would have {n:,} parameters (at most {MAX_PARAMETERS:,}); "
                "choose a smaller hidden_size or num_layers"
            )

    @property
    def cell_spec(self) -> CellSpec:
        """What the cell is: gates, states, tensors, int8 support (edgegru/cellspec.py)."""
        return cell_spec(self.cell)

    @property
    def gates(self) -> int:
        return len(self.cell_spec.gates)

    @property
    def state_names(self) -> tuple[str, ...]:
        """Named recurrent states of the streaming step form, each [num_layers, batch, hidden]
        except the mean head's running ``sum`` [batch, hidden] and ``count`` [batch, 1]."""
        return self.cell_spec.states + (("sum", "count") if self.head == "mean" else ())

    def weight_shapes(self) -> dict[str, tuple[int, ...]]:
        """Every tensor of the model, named as PyTorch's ``nn.GRU``/``nn.LSTM`` + ``nn.Linear``."""
        gh = self.gates * self.hidden_size
        shapes: dict[str, tuple[int, ...]] = {}
        for k in range(self.num_layers):
            i = self.input_size if k == 0 else self.hidden_size
            shapes[f"rnn.weight_ih_l{k}"] = (gh, i)  # [G*H, I]
            shapes[f"rnn.weight_hh_l{k}"] = (gh, self.hidden_size)  # [G*H, H]
            if self.bias:
                shapes[f"rnn.bias_ih_l{k}"] = (gh,)
                shapes[f"rnn.bias_hh_l{k}"] = (gh,)
            for t in self.cell_spec.unit_tensors:
                shapes[f"rnn.{t.name}_l{k}"] = (t.rows, self.hidden_size)  # e.g. the peepholes
        shapes["head.weight"] = (self.num_outputs, self.hidden_size)
        shapes["head.bias"] = (self.num_outputs,)
        return shapes

    def num_parameters(self) -> int:
        return sum(math.prod(s) for s in self.weight_shapes().values())

    def int8_bytes(self, logits_bits: int | None = None) -> int:
        """Parameter bytes in the int8 scheme (docs/quantization.md), as the full-integer file
        stores
        them: weight matrices 1 byte per value, biases int32 (4), peepholes int16 (2; TFLite's
        integer LSTM keeps them so), and the head's bias int64 (8) when the logits are int16 (a
        16x8 FULLY_CONNECTED takes an int64 bias). ``logits_bits``: the GRU's default is 16
        (QuantizeConfig.logits_bits), the LSTM's integer graph has int8 logits. Scales and graph
        overhead come on top, per exporter."""
        if logits_bits is None:
            logits_bits = self.cell_spec.int8_logits_bits
        unit_bytes = {
            f"rnn.{t.name}_l{k}": t.int8_bytes
            for t in self.cell_spec.unit_tensors
            for k in range(self.num_layers)
        }

        def width(name: str) -> int:
            if name in unit_bytes:
                return unit_bytes[name]
            if name == "head.bias" and logits_bits == 16:
                return 8
            return 1 if "weight" in name else 4

        return sum(width(n) * math.prod(s) for n, s in self.weight_shapes().items())

    def to_json(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @staticmethod
    def from_json(data: dict[str, Any]) -> ModelSpec:
        known = {f.name for f in dataclasses.fields(ModelSpec)}
        unknown = set(data) - known
        if unknown:
            raise ValueError(f"unknown model spec keys: {', '.join(sorted(unknown))}")
        values = dict(data)
        norm = values.get("normalization")
        if norm is not None:
            if not isinstance(norm, dict) or set(norm) != {"mean", "std"}:
                raise ValueError("normalization must be an object with mean and std")
            values["normalization"] = Normalization(
                _numbers(norm["mean"], "normalization mean"),
                _numbers(norm["std"], "normalization std"),
            )
        for key in ("labels", "feature_names"):
            if key in values:
                values[key] = _strings(values[key], key)
        for key in ("cell", "head", "task"):
            if key in values and not isinstance(values[key], str):
                raise ValueError(f"{key} must be a string")
        if "bias" in values and not isinstance(values["bias"], bool):
            raise ValueError("bias must be true or false")
        return ModelSpec(**values)


QUANT_SCHEMES: tuple[str, ...] = ("dynamic", "static", "qat")
CALIBRATION_METHODS: tuple[str, ...] = ("minmax", "percentile", "mse")


def _float32(value: float) -> float:
    """The float32 nearest ``value``, as a Python float: scales are stored as float32 in the
    artifacts (TFLite, ONNX), so the reference and every writer use exactly these numbers."""
    return float(np.float32(value))


@dataclass(frozen=True)
class ActQuant:
    """Per-tensor affine quantization of an activation: real = scale * (q - zero_point); int8,
    or int16 with zero point 0 (TFLite's 16x8 activations are symmetric)."""

    scale: float
    zero_point: int
    bits: int = 8

    def __post_init__(self) -> None:
        if not (math.isfinite(self.scale) and self.scale > 0):
            raise ValueError(f"activation scale must be a positive number, got {self.scale!r}")
        if self.bits not in (8, 16):
            raise ValueError(f"activation bits must be 8 or 16, got {self.bits!r}")
        if self.bits == 16 and self.zero_point != 0:
            raise ValueError(f"int16 zero point must be 0, got {self.zero_point!r}")
        if not (isinstance(self.zero_point, int) and -128 <= self.zero_point <= 127):
            raise ValueError(f"int8 zero point must be in [-128, 127], got {self.zero_point!r}")
        object.__setattr__(self, "scale", _float32(self.scale))

    @property
    def pair(self) -> tuple[float, int]:
        return self.scale, self.zero_point


@dataclass(frozen=True)
class QuantParams:
    """How a bundle is quantized (docs/quantization.md), attached to the bundle as plain values.

    ``weight_scales``: symmetric int8 per output channel (zero point 0), one scale per row of each
    2-D weight tensor, keyed by the PyTorch name (``rnn.weight_ih_l0`` [G*H] scales, ...).
    ``activations``: per-tensor int8 (scale, zero point) of every point the integer graph
    quantizes, keyed like ``l0.pre_rz`` (see ``edgegru.quantize.points``); empty for ``dynamic``.
    ``calibration``: how the ranges were found (method, samples, data), for the record.
    """

    scheme: str
    weight_scales: dict[str, tuple[float, ...]]
    activations: dict[str, ActQuant] = field(default_factory=dict)
    calibration: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.scheme not in QUANT_SCHEMES:
            raise ValueError(f"unknown quantization scheme {self.scheme!r}")
        scales = {}
        for name, values in self.weight_scales.items():
            vals = tuple(_float32(v) for v in values)
            if not vals or not all(math.isfinite(v) and v > 0 for v in vals):
                raise ValueError(f"weight scales of {name} must be positive numbers")
            scales[name] = vals
        object.__setattr__(self, "weight_scales", scales)
        if self.scheme != "dynamic" and not self.activations:
            raise ValueError(f"scheme {self.scheme!r} needs calibrated activation ranges")

    @property
    def is_static(self) -> bool:
        """Full-integer (activations quantized): static PTQ or QAT."""
        return bool(self.activations)

    def to_json(self) -> dict[str, Any]:
        return {
            "scheme": self.scheme,
            "weight_scales": {k: list(v) for k, v in self.weight_scales.items()},
            "activations": {
                k: {"scale": a.scale, "zero_point": a.zero_point}
                | ({"bits": a.bits} if a.bits != 8 else {})
                for k, a in self.activations.items()
            },
            "calibration": self.calibration,
        }

    @staticmethod
    def from_json(data: dict[str, Any]) -> QuantParams:
        unknown = set(data) - {"scheme", "weight_scales", "activations", "calibration"}
        if unknown:
            raise ValueError(f"unknown quant keys: {', '.join(sorted(unknown))}")
        return QuantParams(
            scheme=data["scheme"],
            weight_scales={k: tuple(v) for k, v in data["weight_scales"].items()},
            activations={
                k: ActQuant(float(a["scale"]), int(a["zero_point"]), int(a.get("bits", 8)))
                for k, a in data.get("activations", {}).items()
            },
            calibration=dict(data.get("calibration", {})),
        )


@dataclass
class Bundle:
    """A trained model as plain values: its spec, its float32 weights and where it came from;
    ``quant`` when it has been quantized (the float weights stay the source of truth: int8
    weights are ``round(w / scale)`` of them, computed by whoever needs them)."""

    spec: ModelSpec
    weights: dict[str, np.ndarray]
    provenance: dict[str, Any] = field(default_factory=dict)
    quant: QuantParams | None = None


@dataclass(frozen=True)
class SequenceData:
    """Sequences batch-first: X [N, T, F] float32, zero-padded past ``lengths`` when given.

    ``y`` is [N] int64 class indices (classification) or [N, O] float32 (regression).
    ``groups`` (e.g. the subject) keeps related windows on one side of a validation split.
    """

    X: np.ndarray
    y: np.ndarray
    lengths: np.ndarray | None = None
    groups: np.ndarray | None = None

    def __len__(self) -> int:
        return int(self.X.shape[0])


@dataclass(frozen=True)
class DatasetInfo:
    name: str
    description: str
    source: str
    licence: str


@dataclass(frozen=True)
class Dataset:
    """A train/test split of one task, as every dataset loader returns it."""

    info: DatasetInfo
    task: str
    train: SequenceData
    test: SequenceData
    feature_names: tuple[str, ...]
    labels: tuple[str, ...]

    @property
    def num_features(self) -> int:
        return int(self.train.X.shape[2])

    @property
    def num_outputs(self) -> int:
        return len(self.labels)


FORMATS: tuple[str, ...] = ("onnx", "ort", "tflite", "c-array")
FORMS: tuple[str, ...] = ("sequence", "step")
# Bundle provenance key: the model was trained on data with ``lengths``, so its full-sequence
# exports take a ``lengths`` input by default (docs/padding.md).
VARIABLE_LENGTH = "variable_length"
PRECISIONS: tuple[str, ...] = ("float32", "int8-dynamic", "int8-static")
TENSOR_DTYPES: tuple[str, ...] = ("float32", "float16", "int8", "uint8", "int16", "int32", "int64")


@dataclass(frozen=True)
class TensorInfo:
    """A named input or output of an artifact; a str dimension is dynamic ("batch", "time")."""

    name: str
    shape: tuple[int | str, ...]
    dtype: str

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "shape": list(self.shape), "dtype": self.dtype}

    @staticmethod
    def from_json(data: dict[str, Any]) -> TensorInfo:
        if not isinstance(data, dict) or set(data) != {"name", "shape", "dtype"}:
            raise ValueError("a tensor must be an object with name, shape and dtype")
        name, shape, dtype = data["name"], data["shape"], data["dtype"]
        if not isinstance(name, str) or not name:
            raise ValueError("a tensor's name must be a non-empty string")
        if not isinstance(shape, list) or not all(
            (isinstance(d, int) and not isinstance(d, bool) and 0 <= d < 2**31)
            or (isinstance(d, str) and d.isidentifier())
            for d in shape
        ):
            raise ValueError(f"tensor {name}: shape must be a list of sizes or dimension names")
        if dtype not in TENSOR_DTYPES:
            known = ", ".join(TENSOR_DTYPES)
            raise ValueError(f"tensor {name}: dtype {dtype!r} is not one of {known}")
        return TensorInfo(name, tuple(shape), dtype)


@dataclass(frozen=True)
class Artifact:
    """One exported file and what a device needs to know to run it (its JSON manifest)."""

    path: str
    format: str  # one of FORMATS
    form: str  # "sequence" (x [B, T, F] -> y) or "step" (x_t, states -> y_t, states')
    precision: str  # one of PRECISIONS
    inputs: tuple[TensorInfo, ...]
    outputs: tuple[TensorInfo, ...]
    sha256: str
    size_bytes: int
    source_sha256: str  # the float bundle's weights hash
    spec: ModelSpec
    details: dict[str, Any] = field(default_factory=dict)  # format-specific: ops, layout, runtime

    def to_json(self) -> dict[str, Any]:
        data = dataclasses.asdict(self)
        data["inputs"] = [t.to_json() for t in self.inputs]
        data["outputs"] = [t.to_json() for t in self.outputs]
        data["spec"] = self.spec.to_json()
        return data

    @staticmethod
    def from_json(data: dict[str, Any]) -> Artifact:
        if not isinstance(data, dict):
            raise ValueError("a manifest must be a JSON object")
        for key, allowed in (("format", FORMATS), ("form", FORMS), ("precision", PRECISIONS)):
            if data.get(key) not in allowed:
                raise ValueError(f"{key} {data.get(key)!r} is not one of {', '.join(allowed)}")
        for key, kind in (("path", str), ("sha256", str), ("source_sha256", str), ("inputs", list),
                          ("outputs", list), ("spec", dict), ("details", dict)):  # fmt: skip
            if not isinstance(data.get(key, {} if key == "details" else None), kind):
                raise ValueError(f"{key} must be a {kind.__name__}")
        size = data.get("size_bytes")
        if not isinstance(size, int) or isinstance(size, bool) or size < 0:
            raise ValueError("size_bytes must be a non-negative integer")
        if not data["inputs"] or not data["outputs"]:
            raise ValueError("inputs and outputs must name at least one tensor")
        values = dict(data)
        values["inputs"] = tuple(TensorInfo.from_json(t) for t in data["inputs"])
        values["outputs"] = tuple(TensorInfo.from_json(t) for t in data["outputs"])
        values["spec"] = ModelSpec.from_json(data["spec"])
        return Artifact(**values)
