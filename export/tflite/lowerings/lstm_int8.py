"""LSTM and peephole LSTM -> full integer: one UNIDIRECTIONAL_SEQUENCE_LSTM per layer in TFLite's
integer 8x8_16 mode (``edgegru.quantize.lstm_reference`` is its NumPy model and supplies every
int8 weight, int32 bias, int16 peephole and scale written here).

The op's tensors (unidirectional_sequence_lstm.cc, integer path: ``is_integer`` when the input is
int8): input / output int8 at the layer's input / l{k}.h; W_*, R_* int8 symmetric per tensor;
cell_to_* int16 symmetric per tensor; gate biases int32 at s_input * w_scale; output_state int8 at
l{k}.h and cell_state int16 at 2**cell_scale (``CheckedLog2`` requires a power of two), both
variable tensors. Five intermediates (``Prepare`` requires exactly 5 for int8): 0-3 are the
layer-norm gate outputs, read only with layer norm (written as int16 at the kernel's fixed
Q3.12, 2**-12); 4 is the hidden o (.) tanh(c') before projection, whose scale and zero point
the kernel uses for h' (``effective_hidden_scale``, ``hidden_zp``): without projection h' is the
new output_state, so it carries l{k}.h as well (quantize_model.cc gives it the output's).

Zero state at every invoke(): the float lowering's "reset" trick (a one-step op with cell_clip
1e-30) does not carry over: in integer mode cell_clip becomes int16(1e-30 / 2**cell_scale) = 0,
which means "no clipping", and h would not return to its zero point either. Instead a QUANTIZE
writes the zero state into each variable tensor before the layer runs (QUANTIZE of a constant
float zero [1, H]: h = zp_h, c = 0); TFLite lets an op write a variable tensor (it is persistent
arena memory; measured: the next invoke() starts from zero again).

The streaming step form uses the same op with T = 1: the app's float h, c are QUANTIZEd into
the variable tensors (exact: h is on l{k}.h's grid, c on 2**cell_scale's, so QUANTIZE(DEQUANTIZE(q))
= q), the op runs one step, and h_out / c_out are DEQUANTIZEd from its output and from the cell
state tensor it updated in place. So the step form runs the sequence form's kernel and computes
its states bit for bit (tests/export/test_tflite_lstm_int8.py), and needs no builtin-op
emulation of the int16 gemmlowp sigmoid / tanh (which builtin LOGISTIC / TANH do not match).
"""

from __future__ import annotations

import numpy as np

from edgegru.export.tflite import ops
from edgegru.export.tflite import ops_int8 as q8
from edgegru.export.tflite.builder import Quantization, SubgraphBuilder, schema
from edgegru.export.tflite.lengths import Lengths, masked_sum
from edgegru.export.tflite.lowerings import INT8_LOWERINGS, Int8Pooled
from edgegru.export.tflite.lowerings.lstm import PADDING_HOW
from edgegru.quantize.lstm_kernels import GATE_SCALE
from edgegru.quantize.lstm_reference import Int8LstmLayer, Int8LstmModel

RUNTIME = (
    "Interpreter (the fused LSTM keeps its state in variable tensors, which LiteRT's "
    "CompiledModel does not load)"
)


def _q(scale: float, zero_point: int = 0) -> Quantization:
    return Quantization((float(np.float32(scale)),), (int(zero_point),))


def _consts(g: SubgraphBuilder, p: str, layer: Int8LstmLayer) -> list[int]:
    """Inputs 1-15 of the op: W_{i,f,c,o}, R_{i,f,c,o}, cell_to_{i,f,o}, biases."""
    names = "ifco"
    out = [g.const(f"{p}/W_{n}", layer.W[j], quantization=_q(layer.w_scale[j])) for j, n in
           enumerate(names)]  # fmt: skip
    out += [g.const(f"{p}/R_{n}", layer.R[j], quantization=_q(layer.r_scale[j])) for j, n in
            enumerate(names)]  # fmt: skip
    if layer.P is not None and layer.p_scale is not None:
        out += [g.const(f"{p}/P_{n}", layer.P[j], quantization=_q(layer.p_scale[j])) for j, n in
                enumerate("ifo")]  # fmt: skip
    else:
        out += [ops.OPTIONAL] * 3
    s_in = float(np.float32(layer.q_in.scale))
    out += [
        g.const(f"{p}/B_{n}", layer.bias[j], quantization=_q(s_in * float(layer.w_scale[j])))
        for j, n in enumerate(names)
    ]
    return out


def _state_tensors(g: SubgraphBuilder, p: str, layer: Int8LstmLayer, H: int) -> tuple[int, int]:
    h = g.tensor(f"{p}/h_state", (1, H), np.int8, variable=True,
                 quantization=_q(layer.q_h.scale, layer.q_h.zero_point))  # fmt: skip
    c = g.tensor(f"{p}/c_state", (1, H), np.int16, variable=True,
                 quantization=_q(2.0**layer.cell_scale))  # fmt: skip
    return h, c


