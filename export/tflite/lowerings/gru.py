"""GRU -> builtin TFLite ops (TFLite has no GRU op; docs/architecture.md#cells gives the equations).

Designed for speed and size from measurements (bench/tflite.py):

- The input projection of ALL steps is one FULLY_CONNECTED (a GEMM reads its weights once; T
  GEMVs stream them T times): before the recurrence for layer 0 (GX [T, 3H] = x W^T + b), and
  for each layer above over all of the layer below's outputs, stacked by a tree of
  CONCATENATIONs of <= 5 inputs (XNNPACK's limit). b_hr and b_hz are folded into that bias.
- Per step 13 ops (fewer at t = 0, where h = 0) with ONE recurrent FULLY_CONNECTED [3H, H]
  (XNNPACK's per-operator cost is about that of a 64-wide elementwise op, so one GEMV beats two):
  SLICE (that step's row of GX), FULLY_CONNECTED hh = h R^T + [0, 0, b_hn], ADD s = gx + hh,
  SLICE hn, LOGISTIC, SPLIT (rb | z | -), SLICE s_n, MUL, SUB (pre_n), TANH, SUB, MUL, ADD
  (h' = n + z (h - n)). The reset gate's rows of W, b and R are negated so that LOGISTIC yields
  rb = 1 - r and s_n = gx_n + hn serves: gx_n + r hn = s_n - rb hn.
- Everything XNNPACK delegates, so each recurrence is ONE partition: no T-way SPLIT or
  CONCATENATION, no SPLIT_V, no FULLY_CONNECTED with a computed bias, no GATHER in the unrolled
  graph (tests/export/test_tflite_writer.py checks).

Layouts:
- ``unrolled``: T copies of the step. For runtimes where XNNPACK's weight cache dedups the
  packed R of the T FULLY_CONNECTEDs (LiteRT CompiledModel + ``xnnpack_weight_cache_path``:
  verified, the cache holds each weight once); under a plain Interpreter XNNPACK packs R once
  per FULLY_CONNECTED (T copies). XNNPACK also keeps ~3 KB of runtime state per operator
  (~4 MB at H 128 x 2 layers, more than a core's L2): fastest when the model runs back to
  back, slower than ``loop`` when other work evicts it between calls.
- ``loop``: a WHILE whose body runs S steps (S divides T). GX rides along as a loop variable the
  body returns unchanged: while.cc copies body outputs to body inputs with TfLiteTensorCopy,
  which returns at once when source and destination are the same tensor, so it costs nothing
  per iteration. The counter (ADD int32) and the GATHER of the iteration's rows stay with the
  builtin kernels: one partition switch per iteration (~0.15 us). Weights are stored once: the
  smallest file, and the right form for runtimes without CompiledModel (tflite_runtime on older
  Pis). S: 2 when two steps' recurrent weights fit in 128 KB, else 1 (the Interpreter packs a
  copy per FULLY_CONNECTED, so S multiplies them; measured best at h64 and h128x2).

With ``lengths`` (``lengths.py``, docs/padding.md): ``unrolled`` stacks the top layer's h (or
the running sum) of every step and GATHERs step n - 1; ``loop`` stops the WHILE after ceil(n / S)
iterations and also hands out the values after an iteration's first S - 1 steps (``LoopVars``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from edgegru.export.tflite import hybrid, ops
from edgegru.export.tflite.builder import ModelBuilder, SubgraphBuilder
from edgegru.export.tflite.lengths import Lengths, pick
from edgegru.export.tflite.lowerings import LOWERINGS, Pooled, Request, States
from edgegru.export.tflite.weights import Layer, f32

LAYOUTS = ("unrolled", "loop")
DEFAULT_LAYOUT = "loop"  # any runtime, any call pattern; unrolled needs CompiledModel
# Runtime setting each layout needs to be fast (bench/tflite.py), copied to the manifest.
RUNTIME = {
    "unrolled": "CompiledModel + XNNPACK weight cache "
    "(CpuOptions(num_threads=1, xnnpack_weight_cache_path=':memory'))",
    "loop": "Interpreter or CompiledModel (any LiteRT / tflite_runtime; default XNNPACK delegate)",
}
MAX_STEPS_PER_ITERATION = 2  # more: a bigger file (~0.7 KB per layer-step) and more packed copies
PACKED_BUDGET = 128 * 1024  # bytes of recurrent weights one WHILE body may hold
MAX_CONCAT = 5  # XNNPACK delegates CONCATENATION of 2-5 inputs (6+ split the partition)


@dataclass(frozen=True)
class GruWeights:
    """One layer, float32, the way the graph uses it (H = hidden size). The reset gate's rows
    are negated (``rb``: LOGISTIC gives 1 - r)."""

    Wx: np.ndarray  # [3H, I]  -W_ir, W_iz, W_in
    bx: np.ndarray  # [3H]     -(b_ir + b_hr), b_iz + b_hz, b_in
    R: np.ndarray  # [3H, H]   -W_hr, W_hz, W_hn
    b_hh: np.ndarray | None  # [3H]  0, 0, b_hn (None when b_hn is zero)
    int8: bool = False  # int8-dynamic: Wx and R written as int8 per channel (``hybrid``)

    @staticmethod
    def of(layer: Layer, int8: bool = False) -> GruWeights:
        H = layer.R.shape[1]
        sign = np.concatenate([-np.ones(H), np.ones(2 * H)])  # [3H]
        bx = layer.Wb + np.concatenate([layer.Rb[: 2 * H], np.zeros(H)])
        b_hh = np.concatenate([np.zeros(2 * H), layer.Rb[2 * H :]])
        return GruWeights(
            Wx=f32(layer.W * sign[:, None]),
            bx=f32(bx * sign),
            R=f32(layer.R * sign[:, None]),
            b_hh=f32(b_hh) if np.any(b_hh) else None,
            int8=int8,
        )

    @property
    def H(self) -> int:
        return self.R.shape[1]


def gru_cell(g: SubgraphBuilder, p: str, w: GruWeights, k: int, gx: int, h: int | None) -> int:
    """h' from this step's input projection gx [1, 3H] and h [1, H] (None: the zero initial
    state, where R h = 0). Equations: docs/architecture.md#cells (PyTorch's GRU,
    linear_before_reset)."""
    H = w.H
    b_hh = None if w.b_hh is None else g.const(f"l{k}/b_hh", w.b_hh)
    if h is not None:
        R = hybrid.weight(g, f"l{k}/R", w.R, w.int8)
        hh = ops.fully_connected(g, f"{p}/hh", h, R, b_hh)  # [1, 3H]
        s = ops.add(g, f"{p}/s", gx, hh)
        hn = ops.slice_(g, f"{p}/hn", hh, [0, 2 * H], [1, H])
    elif b_hh is not None:  # R 0 + b_hh
        s = ops.add(g, f"{p}/s", gx, b_hh)
        hn = g.const(f"l{k}/b_hn", w.b_hh[None, 2 * H :])  # [1, H]
    else:
        s, hn = gx, None
    # s = [-pre_r, pre_z, gx_n + hn]
    rb, z, _ = ops.split(g, f"{p}/g", ops.logistic(g, f"{p}/sig", s), 3)  # rb = 1 - r
    s_n = ops.slice_(g, f"{p}/sn", s, [0, 2 * H], [1, H])
    # gx_n + r hn = s_n - rb hn
    pre_n = s_n if hn is None else ops.sub(g, f"{p}/pn", s_n, ops.mul(g, f"{p}/rhn", rb, hn))
    n = ops.tanh(g, f"{p}/n", pre_n)
    if h is None:  # h' = (1 - z) n = n - z n
        return ops.sub(g, f"{p}/h", n, ops.mul(g, f"{p}/zn", z, n))
    d = ops.sub(g, f"{p}/d", h, n)
    return ops.add(g, f"{p}/h", n, ops.mul(g, f"{p}/zd", z, d))


def project(g: SubgraphBuilder, p: str, w: GruWeights, k: int, x: int) -> int:
    """x [n, I] -> GX [n, 3H] = x W^T + b: one FULLY_CONNECTED for n steps."""
    Wx, bx = hybrid.weight(g, f"l{k}/Wx", w.Wx, w.int8), g.const(f"l{k}/bx", w.bx)
    return ops.fully_connected(g, f"{p}/gx", x, Wx, bx)


def stack_rows(g: SubgraphBuilder, name: str, xs: list[int]) -> int:
    """n tensors [1, D] -> [n, D] as a tree of CONCATENATIONs of <= 5 inputs (all in XNNPACK)."""
    level = 0
    while len(xs) > 1:
        groups = [xs[i : i + MAX_CONCAT] for i in range(0, len(xs), MAX_CONCAT)]
        xs = [
            grp[0] if len(grp) == 1
            else ops.concatenation(g, f"{name}/cat{level}_{i}", grp, axis=0)
            for i, grp in enumerate(groups)
        ]  # fmt: skip
        level += 1
    return xs[0]


Source = tuple[int, int, int]  # (tensor, row, column) of one step's gx [1, 3H]


def _run_layer(
    g: SubgraphBuilder, p: str, w: GruWeights, k: int, src: list[Source], h: int | None
) -> list[int]:
    """One layer over len(src) steps, each reading its gx with a static SLICE.
    Returns h after every step."""
    outs = []
    for s, (gx, row, col) in enumerate(src):
        q = f"{p}t{s}"
        whole = g.shape_of(gx) == (1, 3 * w.H)  # already this step's row: no copy
        gx_s = gx if whole else ops.slice_(g, f"{q}/gx", gx, [row, col], [1, 3 * w.H])
        h = gru_cell(g, q, w, k, gx_s, h)
        outs.append(h)
    return outs


def _run_steps(
    g: SubgraphBuilder, layers: list[GruWeights], src: list[Source], h0: list[int | None]
) -> tuple[list[int], list[int]]:
    """Every layer over len(src) steps, layer by layer: layer 0 reads its precomputed input
    projection at src; each layer above projects all of the layer below's outputs at once.
    Returns the final h per layer and the top layer's h per step."""
    finals: list[int] = []
    outs: list[int] = []
    for k, (w, h_init) in enumerate(zip(layers, h0, strict=True)):
        if k > 0:
            gx = project(g, f"l{k}", w, k, stack_rows(g, f"l{k}/rows", outs))
            src = [(gx, s, 0) for s in range(len(outs))]
        outs = _run_layer(g, f"l{k}", w, k, src, h_init)
        finals.append(outs[-1])
    return finals, outs


