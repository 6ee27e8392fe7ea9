"""LSTM and peephole LSTM -> builtin int8 ops (``layout=lowered`` / ``unrolled`` of int8-static
files): the graph of ``edgegru.quantize.lstm_lowered_reference``, op for op, with its scales,
int8 weights and int32 biases (read from that NumPy model, so the two cannot drift apart). For
runtimes without TFLite's integer LSTM kernel, TFLite Micro above all.

Per layer: ONE FULLY_CONNECTED projects every step's input at once (gx [T, 4H], layer 0; the
layers above project the layer below's h per step); per step FULLY_CONNECTED gh, ADD, SPLIT
(i | f | g | o), LOGISTIC x3, TANH, MUL f c, MUL i g, ADD (c'), TANH(c'), MUL (h'); a peephole
adds MUL (by the int8 peephole vector) and ADD on i, f (reading c) and o (reading c'). h and c
start at their zero points (h = c = 0) and stay int8 from step to step (one scale in and out).

Why one scale for the four gates' pre-activations (unlike the GRU's two FULLY_CONNECTEDs): every
gate is a squashing function of its pre-activation (no candidate path multiplied by a gate
before its nonlinearity), so the four ranges are alike and one tensor saves a FULLY_CONNECTED
and an ADD per step.

Layouts as the float lowering's (``lstm_lowered.py``): ``lowered`` is a WHILE, one step per
iteration, h and c of every layer loop variables, gx riding along unchanged; ``unrolled`` is T
copies of the step. With ``lengths`` the WHILE stops after n iterations (GRU ``LoopVars`` with
one step per iteration) and ``unrolled`` GATHERs the valid step, as the float files do; the
mean's float32 running sum and the head are the GRU int8 lowering's (``gru_int8``).

The step form takes the app's float32 h and c, QUANTIZEs each at l{k}.h / l{k}.cell and
DEQUANTIZEs the new ones: exact both ways (the states are on those grids), so the step form
computes the sequence form's states bit for bit.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from edgegru.cellspec import INTEGER_LSTM
from edgegru.export.tflite import ops
from edgegru.export.tflite import ops_int8 as q8
from edgegru.export.tflite.builder import ModelBuilder, SubgraphBuilder
from edgegru.export.tflite.lengths import Lengths
from edgegru.export.tflite.lowerings.gru import LoopVars
from edgegru.export.tflite.lowerings.gru_int8 import (
    Int8Pooled,
    _accumulate,
    _pool,
    loop_subgraphs,
    pool_tops,
)
from edgegru.export.tflite.lowerings.lstm_lowered import LOWERED_LAYOUTS, PADDING_HOW, RUNTIME
from edgegru.quantize.lstm_lowered_reference import (
    LOWERED,
    Int8LstmLoweredLayer,
    Int8LstmLoweredModel,
)
from edgegru.types import ModelSpec

# state name -> the layer point it is quantized at (the step form's float states)
STATE_POINTS = {"h": "h", "c": "cell"}


@dataclass
class _Consts:
    """One layer's constant tensors in one subgraph (the unrolled steps share them)."""

    x: tuple[int, int] | None  # W, b (None: this subgraph reads layer 0's gx instead)
    h: tuple[int, int]  # R, no bias
    P: list[int] | None  # p_i, p_f, p_o [1, H] int8

    @staticmethod
    def of(g: SubgraphBuilder, k: int, layer: Int8LstmLoweredLayer, projection: bool) -> _Consts:
        P = None
        if layer.P is not None and layer.q_p is not None:
            P = [
                g.const(f"l{k}/P_{n}", layer.P[j][None, :], quantization=q8.qp(layer.q_p[j]))
                for j, n in enumerate("ifo")
            ]
        x = q8.fc_consts(g, f"l{k}/x", layer.x) if projection else None
        return _Consts(x, q8.fc_consts(g, f"l{k}/R", layer.h), P)


