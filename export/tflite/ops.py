"""Builtin TFLite operators as small functions: each appends one operator to a subgraph, creates
its named output tensor(s) and returns their indices.

Input order and options follow ``tensorflow/lite/schema/schema.fbs`` and the kernels in
``tensorflow/lite/kernels/`` (cited per op). Shapes are static: every model edgegru writes has a
fixed batch (1) and, for full sequences, a fixed T.
"""

from __future__ import annotations

import numpy as np

from edgegru.export.tflite.builder import SubgraphBuilder, schema

OPTIONAL = -1  # schema.fbs: "-1 for an optional input that is absent"


def _out(g: SubgraphBuilder, name: str, shape: tuple[int, ...], dtype=np.float32) -> int:
    return g.tensor(name, shape, dtype)


def _like(g: SubgraphBuilder, name: str, shape: tuple[int, ...], x: int) -> int:
    """A tensor with x's type and quantization: the output of an op that only moves values
    (RESHAPE, SLICE, SPLIT, GATHER, CONCATENATION keep an int8 tensor's scale and zero point)."""
    return g.tensor(name, shape, g_dtype(g, x), quantization=g.quantization_of(x))


def fully_connected(g: SubgraphBuilder, name: str, x: int, W: int, b: int | None) -> int:
    """y = x W^T + b (fully_connected.cc: weights [O, I], bias [O] or absent; x [..., I] is
    flattened to [N, I] with keep_num_dims=False). XNNPACK takes it only when W and b are
    constant, so the recurrences never feed a computed bias here."""
    n = int(np.prod(g.shape_of(x)[:-1]))
    o = g.shape_of(W)[0]
    y = _out(g, name, (n, o))
    opts = None
    if g_dtype(g, W) == np.int8 and g_dtype(g, x) == np.float32:
        # hybrid (int8 weights, float input): quantize each input row with its own zero point
        # (fully_connected.cc EvalHybrid; XNNPACK's dynamically quantized FULLY_CONNECTED)
        opts = schema().FullyConnectedOptionsT()
        opts.asymmetricQuantizeInputs = True
    # Otherwise no options table: its defaults (no fused activation, default weights format,
    # keep_num_dims false) are what we want, and every table costs bytes in every step.
    g.op("FULLY_CONNECTED", [x, W, OPTIONAL if b is None else b], [y], opts)
    return y


def _binary(g: SubgraphBuilder, code: str, name: str, a: int, b: int) -> int:
    """Elementwise with broadcasting. Options omitted: the parser's default (fused activation
    NONE) is the one we need, and the empty table would cost bytes per step."""
    shape = np.broadcast_shapes(g.shape_of(a), g.shape_of(b))
    y = _out(g, name, tuple(shape), g_dtype(g, a))
    g.op(code, [a, b], [y])
    return y


def g_dtype(g: SubgraphBuilder, t: int):
    s = schema()
    return {
        s.TensorType.FLOAT32: np.float32,
        s.TensorType.INT32: np.int32,
        s.TensorType.INT8: np.int8,
    }[g._sg.tensors[t].type]


def add(g: SubgraphBuilder, name: str, a: int, b: int) -> int:
    return _binary(g, "ADD", name, a, b)


def sub(g: SubgraphBuilder, name: str, a: int, b: int) -> int:
    return _binary(g, "SUB", name, a, b)


def mul(g: SubgraphBuilder, name: str, a: int, b: int) -> int:
    return _binary(g, "MUL", name, a, b)


def div(g: SubgraphBuilder, name: str, a: int, b: int) -> int:
    return _binary(g, "DIV", name, a, b)


def maximum(g: SubgraphBuilder, name: str, a: int, b: int) -> int:
    return _binary(g, "MAXIMUM", name, a, b)


def minimum(g: SubgraphBuilder, name: str, a: int, b: int) -> int:
    return _binary(g, "MINIMUM", name, a, b)


def floor_div(g: SubgraphBuilder, name: str, a: int, b: int) -> int:
    return _binary(g, "FLOOR_DIV", name, a, b)


def floor_mod(g: SubgraphBuilder, name: str, a: int, b: int) -> int:
    return _binary(g, "FLOOR_MOD", name, a, b)


def cast(g: SubgraphBuilder, name: str, x: int, dtype) -> int:
    """CAST (cast.cc: the output tensor's type is the target; no options needed)."""
    y = _out(g, name, g.shape_of(x), dtype)
    g.op("CAST", [x], [y])
    return y