def steps_per_iteration(T: int, wanted: int) -> int:
    """The largest S <= wanted that divides T."""
    return max(s for s in range(1, min(T, wanted) + 1) if T % s == 0)


def default_steps_per_iteration(layers: list[GruWeights]) -> int:
    """2 when two steps' recurrent weights fit LOOP_PACKED_BUDGET, else 1 (bench: h64 -> 2,
    h128x2 -> 1 were the fastest under the plain Interpreter)."""
    step_bytes = sum(w.R.nbytes for w in layers)
    fits = [s for s in range(1, MAX_STEPS_PER_ITERATION + 1) if s * step_bytes <= PACKED_BUDGET]
    return max(fits, default=1)


# what a file with ``lengths`` does with the padding (its manifest's ``padding_how``)
PADDING_HOW = {
    "unrolled": "all T steps run; the head reads the top layer's h at step n-1 (last) or the "
    "running sum at step n-1 divided by n (mean), n = lengths clamped to 1..T",
    "loop": "the WHILE stops after ceil(n/S) iterations; the head reads the top layer's h at "
    "step n-1 (last) or the sum over steps 0..n-1 divided by n (mean)",
}


def _add(g: SubgraphBuilder, name: str, acc: int | None, h: int) -> int:
    return h if acc is None else ops.add(g, name, acc, h)


