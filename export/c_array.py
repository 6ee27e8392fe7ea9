"""``c-array``: a TFLite file as C++ source for a microcontroller build with TFLite Micro.

For each form the writer makes the same flatbuffer as ``--format tflite`` (same options and
precision) and writes three files beside each other (``model`` -> ``model_step``,
``model_int8``, ... for the other forms and precisions):

- ``model_data.h``: the model's size, the tensor arena it needs (measured with TFLite Micro's
  host interpreter, the smallest arena it allocates in), input / state / output shapes, labels
  and the normalization (applied inside the graph; recorded for reference) as constants;
- ``model_data.cc``: the file as a 16-byte aligned ``const unsigned char[]`` and its length;
- ``model_example_main.cc``: a minimal program that runs the model with ``MicroInterpreter`` and
  a ``MicroMutableOpResolver<N>`` registering exactly the N ops the file uses.

The arena is measured here (the ``tflite-micro`` package, an optional extra); a 32-bit MCU needs
no more than that (TFLite Micro's pointer-sized bookkeeping is smaller there).
"""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

from edgegru.errors import BadInput
from edgegru.export import EXPORTERS, ExportConfig, make_artifact
from edgegru.types import Artifact, Bundle, TensorInfo

FORMAT = "c-array"
ALIGN = 16  # TFLite Micro reads the flatbuffer in place: its tensors need aligned data

# MicroMutableOpResolver's builtin registration methods (micro_mutable_op_resolver.h); a builtin
# op's method is the one whose name, without "Add", equals the op's name without underscores.
RESOLVER_METHODS = (
    "AddAbs", "AddAdd", "AddAddN", "AddArgMax", "AddArgMin", "AddAssignVariable",
    "AddAveragePool2D", "AddBatchMatMul", "AddBatchToSpaceNd", "AddBroadcastArgs",
    "AddBroadcastTo", "AddCallOnce", "AddCast", "AddCeil", "AddConcatenation", "AddConv2D",
    "AddCos", "AddCumSum", "AddDepthToSpace", "AddDepthwiseConv2D", "AddDequantize", "AddDiv",
    "AddDynamicUpdateSlice", "AddEmbeddingLookup", "AddElu", "AddEqual", "AddExp",
    "AddExpandDims", "AddFill", "AddFloor", "AddFloorDiv", "AddFloorMod", "AddFullyConnected",
    "AddGather", "AddGatherNd", "AddGreater", "AddGreaterEqual", "AddHardSwish", "AddIf",
    "AddL2Normalization", "AddL2Pool2D", "AddLeakyRelu", "AddLess", "AddLessEqual", "AddLog",
    "AddLogicalAnd", "AddLogicalNot", "AddLogicalOr", "AddLogistic", "AddLogSoftmax",
    "AddMaximum", "AddMaxPool2D", "AddMirrorPad", "AddMean", "AddMinimum", "AddMul", "AddNeg",
    "AddNotEqual", "AddPack", "AddPad", "AddPadV2", "AddPrelu", "AddQuantize",
    "AddReadVariable", "AddReduceAll", "AddReduceMax", "AddReduceMin", "AddRelu", "AddRelu6",
    "AddReshape", "AddResizeBilinear", "AddResizeNearestNeighbor", "AddReverseV2", "AddRound",
    "AddRsqrt", "AddSelectV2", "AddShape", "AddSin", "AddSlice", "AddSoftmax",
    "AddSpaceToBatchNd", "AddSpaceToDepth", "AddSplit", "AddSplitV", "AddSqueeze", "AddSqrt",
    "AddSquare", "AddSquaredDifference", "AddStridedSlice", "AddSub", "AddSum", "AddSvdf",
    "AddTanh", "AddTransposeConv", "AddTranspose", "AddUnpack",
    "AddUnidirectionalSequenceLSTM", "AddVarHandle", "AddWhile", "AddZerosLike",
)  # fmt: skip
_METHOD_OF = {m[3:].upper(): m for m in RESOLVER_METHODS}


def resolver_method(op: str) -> str:
    method = _METHOD_OF.get(op.replace("_", "").upper())
    if method is None:
        raise BadInput(f"TFLite Micro has no kernel for {op}: this file cannot run there")
    return method


def measure_arena(data: bytes) -> int:
    """The smallest tensor arena (bytes) TFLite Micro's interpreter allocates the model in."""
    try:
        from tflite_micro import runtime
    except ImportError:
        raise BadInput(
            "--format c-array measures the arena with TFLite Micro: pip install --pre "
            "tflite-micro (make setup installs it)"
        ) from None
    import os

    def allocates(size: int) -> bool:
        # TFLite Micro reports each failed allocation on stderr: keep a bisection quiet
        saved = os.dup(2)
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, 2)
        try:
            runtime.Interpreter.from_bytes(data, arena_size=size)
            return True
        except RuntimeError:
            return False
        finally:
            os.dup2(saved, 2)
            os.close(saved)
            os.close(devnull)

    lo, hi = 0, max(1 << 22, 16 * len(data))
    if not allocates(hi):
        raise BadInput(
            "TFLite Micro cannot prepare this model (`edgegru check FILE.tflite --target tflm` "
            "names the op it lacks)"
        )
    while hi - lo > 1:
        mid = (lo + hi) // 2
        lo, hi = (lo, mid) if allocates(mid) else (mid, hi)
    return hi


