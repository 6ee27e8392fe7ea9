"""LSTM: PyTorch's fused ``nn.LSTM`` (gate order i, f, g, o)."""

from __future__ import annotations

import torch
from torch import nn

from edgegru.cells import CELLS
from edgegru.types import ModelSpec


@CELLS.register("lstm")
class LstmStack(nn.LSTM):
    def __init__(self, spec: ModelSpec) -> None:
        super().__init__(
            spec.input_size, spec.hidden_size, spec.num_layers, bias=spec.bias, batch_first=True
        )

    def run(
        self, x: torch.Tensor, state: dict[str, torch.Tensor]
    ) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        out, (h, c) = self.forward(x, (state["h"], state["c"]))
        return out, {"h": h, "c": c}

    def zero_state(self, batch: int) -> dict[str, torch.Tensor]:
        z = torch.zeros(self.num_layers, batch, self.hidden_size)
        return {"h": z, "c": z.clone()}
