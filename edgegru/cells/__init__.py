"""Recurrent cells as PyTorch layer stacks (docs/architecture.md#cells).

Each cell is one file that registers a ``CellStack`` factory under the name of its description
(``edgegru.cellspec``: gates, states, tensors, int8 support). A stack holds the
weights of all layers with PyTorch's ``nn.GRU``/``nn.LSTM`` names (``weight_ih_l0``, ...), runs a
whole batch-first sequence, and runs one step with explicit state.

Importing this package imports torch: only the training side uses it.
"""

from __future__ import annotations

from collections.abc import Callable

from torch import nn

from edgegru.registry import Registry
from edgegru.types import ModelSpec

CELLS: Registry[Callable[[ModelSpec], nn.Module]] = Registry("cell")

# Explicit imports register the cells (no module scanning).
from edgegru.cells import gru, lstm, peephole  # noqa: E402,F401
