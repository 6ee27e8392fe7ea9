"""Writers of deployable artifacts (docs/architecture.md#exporters): ONNX (+ ORT Mobile .ort) and
TFLite.

One format = one sub-package that registers a writer with ``@EXPORTERS.register("name")``.
A writer is ``write(bundle, form, cfg, path) -> Artifact``: it builds the file from the bundle's
weights (no tracing), writes it atomically and returns what it wrote; ``export`` names the files,
runs the writers and puts a JSON manifest beside every file.

Heavy imports (onnx, onnxruntime, flatbuffers, ai_edge_litert) stay inside the writers.
"""

from __future__ import annotations

import dataclasses
import hashlib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from edgegru.bundle import weights_sha256
from edgegru.errors import BadInput
from edgegru.io import atomic_write_json
from edgegru.registry import Registry
from edgegru.types import FORMS, PRECISIONS, VARIABLE_LENGTH, Artifact, Bundle, TensorInfo

__all__ = ["EXPORTERS", "ExportConfig", "artifact_name", "export", "make_artifact", "read_manifest"]


@dataclass
class ExportConfig:
    formats: tuple[str, ...] = ("onnx",)
    forms: tuple[str, ...] = FORMS
    # "auto": the bundle's own (int8-dynamic for a dynamic-quantized bundle, int8-static for a
    # static or QAT one, float32 for a float bundle); float32 from a quantized bundle by asking.
    precision: str = "auto"
    # Fixed sequence length for formats that need one (TFLite); None: the length the model was
    # trained on (bundle provenance "seq_len"), else 50.
    seq_len: int | None = None
    # Format-specific options, e.g. {"layout": "loop"} for TFLite's GRU lowering.
    options: dict[str, Any] = field(default_factory=dict)
    # Full-sequence files take a ``lengths`` [batch] int32 input (docs/padding.md): True / False,
    # or None: when the model was trained on variable-length data (bundle provenance).
    lengths: bool | None = None

    def __post_init__(self) -> None:
        self.formats = tuple(self.formats)
        self.forms = tuple(self.forms)
        if not self.formats:
            raise ValueError("formats must name at least one format")
        bad = [f for f in self.forms if f not in FORMS]
        if bad or not self.forms:
            raise ValueError(f"forms must be among {', '.join(FORMS)}")
        if self.precision not in ("auto", *PRECISIONS):
            raise ValueError(f"precision must be auto or one of {', '.join(PRECISIONS)}")
        if self.seq_len is not None and self.seq_len < 1:
            raise ValueError("seq_len must be >= 1")

    def to_json(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @staticmethod
    def from_json(data: dict[str, Any]) -> ExportConfig:
        return ExportConfig(**data)

    def resolved_precision(self, bundle: Bundle) -> str:
        if self.precision != "auto":
            return self.precision
        if bundle.quant is None:
            return "float32"
        return "int8-dynamic" if bundle.quant.scheme == "dynamic" else "int8-static"

    def for_bundle(self, bundle: Bundle) -> ExportConfig:
        """This config with ``precision`` resolved (what every writer works from)."""
        return dataclasses.replace(self, precision=self.resolved_precision(bundle))

    def resolved_seq_len(self, bundle: Bundle) -> int:
        return int(self.seq_len or bundle.provenance.get("seq_len") or 50)

    def resolved_lengths(self, bundle: Bundle) -> bool:
        if self.lengths is not None:
            return self.lengths
        return bool(bundle.provenance.get(VARIABLE_LENGTH, False))


Writer = Callable[[Bundle, str, ExportConfig, Path], Artifact]
EXPORTERS: Registry[Writer] = Registry("export format")

_EXTENSION = {"onnx": "onnx", "ort": "ort", "tflite": "tflite"}
_PRECISION_TAG = {"float32": "", "int8-dynamic": ".dynint8", "int8-static": ".int8"}


def artifact_name(fmt: str, form: str, precision: str) -> str:
    """model.onnx, model.step.onnx, model.int8.tflite, model.step.dynint8.tflite, ..."""
    if fmt == "c-array":  # C++ sources (export/c_array.py): model_data.cc, model_step_int8_data.cc
        tag = _PRECISION_TAG[precision].replace(".", "_")
        return f"model{'_step' if form == 'step' else ''}{tag}_data.cc"
    step = ".step" if form == "step" else ""
    return f"model{step}{_PRECISION_TAG[precision]}.{_EXTENSION.get(fmt, fmt)}"


def _sha256_file(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def make_artifact(
    bundle: Bundle,
    path: Path,
    *,
    fmt: str,
    form: str,
    precision: str,
    inputs: tuple[TensorInfo, ...],
    outputs: tuple[TensorInfo, ...],
    details: dict[str, Any] | None = None,
) -> Artifact:
    """The Artifact value for a file a writer has just written."""
    return Artifact(
        path=str(path), format=fmt, form=form, precision=precision, inputs=inputs,
        outputs=outputs, sha256=_sha256_file(path), size_bytes=path.stat().st_size,
        source_sha256=weights_sha256(bundle), spec=bundle.spec, details=dict(details or {}),
    )  # fmt: skip


def export(
    bundle: Bundle, cfg: ExportConfig, out_dir: str | Path, final_dir: str | Path | None = None
) -> list[Artifact]:
    """Write every (format, form) of ``cfg`` into ``out_dir``, each with ``<file>.json``.
    ``final_dir``: where the files will be once ``out_dir`` (a temporary folder) is moved into
    place; the manifests and the returned artifacts name that path."""
    load_writers()
    cfg = cfg.for_bundle(bundle)
    out_dir = Path(out_dir)
    writers = [(fmt, EXPORTERS.get(fmt)) for fmt in cfg.formats]  # unknown format: fail first
    artifacts = []
    for fmt, write in writers:
        for form in cfg.forms:
            path = out_dir / artifact_name(fmt, form, cfg.precision)
            artifact = write(bundle, form, cfg, path)
            if final_dir is not None:
                artifact = dataclasses.replace(artifact, path=str(Path(final_dir) / path.name))
            atomic_write_json(Path(str(path) + ".json"), artifact.to_json())
            artifacts.append(artifact)
    return artifacts


def read_manifest(path: str | Path) -> Artifact:
    """The manifest of an exported file (``model.onnx`` or ``model.onnx.json``)."""
    import json

    path = Path(path)
    manifest = path if path.suffix == ".json" else Path(str(path) + ".json")
    try:
        return Artifact.from_json(json.loads(manifest.read_text()))
    except FileNotFoundError:
        raise BadInput(f"{manifest} does not exist (export writes one beside each file)") from None
    except (ValueError, KeyError, TypeError, AttributeError, RecursionError) as e:
        raise BadInput(f"{manifest}: not a valid edgegru manifest ({e})") from None


def load_writers() -> None:
    """Import the format packages, which register their writers (explicit list, no scan)."""
    import importlib

    for module in _FORMAT_MODULES:
        importlib.import_module(module)


# One line per format package.
_FORMAT_MODULES: list[str] = [
    "edgegru.export.onnx",
    "edgegru.export.tflite",
    "edgegru.export.c_array",
]
