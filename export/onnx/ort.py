"""The "ort" export format: ORT Mobile files (``model.ort``, ``model.step.ort``) made by ONNX
Runtime's own converter (``onnxruntime.tools.convert_onnx_models_to_ort``) from the ONNX graph,
then loaded back and run once on zeros, so a file that ONNX Runtime cannot run is never written.

The converter applies ONNX Runtime's graph optimizations (level "all" minus the x86-only NCHWc
layout, "Fixed" style: the saved graph runs on any CPU build, minimal builds included).
"""

from __future__ import annotations

import contextlib
import io
import logging
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from edgegru.errors import BadInput
from edgegru.export import EXPORTERS, ExportConfig, make_artifact
from edgegru.export.onnx.writer import build_model, check_precision
from edgegru.io import atomic_write_bytes
from edgegru.types import Artifact, Bundle, TensorInfo


def _import_converter() -> tuple[Any, Any]:
    """The converter's modules call ``logging.basicConfig`` on import, which would make every
    later INFO line of any library print; undo the handler they add (library code is silent)."""
    root = logging.getLogger()
    before = list(root.handlers)
    from onnxruntime.tools.convert_onnx_models_to_ort import (
        OptimizationStyle,
        convert_onnx_models_to_ort,
    )

    for handler in [h for h in root.handlers if h not in before]:
        root.removeHandler(handler)
    return OptimizationStyle, convert_onnx_models_to_ort


def convert(onnx_bytes: bytes) -> bytes:
    """ONNX bytes -> ORT format bytes, with ONNX Runtime's converter (its prints captured)."""
    OptimizationStyle, convert_onnx_models_to_ort = _import_converter()

    with tempfile.TemporaryDirectory(prefix="edgegru-ort-") as tmp:
        src = Path(tmp) / "model.onnx"
        src.write_bytes(onnx_bytes)
        log = io.StringIO()
        try:
            with contextlib.redirect_stdout(log):
                convert_onnx_models_to_ort(
                    src, output_dir=Path(tmp) / "out", optimization_styles=[OptimizationStyle.Fixed]
                )
            return (Path(tmp) / "out" / "model.ort").read_bytes()
        except Exception as e:  # the converter raises whatever ONNX Runtime raised
            last = log.getvalue().strip().splitlines()[-1:] or [str(e)]
            raise BadInput(f"ONNX Runtime could not convert the model to .ort: {last[0]}") from e


def zero_feed(inputs: tuple[TensorInfo, ...], batch: int = 2, time: int = 3) -> dict[str, Any]:
    """Zeros for every input (dynamic axes filled in); sequence_lens = time."""
    feed: dict[str, Any] = {}
    for t in inputs:
        shape = [batch if d == "batch" else time if d == "time" else d for d in t.shape]
        if t.dtype == "int32":
            feed[t.name] = np.full(shape, time, np.int32)
        else:
            feed[t.name] = np.zeros(shape, np.float32)
    return feed


def load_and_run(ort_bytes: bytes, inputs: tuple[TensorInfo, ...]) -> list[np.ndarray]:
    """Load an .ort file's bytes in ONNX Runtime and run it once."""
    import onnxruntime as ort

    so = ort.SessionOptions()
    so.add_session_config_entry("session.load_model_format", "ORT")
    so.intra_op_num_threads = 1
    session = ort.InferenceSession(ort_bytes, so, providers=["CPUExecutionProvider"])
    return session.run(None, zero_feed(inputs))


@EXPORTERS.register("ort")
def write(bundle: Bundle, form: str, cfg: ExportConfig, path: Path) -> Artifact:
    cfg = cfg.for_bundle(bundle)
    check_precision("ORT", cfg, bundle)
    model, inputs, outputs, details = build_model(bundle, form, cfg)
    data = convert(model.SerializeToString())
    load_and_run(data, inputs)
    atomic_write_bytes(path, data)
    import onnxruntime

    # "nodes" counts the ONNX graph the converter started from.
    details |= {"converter": "Fixed style, level all", "onnxruntime": onnxruntime.__version__}
    return make_artifact(
        bundle, path, fmt="ort", form=form, precision=cfg.precision,
        inputs=inputs, outputs=outputs, details=details,
    )  # fmt: skip