def lstm_cell(
    g: SubgraphBuilder, p: str, layer: Int8LstmLoweredLayer, w: _Consts, gx: int, h: int, c: int
) -> tuple[int, int]:
    """One step of ``Int8LstmLoweredLayer.step``: (h', c') from this step's gx [1, 4H]."""
    q = layer.q
    gh = q8.fully_connected(g, f"{p}/gh", h, layer.h, w.h)
    pre = q8.binary(g, "ADD", f"{p}/pre", gx, gh, q["pre"])
    pi, pf, pg, po = ops.split(g, f"{p}/gates", pre, 4)

    def peep(x: int, state: int, j: int, prod: str, out: str) -> int:
        assert w.P is not None
        pc = q8.binary(g, "MUL", f"{p}/{prod}", state, w.P[j], q[prod])
        return q8.binary(g, "ADD", f"{p}/{out}", x, pc, q[out])

    if w.P is not None:
        pi, pf = peep(pi, c, 0, "ci", "pi"), peep(pf, c, 1, "cf", "pf")
    i, f = q8.logistic(g, f"{p}/i", pi), q8.logistic(g, f"{p}/f", pf)
    gg = q8.tanh(g, f"{p}/g", pg)
    fc = q8.binary(g, "MUL", f"{p}/fc", f, c, q["fc"])
    ig = q8.binary(g, "MUL", f"{p}/ig", i, gg, q["ig"])
    c2 = q8.binary(g, "ADD", f"{p}/c", fc, ig, q["cell"])
    if w.P is not None:
        po = peep(po, c2, 2, "co", "po")
    o = q8.logistic(g, f"{p}/o", po)
    return q8.binary(g, "MUL", f"{p}/h", o, q8.tanh(g, f"{p}/tc", c2), q["h"]), c2


def _step(
    g: SubgraphBuilder, p: str, model: Int8LstmLoweredModel, consts: list[_Consts], gx0: int,
    h: list[int], c: list[int],
) -> tuple[list[int], list[int]]:  # fmt: skip
    """Every layer for one step: layer 0 from its precomputed gx, the others project h below."""
    new_h: list[int] = []
    new_c: list[int] = []
    for k, (layer, w) in enumerate(zip(model.layers, consts, strict=True)):
        assert isinstance(layer, Int8LstmLoweredLayer)
        gx = gx0 if k == 0 else q8.fully_connected(g, f"{p}l{k}/gx", new_h[-1], layer.x, w.x)
        hk, ck = lstm_cell(g, f"{p}l{k}", layer, w, gx, h[k], c[k])
        new_h.append(hk)
        new_c.append(ck)
    return new_h, new_c


def _zero_states(g: SubgraphBuilder, model: Int8LstmLoweredModel, H: int) -> list[int]:
    """h0 of every layer, then c0 of every layer: int8 zero points."""
    return [
        q8.full(g, f"l{k}/{name}0", (1, H), layer.q[point], 0.0)
        for name, point in STATE_POINTS.items()
        for k, layer in enumerate(model.layers)
    ]


