"""The GRU as the full-integer graph computes it, in PyTorch: calibration and QAT share it.

``QuantGruModel`` wraps a ``SequenceModel``'s parameters (same names: ``rnn.weight_ih_l0``,
``head.weight``, ...) and computes the decomposed GRU of ``edgegru.quantize.reference`` step by
step, with a hook at every quantization point (``edgegru.quantize.points``):

- mode ``"observe"``: float, each point's values go to an ``Observer`` (calibration); only the
  valid steps of variable-length sequences are observed (``lengths``): padded steps hold
  whatever the padding makes of the state, values the device never quantizes for a real
  sequence, and would widen the ranges;
- mode ``"fake"``: each point is fake-quantized with its int8 (scale, zero point) and a
  straight-through estimator (``torch.fake_quantize_per_tensor_affine``: gradient 1 inside the
  range, 0 outside); weights are fake-quantized per output channel (symmetric, max|w| / 127,
  scales recomputed from the current weights, as the export does), biases to int32 with scale
  s_in * s_w. So QAT trains what the int8 model computes (up to rounding ties: PyTorch rounds
  halves to even, TFLite away from zero, and the requantization of the integer kernels is
  fixed-point where this is float).
- mode ``"float"``: plain float (equal to the float model up to float rounding).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch
from torch import nn

from edgegru.model import SequenceModel
from edgegru.quantize.observers import Observer
from edgegru.quantize.points import FIXED, gru_points, input_point, pool_point
from edgegru.types import ActQuant

MODES = ("float", "observe", "fake")


def _fake_weight(w: torch.Tensor, per_tensor: bool = False) -> tuple[torch.Tensor, torch.Tensor]:
    """Symmetric int8 fake quantization per row (or one scale for all rows); returns (w_fq,
    scales [O])."""
    scale = (w.detach().abs().amax(dim=1).clamp_min(1e-12) / 127.0).to(torch.float32)
    if per_tensor:
        scale = scale.max().expand_as(scale).contiguous()
    zp = torch.zeros_like(scale, dtype=torch.int32)
    return torch.fake_quantize_per_channel_affine(w, scale, zp, 0, -127, 127), scale


def _fake_bias(b: torch.Tensor, scale: torch.Tensor) -> torch.Tensor:
    return b + (torch.round(b / scale) * scale - b).detach()


class QuantGruModel(nn.Module):
    def __init__(
        self,
        base: SequenceModel,
        act: dict[str, ActQuant] | None = None,
        per_tensor: set[tuple] | None = None,
    ) -> None:
        super().__init__()
        self.spec = base.spec
        self.rnn = base.rnn
        self.head = base.head
        self.register_buffer("norm_mean", base.norm_mean.clone())
        self.register_buffer("norm_std", base.norm_std.clone())
        self.act = dict(act or {})
        self.mode = "fake" if act else "float"
        self.observers: dict[str, Observer] = {}
        # (weight name, block index) with one scale for all rows (weights.weight_blocks)
        self.per_tensor = set(per_tensor or ())
        self._valid: torch.Tensor | None = None  # [B, T] valid steps of the batch (observe)

    # -- the hook at each quantization point --
    def q(self, name: str, x: torch.Tensor, t: int | slice | None = None) -> torch.Tensor:
        """The point ``name`` on x; ``t``: the step(s) x holds (x [B, ...] at step t, or
        x [B, T, ...] for slice(None)), None for per-sequence values (always observed)."""
        if self.mode == "observe":
            obs = self.observers.get(name)
            if obs is None:
                obs = self.observers[name] = Observer(seed=len(self.observers))
            v = x.detach()
            if t is not None and self._valid is not None:
                v = v[self._valid[:, t]]  # only the steps a real sequence reaches
            obs.update(v.numpy())
            return x
        if self.mode == "fake":
            a = FIXED.get(name.rsplit(".", maxsplit=1)[-1]) or self.act[name]
            lo, hi = (-128, 127) if a.bits == 8 else (-32768, 32767)
            return torch.fake_quantize_per_tensor_affine(x, a.scale, a.zero_point, lo, hi)
        return x

    def _scale(self, name: str) -> float:
        a = self.act.get(name)
        return a.scale if a is not None else 1.0

    def _linear(
        self,
        x: torch.Tensor,
        w: torch.Tensor,
        b: torch.Tensor | None,
        in_point: str,
        block: tuple = (),
    ) -> torch.Tensor:
        if self.mode == "fake":
            w, s_w = _fake_weight(w, block in self.per_tensor)
            if b is not None:
                b = _fake_bias(b, self._scale(in_point) * s_w)
        return nn.functional.linear(x, w, b)

    def _layer(self, x: torch.Tensor, k: int) -> torch.Tensor:
        """x [B, T, I] (already at point input_point(k)) -> h for every step [B, T, H]."""
        H = self.spec.hidden_size
        W_ih, W_hh = getattr(self.rnn, f"weight_ih_l{k}"), getattr(self.rnn, f"weight_hh_l{k}")
        b_ih = getattr(self.rnn, f"bias_ih_l{k}", None)
        b_hh = getattr(self.rnn, f"bias_hh_l{k}", None)

        def part(b: torch.Tensor | None, sl: slice) -> torch.Tensor | None:
            return None if b is None else b[sl]

        rz, n_ = slice(0, 2 * H), slice(2 * H, 3 * H)
        p, inp = f"l{k}.", input_point(k)
        every = slice(None)
        ih, hh = f"rnn.weight_ih_l{k}", f"rnn.weight_hh_l{k}"
        gx_rz = self._linear(x, W_ih[rz], part(b_ih, rz), inp, (ih, 0))
        gx_rz = self.q(p + "gx_rz", gx_rz, every)  # [B, T, 2H]
        gx_n = self._linear(x, W_ih[n_], part(b_ih, n_), inp, (ih, 1))
        gx_n = self.q(p + "gx_n", gx_n, every)  # [B, T, H]
        h = x.new_zeros(x.shape[0], H)
        outs = []
        for t in range(x.shape[1]):
            gh_rz = self._linear(h, W_hh[rz], part(b_hh, rz), p + "h", (hh, 0))
            gh_rz = self.q(p + "gh_rz", gh_rz, t)
            gh_n = self._linear(h, W_hh[n_], part(b_hh, n_), p + "h", (hh, 1))
            gh_n = self.q(p + "gh_n", gh_n, t)
            pre_rz = self.q(p + "pre_rz", gx_rz[:, t] + gh_rz, t)
            gates = self.q(p + "rz", torch.sigmoid(pre_rz), t)
            r, z = gates[:, :H], gates[:, H:]
            rgh = self.q(p + "rgh", r * gh_n, t)
            pre_n = self.q(p + "pre_n", gx_n[:, t] + rgh, t)
            n = self.q(p + "n", torch.tanh(pre_n), t)
            d = self.q(p + "d", h - n, t)
            zd = self.q(p + "zd", z * d, t)
            h = self.q(p + "h", n + zd, t)
            outs.append(h)
        return torch.stack(outs, dim=1)

    def features(self, x: torch.Tensor, lengths: torch.Tensor | None = None) -> torch.Tensor:
        if self.mode == "observe" and lengths is not None:
            steps = torch.arange(x.shape[1])[None, :]
            self._valid = steps < lengths.to(torch.long)[:, None]
        else:
            self._valid = None
        xn = self.q("input", (x - self.norm_mean) * (1.0 / self.norm_std), slice(None))
        out = xn
        for k in range(self.spec.num_layers):
            out = self._layer(out, k)
        if lengths is None:
            lengths = torch.full((x.shape[0],), x.shape[1], dtype=torch.long)
        lengths = lengths.to(torch.long)
        if self.spec.head == "last":
            return out[torch.arange(out.shape[0]), lengths - 1]
        mask = (torch.arange(out.shape[1])[None, :] < lengths[:, None]).to(out.dtype)
        pooled = (out * mask[:, :, None]).sum(dim=1) / lengths[:, None].to(out.dtype)
        return self.q("head.pool", pooled)

    def forward(self, x: torch.Tensor, lengths: torch.Tensor | None = None) -> torch.Tensor:
        pooled = self.features(x, lengths)
        y = self._linear(
            pooled, self.head.weight, self.head.bias, pool_point(self.spec), ("head.weight", 0)
        )
        return self.q("head.y", y)


def observe(
    model: QuantGruModel,
    X: np.ndarray,
    lengths: np.ndarray | None,
    batch_size: int = 256,
    on_batch: Callable[[int], None] | None = None,
) -> dict[str, Observer]:
    """Run the float model over X in observe mode; the observers of every point."""
    model.mode, model.observers = "observe", {}
    with torch.no_grad():
        for i in range(0, len(X), batch_size):
            xb = torch.from_numpy(np.ascontiguousarray(X[i : i + batch_size], np.float32))
            lb = None if lengths is None else torch.from_numpy(lengths[i : i + batch_size])
            model(xb, lb)
            if on_batch is not None:
                on_batch(min(i + batch_size, len(X)))
    missing = set(gru_points(model.spec)) - set(model.observers)
    assert not missing, f"points never observed: {sorted(missing)}"
    return model.observers
