"""Peephole LSTM (Gers & Schmidhuber 2000, diagonal peepholes p_i, p_f, p_o;
docs/architecture.md#cells).

PyTorch has no fused kernel for it, so the input projection of all T steps is done as one matmul
before the recurrence and the loop runs only what each step needs (``h @ R^T`` and elementwise
gates).
"""

from __future__ import annotations

import math

import torch
from torch import nn

from edgegru.cells import CELLS
from edgegru.types import ModelSpec


def _recurrence(
    xw: torch.Tensor,  # [T, B, 4H]: W x + b_ih + b_hh for every step
    h: torch.Tensor,  # [B, H]
    c: torch.Tensor,  # [B, H]
    r_t: torch.Tensor,  # [H, 4H]: R transposed
    p: torch.Tensor,  # [3, H]: p_i, p_f, p_o
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    p_i, p_f, p_o = p[0], p[1], p[2]
    outs = []
    for t in range(xw.shape[0]):
        gates = torch.addmm(xw[t], h, r_t)
        g_i, g_f, g_c, g_o = gates.chunk(4, 1)
        i = torch.sigmoid(g_i + p_i * c)
        f = torch.sigmoid(g_f + p_f * c)
        c = f * c + i * torch.tanh(g_c)
        o = torch.sigmoid(g_o + p_o * c)  # the output gate peeks at the new cell state c'
        h = o * torch.tanh(c)
        outs.append(h)
    return torch.stack(outs), h, c


@CELLS.register("peephole")
class PeepholeStack(nn.Module):
    """Layer stack with ``nn.LSTM``'s parameter names plus ``weight_peep_l{k}`` [3, H]."""

    def __init__(self, spec: ModelSpec) -> None:
        super().__init__()
        self.hidden_size = spec.hidden_size
        self.num_layers = spec.num_layers
        self.bias = spec.bias
        h4 = 4 * spec.hidden_size
        bound = 1.0 / math.sqrt(spec.hidden_size)  # nn.LSTM's default initialisation
        for k in range(spec.num_layers):
            fan_in = spec.input_size if k == 0 else spec.hidden_size
            names_shapes = [
                (f"weight_ih_l{k}", (h4, fan_in)),
                (f"weight_hh_l{k}", (h4, spec.hidden_size)),
                (f"weight_peep_l{k}", (3, spec.hidden_size)),
            ]
            if spec.bias:
                names_shapes += [(f"bias_ih_l{k}", (h4,)), (f"bias_hh_l{k}", (h4,))]
            for name, shape in names_shapes:
                w = torch.empty(shape).uniform_(-bound, bound)
                self.register_parameter(name, nn.Parameter(w))

    def _layer(
        self, k: int
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor | None]:
        w = getattr(self, f"weight_ih_l{k}")
        r = getattr(self, f"weight_hh_l{k}")
        p = getattr(self, f"weight_peep_l{k}")
        b = getattr(self, f"bias_ih_l{k}") + getattr(self, f"bias_hh_l{k}") if self.bias else None
        return w, r, p, b

    def run(
        self, x: torch.Tensor, state: dict[str, torch.Tensor]
    ) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """x [B, T, I] -> top layer outputs [B, T, H] and the new state h, c [L, B, H]."""
        seq = x.transpose(0, 1)  # [T, B, I]: time-major so each step is a contiguous slice
        hs, cs = [], []
        for k in range(self.num_layers):
            w, r, p, b = self._layer(k)
            xw = seq @ w.t()  # [T, B, 4H], all steps in one matmul
            if b is not None:
                xw = xw + b
            seq, h, c = _recurrence(xw, state["h"][k], state["c"][k], r.t(), p)
            hs.append(h)
            cs.append(c)
        return seq.transpose(0, 1), {"h": torch.stack(hs), "c": torch.stack(cs)}

    def zero_state(self, batch: int) -> dict[str, torch.Tensor]:
        z = torch.zeros(self.num_layers, batch, self.hidden_size)
        return {"h": z, "c": z.clone()}