class LstmLoweredInt8Lowering:
    layouts = LOWERED_LAYOUTS
    kernel = "the LSTM's gates as int8 builtin ops"
    state_note = "int8 h and c"
    float_states = False
    state_points = STATE_POINTS  # ``step`` takes and returns int8 h and c (graph_int8)
    reference_graph = LOWERED  # lstm_lowered_reference's Int8LstmLoweredModel
    step_runtime = "any: Interpreter or CompiledModel (no loop, no variable tensors)"

    def __init__(self, peepholes: bool) -> None:
        self.weights_note = "int8 symmetric per output channel, int32 bias" + (
            ", int8 peepholes per gate" if peepholes else ""
        )

    def sequence(
        self, m: ModelBuilder, g: SubgraphBuilder, x_q: int, T: int,
        model: Int8LstmLoweredModel, options: dict, lengths: Lengths | None = None,
    ) -> Int8Pooled:  # fmt: skip
        """x_q [1, T, I] int8 at the input point -> the int8 tensor the head reads."""
        layout = options.get("layout", "lowered")
        L, H = len(model.layers), model.layers[0].h.W.shape[1]
        mean = model.head_kind == "mean"
        layer0 = model.layers[0]
        assert isinstance(layer0, Int8LstmLoweredLayer)
        gx = q8.fully_connected(g, "l0/gx", x_q, layer0.x)  # [T, 4H]: every step at once
        states = _zero_states(g, model, H)
        details: dict = {"layout": layout, "runtime": RUNTIME}
        if layout == "unrolled":
            consts = [_Consts.of(g, k, lay, k > 0) for k, lay in enumerate(model.layers)]
            h, c, tops = states[:L], states[L:], []
            for t in range(T):
                gx_t = ops.slice_(g, f"t{t}/gx", gx, [t, 0], [1, 4 * H])
                h, c = _step(g, f"t{t}", model, consts, gx_t, h, c)
                tops.append(h[-1])
            return pool_tops(g, model, tops, lengths, details)

        init = [g.const("i0", np.zeros(1, np.int32)), *states]
        names = ["i", *[f"{s}{k}" for s in STATE_POINTS for k in range(L)]]
        zero = g.const("zeros", np.zeros((1, H), np.float32))
        if mean:
            init.append(zero)
            names.append("sum")
        lv = LoopVars(lengths, 1, mean)  # with lengths: n iterations, the condition reads n
        init += [*lv.init(g, zero), gx]
        names += [*lv.names, "gx"]
        cond, body, cv, bv, i_next = loop_subgraphs(m, g, names, init)
        lv.condition(cond, cv, names, T)
        consts = [_Consts.of(body, k, lay, k > 0) for k, lay in enumerate(model.layers)]
        row = ops.gather(body, "row", bv[-1], bv[0])  # [1, 4H] int8 (builtin GATHER)
        h, c = _step(body, "", model, consts, row, list(bv[1 : 1 + L]), list(bv[1 + L : 1 + 2 * L]))
        outs = [i_next, *h, *c]
        if mean:
            outs.append(_accumulate(body, "sum1", bv[1 + 2 * L], h[-1]))
        outs += lv.body_outputs(bv[1 + 2 * L + mean : -1], [])
        body.set_io(bv, [*outs, bv[-1]])  # gx returned as is: no copy per iteration
        res = ops.while_(g, "loop", init, cond, body)
        final = res[1 + 2 * L] if mean else res[L]
        if lengths is not None:
            details["padding_how"] = PADDING_HOW  # final: the h (or sum) of step n-1
        return Int8Pooled(_pool(g, model, final, lengths or T) if mean else final, details)

    def step(
        self, g: SubgraphBuilder, x_q: int, states: dict[str, list[int]],
        model: Int8LstmLoweredModel,
    ) -> tuple[int, dict[str, list[int]]]:  # fmt: skip
        """One step on x_q [1, I] int8 and each layer's int8 h, c [1, H] -> (the top h, the new
        h and c of every layer)."""
        consts = [_Consts.of(g, k, lay, True) for k, lay in enumerate(model.layers)]
        layer0 = model.layers[0]
        assert isinstance(layer0, Int8LstmLoweredLayer)
        gx = q8.fully_connected(g, "l0/gx", x_q, layer0.x, consts[0].x)
        h, c = _step(g, "", model, consts, gx, states["h"], states["c"])
        return h[-1], {"h": h, "c": c}


LOWERINGS = {peepholes: LstmLoweredInt8Lowering(peepholes) for peepholes in (False, True)}


def lowered_int8(spec: ModelSpec, options: dict) -> LstmLoweredInt8Lowering | None:
    """This lowering when an int8-static file of a cell whose int8 form is TFLite's integer LSTM
    kernel asks for a lowered layout (builtin ops: what TFLite Micro runs)."""
    if spec.cell_spec.int8 == INTEGER_LSTM and options.get("layout") in LOWERED_LAYOUTS:
        return LOWERINGS[spec.cell_spec.peepholes]
    return None