def _ident(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_]", "_", text)


def _c_string(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def positions(data: bytes) -> dict[str, dict[str, int]]:
    """{"input"|"output": {signature name: position}}: MicroInterpreter::input(i) counts the
    subgraph's tensors, which need not follow the signature's order."""
    from edgegru.export.tflite.reader import read_model

    model = read_model(data)
    sg, sig = model.subgraphs[0], model.signatureDefs[0]
    dec = lambda v: v.decode() if isinstance(v, bytes) else v  # noqa: E731
    return {
        "input": {dec(t.name): list(sg.inputs).index(t.tensorIndex) for t in sig.inputs},
        "output": {dec(t.name): list(sg.outputs).index(t.tensorIndex) for t in sig.outputs},
    }


def _shape_lines(kind: str, tensors: tuple[TensorInfo, ...], where: dict[str, int]) -> list[str]:
    lines = []
    for t in tensors:
        dims = ", ".join(str(d) for d in t.shape)
        name, cap = _ident(t.name), kind.capitalize()
        lines.append(f"// {kind} {t.name}: {t.dtype} [{dims}], interpreter.{kind}({where[t.name]})")
        lines.append(f"constexpr int k{cap}Index_{name} = {where[t.name]};")
        lines.append(f"constexpr int k{cap}Shape_{name}[] = {{{dims}}};")
    return lines


def header(
    bundle: Bundle, artifact: Artifact, stem: str, arena: int, where: dict[str, dict[str, int]]
) -> str:
    spec = bundle.spec
    guard = f"EDGEGRU_{stem.upper()}_DATA_H_"
    norm = spec.normalization
    lines = [
        f"// {stem}_data.h: generated by edgegru from the bundle with weights sha256",
        f"// {artifact.source_sha256}. {spec.cell} x{spec.num_layers}, hidden {spec.hidden_size},",
        f"// head {spec.head}, {artifact.form} form, {artifact.precision}; "
        f"TFLite file sha256 {artifact.sha256}.",
        f"#ifndef {guard}",
        f"#define {guard}",
        "",
        f"extern const unsigned char g_{stem}[];  // the .tflite file, {ALIGN}-byte aligned",
        f"extern const unsigned int g_{stem}_len;",
        "",
        f"constexpr unsigned int k{_camel(stem)}Len = {artifact.size_bytes};",
        "// The smallest tensor arena TFLite Micro allocates this model in (measured with its",
        "// interpreter on a 64-bit host; a 32-bit MCU needs no more).",
        f"constexpr unsigned int k{_camel(stem)}ArenaSize = {arena};",
        f"constexpr int kNumFeatures = {spec.input_size};",
        f"constexpr int kNumOutputs = {spec.num_outputs};",
        f"constexpr int kHiddenSize = {spec.hidden_size};",
        f"constexpr int kNumLayers = {spec.num_layers};",
        *_shape_lines("input", artifact.inputs, where["input"]),
        *_shape_lines("output", artifact.outputs, where["output"]),
    ]
    if artifact.form == "step":
        lines += [
            "// Streaming: call once per frame with x [1, F]; copy each state output (h_out, ...)",
            "// into its input (h, ...) before the next frame; zeros start a sequence.",
        ]
    else:
        lines.append(f"// x is the whole window [1, T, F], T = {artifact.inputs[0].shape[1]}.")
    names = spec.labels or tuple(str(i) for i in range(spec.num_outputs))  # unnamed: indices
    labels = ", ".join(_c_string(v) for v in names)
    lines += [
        f"constexpr const char* kLabels[] = {{{labels}}};  // class of each output",
        "// Raw features go in: the model normalizes inside, x_n = (x - mean) / std with:",
    ]
    if norm is not None:
        lines += [
            f"constexpr float kMean[] = {{{', '.join(map(_c_float, norm.mean))}}};",
            f"constexpr float kStd[] = {{{', '.join(map(_c_float, norm.std))}}};",
        ]
    lines += ["", f"#endif  // {guard}", ""]
    return "\n".join(lines)


def _c_float(v: float) -> str:
    text = f"{v:.9g}"  # 9 significant digits round-trip a float32
    return text + ("" if any(c in text for c in ".en") else ".0") + "f"


def _camel(stem: str) -> str:
    return "".join(p.capitalize() for p in stem.split("_"))


def source(stem: str, data: bytes) -> str:
    rows = [
        "  " + ", ".join(f"0x{b:02x}" for b in data[i : i + 12]) + ","
        for i in range(0, len(data), 12)
    ]
    return "\n".join([
        f'#include "{stem}_data.h"',
        "",
        f"alignas({ALIGN}) const unsigned char g_{stem}[] = {{",
        *rows,
        "};",
        f"const unsigned int g_{stem}_len = {len(data)};",
        "",
    ])  # fmt: skip


def example(stem: str, artifact: Artifact, ops: list[str]) -> str:
    """A minimal main(): load, register exactly ``ops``, allocate, feed zeros, invoke, argmax."""
    camel = _camel(stem)
    adds = [f"  if (resolver.{resolver_method(op)}() != kTfLiteOk) return 1;" for op in ops]
    x, states = _ident(artifact.inputs[0].name), [_ident(t.name) for t in artifact.inputs[1:]]
    y = _ident(artifact.outputs[0].name)
    lines = [
        f"// Runs {stem} with TFLite Micro: generated by edgegru. Build it with the TFLite Micro",
        "// library (its Makefile or your platform's port) and fill the input with raw features.",
        f'#include "{stem}_data.h"',
        "",
        "#include <cstdio>",
        "#include <cstring>",
        "",
        '#include "tensorflow/lite/micro/micro_interpreter.h"',
        '#include "tensorflow/lite/micro/micro_mutable_op_resolver.h"',
        '#include "tensorflow/lite/schema/schema_generated.h"',
        "",
        "namespace {",
        f"alignas(16) unsigned char tensor_arena[k{camel}ArenaSize];",
        "}  // namespace",
        "",
        "int main() {",
        f"  const tflite::Model* model = tflite::GetModel(g_{stem});",
        "  if (model->version() != TFLITE_SCHEMA_VERSION) return 1;",
        f"  tflite::MicroMutableOpResolver<{len(ops)}> resolver;  // exactly the ops the file uses",
        *adds,
        f"  tflite::MicroInterpreter interpreter(model, resolver, tensor_arena, "
        f"k{camel}ArenaSize);",
        "  if (interpreter.AllocateTensors() != kTfLiteOk) return 1;",
        f"  TfLiteTensor* x = interpreter.input(kInputIndex_{x});",
        "  std::memset(x->data.f, 0, x->bytes);  // your raw features, float32",
    ]
    for name in states:
        lines += [
            f"  TfLiteTensor* {name} = interpreter.input(kInputIndex_{name});",
            f"  std::memset({name}->data.raw, 0, {name}->bytes);  // zeros start a sequence",
        ]
    lines += [
        "  if (interpreter.Invoke() != kTfLiteOk) return 1;",
        f"  const TfLiteTensor* y = interpreter.output(kOutputIndex_{y});",
        "  int best = 0;",
        "  for (int i = 1; i < kNumOutputs; ++i) {",
        "    if (y->data.f[i] > y->data.f[best]) best = i;",
        "  }",
        '  std::printf("%s\\n", kLabels[best]);',
    ]
    if states:
        lines.append(
            "  // next frame: copy each state output (h_out, ...) into its input, then Invoke"
        )
    lines += ["  return 0;", "}", ""]
    return "\n".join(lines)


@EXPORTERS.register(FORMAT)
def write(bundle: Bundle, form: str, cfg: ExportConfig, path: Path) -> Artifact:
    import tempfile

    from edgegru.export.tflite import write as write_tflite
    from edgegru.io import atomic_write_bytes

    if cfg.precision == "int8-dynamic":
        raise BadInput(
            "TFLite Micro has no hybrid (int8-dynamic) kernels: export the c-array with "
            "--precision int8-static or float32"
        )
    if bundle.spec.cell in ("lstm", "peephole") and "layout" not in cfg.options:
        # TFLite Micro's fused LSTM takes no peepholes nor integer mode: builtin ops instead
        # (lstm_lowered.py; int8-static: lstm_lowered_int8.py)
        cfg = dataclasses.replace(cfg, options={**cfg.options, "layout": "lowered"})
    with tempfile.TemporaryDirectory(prefix="edgegru-c-array-") as tmp:
        tfl = write_tflite(bundle, form, cfg, Path(tmp) / "model.tflite")
        data = Path(tfl.path).read_bytes()
    ops = _ops(data)
    for op in ops:
        resolver_method(op)  # an op TFLite Micro lacks fails before anything is written
    arena = measure_arena(data)
    stem = path.name[: -len("_data.cc")]
    folder = path.parent
    files = {
        folder / f"{stem}_data.h": header(bundle, tfl, stem, arena, positions(data)),
        folder / f"{stem}_example_main.cc": example(stem, tfl, ops),
        path: source(stem, data),
    }
    for file, text in files.items():  # the .cc last: its manifest marks a complete set
        atomic_write_bytes(file, text.encode())
    details = dict(tfl.details)
    details.update(
        arena_bytes=arena, tflite_bytes=len(data), tflite_sha256=tfl.sha256, ops=ops,
        files=[f.name for f in files], resolver_ops=len(ops),
    )  # fmt: skip
    return make_artifact(
        bundle, path, fmt=FORMAT, form=form, precision=cfg.precision,
        inputs=tfl.inputs, outputs=tfl.outputs, details=details,
    )  # fmt: skip


def _ops(data: bytes) -> list[str]:
    """Every builtin op of the file, in first-use order over all subgraphs."""
    from edgegru.export.tflite.reader import summarize

    return list(dict.fromkeys(op for sub in summarize(data).ops for op in sub))
