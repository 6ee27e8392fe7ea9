"""GRU -> builtin TFLite ops (TFLite has no GRU op; DESIGN.md section 2 gives the equations).

Designed for speed and size from the measurements in issue 4 / MEASUREMENTS.md:

- The input projection of layer 0 for ALL steps is ONE FULLY_CONNECTED before the recurrence
  (GX [T, 3H] = x W^T + b: a GEMM instead of T GEMVs). b_hr and b_hz are folded into its bias
  (r and z only ever see b_ir + b_hr); b_hn stays with the recurrent projection because r
  multiplies it.
- Per step only what the equations need (13 ops; 9 at t = 0 where h = 0):
  2 SLICE (that step's row of GX), FULLY_CONNECTED h R_rz^T, FULLY_CONNECTED h R_n^T + b_hn,
  ADD, LOGISTIC, SPLIT (r | z), MUL, ADD, TANH, SUB, MUL, ADD  (h' = n + z (.) (h - n)).
- Everything XNNPACK delegates, so the whole recurrence is ONE partition: no T-way SPLIT or
  CONCATENATION, no SPLIT_V, no FULLY_CONNECTED with a computed bias, no GATHER in the unrolled
  graph. Layers above the first project their input per step (a T-input CONCATENATION to batch
  it would split the partition).

Layouts:
- ``unrolled``: T copies of the step. Meant for runtimes where XNNPACK's weight cache dedups
  the T packed copies of R (LiteRT CompiledModel + ``xnnpack_weight_cache_path``); under a
  plain Interpreter XNNPACK packs R once per FULLY_CONNECTED (T copies: slower, more memory).
- ``loop``: a WHILE whose body runs S steps (S divides T). GX rides along as a loop variable the
  body returns unchanged: while.cc copies body outputs to body inputs with TfLiteTensorCopy,
  which returns at once when source and destination are the same tensor, so it costs nothing
  per iteration. The counter (ADD int32) and the GATHER of the iteration's rows stay with the
  builtin kernels: one partition switch per iteration. Weights are stored once: the smallest
  file, and the right form for runtimes without CompiledModel (tflite_runtime on older Pis).
  The default: in bench/results/tflite.json it is as fast as ``unrolled`` at h64 and twice as
  fast at h128x2 (S = 2 measured best among 1, 2, 5, 10).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from edgegru.export.tflite import ops
from edgegru.export.tflite.builder import ModelBuilder, SubgraphBuilder
from edgegru.export.tflite.lowerings import LOWERINGS, Pooled, Request, States
from edgegru.export.tflite.weights import Layer, f32

LAYOUTS = ("unrolled", "loop")
DEFAULT_LAYOUT = "loop"  # bench/results/tflite.json: as fast or faster, smallest, any runtime
# Runtime setting each layout needs to be fast (issue 4 measurements), copied to the manifest.
RUNTIME = {
    "unrolled": "CompiledModel + XNNPACK weight cache "
    "(CpuOptions(num_threads=1, xnnpack_weight_cache_path=':memory'))",
    "loop": "Interpreter or CompiledModel (any LiteRT / tflite_runtime; default XNNPACK delegate)",
}
STEPS_PER_ITERATION = 2  # measured fastest on workload P (S = 1, 2, 5, 10) and ~1.4 KB per step


@dataclass(frozen=True)
class GruWeights:
    """One layer, float32, split the way the graph uses it (H = hidden size)."""

    Wx: np.ndarray  # [3H, I]  W_ir, W_iz, W_in
    bx: np.ndarray  # [3H]     b_ir + b_hr, b_iz + b_hz, b_in
    R_rz: np.ndarray  # [2H, H]  W_hr, W_hz
    R_n: np.ndarray  # [H, H]   W_hn
    b_hn: np.ndarray | None  # [H] (None when zero: one op less per step)

    @staticmethod
    def of(layer: Layer) -> GruWeights:
        H = layer.R.shape[1]
        bx = layer.Wb + np.concatenate([layer.Rb[: 2 * H], np.zeros(H)])
        b_hn = layer.Rb[2 * H :]
        return GruWeights(
            Wx=f32(layer.W),
            bx=f32(bx),
            R_rz=f32(layer.R[: 2 * H]),
            R_n=f32(layer.R[2 * H :]),
            b_hn=f32(b_hn) if np.any(b_hn) else None,
        )

    @property
    def H(self) -> int:
        return self.R_n.shape[0]


def gru_cell(
    g: SubgraphBuilder, p: str, w: GruWeights, k: int, gx: tuple[int, int], h: int | None
) -> int:
    """h' from this step's input projections gx = (gx_rz [1, 2H], gx_n [1, H]) and h [1, H]
    (None: the zero initial state, where R h = 0)."""
    gx_rz, gx_n = gx
    b_hn = None if w.b_hn is None else g.const(f"l{k}/b_hn", w.b_hn)
    if h is None:
        pre_rz = gx_rz
        hn = b_hn  # R_n 0 + b_hn
    else:
        R_rz, R_n = g.const(f"l{k}/R_rz", w.R_rz), g.const(f"l{k}/R_n", w.R_n)
        hr = ops.fully_connected(g, f"{p}/hrz", h, R_rz, None)  # [1, 2H]
        pre_rz = ops.add(g, f"{p}/prz", gx_rz, hr)
        hn = ops.fully_connected(g, f"{p}/hn", h, R_n, b_hn)  # [1, H]
    rz = ops.logistic(g, f"{p}/rz", pre_rz)
    r, z = ops.split(g, f"{p}/s", rz, 2)
    pre_n = gx_n if hn is None else ops.add(g, f"{p}/pn", gx_n, ops.mul(g, f"{p}/rhn", r, hn))
    n = ops.tanh(g, f"{p}/n", pre_n)
    if h is None:  # h' = (1 - z) n = n - z n
        return ops.sub(g, f"{p}/h", n, ops.mul(g, f"{p}/zn", z, n))
    d = ops.sub(g, f"{p}/d", h, n)
    return ops.add(g, f"{p}/h", n, ops.mul(g, f"{p}/zd", z, d))


def project_step(g: SubgraphBuilder, p: str, w: GruWeights, k: int, x: int) -> tuple[int, int]:
    """Per-step input projection (layers above the first, and the step model)."""
    H = w.H
    Wrz, brz = g.const(f"l{k}/Wx_rz", w.Wx[: 2 * H]), g.const(f"l{k}/bx_rz", w.bx[: 2 * H])
    Wn, bn = g.const(f"l{k}/Wx_n", w.Wx[2 * H :]), g.const(f"l{k}/bx_n", w.bx[2 * H :])
    return (
        ops.fully_connected(g, f"{p}/xrz", x, Wrz, brz),
        ops.fully_connected(g, f"{p}/xn", x, Wn, bn),
    )


def _run_steps(
    g: SubgraphBuilder,
    layers: list[GruWeights],
    gx: list[int],
    cols: list[tuple[int, int]],
    h0: list[int | None],
) -> tuple[list[int], list[int]]:
    """Every layer over len(cols) steps; step s of layer 0 reads its input projection in
    gx[s] at cols[s] = (row, column).
    Returns the final h per layer and the top layer's h per step."""
    below: list[int] = []
    finals = []
    for k, (w, h_init) in enumerate(zip(layers, h0, strict=True)):
        H, outs, h = w.H, [], h_init
        for s, (row, col) in enumerate(cols):
            p = f"l{k}t{s}"
            if k == 0:  # this step's row of the precomputed projection: static SLICEs
                gx_s = (
                    ops.slice_(g, f"{p}/grz", gx[s], [row, col], [1, 2 * H]),
                    ops.slice_(g, f"{p}/gn", gx[s], [row, col + 2 * H], [1, H]),
                )
            else:
                gx_s = project_step(g, p, w, k, below[s])
            h = gru_cell(g, p, w, k, gx_s, h)
            outs.append(h)
        finals.append(outs[-1])
        below = outs
    return finals, below


