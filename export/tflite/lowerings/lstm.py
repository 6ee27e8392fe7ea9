"""LSTM and peephole LSTM -> TFLite's fused UNIDIRECTIONAL_SEQUENCE_LSTM (one op per layer).

Inputs of the op (tensorflow/lite/kernels/lstm_shared.h, unidirectional_sequence_lstm.cc):
 0 input [B, T, I] (time_major = false)
 1-4 input_to_{input, forget, cell, output}_weights [H, I]      (PyTorch rows i, f, g, o)
 5-8 recurrent_to_{input, forget, cell, output}_weights [H, H]
 9-11 cell_to_{input, forget, output}_weights [H]                (peepholes p_i, p_f, p_o)
 12-15 {input, forget, cell, output}_gate_bias [H]               (b_ih + b_hh)
 16-17 projection weights / bias (absent), 18 output_state, 19 cell_state [B, H] (variable
 tensors), 20-23 layer-norm coefficients (absent).
The kernel's peephole equations are those of docs/architecture.md#cells: p_i and p_f see c, p_o
sees c'.

State: the kernel keeps h and c in variable tensors that persist across invoke(), so a second
call would continue the first sequence. Each layer therefore starts with a one-step "reset" op
on the same state tensors, fed a zero input and built with cell_clip = 1e-30 (the kernel clips
c' to [-clip, clip] and h' = o tanh(c')): it leaves |h|, |c| <= 1e-30, i.e. the zero state up
to float32 rounding of everything downstream, at the cost of one step and no new weights (it
shares the layer's tensors). LiteRT's CompiledModel refuses variable tensors ("Variable tensors
not yet supported"), so these files run under the Interpreter (the manifest says so).

The streaming step form cannot use the fused op (its state is not a plain input): it is lowered
to builtin ops, all delegated to XNNPACK: FULLY_CONNECTED x W^T + b, FULLY_CONNECTED h R^T, ADD,
SPLIT (i | f | g | o), LOGISTIC, TANH, MUL, ADD (+ MUL, ADD per peephole).
"""

from __future__ import annotations

import numpy as np

from edgegru.export.tflite import hybrid, ops
from edgegru.export.tflite.builder import ModelBuilder, SubgraphBuilder, schema
from edgegru.export.tflite.lengths import masked_sum
from edgegru.export.tflite.lowerings import LOWERINGS, Pooled, Request, States
from edgegru.export.tflite.lowerings.lstm_lowered import LOWERED_LAYOUTS, sequence_lowered
from edgegru.export.tflite.weights import f32

# Lengths (``lengths.py``): the fused op has no per-step mask, so it runs all T steps; its output
# at step t depends on steps <= t only, so reading the valid steps' outputs gives the masked
# recurrence's answer for the cost of a GATHER (last) or a MUL by the mask before the SUM (mean).
PADDING_HOW = (
    "the fused LSTM runs all T steps; the head reads its output at step n-1 (last) or the "
    "mean of its outputs at steps 0..n-1 (mean), n = lengths clamped to 1..T"
)
RESET_CELL_CLIP = 1e-30  # a normal float32 (> 1.2e-38): the reset op's state bound
RUNTIME = (
    "Interpreter (the fused LSTM keeps its state in variable tensors, which LiteRT's "
    "CompiledModel does not load)"
)


def _gates(a: np.ndarray) -> list[np.ndarray]:
    return [f32(part) for part in np.split(a, 4, axis=0)]  # i, f, g, o


def _lstm_op(
    g: SubgraphBuilder, x: int, y: int, consts: list[int], state: tuple[int, int], clip: float,
    hybrid_inputs: bool = False,
) -> None:  # fmt: skip
    s = schema()
    opts = s.UnidirectionalSequenceLSTMOptionsT()
    opts.fusedActivationFunction = s.ActivationFunctionType.TANH
    opts.cellClip = clip
    opts.timeMajor = False
    # int8 weights, float activations: lstm_eval.cc EvalHybrid quantizes the input and h per
    # batch row with their own zero points
    opts.asymmetricQuantizeInputs = hybrid_inputs
    absent = ops.OPTIONAL
    W, R, P, B = consts[0:4], consts[4:8], consts[8:11], consts[11:15]
    inputs = [x, *W, *R, *P, *B, absent, absent, *state, absent, absent, absent, absent]
    g.op("UNIDIRECTIONAL_SEQUENCE_LSTM", inputs, [y], opts)


