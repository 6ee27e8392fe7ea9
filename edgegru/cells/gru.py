"""GRU: PyTorch's fused ``nn.GRU`` computes exactly the spec's equations (gate order r, z, n)."""

from __future__ import annotations

import torch
from torch import nn

from edgegru.cells import CELLS
from edgegru.types import ModelSpec


@CELLS.register("gru")
class GruStack(nn.GRU):
    def __init__(self, spec: ModelSpec) -> None:
        super().__init__(
            spec.input_size, spec.hidden_size, spec.num_layers, bias=spec.bias, batch_first=True
        )

    def run(
        self, x: torch.Tensor, state: dict[str, torch.Tensor]
    ) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """x [B, T, I], state h [L, B, H] -> outputs of the top layer [B, T, H], new state."""
        out, h = self.forward(x, state["h"])
        return out, {"h": h}

    def zero_state(self, batch: int) -> dict[str, torch.Tensor]:
        h = torch.zeros(self.num_layers, batch, self.hidden_size)
        return {"h": h}
