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


class CellLowering(Protocol):
    layouts: tuple[str, ...]

    def sequence(self, m: ModelBuilder, g: SubgraphBuilder, x: int, req: Request) -> Pooled: ...

    def step(
        self, g: SubgraphBuilder, x_t: int, states: States, req: Request
    ) -> tuple[int, States]: ...


LOWERINGS: Registry[CellLowering] = Registry("TFLite cell lowering")
# Full-integer (int8-static) lowerings: ``sequence(m, g, x_q, T, int8_model, options)`` and
# ``step(g, x_q, h_q, int8_model)`` over the NumPy int8 model of ``edgegru.quantize.reference``.
INT8_LOWERINGS: Registry[Any] = Registry("TFLite full-integer cell lowering")

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


def load_int8() -> Registry[Any]:
    load()
    return INT8_LOWERINGS