def _unary(g: SubgraphBuilder, code: str, name: str, x: int) -> int:
    y = _out(g, name, g.shape_of(x))
    g.op(code, [x], [y])
    return y


def logistic(g: SubgraphBuilder, name: str, x: int) -> int:
    return _unary(g, "LOGISTIC", name, x)


def tanh(g: SubgraphBuilder, name: str, x: int) -> int:
    return _unary(g, "TANH", name, x)


def split(g: SubgraphBuilder, name: str, x: int, parts: int, axis: int = -1) -> list[int]:
    """Equal parts along ``axis`` (split.cc: inputs axis (int32 scalar), x). XNNPACK takes 2-4
    outputs; a T-way SPLIT is left to the builtin kernel and splits the partition."""
    shape = list(g.shape_of(x))
    axis %= len(shape)
    shape[axis] //= parts
    ax = g.const(f"{name}/axis", np.array(axis, np.int32))
    outs = [_like(g, f"{name}:{k}", tuple(shape), x) for k in range(parts)]
    opts = schema().SplitOptionsT()
    opts.numSplits = parts
    g.op("SPLIT", [ax, x], outs, opts)
    return outs


def slice_(g: SubgraphBuilder, name: str, x: int, begin: list[int], size: list[int]) -> int:
    """Static SLICE (slice.cc: inputs x, begin, size); XNNPACK delegates it when begin and size
    are constant."""
    b = g.const(f"{name}/begin", np.array(begin, np.int32))
    s = g.const(f"{name}/size", np.array(size, np.int32))
    y = _like(g, name, tuple(size), x)
    g.op("SLICE", [x, b, s], [y])
    return y


def reshape(g: SubgraphBuilder, name: str, x: int, shape: tuple[int, ...]) -> int:
    """RESHAPE with the new shape as a constant second input (reshape.cc prefers it to the
    deprecated new_shape option)."""
    s = g.const(f"{name}/shape", np.array(shape, np.int32))
    y = _like(g, name, shape, x)
    g.op("RESHAPE", [x, s], [y])
    return y


def gather(g: SubgraphBuilder, name: str, x: int, index: int) -> int:
    """Rows ``index`` ([1] int32) of x [N, D] -> [1, D] (gather.cc, axis 0)."""
    shape = (1, *g.shape_of(x)[1:])
    y = _like(g, name, shape, x)
    opts = schema().GatherOptionsT()
    opts.axis = 0
    g.op("GATHER", [x, index], [y], opts)
    return y


def reduce_sum(g: SubgraphBuilder, name: str, x: int, axis: int) -> int:
    """SUM over one axis without keep_dims (reduce.cc: inputs x, axes)."""
    shape = list(g.shape_of(x))
    del shape[axis]
    ax = g.const(f"{name}/axis", np.array([axis], np.int32))
    y = _out(g, name, tuple(shape))
    opts = schema().ReducerOptionsT()
    opts.keepDims = False
    g.op("SUM", [x, ax], [y], opts)
    return y


def less(g: SubgraphBuilder, name: str, a: int, b: int) -> int:
    y = _out(g, name, g.shape_of(a), np.bool_)
    g.op("LESS", [a, b], [y])
    return y


def while_(
    g: SubgraphBuilder, name: str, inputs: list[int], cond: SubgraphBuilder, body: SubgraphBuilder
) -> list[int]:
    """WHILE (while.cc): loop variables in == out, same shapes; cond returns one bool."""
    outs = [_like(g, f"{name}:{k}", g.shape_of(t), t) for k, t in enumerate(inputs)]
    opts = schema().WhileOptionsT()
    opts.condSubgraphIndex = cond.index
    opts.bodySubgraphIndex = body.index
    g.op("WHILE", inputs, outs, opts)
    return outs


def concatenation(g: SubgraphBuilder, name: str, xs: list[int], axis: int) -> int:
    """CONCATENATION of a few tensors (XNNPACK takes 2-5 inputs; never T of them)."""
    shape = list(g.shape_of(xs[0]))
    shape[axis] = sum(g.shape_of(t)[axis] for t in xs)
    y = _like(g, name, tuple(shape), xs[0])
    opts = schema().ConcatenationOptionsT()
    opts.axis = axis
    g.op("CONCATENATION", xs, [y], opts)
    return y
