"""LSTM and peephole LSTM over a full sequence in builtin ops only (``layout=lowered`` or
``unrolled``): for runtimes without the fused UNIDIRECTIONAL_SEQUENCE_LSTM's peepholes or its
variable tensors, TFLite Micro above all (its LSTM kernel rejects peepholes).

The structure is the GRU's (``gru.py``): the input projection of all T steps of layer 0 is ONE
FULLY_CONNECTED (GX [T, 4H] = x W^T + b_ih + b_hh); then per step and layer (PyTorch's gate
order i, f, g, o; peepholes as docs/architecture.md#cells gives them)::

    FULLY_CONNECTED(h, R)            -> hr [1, 4H]   (skipped at t = 0, where h = 0)
    ADD(gx_t, hr)                     -> pre
    SPLIT(pre, 4)                     -> pi, pf, pg, po
    (peephole) MUL(c, P_i), ADD; MUL(c, P_f), ADD
    LOGISTIC(pi), LOGISTIC(pf), TANH(pg)
    MUL(f, c), MUL(i, g), ADD         -> c'
    (peephole) MUL(c', P_o), ADD
    LOGISTIC(po), TANH(c'), MUL       -> h'

Layers above project their input per step (FULLY_CONNECTED of the layer below's h). Layouts:
``lowered`` is a WHILE loop over the steps (one step per iteration, h and c of every layer as
loop variables, GX riding along unchanged: weights stored once, the smallest file);
``unrolled`` is T copies of the step (no control flow; the file grows with T).

With ``lengths`` (``lengths.py``) as the GRU's layouts: ``lowered`` stops the WHILE after n
iterations (n = lengths clamped to 1..T: the count is a loop variable the condition reads), so
its final h is the h of step n-1 and its sum that of steps 0..n-1; ``unrolled`` runs all T steps
and GATHERs the top layer's h (or the running sum) of step n-1.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from edgegru.export.tflite import ops
from edgegru.export.tflite.builder import ModelBuilder, SubgraphBuilder
from edgegru.export.tflite.lowerings import Pooled, Request
from edgegru.export.tflite.lowerings.gru import pool_unrolled
from edgegru.export.tflite.weights import Layer, f32

LOWERED_LAYOUTS = ("lowered", "unrolled")
RUNTIME = "any TFLite runtime with builtin ops (TFLite Micro; LiteRT Interpreter or CompiledModel)"
# what a ``lowered`` file with ``lengths`` does with the padding (its manifest's ``padding_how``;
# ``unrolled`` says the GRU's)
PADDING_HOW = (
    "the WHILE stops after n iterations; the head reads the top layer's h at step n-1 (last) or "
    "the sum over steps 0..n-1 divided by n (mean), n = lengths clamped to 1..T"
)


@dataclass(frozen=True)
class LstmConsts:
    """One layer's constant tensors in a subgraph."""

    W: int  # [4H, I]
    b: int  # [4H] b_ih + b_hh
    R: int  # [4H, H]
    P: tuple[int, int, int] | None  # p_i, p_f, p_o [H]
    H: int

    @staticmethod
    def of(g: SubgraphBuilder, k: int, layer: Layer, projection: bool = True) -> LstmConsts:
        """``projection`` False: no W, b (layer 0 inside the loop body reads GX instead)."""
        P = None
        if layer.P is not None:
            names = zip("ifo", layer.P, strict=True)
            Pi, Pf, Po = (g.const(f"l{k}/P_{n}", f32(v)) for n, v in names)
            P = (Pi, Pf, Po)
        return LstmConsts(
            W=g.const(f"l{k}/W", f32(layer.W)) if projection else -1,
            b=g.const(f"l{k}/b", f32(layer.Wb + layer.Rb)) if projection else -1,
            R=g.const(f"l{k}/R", f32(layer.R)),
            P=P,
            H=layer.R.shape[1],
        )


def lstm_cell(
    g: SubgraphBuilder, p: str, w: LstmConsts, gx: int, h: int | None, c: int | None
) -> tuple[int, int]:
    """(h', c') from this step's projection gx [1, 4H] and the state (None: zero)."""
    pre = (
        gx
        if h is None
        else ops.add(g, f"{p}/pre", gx, ops.fully_connected(g, f"{p}/hr", h, w.R, None))
    )
    pi, pf, pg, po = ops.split(g, f"{p}/s", pre, 4)
    if w.P is not None and c is not None:
        pi = ops.add(g, f"{p}/pi", pi, ops.mul(g, f"{p}/ci", c, w.P[0]))
        pf = ops.add(g, f"{p}/pf", pf, ops.mul(g, f"{p}/cf", c, w.P[1]))
    i = ops.logistic(g, f"{p}/i", pi)
    gg = ops.tanh(g, f"{p}/g", pg)
    ig = ops.mul(g, f"{p}/ig", i, gg)
    if c is None:
        c2 = ig
    else:
        f = ops.logistic(g, f"{p}/f", pf)
        c2 = ops.add(g, f"{p}/c", ops.mul(g, f"{p}/fc", f, c), ig)
    if w.P is not None:
        po = ops.add(g, f"{p}/po", po, ops.mul(g, f"{p}/co", c2, w.P[2]))
    o = ops.logistic(g, f"{p}/o", po)
    return ops.mul(g, f"{p}/h", o, ops.tanh(g, f"{p}/tc", c2)), c2


