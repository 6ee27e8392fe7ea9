"""GRU -> full-integer (int8) builtin TFLite ops: the graph of ``edgegru.quantize.gru_reference``,
op for op, with its scales, int8 weights and int32 biases (read from the NumPy int8 model, so the
two cannot drift apart).

Per layer: two FULLY_CONNECTEDs project every step's input at once (gx_rz [T, 2H], gx_n [T, H]);
per step 13 ops: SLICE gx_rz[t], SLICE gx_n[t] (the row of this step; the loop layout GATHERs an
iteration's rows instead), FULLY_CONNECTED gh_rz, FULLY_CONNECTED gh_n, ADD, LOGISTIC, SPLIT
(r | z), MUL, ADD, TANH, SUB, MUL, ADD (h' = n + z (h - n)). h starts as the zero point of
l{k}.h (h = 0) and stays int8 from step to step (one scale in and out).

Why not the float lowering's single recurrent FULLY_CONNECTED with the reset rows negated: in int8
one FULLY_CONNECTED has one output scale, so gh_r, gh_z and gh_n would share it, and LOGISTIC would
read [-pre_r, pre_z, s_n] at one input scale; the candidate path (range ~10x the gates') then
costs the gates most of their 8 bits. Two FULLY_CONNECTEDs keep each its own calibrated scale;
XNNPACK's per-op cost is what the extra op adds (measured in bench/tflite_int8.py).

Why int8 (not int16) h: measured on watch GRU-32 (bench/tflite_int8.py, docs/quantization.md):
the int8 file is within 1 point of float with PTQ; TFLite's 16x8 mode would take the int8
LOGISTIC/TANH tables and most of XNNPACK (no int16 ADD/MUL/FULLY_CONNECTED there) with it:
TFLite's builtin kernels run this int8 graph 5x (h64) to 9x (h128x2) slower than XNNPACK.
basicmotions' drop was the int8 logits, not the state (docs/quantization.md): the head may be
16x8 (graph_int8), the state not.

The mean head accumulates DEQUANTIZE(h_t) in float32 (one ADD per step; exact IEEE adds, the
reference does the same) and divides by T once, then QUANTIZEs at head.pool: an int8 running sum
would requantize 50 times.

Layouts as in ``gru.py``: ``unrolled`` (T copies of the step) and ``loop`` (a WHILE whose body
runs S steps; gx_rz and gx_n ride along as loop variables returned unchanged). With ``lengths``
(``lengths.py``) both read the valid steps as ``gru.py`` does; a GATHER moves int8 h exactly
and the mean's float32 running sum stops at step n - 1, as ``quantize.gru_reference`` computes.
"""

from __future__ import annotations

import numpy as np

from edgegru.export.tflite import ops
from edgegru.export.tflite import ops_int8 as q8
from edgegru.export.tflite.builder import ModelBuilder, SubgraphBuilder
from edgegru.export.tflite.lengths import Lengths
from edgegru.export.tflite.lowerings import INT8_LOWERINGS, Int8Pooled, States
from edgegru.export.tflite.lowerings.gru import (
    LAYOUTS,
    PADDING_HOW,
    RUNTIME,
    LoopVars,
    stack_rows,
    steps_per_iteration,
    unrolled_pool,
)
from edgegru.quantize.gru_reference import Int8GruLayer
from edgegru.quantize.reference import Int8Model

DEFAULT_LAYOUT = "loop"
MAX_STEPS_PER_ITERATION = 2
PACKED_BUDGET = 32 * 1024  # int8 recurrent weights of one body (the float budget / 4)


class _Consts:
    """The layer's weight tensors of one subgraph, written once (the unrolled steps share them)."""

    def __init__(self, g: SubgraphBuilder, k: int, layer: Int8GruLayer) -> None:
        self._x: tuple | None = None
        self._h: tuple | None = None
        self.g, self.k, self.layer = g, k, layer

    def h(self) -> tuple:
        if self._h is None:
            g, k, layer = self.g, self.k, self.layer
            self._h = (
                q8.fc_consts(g, f"l{k}/h_rz", layer.h_rz),
                q8.fc_consts(g, f"l{k}/h_n", layer.h_n),
            )
        return self._h

    def x(self) -> tuple:
        if self._x is None:
            g, k, layer = self.g, self.k, self.layer
            self._x = (
                q8.fc_consts(g, f"l{k}/x_rz", layer.x_rz),
                q8.fc_consts(g, f"l{k}/x_n", layer.x_n),
            )
        return self._x


