"""The LSTM / peephole LSTM as TFLite's integer LSTM kernel computes it, in PyTorch, with fake
quantization (straight-through estimator) at exactly the points the kernel quantizes: QAT.

``QuantLstmModel`` wraps a ``SequenceModel``'s parameters (same names) and computes, per step
(``edgegru.quantize.lstm_reference`` lists the integer kernel):

- the normalized input at ``input`` (int8), every layer's h at ``l{k}.h`` (int8), c at
  ``l{k}.c`` (int16, power-of-two scale), the mean head's pool and the outputs as the GRU's;
- weights W_G, R_G fake-quantized symmetric PER TENSOR (max |W_G| / 127, recomputed from the
  current weights as the export does), gate biases to int32 at s_input * s_W_G, peepholes to
  int16 per tensor;
- each gate pre-activation at the kernel's Q3.12 (scale 2**-12, saturating at [-8, 8)), the
  gate outputs at Q0.15 (the kernel's int16 sigmoid / tanh outputs).

Up to rounding ties and the order of the kernel's separately requantized x-, h- and peephole
terms (summed here before the Q3.12 fake quantization), this is what the exported file computes.
"""

from __future__ import annotations

import torch
from torch import nn

from edgegru.model import SequenceModel
from edgegru.quantize.lstm_kernels import GATE_SCALE
from edgegru.quantize.points import input_point, pool_point
from edgegru.types import ActQuant

Q15 = 2.0**-15


def _fake(x: torch.Tensor, a: ActQuant, lo: int = -128, hi: int = 127) -> torch.Tensor:
    return torch.fake_quantize_per_tensor_affine(x, float(a.scale), int(a.zero_point), lo, hi)


def _fake_int16(x: torch.Tensor, scale: float) -> torch.Tensor:
    return torch.fake_quantize_per_tensor_affine(x, scale, 0, -32768, 32767)


def _fake_tensor(w: torch.Tensor, qmax: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Symmetric per-tensor fake quantization; returns (w_fq, scale)."""
    scale = (w.detach().abs().amax().clamp_min(1e-12) / qmax).to(torch.float32)
    return torch.fake_quantize_per_tensor_affine(w, float(scale), 0, -qmax, qmax), scale


class QuantLstmModel(nn.Module):
    def __init__(self, base: SequenceModel, act: dict[str, ActQuant]) -> None:
        super().__init__()
        self.spec = base.spec
        self.rnn = base.rnn
        self.head = base.head
        self.register_buffer("norm_mean", base.norm_mean.clone())
        self.register_buffer("norm_std", base.norm_std.clone())
        self.act = dict(act)

    def _gate_terms(self, k: int) -> tuple[list, list, list, torch.Tensor | None]:
        """Per gate i, f, g, o: the fake-quantized W_G, R_G and int32 bias; the peepholes."""
        H = self.spec.hidden_size
        W = getattr(self.rnn, f"weight_ih_l{k}")
        R = getattr(self.rnn, f"weight_hh_l{k}")
        b = None
        if self.spec.bias:
            b = getattr(self.rnn, f"bias_ih_l{k}") + getattr(self.rnn, f"bias_hh_l{k}")
        s_in = float(self.act[input_point(k)].scale)
        Ws, Rs, bs = [], [], []
        for j in range(4):
            rows = slice(j * H, (j + 1) * H)
            w_q, s_w = _fake_tensor(W[rows], 127)
            Ws.append(w_q)
            Rs.append(_fake_tensor(R[rows], 127)[0])
            if b is None:
                bs.append(None)
            else:
                step = s_in * s_w
                bs.append(b[rows] + (torch.round(b[rows] / step) * step - b[rows]).detach())
        P = getattr(self.rnn, f"weight_peep_l{k}", None)
        if P is not None:
            P = torch.stack([_fake_tensor(P[j], 32767)[0] for j in range(3)])
        return Ws, Rs, bs, P

    def _layer(self, x: torch.Tensor, k: int) -> torch.Tensor:
        Ws, Rs, bs, P = self._gate_terms(k)
        B, T, _ = x.shape
        H = self.spec.hidden_size
        q_h, c_scale = self.act[f"l{k}.h"], float(self.act[f"l{k}.c"].scale)
        xw = [nn.functional.linear(x, Ws[j], bs[j]) for j in range(4)]  # [B, T, H] each
        h = _fake(x.new_zeros(B, H), q_h)
        c = x.new_zeros(B, H)
        outs = []
        for t in range(T):
            pre = [xw[j][:, t] + h @ Rs[j].T for j in range(4)]
            if P is not None:
                pre[0] = pre[0] + P[0] * c
                pre[1] = pre[1] + P[1] * c
            pre = [_fake_int16(p, GATE_SCALE) for p in pre]
            i = _fake_int16(torch.sigmoid(pre[0]), Q15)
            f = _fake_int16(torch.sigmoid(pre[1]), Q15)
            g = _fake_int16(torch.tanh(pre[2]), Q15)
            c = _fake_int16(f * c + i * g, c_scale)
            po = pre[3] if P is None else _fake_int16(pre[3] + P[2] * c, GATE_SCALE)
            o = _fake_int16(torch.sigmoid(po), Q15)
            h = _fake(o * torch.tanh(c), q_h)
            outs.append(h)
        return torch.stack(outs, dim=1)

    def forward(self, x: torch.Tensor, lengths: torch.Tensor | None = None) -> torch.Tensor:
        out = _fake((x - self.norm_mean) * (1.0 / self.norm_std), self.act["input"])
        for k in range(self.spec.num_layers):
            out = self._layer(out, k)
        if lengths is None:
            lengths = torch.full((x.shape[0],), x.shape[1], dtype=torch.long)
        lengths = lengths.to(torch.long)
        if self.spec.head == "last":
            pooled = out[torch.arange(out.shape[0]), lengths - 1]
        else:
            mask = (torch.arange(out.shape[1])[None, :] < lengths[:, None]).to(out.dtype)
            pooled = (out * mask[:, :, None]).sum(dim=1) / lengths[:, None].to(out.dtype)
            pooled = _fake(pooled, self.act["head.pool"])
        s_in = float(self.act[pool_point(self.spec)].scale)
        w = self.head.weight
        s_w = (w.detach().abs().amax(dim=1).clamp_min(1e-12) / 127.0).to(torch.float32)
        w_q = torch.fake_quantize_per_channel_affine(
            w, s_w, torch.zeros_like(s_w, dtype=torch.int32), 0, -127, 127
        )
        step = s_in * s_w
        b = self.head.bias
        b_q = b + (torch.round(b / step) * step - b).detach()
        return _fake(nn.functional.linear(pooled, w_q, b_q), self.act["head.y"])
