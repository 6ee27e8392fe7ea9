"""The "onnx" export format: ``model.onnx`` (full sequence) and ``model.step.onnx`` (streaming).

Options (``ExportConfig.options``, ``--option KEY=VALUE``):
  sequence_lens=yes|no  give the full-sequence model a second input ``sequence_lens`` [batch]
                        int32 for variable-length batches [default: no, input x only]

Why an export option and not an input that may be left out at run time: ONNX has no optional graph
inputs; the one way (an initializer of the same name as a default) needs five shape nodes to
build "all T steps" for a dynamic batch, cost 0.8 us per call on workload P (2 %) and makes ONNX
Runtime warn on every load. A required input would burden every fixed-length caller.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from edgegru.errors import BadInput
from edgegru.export import EXPORTERS, ExportConfig, make_artifact
from edgegru.export.onnx import graph, sequence, step
from edgegru.io import atomic_write_bytes
from edgegru.types import Artifact, Bundle, TensorInfo

_YES = {"yes": True, "true": True, "1": True, "no": False, "false": False, "0": False}


def with_lengths(cfg: ExportConfig) -> bool:
    value = str(cfg.options.get("sequence_lens", "no")).lower()
    if value not in _YES:
        raise BadInput(f"option sequence_lens={value!r}: expected yes or no")
    return _YES[value]


def check_precision(fmt: str, cfg: ExportConfig) -> None:
    if cfg.precision != "float32":
        raise BadInput(f"{fmt} export of {cfg.precision} is not available yet (float32 only)")


def build_model(
    bundle: Bundle, form: str, cfg: ExportConfig
) -> tuple[Any, tuple[TensorInfo, ...], tuple[TensorInfo, ...], dict[str, Any]]:
    """The checked ModelProto of one form, its inputs and outputs and its manifest details."""
    if form == "sequence":
        lengths = with_lengths(cfg)
        g, extra = sequence.build(bundle, lengths)
        inputs, outputs = sequence.io(bundle, lengths)
    else:
        g, extra = step.build(bundle)
        inputs, outputs = step.io(bundle)
    # {"x": {"0": "batch", "1": "time"}, ...}: the named (dynamic) axes of every input and output
    extra["dynamic_axes"] = {
        t.name: {str(i): d for i, d in enumerate(t.shape) if isinstance(d, str)}
        for t in inputs + outputs
    }
    name = f"edgegru_{bundle.spec.cell}_{form}"
    model = graph.make_model(g, name, inputs, outputs, graph.metadata(bundle, form, extra))
    return model, inputs, outputs, graph.details(model, extra)


@EXPORTERS.register("onnx")
def write(bundle: Bundle, form: str, cfg: ExportConfig, path: Path) -> Artifact:
    check_precision("ONNX", cfg)
    model, inputs, outputs, details = build_model(bundle, form, cfg)
    atomic_write_bytes(path, model.SerializeToString())
    return make_artifact(
        bundle, path, fmt="onnx", form=form, precision=cfg.precision,
        inputs=inputs, outputs=outputs, details=details,
    )  # fmt: skip