def project(g: SubgraphBuilder, p: str, c: _Consts, x: int) -> tuple[int, int]:
    """x [n, I] int8 -> gx_rz [n, 2H], gx_n [n, H]: one FULLY_CONNECTED each for n steps."""
    (w_rz, w_n), layer = c.x(), c.layer
    return (
        q8.fully_connected(g, f"{p}/gx_rz", x, layer.x_rz, w_rz),
        q8.fully_connected(g, f"{p}/gx_n", x, layer.x_n, w_n),
    )


def gru_cell(g: SubgraphBuilder, p: str, c: _Consts, gx: tuple[int, int], h: int) -> int:
    """One step of ``Int8GruLayer.run``: gx = (gx_rz [1, 2H], gx_n [1, H]) of this step."""
    layer, q = c.layer, c.layer.q
    w_rz, w_n = c.h()
    gh_rz = q8.fully_connected(g, f"{p}/gh_rz", h, layer.h_rz, w_rz)
    gh_n = q8.fully_connected(g, f"{p}/gh_n", h, layer.h_n, w_n)
    pre_rz = q8.binary(g, "ADD", f"{p}/pre_rz", gx[0], gh_rz, q["pre_rz"])
    r, z = ops.split(g, f"{p}/rz", q8.logistic(g, f"{p}/sig", pre_rz), 2)
    rgh = q8.binary(g, "MUL", f"{p}/rgh", r, gh_n, q["rgh"])
    pre_n = q8.binary(g, "ADD", f"{p}/pre_n", gx[1], rgh, q["pre_n"])
    n = q8.tanh(g, f"{p}/n", pre_n)
    d = q8.binary(g, "SUB", f"{p}/d", h, n, q["d"])
    zd = q8.binary(g, "MUL", f"{p}/zd", z, d, q["zd"])
    return q8.binary(g, "ADD", f"{p}/h", n, zd, q["h"])


Source = tuple[int, int, int, int]  # (gx_rz tensor, gx_n tensor, row, width of one step's rz)


def _step_rows(g: SubgraphBuilder, p: str, src: Source, H: int) -> tuple[int, int]:
    """This step's rows [1, 2H], [1, H] of the projections (a static SLICE unless whole)."""
    gx_rz, gx_n, row, s = src
    if g.shape_of(gx_rz) == (1, 2 * H):
        return gx_rz, gx_n
    return (
        ops.slice_(g, f"{p}/gx_rz", gx_rz, [row, s * 2 * H], [1, 2 * H]),
        ops.slice_(g, f"{p}/gx_n", gx_n, [row, s * H], [1, H]),
    )


def _run_steps(
    g: SubgraphBuilder, consts: list[_Consts], src: list[Source], h0: list[int]
) -> tuple[list[int], list[int]]:
    """Every layer over len(src) steps; layers above project the layer below's outputs at once.
    Returns the final h per layer and the top layer's h per step."""
    finals: list[int] = []
    outs: list[int] = []
    for k, (c, h_init) in enumerate(zip(consts, h0, strict=True)):
        H, h = c.layer.h_n.W.shape[0], h_init
        if k > 0:
            gx_rz, gx_n = project(g, f"l{k}", c, stack_rows(g, f"l{k}/rows", outs))
            src = [(gx_rz, gx_n, s, 0) for s in range(len(outs))]
        outs = []
        for s, step_src in enumerate(src):
            p = f"l{k}t{s}"
            h = gru_cell(g, p, c, _step_rows(g, p, step_src, H), h)
            outs.append(h)
        finals.append(h)
    return finals, outs