def _mean(g: SubgraphBuilder, total: int, lengths: Lengths) -> int:
    return ops.div(g, "mean", total, lengths.count())


def unrolled_pool(
    g: SubgraphBuilder, tops: list[int], mean: bool, lengths: Lengths, accumulate
) -> int:
    """The top layer's h at step n-1, or (mean) the running sum at step n-1: every step's value
    stacked and one row GATHERed (``accumulate(g, name, acc, h)`` adds one step to the sum)."""
    rows = tops
    if mean:
        rows, acc = [], None
        for t, h in enumerate(tops):
            acc = accumulate(g, f"sum{t}", acc, h)
            rows.append(acc)
    return pick(g, "valid", rows, lengths.last())


def pool_unrolled(
    g: SubgraphBuilder, tops: list[int], mean: bool, lengths: Lengths | None, details: dict
) -> Pooled:
    """What the head reads from the top layer's h of every step of an unrolled recurrence: the
    last h, or the sum (the head scaled by 1/T); with ``lengths`` those of step n-1 (the sum
    divided by n)."""
    if lengths is not None:
        pooled = unrolled_pool(g, tops, mean, lengths, _add)
        details["padding_how"] = PADDING_HOW["unrolled"]
        return Pooled(_mean(g, pooled, lengths) if mean else pooled, 1.0, details)
    if not mean:
        return Pooled(tops[-1], 1.0, details)
    acc = tops[0]
    for t in range(1, len(tops)):
        acc = ops.add(g, f"sum{t}", acc, tops[t])
    return Pooled(acc, 1.0 / len(tops), details)