def steps_per_iteration(T: int, wanted: int) -> int:
    """The largest S <= wanted that divides T."""
    return max(s for s in range(1, min(T, wanted) + 1) if T % s == 0)


class GruLowering:
    layouts = LAYOUTS

    def sequence(self, m: ModelBuilder, g: SubgraphBuilder, x: int, req: Request) -> Pooled:
        layers = [GruWeights.of(layer) for layer in req.layers]
        layout = req.options.get("layout", DEFAULT_LAYOUT)
        if layout not in LAYOUTS:
            raise ValueError(f"unknown GRU layout {layout!r} (known: {', '.join(LAYOUTS)})")
        T, L, H = req.seq_len, req.spec.num_layers, req.spec.hidden_size
        mean = req.spec.head == "mean"
        w0 = layers[0]
        Wx, bx = g.const("l0/Wx", w0.Wx), g.const("l0/bx", w0.bx)
        gx = ops.fully_connected(g, "l0/gx", x, Wx, bx)  # [T, 3H]: every step at once
        details: dict = {"layout": layout, "runtime": RUNTIME[layout]}
        if layout == "unrolled":
            _, tops = _run_steps(g, layers, [gx] * T, [(t, 0) for t in range(T)], [None] * L)
            if not mean:
                return Pooled(tops[-1], 1.0, details)
            acc = tops[0]
            for t in range(1, T):
                acc = ops.add(g, f"sum{t}", acc, tops[t])
            return Pooled(acc, 1.0 / T, details)

        wanted = int(req.options.get("steps_per_iteration", STEPS_PER_ITERATION))
        S = steps_per_iteration(T, wanted)
        N = T // S
        details["steps_per_iteration"] = S
        gx2 = ops.reshape(g, "l0/gx2", gx, (N, S * 3 * H))  # row i: the steps of iteration i
        zero = g.const("zeros", np.zeros((1, H), np.float32))
        i0 = g.const("i0", np.zeros(1, np.int32))
        init = [i0, *([zero] * L), *([zero] if mean else []), gx2]
        names = ["i", *[f"h{k}" for k in range(L)], *(["sum"] if mean else []), "gx2"]
        cond, body = m.subgraph("cond"), m.subgraph("body")

        def loop_vars(sg: SubgraphBuilder) -> list[int]:
            return [
                sg.tensor(n, g.shape_of(t), ops.g_dtype(g, t))
                for n, t in zip(names, init, strict=True)
            ]

        cv = loop_vars(cond)
        cond.set_io(cv, [ops.less(cond, "go", cv[0], cond.const("n", np.array([N], np.int32)))])

        bv = loop_vars(body)
        i_next = ops.add(body, "i1", bv[0], body.const("one", np.array([1], np.int32)))
        row = ops.gather(body, "row", bv[-1], bv[0])  # [1, S*3H] (builtin: counter-indexed)
        if 2 <= S <= 4:
            # One SPLIT into the S steps' rows [1, 3H] (XNNPACK takes 2-4 outputs), so every
            # step slices at the same offsets and shares the SLICE constants: smaller file.
            parts = ops.split(body, "rows", row, S)
            cols = [(0, 0)] * S
        else:
            parts, cols = [row] * S, [(0, s * 3 * H) for s in range(S)]
        finals, tops = _run_steps(body, layers, parts, cols, list(bv[1 : 1 + L]))
        outs = [i_next, *finals]
        if mean:
            acc = bv[1 + L]
            for s, h in enumerate(tops):
                acc = ops.add(body, f"sum{s}", acc, h)
            outs.append(acc)
        body.set_io(bv, [*outs, bv[-1]])  # gx2 returned as is: no copy per iteration

        res = ops.while_(g, "loop", init, cond, body)
        return Pooled(res[1 + L] if mean else res[L], 1.0 / T if mean else 1.0, details)

    def step(
        self, g: SubgraphBuilder, x_t: int, states: States, req: Request
    ) -> tuple[int, States]:
        inp, new_h = x_t, []
        for k, (layer, h) in enumerate(zip(req.layers, states["h"], strict=True)):
            w = GruWeights.of(layer)
            inp = gru_cell(g, f"l{k}", w, k, project_step(g, f"l{k}", w, k, inp), h)
            new_h.append(inp)
        return inp, {"h": new_h}


LOWERINGS.register("gru")(GruLowering())