def _accumulate(g: SubgraphBuilder, name: str, acc: int | None, h: int) -> int:
    """acc + DEQUANTIZE(h) in float32 (the mean head's running sum)."""
    d = q8.dequantize(g, f"{name}/dq", h)
    return d if acc is None else ops.add(g, name, acc, d)


def default_steps_per_iteration(model: Int8Model) -> int:
    step_bytes = sum(layer.h_rz.W.nbytes + layer.h_n.W.nbytes for layer in model.layers)
    fits = [s for s in range(1, MAX_STEPS_PER_ITERATION + 1) if s * step_bytes <= PACKED_BUDGET]
    return max(fits, default=1)


def _pool(g: SubgraphBuilder, model: Int8Model, acc: int, n: int | Lengths) -> int:
    """Mean head: (sum of DEQUANTIZE(h_t)) / n -> QUANTIZE at head.pool (n: T, or the file's
    lengths)."""
    count = n.count() if isinstance(n, Lengths) else g.const("T", np.full((1, 1), n, np.float32))
    mean = ops.div(g, "mean", acc, count)
    return q8.quantize(g, "pool", mean, model.q_pool)


def pool_tops(
    g: SubgraphBuilder, model: Int8Model, tops: list[int], lengths: Lengths | None,
    details: dict,
) -> Int8Pooled:  # fmt: skip
    """What the head reads from the top layer's int8 h of every step of an unrolled recurrence:
    the last h or the mean (with ``lengths``: of steps 0..n-1)."""
    mean = model.head_kind == "mean"
    if lengths is not None:
        details["padding_how"] = PADDING_HOW["unrolled"]
        pooled = unrolled_pool(g, tops, mean, lengths, _accumulate)
        return Int8Pooled(_pool(g, model, pooled, lengths) if mean else pooled, details)
    if not mean:
        return Int8Pooled(tops[-1], details)
    acc = None
    for t, h in enumerate(tops):
        acc = _accumulate(g, f"sum{t}", acc, h)
    return Int8Pooled(_pool(g, model, acc, len(tops)), details)


def loop_subgraphs(
    m: ModelBuilder, g: SubgraphBuilder, names: list[str], init: list[int]
) -> tuple[SubgraphBuilder, SubgraphBuilder, list[int], list[int], int]:
    """A WHILE's cond and body subgraphs with their loop variables (``init``'s shapes, types and
    int8 quantization) and the body's i + 1 (loop variable 0 is the int32 counter i)."""
    cond, body = m.subgraph("cond"), m.subgraph("body")

    def loop_vars(sg: SubgraphBuilder) -> list[int]:
        return [
            sg.tensor(n, g.shape_of(t), ops.g_dtype(g, t), quantization=g.quantization_of(t))
            for n, t in zip(names, init, strict=True)
        ]

    cv, bv = loop_vars(cond), loop_vars(body)
    i_next = ops.add(body, "i1", bv[0], body.const("one", np.array([1], np.int32)))
    return cond, body, cv, bv, i_next


STATE_POINTS = {"h": "h"}  # each layer's int8 h, at its point l{k}.h