class LstmLowering:
    layouts = ("fused", *LOWERED_LAYOUTS)  # lowered / unrolled: builtin ops (lstm_lowered.py)

    def sequence(self, m: ModelBuilder, g: SubgraphBuilder, x: int, req: Request) -> Pooled:
        T, H = req.seq_len, req.spec.hidden_size
        int8 = hybrid.is_int8(req.options)
        layout = req.options.get("layout", "fused")
        if layout in LOWERED_LAYOUTS:
            if int8:
                from edgegru.errors import BadInput

                raise BadInput(
                    f"layout={layout} has no int8-dynamic (hybrid) form for LSTM cells: export "
                    "float32 or int8-static"
                )
            return sequence_lowered(m, g, x, req, layout)
        inp = x
        for k, layer in enumerate(req.layers):
            width = g.shape_of(inp)[-1]  # I for layer 0, H above
            consts = [
                hybrid.gate_weight(g, f"l{k}/W_{n}", w, int8)
                for n, w in zip("ifco", _gates(layer.W), strict=True)
            ]
            consts += [
                hybrid.gate_weight(g, f"l{k}/R_{n}", w, int8)
                for n, w in zip("ifco", _gates(layer.R), strict=True)
            ]
            if layer.P is not None:
                consts += [
                    hybrid.gate_weight(g, f"l{k}/P_{n}", f32(p), int8)
                    for n, p in zip("ifo", layer.P, strict=True)
                ]
            else:
                consts += [ops.OPTIONAL] * 3
            consts += [
                g.const(f"l{k}/B_{n}", b)
                for n, b in zip("ifco", _gates(layer.Wb + layer.Rb), strict=True)
            ]
            state = (
                g.tensor(f"l{k}/h_state", (1, H), variable=True),
                g.tensor(f"l{k}/c_state", (1, H), variable=True),
            )
            zeros = g.const(f"l{k}/reset_x", np.zeros((1, 1, width), np.float32))
            reset_y = g.tensor(f"l{k}/reset_y", (1, 1, H))
            _lstm_op(g, zeros, reset_y, consts, state, RESET_CELL_CLIP, int8)
            out = g.tensor(f"l{k}/y", (1, T, H))
            _lstm_op(g, inp, out, consts, state, 0.0, int8)  # cell_clip 0: no clipping
            inp = out
        details = {"layout": "fused", "runtime": RUNTIME}
        if int8:
            # The head stays float32 in the hybrid file. With int8 weights XNNPACK runs it as
            # its dynamically quantized FULLY_CONNECTED (qd8), which in LiteRT 2.3 on x86
            # returns without vzeroupper: every builtin SSE kernel after it in the thread (the
            # next invoke's fused LSTM) then runs ~4x slower (h64: 338 vs 87 us; a vzeroupper
            # between the calls restores the 87, measured). The float head costs 3 * H * O
            # more bytes and is as fast under every resolver.
            details["head"] = "float32"
        if req.lengths is not None:
            details["padding_how"] = PADDING_HOW
            if req.spec.head == "mean":
                total = masked_sum(g, "sum", inp, req.lengths)
                return Pooled(ops.div(g, "mean", total, req.lengths.count()), 1.0, details)
            rows = ops.reshape(g, "y_rows", inp, (T, H))
            return Pooled(ops.gather(g, "last", rows, req.lengths.last()), 1.0, details)
        if req.spec.head == "mean":
            return Pooled(ops.reduce_sum(g, "sum", inp, 1), 1.0 / T, details)
        return Pooled(ops.slice_(g, "last", inp, [0, T - 1, 0], [1, 1, H]), 1.0, details)

    def step(
        self, g: SubgraphBuilder, x_t: int, states: States, req: Request
    ) -> tuple[int, States]:
        inp, new_h, new_c = x_t, [], []
        for k, (layer, h, c) in enumerate(zip(req.layers, states["h"], states["c"], strict=True)):
            p = f"l{k}"
            int8 = hybrid.is_int8(req.options)
            W = hybrid.weight(g, f"{p}/W", layer.W, int8)  # [4H, I]
            b = g.const(f"{p}/b", f32(layer.Wb + layer.Rb))  # [4H]
            R = hybrid.weight(g, f"{p}/R", layer.R, int8)  # [4H, H]
            pre = ops.add(
                g,
                f"{p}/pre",
                ops.fully_connected(g, f"{p}/x", inp, W, b),
                ops.fully_connected(g, f"{p}/r", h, R, None),
            )
            pi, pf, pg, po = ops.split(g, f"{p}/s", pre, 4)
            if layer.P is not None:
                Pi, Pf, Po = (
                    g.const(f"{p}/P_{n}", f32(v)) for n, v in zip("ifo", layer.P, strict=True)
                )
                pi = ops.add(g, f"{p}/pi", pi, ops.mul(g, f"{p}/ci", c, Pi))
                pf = ops.add(g, f"{p}/pf", pf, ops.mul(g, f"{p}/cf", c, Pf))
            i = ops.logistic(g, f"{p}/i", pi)
            f = ops.logistic(g, f"{p}/f", pf)
            gg = ops.tanh(g, f"{p}/g", pg)
            c2 = ops.add(g, f"{p}/c", ops.mul(g, f"{p}/fc", f, c), ops.mul(g, f"{p}/ig", i, gg))
            if layer.P is not None:
                po = ops.add(g, f"{p}/po", po, ops.mul(g, f"{p}/co", c2, Po))
            o = ops.logistic(g, f"{p}/o", po)
            inp = ops.mul(g, f"{p}/h", o, ops.tanh(g, f"{p}/tc", c2))
            new_h.append(inp)
            new_c.append(c2)
        return inp, {"h": new_h, "c": new_c}


LOWERINGS.register("lstm")(LstmLowering())
LOWERINGS.register("peephole")(LstmLowering())