class LoopVars:
    """The WHILE's extra loop variables of a file with ``lengths``: the iteration count
    ceil(n / S) (the condition reads it) and the top h (or the running sum) after each of the
    first S - 1 steps of an iteration, so that the step n-1 can end an iteration anywhere."""

    def __init__(self, lengths: Lengths | None, S: int, mean: bool) -> None:
        self.lengths, self.S = lengths, S
        what = "sum" if mean else "top"
        after = [f"{what}_after{s}" for s in range(S - 1)]
        self.names = [] if lengths is None else ["n_iter", *after]

    def init(self, g: SubgraphBuilder, zero: int) -> list[int]:
        if self.lengths is None:
            return []
        # one step per iteration: n itself (no table lookup)
        n_iter = self.lengths.n if self.S == 1 else self.lengths.iterations(self.S)
        return [n_iter, *[zero] * (self.S - 1)]

    def condition(self, cond: SubgraphBuilder, cv: list[int], names: list[str], N: int) -> None:
        """i < N, or i < n_iter with ``lengths``."""
        if self.lengths is None:
            limit = cond.const("n", np.array([N], np.int32))
        else:
            limit = cv[names.index("n_iter")]
        cond.set_io(cv, [ops.less(cond, "go", cv[0], limit)])

    def body_outputs(self, extra: list[int], per_step: list[int]) -> list[int]:
        """n_iter unchanged (no copy), the values after steps 0..S-2 of this iteration."""
        return [] if self.lengths is None else [extra[0], *per_step[: self.S - 1]]

    def result(self, g: SubgraphBuilder, extra: list[int], final: int) -> int:
        assert self.lengths is not None
        if self.S == 1:
            return final
        return pick(g, "valid", [*extra[1:], final], self.lengths.within(self.S))


