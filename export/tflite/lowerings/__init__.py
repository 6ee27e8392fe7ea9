"""Cell lowerings: how each recurrent cell becomes TFLite operators.

One cell = one module here that registers a ``CellLowering`` with ``@LOWERINGS.register(cell)``
(docs/extending.md), plus its line in ``_MODULES``. A lowering builds two things:

- ``sequence``: the recurrence over a fixed T on x [1, T, I] (already raw-input: the
  normalization is folded into the first layer's weights), returning the pooled top-layer state
  the head reads (the last h, or the sum of h over time with the head scaled by 1/T); with
  ``req.lengths`` the h of the last valid step or the mean over the valid steps (``lengths.py``);
- ``step``: one time step on x_t [1, I] with every state a plain tensor (the app owns it).
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from typing import Any, Protocol

from edgegru.export.tflite.builder import ModelBuilder, SubgraphBuilder
from edgegru.export.tflite.weights import Layer
from edgegru.registry import Registry
from edgegru.types import ModelSpec


@dataclass(frozen=True)
class Request:
    """What a lowering builds from: the spec, its prepared layers, the fixed T and options."""

    spec: ModelSpec
    layers: list[Layer]
    seq_len: int
    options: dict[str, Any] = field(default_factory=dict)
    lengths: Any = None  # edgegru.export.tflite.lengths.Lengths: the file takes ``lengths``


@dataclass(frozen=True)
class Pooled:
    """The tensor the head reads ([1, H]) and the factor folded into the head weight."""

    tensor: int
    scale: float
    details: dict[str, Any] = field(default_factory=dict)  # layout, runtime, ops per step


States = dict[str, list[int]]  # state name -> one [1, H] tensor per layer


@dataclass
class Int8Pooled:
    tensor: int  # int8 [1, H] at the head's input quantization
    details: dict


class CellLowering(Protocol):
    layouts: tuple[str, ...]

    def sequence(self, m: ModelBuilder, g: SubgraphBuilder, x: int, req: Request) -> Pooled: ...

    def step(
        self, g: SubgraphBuilder, x_t: int, states: States, req: Request
    ) -> tuple[int, States]: ...


class Int8Lowering(Protocol):
    """A full-integer (int8-static) lowering: the graph of the cell's NumPy int8 model
    (``edgegru.quantize.gru_reference`` / ``lstm_reference`` / ``lstm_lowered_reference``,
    passed as ``model``) op for op, so the file computes the reference's integers
    (docs/extending.md#an-int8-lowering)."""

    layouts: tuple[str, ...]  # the TFLite layouts it writes (``--option layout=``)
    kernel: str  # what the int8 file runs, for messages ("the fused integer LSTM")
    weights_note: str  # how weights and biases are stored (the artifact's quantization details)
    state_note: str  # how the recurrent state is stored
    # True: ``step`` takes and returns the app's float32 states by name (States); False: int8
    # states by name, one [1, H] per layer, QUANTIZEd / DEQUANTIZEd around it by graph_int8 at
    # the layer points ``state_points`` names (state -> point, e.g. {"h": "h", "c": "cell"})
    float_states: bool
    state_points: dict[str, str]
    # the NumPy int8 graph it writes: build_reference(bundle, reference_graph); None: the cell's
    reference_graph: str | None
    step_runtime: str  # which LiteRT API runs its step file (the artifact's ``runtime``)

    def sequence(
        self, m: ModelBuilder, g: SubgraphBuilder, x_q: int, T: int, model: Any,
        options: dict[str, Any], lengths: Any = None,
    ) -> Int8Pooled:  # fmt: skip
        """x_q [1, T, I] int8 at the input point -> the int8 tensor the head reads."""
        ...

    def step(
        self, g: SubgraphBuilder, x_q: int, states: States, model: Any
    ) -> tuple[int, States]:
        """One step on x_q [1, I] int8 -> (the top h [1, H] int8, the new states by name)."""
        ...


LOWERINGS: Registry[CellLowering] = Registry("TFLite cell lowering")
INT8_LOWERINGS: Registry[Int8Lowering] = Registry("TFLite full-integer cell lowering")

# One line per cell lowering module (explicit list, no scan).
_MODULES = [
    "edgegru.export.tflite.lowerings.gru",
    "edgegru.export.tflite.lowerings.lstm",
    "edgegru.export.tflite.lowerings.gru_int8",
    "edgegru.export.tflite.lowerings.lstm_int8",
]


def load() -> Registry[CellLowering]:
    for module in _MODULES:
        importlib.import_module(module)
    return LOWERINGS


def load_int8() -> Registry[Int8Lowering]:
    load()
    return INT8_LOWERINGS