def _step(
    g: SubgraphBuilder, p: str, consts: list[LstmConsts], gx0: int,
    h: list[int | None], c: list[int | None],
) -> tuple[list[int], list[int]]:  # fmt: skip
    """Every layer for one step: layer 0 from its precomputed gx, the others project h below."""
    new_h, new_c = [], []
    for k, w in enumerate(consts):
        gx = gx0 if k == 0 else ops.fully_connected(g, f"{p}l{k}/gx", new_h[-1], w.W, w.b)
        hk, ck = lstm_cell(g, f"{p}l{k}", w, gx, h[k], c[k])
        new_h.append(hk)
        new_c.append(ck)
    return new_h, new_c


def sequence_lowered(
    m: ModelBuilder, g: SubgraphBuilder, x: int, req: Request, layout: str
) -> Pooled:
    T, L, H = req.seq_len, req.spec.num_layers, req.spec.hidden_size
    mean = req.spec.head == "mean"
    details: dict = {"layout": layout, "runtime": RUNTIME}
    W0 = g.const("l0/W", f32(req.layers[0].W))
    b0 = g.const("l0/b", f32(req.layers[0].Wb + req.layers[0].Rb))
    gx = ops.fully_connected(g, "l0/gx", x, W0, b0)  # [T, 4H]: every step at once
    if layout == "unrolled":
        consts = [LstmConsts.of(g, k, layer, k > 0) for k, layer in enumerate(req.layers)]
        h: list[int | None] = [None] * L
        c: list[int | None] = [None] * L
        tops = []
        for t in range(T):
            gx_t = ops.slice_(g, f"t{t}/gx", gx, [t, 0], [1, 4 * H])
            h, c = _step(g, f"t{t}", consts, gx_t, h, c)
            tops.append(h[-1])
        return pool_unrolled(g, tops, mean, req.lengths, details)

    zero = g.const("zeros", np.zeros((1, H), np.float32))
    init = [
        g.const("i0", np.zeros(1, np.int32)),
        *([zero] * (2 * L)),
        *([zero] if mean else []),
        *([] if req.lengths is None else [req.lengths.n]),  # the iterations to run
        gx,
    ]
    names = [
        "i",
        *[f"h{k}" for k in range(L)],
        *[f"c{k}" for k in range(L)],
        *(["sum"] if mean else []),
        *([] if req.lengths is None else ["n"]),
        "gx",
    ]
    cond, body = m.subgraph("cond"), m.subgraph("body")

    def loop_vars(sg: SubgraphBuilder) -> list[int]:
        return [
            sg.tensor(n, g.shape_of(t), ops.g_dtype(g, t)) for n, t in zip(names, init, strict=True)
        ]

    cv = loop_vars(cond)
    limit = cond.const("n", np.array([T], np.int32)) if req.lengths is None else cv[-2]
    cond.set_io(cv, [ops.less(cond, "go", cv[0], limit)])
    bv = loop_vars(body)
    body_consts = [LstmConsts.of(body, k, layer, k > 0) for k, layer in enumerate(req.layers)]
    i_next = ops.add(body, "i1", bv[0], body.const("one", np.array([1], np.int32)))
    row = ops.gather(body, "row", bv[-1], bv[0])  # [1, 4H] (builtin: counter-indexed)
    h, c = _step(body, "", body_consts, row, list(bv[1 : 1 + L]), list(bv[1 + L : 1 + 2 * L]))
    outs = [i_next, *h, *c]
    if mean:
        outs.append(ops.add(body, "sum1", bv[1 + 2 * L], h[-1]))
    if req.lengths is not None:
        outs.append(bv[-2])  # n returned as is
    body.set_io(bv, [*outs, bv[-1]])  # gx returned as is: no copy per iteration
    res = ops.while_(g, "loop", init, cond, body)
    final = res[1 + 2 * L] if mean else res[L]
    if req.lengths is None:
        return Pooled(final, 1.0 / T if mean else 1.0, details)
    details["padding_how"] = PADDING_HOW  # final: the h (or sum) of step n-1
    return Pooled(ops.div(g, "mean", final, req.lengths.count()) if mean else final, 1.0, details)
