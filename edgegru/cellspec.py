"""What each recurrent cell is, as plain data (docs/extending.md#a-cell): its gates, its states,
its tensors, which int8 implementation and which lowerings it has. Every stage reads these
descriptions instead of comparing cell names.

All descriptions live in this one torch-free module because ``edgegru.types`` (ModelSpec's
states and tensor shapes) and the device-side code read them without importing torch; the
PyTorch layer stack of a cell (``edgegru/cells/<name>.py``) registers under the same name, and a
test proves both registries hold the same names.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from edgegru.registry import Registry

# The full-integer implementations of edgegru.quantize a cell can use (``CellSpec.int8``):
# GRU_GRAPH: the GRU's gates op for op in int8 (quantize/qgru.py, quantize/gru_reference.py);
# INTEGER_LSTM: TFLite's integer 8x8_16 LSTM kernel (quantize/qlstm.py, quantize/lstm_reference.py).
GRU_GRAPH = "gru-graph"
INTEGER_LSTM = "integer-lstm"
INT8_IMPLEMENTATIONS: tuple[str, ...] = (GRU_GRAPH, INTEGER_LSTM)

# int16 logits (a 16x8 head) by default for full-integer GRU models: int8 logits tie windows
# whose float top-2 margin is under one int8 step (basicmotions; quantize/config.py head_bits).
DEFAULT_LOGITS_BITS = 16


@dataclass(frozen=True)
class UnitTensor:
    """A per-layer tensor beyond W_ih, W_hh and the biases: ``rnn.<name>_l{k}`` [rows, H], one
    column per hidden unit (structured pruning keeps or drops whole columns)."""

    name: str
    rows: int
    int8_bytes: int  # bytes per value in the full-integer file


@dataclass(frozen=True)
class CellSpec:
    """One recurrent cell (docs/architecture.md#cells)."""

    name: str
    gates: tuple[str, ...]  # in PyTorch's row order of W_ih / W_hh
    states: tuple[str, ...]  # the recurrent states of one layer, each [batch, H]
    onnx_op: str  # the fused ONNX operator its ONNX lowering writes ("GRU", "LSTM")
    # the torch.nn module computing exactly this cell (a peer for importing and comparing), if any
    torch_module: str | None
    unit_tensors: tuple[UnitTensor, ...] = ()
    int8: str | None = None  # one of INT8_IMPLEMENTATIONS; None: int8-static is refused
    int8_logits_bits: int = 8  # the full-integer head's default output width
    # the TFLite layout a TFLite Micro file (c-array) is written in unless asked; None: the default
    tflm_layout: str | None = None

    def __post_init__(self) -> None:
        if self.int8 is not None and self.int8 not in INT8_IMPLEMENTATIONS:
            raise ValueError(f"cell {self.name}: unknown int8 implementation {self.int8!r}")
        if self.int8_logits_bits not in (8, 16):
            raise ValueError(f"cell {self.name}: int8 logits are 8 or 16 bits")

    @property
    def peepholes(self) -> bool:
        """The cell has diagonal peephole vectors p_i, p_f, p_o (``weight_peep``)."""
        return any(t.name == "weight_peep" for t in self.unit_tensors)


CELL_SPECS: Registry[CellSpec] = Registry("cell")


def register(cell: CellSpec) -> CellSpec:
    return CELL_SPECS.register(cell.name)(cell)


def cell_spec(name: str) -> CellSpec:
    """The description of cell ``name``; unknown: BadInput naming the known cells."""
    return CELL_SPECS.get(name)


def cell_names() -> tuple[str, ...]:
    """The registered cells, in registration order (the CLI's and the pipeline's choices)."""
    return CELL_SPECS.in_order()


register(
    CellSpec(
        name="gru",
        gates=("r", "z", "n"),
        states=("h",),
        onnx_op="GRU",
        torch_module="GRU",
        int8=GRU_GRAPH,
        int8_logits_bits=DEFAULT_LOGITS_BITS,
    )
)
LSTM = register(
    CellSpec(
        name="lstm",
        gates=("i", "f", "g", "o"),
        states=("h", "c"),
        onnx_op="LSTM",
        torch_module="LSTM",
        int8=INTEGER_LSTM,  # TFLite's integer LSTM keeps int8 logits
        # TFLite Micro's fused LSTM takes no peepholes nor integer mode: builtin ops, float32
        # (lstm_lowered.py) and int8-static (lstm_lowered_int8.py); docs/microcontrollers.md
        tflm_layout="lowered",
    )
)
# The LSTM with diagonal peepholes p_i, p_f, p_o (rows of [3, H]; TFLite's integer LSTM keeps
# them int16); PyTorch has no module for it.
register(
    dataclasses.replace(
        LSTM,
        name="peephole",
        torch_module=None,
        unit_tensors=(UnitTensor("weight_peep", 3, int8_bytes=2),),
    )
)