class GruLowering:
    layouts = LAYOUTS

    def sequence(self, m: ModelBuilder, g: SubgraphBuilder, x: int, req: Request) -> Pooled:
        layers = [GruWeights.of(layer, hybrid.is_int8(req.options)) for layer in req.layers]
        layout = req.options.get("layout", DEFAULT_LAYOUT)
        if layout not in LAYOUTS:
            raise ValueError(f"unknown GRU layout {layout!r} (known: {', '.join(LAYOUTS)})")
        T, L, H = req.seq_len, req.spec.num_layers, req.spec.hidden_size
        mean = req.spec.head == "mean"
        gx = project(g, "l0", layers[0], 0, x)  # [T, 3H]: every step at once
        details: dict = {"layout": layout, "runtime": RUNTIME[layout]}
        if layout == "unrolled":
            _, tops = _run_steps(g, layers, [(gx, t, 0) for t in range(T)], [None] * L)
            return pool_unrolled(g, tops, mean, req.lengths, details)

        wanted = req.options.get("steps_per_iteration") or default_steps_per_iteration(layers)
        S = steps_per_iteration(T, int(wanted))
        N = T // S
        details["steps_per_iteration"] = S
        gx2 = ops.reshape(g, "l0/gx2", gx, (N, S * 3 * H))  # row i: the steps of iteration i
        zero = g.const("zeros", np.zeros((1, H), np.float32))
        i0 = g.const("i0", np.zeros(1, np.int32))
        lv = LoopVars(req.lengths, S, mean)
        init = [i0, *([zero] * L), *([zero] if mean else []), *lv.init(g, zero), gx2]
        names = ["i", *[f"h{k}" for k in range(L)], *(["sum"] if mean else []), *lv.names, "gx2"]
        cond, body = m.subgraph("cond"), m.subgraph("body")

        def loop_vars(sg: SubgraphBuilder) -> list[int]:
            return [
                sg.tensor(n, g.shape_of(t), ops.g_dtype(g, t))
                for n, t in zip(names, init, strict=True)
            ]

        cv = loop_vars(cond)
        lv.condition(cond, cv, names, N)

        bv = loop_vars(body)
        i_next = ops.add(body, "i1", bv[0], body.const("one", np.array([1], np.int32)))
        row = ops.gather(body, "row", bv[-1], bv[0])  # [1, S*3H] (builtin: counter-indexed)
        if S == 1:
            src = [(row, 0, 0)]
        elif S <= 4:  # one SPLIT into the S steps' rows [1, 3H] (XNNPACK takes 2-4 outputs)
            src = [(part, 0, 0) for part in ops.split(body, "rows", row, S)]
        else:
            src = [(row, 0, s * 3 * H) for s in range(S)]
        finals, tops = _run_steps(body, layers, src, list(bv[1 : 1 + L]))
        outs = [i_next, *finals]
        sums = []
        if mean:
            acc = bv[1 + L]
            for s, h in enumerate(tops):
                acc = ops.add(body, f"sum{s}", acc, h)
                sums.append(acc)
            outs.append(acc)
        extra = bv[2 + L if mean else 1 + L : -1]
        outs += lv.body_outputs(extra, sums if mean else tops)
        body.set_io(bv, [*outs, bv[-1]])  # gx2 returned as is: no copy per iteration

        res = ops.while_(g, "loop", init, cond, body)
        final = res[1 + L] if mean else res[L]
        if req.lengths is None:
            return Pooled(final, 1.0 / T if mean else 1.0, details)
        details["padding_how"] = PADDING_HOW["loop"]
        pooled = lv.result(g, res[2 + L if mean else 1 + L : -1], final)
        return Pooled(_mean(g, pooled, req.lengths) if mean else pooled, 1.0, details)

    def step(
        self, g: SubgraphBuilder, x_t: int, states: States, req: Request
    ) -> tuple[int, States]:
        inp, new_h = x_t, []
        for k, (layer, h) in enumerate(zip(req.layers, states["h"], strict=True)):
            w = GruWeights.of(layer, hybrid.is_int8(req.options))
            inp = gru_cell(g, f"l{k}", w, k, project(g, f"l{k}", w, k, inp), h)
            new_h.append(inp)
        return inp, {"h": new_h}


LOWERINGS.register("gru")(GruLowering())
