"""The "onnx" export format: ``model.onnx`` (full sequence) and ``model.step.onnx`` (streaming).

The full-sequence model takes a second input ``lengths`` [batch] int32 (ONNX GRU / LSTM's
``sequence_lens``: padding ``masked``, docs/padding.md) when ``ExportConfig.lengths`` says so
(``--lengths``; by default when the model was trained on variable-length data).

Options (``ExportConfig.options``, ``--option KEY=VALUE``):
  sequence_lens=yes|no  the older spelling of ``--lengths`` / ``--no-lengths``

  int8_kernel=yes|no    int8-dynamic LSTM / peephole: ONNX Runtime's DynamicQuantizeLSTM (faster,
                        ORT only) or plain QDQ [default: yes]

Why an export option and not an input that may be left out at run time: ONNX has no optional graph
inputs; the one way (an initializer of the same name as a default) needs five shape nodes to
build "all T steps" for a dynamic batch, cost 0.8 us per call on workload P (2 %) and makes ONNX
Runtime warn on every load. A required input would burden every fixed-length caller.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from edgegru.errors import BadInput
from edgegru.export import EXPORTERS, ExportConfig, make_artifact, padding
from edgegru.export.onnx import graph, quant, sequence, step
from edgegru.io import atomic_write_bytes
from edgegru.types import Artifact, Bundle, TensorInfo

_YES = {"yes": True, "true": True, "1": True, "no": False, "false": False, "0": False}


def _option(cfg: ExportConfig, key: str, default: str) -> bool:
    value = str(cfg.options.get(key, default)).lower()
    if value not in _YES:
        raise BadInput(f"option {key}={value!r}: expected yes or no")
    return _YES[value]


def with_lengths(cfg: ExportConfig, bundle: Bundle) -> bool:
    if "sequence_lens" in cfg.options:
        return _option(cfg, "sequence_lens", "no")
    return cfg.resolved_lengths(bundle)


def check_precision(fmt: str, cfg: ExportConfig, bundle: Bundle) -> None:
    """float32 and int8-dynamic (QDQ int8 weights) are written; int8-static needs a calibrated
    bundle first and is not written for ONNX yet."""
    if cfg.precision == "int8-static":
        if bundle.quant is None or not bundle.quant.is_static:
            raise BadInput(
                "int8-static export needs a calibrated model: run `edgegru quantize MODEL "
                "--scheme static` (or qat) and export its output"
            )
        raise BadInput(
            f"{fmt} export of int8-static is not available yet: --format tflite for this "
            "int8-static bundle, or --precision float32 / int8-dynamic"
        )


def build_model(
    bundle: Bundle, form: str, cfg: ExportConfig
) -> tuple[Any, tuple[TensorInfo, ...], tuple[TensorInfo, ...], dict[str, Any]]:
    """The checked ModelProto of one form, its inputs and outputs and its manifest details."""
    cfg = cfg.for_bundle(bundle)
    if form == "sequence":
        lengths = with_lengths(cfg, bundle)
        g, extra = sequence.build(bundle, lengths, cfg.precision)
        inputs, outputs = sequence.io(bundle, lengths)
        extra |= padding.fields(form, lengths, sequence.PADDING_HOW)
    else:
        g, extra = step.build(bundle, cfg.precision)
        inputs, outputs = step.io(bundle)
        extra |= padding.fields(form, False)
    # {"x": {"0": "batch", "1": "time"}, ...}: the named (dynamic) axes of every input and output
    extra["dynamic_axes"] = {
        t.name: {str(i): d for i, d in enumerate(t.shape) if isinstance(d, str)}
        for t in inputs + outputs
    }
    if cfg.precision != "float32":
        q = bundle.quant
        extra["quantization"] = {
            "weights": "int8 per output channel, symmetric, DequantizeLinear (QDQ)",
            "activations": "float32",
            "scheme": q.scheme if q is not None else "dynamic (scales from the weights)",
        }
    name = f"edgegru_{bundle.spec.cell}_{form}"
    model = graph.make_model(g, name, inputs, outputs, graph.metadata(bundle, form, extra))
    if cfg.precision == "int8-dynamic":
        extra["ort_session_config"] = {"session.disable_quant_qdq": "1"}  # see quant.py
        if bundle.spec.cell_spec.onnx_op == "LSTM" and _option(cfg, "int8_kernel", "yes"):
            model = quant.lstm_kernel(model)  # checked above as QDQ; ORT runs it in the tests
            extra["quantization"]["kernel"] = "com.microsoft.DynamicQuantizeLSTM"
            extra["quantization"]["weights"] = (
                "int8 symmetric: LSTM W/R per tensor (DynamicQuantizeLSTM), head per output "
                "channel (DequantizeLinear)"
            )
    return model, inputs, outputs, graph.details(model, extra)


@EXPORTERS.register("onnx")
def write(bundle: Bundle, form: str, cfg: ExportConfig, path: Path) -> Artifact:
    cfg = cfg.for_bundle(bundle)
    check_precision("ONNX", cfg, bundle)
    model, inputs, outputs, details = build_model(bundle, form, cfg)
    atomic_write_bytes(path, model.SerializeToString())
    return make_artifact(
        bundle, path, fmt="onnx", form=form, precision=cfg.precision,
        inputs=inputs, outputs=outputs, details=details,
    )  # fmt: skip