def _lstm_op(
    g: SubgraphBuilder, p: str, x: int, layer: Int8LstmLayer, state: tuple[int, int], T: int
) -> int:
    """The integer UNIDIRECTIONAL_SEQUENCE_LSTM on x [1, T, I] int8 -> y [1, T, H] int8."""
    H = layer.R.shape[1]
    q_h = _q(layer.q_h.scale, layer.q_h.zero_point)
    inter = [g.tensor(f"{p}/gate{j}", (1, H), np.int16, quantization=_q(GATE_SCALE))
             for j in range(4)]  # fmt: skip
    inter.append(g.tensor(f"{p}/hidden", (1, H), np.int8, quantization=q_h))
    y = g.tensor(f"{p}/y", (1, T, H), np.int8, quantization=q_h)
    opts = schema().UnidirectionalSequenceLSTMOptionsT()
    opts.fusedActivationFunction = schema().ActivationFunctionType.TANH
    opts.cellClip = 0.0  # no clipping (the reference has none)
    opts.projClip = 0.0
    opts.timeMajor = False
    absent = ops.OPTIONAL
    inputs = [x, *_consts(g, p, layer), absent, absent, *state, absent, absent, absent, absent]
    g.op("UNIDIRECTIONAL_SEQUENCE_LSTM", inputs, [y], opts, intermediates=inter)
    return y


def _write_state(g: SubgraphBuilder, src: int, dst: int) -> None:
    """QUANTIZE float32 src into the variable tensor dst (its quantization)."""
    g.op("QUANTIZE", [src], [dst])


class LstmInt8Lowering:
    layouts = ("fused",)
    kernel = "the fused integer LSTM"
    weights_note = (
        "LSTM: int8 symmetric per gate tensor (the integer kernel reads one scale), int16 "
        "peepholes, int32 gate biases; head: int8 per output channel, int32 bias"
    )
    state_note = "int8 h, int16 c (power-of-two scale)"
    step_runtime = RUNTIME
    float_states = True  # ``step`` takes and returns the app's float32 states
    state_points: dict[str, str] = {}  # noqa: RUF012  (no int8 states outside the fused op)
    reference_graph = None  # lstm_reference's Int8LstmModel

    def sequence(
        self, m, g: SubgraphBuilder, x_q: int, T: int, model: Int8LstmModel, options: dict,
        lengths: Lengths | None = None,
    ) -> Int8Pooled:  # fmt: skip
        """x_q [1, T, I] int8 at the input point -> the int8 tensor the head reads."""
        H = model.layers[0].R.shape[1]
        zeros = g.const("zero_state", np.zeros((1, H), np.float32))
        inp = x_q
        for k, layer in enumerate(model.layers):
            state = _state_tensors(g, f"l{k}", layer, H)
            for s in state:
                _write_state(g, zeros, s)
            inp = _lstm_op(g, f"l{k}", inp, layer, state, T)
        details = {"layout": "fused", "runtime": RUNTIME, "cell_state": "int16"}
        if lengths is not None:
            details["padding_how"] = PADDING_HOW
        if model.head_kind == "mean":
            d = q8.dequantize(g, "h_all", inp)  # [1, T, H] float32
            if lengths is None:
                s = ops.reduce_sum(g, "sum", d, 1)
                count = g.const("T", np.full((1, 1), T, np.float32))
            else:  # masked steps add exact zeros: the reference's sum over the valid steps
                s, count = masked_sum(g, "sum", d, lengths), lengths.count()
            mean = ops.div(g, "mean", s, count)
            return Int8Pooled(q8.quantize(g, "pool", mean, model.q_pool), details)
        if lengths is not None:  # the int8 output row at step n-1: a GATHER, exact
            rows = ops.reshape(g, "y_rows", inp, (T, H))
            return Int8Pooled(ops.gather(g, "last", rows, lengths.last()), details)
        last = ops.slice_(g, "last", inp, [0, T - 1, 0], [1, 1, H])
        return Int8Pooled(ops.reshape(g, "last/flat", last, (1, H)), details)

    def step(
        self, g: SubgraphBuilder, x_q: int, states: dict[str, list[int]], model: Int8LstmModel
    ) -> tuple[int, dict[str, list[int]]]:
        """One step on x_q [1, I] int8 and each layer's float h, c [1, H] -> (the top h [1, H]
        int8, the new float h and c of every layer)."""
        H = model.layers[0].R.shape[1]
        inp = ops.reshape(g, "x_q/seq", x_q, (1, 1, g.shape_of(x_q)[-1]))
        new: dict[str, list[int]] = {"h": [], "c": []}
        for k, (layer, h, c) in enumerate(zip(model.layers, states["h"], states["c"], strict=True)):
            state = _state_tensors(g, f"l{k}", layer, H)
            _write_state(g, h, state[0])
            _write_state(g, c, state[1])
            inp = _lstm_op(g, f"l{k}", inp, layer, state, 1)
            new["h"].append(q8.dequantize(g, f"l{k}/h_new", ops.reshape(g, f"l{k}/h1", inp,
                                                                          (1, H))))  # fmt: skip
            new["c"].append(q8.dequantize(g, f"l{k}/c_new", state[1]))
        top = ops.reshape(g, "h_top", inp, (1, H))
        return top, new


INT8_LOWERINGS.register("lstm")(LstmInt8Lowering())
INT8_LOWERINGS.register("peephole")(LstmInt8Lowering())
