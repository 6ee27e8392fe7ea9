"""The PyTorch model: normalization -> cell stack -> head (last step or mean) -> Linear.

Takes raw (un-normalized) input, batch-first, like every exported artifact
(docs/architecture.md#exporters).
``step`` is the streaming form with the same weights: ``(x_t, state) -> (y_t, state')``.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from edgegru.cells import CELLS
from edgegru.types import Bundle, ModelSpec, Normalization

State = dict[str, torch.Tensor]


class SequenceModel(nn.Module):
    def __init__(self, spec: ModelSpec) -> None:
        super().__init__()
        self.spec = spec
        norm = spec.normalization or Normalization.identity(spec.input_size)
        self.register_buffer("norm_mean", torch.tensor(norm.mean, dtype=torch.float32))
        self.register_buffer("norm_std", torch.tensor(norm.std, dtype=torch.float32))
        self.rnn = CELLS.get(spec.cell)(spec)
        self.head = nn.Linear(spec.hidden_size, spec.num_outputs)

    def zero_state(self, batch: int) -> State:
        state = self.rnn.zero_state(batch)
        if self.spec.head == "mean":
            state["sum"] = torch.zeros(batch, self.spec.hidden_size)
            state["count"] = torch.zeros(batch, 1)
        return state

    def features(self, x: torch.Tensor, lengths: torch.Tensor | None = None) -> torch.Tensor:
        """x [B, T, F] raw -> the pooled top-layer hidden state [B, H]."""
        xn = (x - self.norm_mean) / self.norm_std
        out, _ = self.rnn.run(xn, self.rnn.zero_state(x.shape[0]))  # [B, T, H]
        t = out.shape[1]
        if lengths is None:
            return out[:, -1] if self.spec.head == "last" else out.mean(dim=1)
        lengths = lengths.to(torch.long)
        if self.spec.head == "last":
            # The recurrence is causal: the output at step length-1 never saw the padding.
            return out[torch.arange(out.shape[0]), lengths - 1]
        mask = (torch.arange(t)[None, :] < lengths[:, None]).to(out.dtype)  # [B, T]
        return (out * mask[:, :, None]).sum(dim=1) / lengths[:, None].to(out.dtype)

    def forward(self, x: torch.Tensor, lengths: torch.Tensor | None = None) -> torch.Tensor:
        return self.head(self.features(x, lengths))

    def step(self, x_t: torch.Tensor, state: State) -> tuple[torch.Tensor, State]:
        """x_t [B, F] raw, state -> y_t [B, O] (the output as if the sequence ended here)."""
        xn = (x_t - self.norm_mean) / self.norm_std
        out, new = self.rnn.run(xn[:, None, :], state)
        h_top = out[:, 0]
        if self.spec.head == "mean":
            new["sum"] = state["sum"] + h_top
            new["count"] = state["count"] + 1.0
            return self.head(new["sum"] / new["count"]), new
        return self.head(h_top), new


def weights_to_torch_names(spec: ModelSpec) -> list[str]:
    return list(spec.weight_shapes())


def model_from_bundle(bundle: Bundle) -> SequenceModel:
    model = SequenceModel(bundle.spec)
    state = {k: torch.from_numpy(np.ascontiguousarray(v)) for k, v in bundle.weights.items()}
    state["norm_mean"] = model.norm_mean
    state["norm_std"] = model.norm_std
    model.load_state_dict(state, strict=True)
    return model.eval()


def bundle_from_model(model: SequenceModel, provenance: dict | None = None) -> Bundle:
    sd = model.state_dict()
    weights = {
        k: sd[k].detach().to(torch.float32).cpu().numpy().copy() for k in model.spec.weight_shapes()
    }
    return Bundle(spec=model.spec, weights=weights, provenance=dict(provenance or {}))