class GruInt8Lowering:
    layouts = LAYOUTS
    kernel = "the GRU's gates as int8 builtin ops"
    weights_note = "int8 symmetric per output channel, int32 bias"
    state_note = "int8"
    float_states = False  # ``step`` takes and returns each layer's int8 h
    state_points = STATE_POINTS
    reference_graph = None  # gru_reference.py's model
    step_runtime = "any: Interpreter or CompiledModel (no loop, no variable tensors)"

    def sequence(
        self, m: ModelBuilder, g: SubgraphBuilder, x_q: int, T: int, model: Int8Model,
        options: dict, lengths: Lengths | None = None,
    ) -> Int8Pooled:  # fmt: skip
        """x_q [1, T, I] int8 at the input point -> the int8 tensor the head reads."""
        layout = options.get("layout", DEFAULT_LAYOUT)
        if layout not in LAYOUTS:
            raise ValueError(f"unknown GRU layout {layout!r} (known: {', '.join(LAYOUTS)})")
        L, H = len(model.layers), model.layers[0].h_n.W.shape[0]
        mean = model.head_kind == "mean"
        consts = [_Consts(g, k, layer) for k, layer in enumerate(model.layers)]
        gx_rz, gx_n = project(g, "l0", consts[0], x_q)  # [T, 2H], [T, H]
        h0 = [q8.full(g, f"l{k}/h0", (1, H), model.layers[k].q["h"], 0.0) for k in range(L)]
        details: dict = {"layout": layout, "runtime": RUNTIME[layout]}
        if layout == "unrolled":
            _, tops = _run_steps(g, consts, [(gx_rz, gx_n, t, 0) for t in range(T)], h0)
            return pool_tops(g, model, tops, lengths, details)

        wanted = options.get("steps_per_iteration") or default_steps_per_iteration(model)
        S = steps_per_iteration(T, int(wanted))
        N = T // S
        details["steps_per_iteration"] = S
        rz2 = ops.reshape(g, "l0/gx_rz2", gx_rz, (N, S * 2 * H))  # row i: iteration i's steps
        n2 = ops.reshape(g, "l0/gx_n2", gx_n, (N, S * H))
        i0 = g.const("i0", np.zeros(1, np.int32))
        init = [i0, *h0]
        names = ["i", *[f"h{k}" for k in range(L)]]
        zero = h0[-1]  # the top layer's h = 0, int8
        if mean:
            zero = g.const("zeros", np.zeros((1, H), np.float32))
            init.append(zero)
            names.append("sum")
        lv = LoopVars(lengths, S, mean)
        init += [*lv.init(g, zero), rz2, n2]
        names += [*lv.names, "gx_rz2", "gx_n2"]
        cond, body, cv, bv, i_next = loop_subgraphs(m, g, names, init)
        lv.condition(cond, cv, names, N)
        row_rz = ops.gather(body, "row_rz", bv[-2], bv[0])  # [1, S*2H] (builtin GATHER)
        row_n = ops.gather(body, "row_n", bv[-1], bv[0])  # [1, S*H]
        if S == 1:
            src = [(row_rz, row_n, 0, 0)]
        elif S <= 4:  # one SPLIT each into the S steps' rows (XNNPACK takes 2-4 outputs)
            parts = zip(
                ops.split(body, "rows_rz", row_rz, S),
                ops.split(body, "rows_n", row_n, S),
                strict=True,
            )
            src = [(a, b, 0, 0) for a, b in parts]
        else:
            src = [(row_rz, row_n, 0, s) for s in range(S)]
        body_consts = [_Consts(body, k, layer) for k, layer in enumerate(model.layers)]
        finals, tops = _run_steps(body, body_consts, src, list(bv[1 : 1 + L]))
        outs = [i_next, *finals]
        sums = []
        if mean:
            acc = bv[1 + L]
            for s, h in enumerate(tops):
                acc = _accumulate(body, f"sum{s}", acc, h)
                sums.append(acc)
            outs.append(acc)
        outs += lv.body_outputs(bv[2 + L if mean else 1 + L : -2], sums if mean else tops)
        body.set_io(bv, [*outs, bv[-2], bv[-1]])  # the projections returned as is: no copy

        res = ops.while_(g, "loop", init, cond, body)
        final = res[1 + L] if mean else res[L]
        if lengths is not None:
            details["padding_how"] = PADDING_HOW["loop"]
            final = lv.result(g, res[2 + L if mean else 1 + L : -2], final)
        return Int8Pooled(_pool(g, model, final, lengths or T) if mean else final, details)

    def step(
        self, g: SubgraphBuilder, x_q: int, states: States, model: Int8Model
    ) -> tuple[int, States]:
        """One step on x_q [1, I] int8 and each layer's h [1, H] int8 -> (top h, every new h)."""
        inp, new_h = x_q, []
        for k, (layer, h) in enumerate(zip(model.layers, states["h"], strict=True)):
            c = _Consts(g, k, layer)
            inp = gru_cell(g, f"l{k}", c, project(g, f"l{k}", c, inp), h)
            new_h.append(inp)
        return inp, {"h": new_h}


INT8_LOWERINGS.register("gru")(GruInt8Lowering())
