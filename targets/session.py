"""One ``edgegru check``: every artifact on every target, one connection per target.

Torch-free like the rest of the device side: the float model's outputs come in through
``CheckInputs.reference`` (the CLI passes a function that runs the bundle in PyTorch).
"""

from __future__ import annotations

import hashlib
import json
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from edgegru.errors import BadInput
from edgegru.targets.check import CheckRow, apply_budgets, make_row
from edgegru.targets.config import Budgets, RunConfig
from edgegru.targets.registry import make_target
from edgegru.types import Artifact, SequenceData

Reference = Callable[[np.ndarray, "np.ndarray | None"], np.ndarray]


def load_manifest(path: Path) -> tuple[Path, Path, Artifact]:
    """(file, manifest, Artifact) for ``model.onnx`` or ``model.onnx.json``; the file must match
    the manifest's sha256 (a truncated or replaced file is caught before any device runs it)."""
    path = Path(path)
    model = path.with_suffix("") if path.suffix == ".json" else path
    manifest = Path(str(model) + ".json")
    if not model.is_file():
        raise BadInput(f"{model} does not exist")
    try:
        artifact = Artifact.from_json(json.loads(manifest.read_text()))
    except FileNotFoundError:
        raise BadInput(f"{manifest} does not exist (export writes one beside each file)") from None
    except (ValueError, KeyError, TypeError) as e:
        raise BadInput(f"{manifest}: not a valid edgegru manifest ({e})") from None
    if hashlib.sha256(model.read_bytes()).hexdigest() != artifact.sha256:
        raise BadInput(
            f"{model} does not match its manifest (sha256 differs): the file changed or "
            "is incomplete; re-export it"
        )
    return model, manifest, artifact


def find_reference(model: Path, source_sha256: str) -> Path | None:
    """The float bundle an artifact came from: a model.json beside it or up to two folders up,
    or in a folder beside those (a pipeline's OUTDIR/train next to OUTDIR/export), whose weights
    hash is the manifest's ``source_sha256``."""
    from edgegru.bundle import load_bundle, weights_sha256

    nearby = [model.parent, *list(model.parent.parents)[:2]]
    candidates = nearby + [m.parent for f in nearby for m in sorted(f.glob("*/model.json"))]
    for folder in dict.fromkeys(candidates):  # in order, once each
        if (folder / "model.json").is_file():
            try:
                if weights_sha256(load_bundle(folder)) == source_sha256:
                    return folder
            except BadInput:
                continue
    return None


# (artifact, arithmetic mode, X, lengths) -> the NumPy int8 reference's outputs, or None
Int8Reference = Callable[[Artifact, str, np.ndarray, "np.ndarray | None"], "np.ndarray | None"]


@dataclass
class CheckInputs:
    """The validation rows, their task, and the float model's outputs on any X (or None);
    optionally the int8 reference of int8-static artifacts (the row then records how far the
    device is from it: 0 = bit-exact)."""

    data: SequenceData
    task: str
    reference: Reference | None = None
    int8_reference: Int8Reference | None = None


def int8_mode(target: str) -> str:
    """The arithmetic a target's int8 kernels follow: TFLite Micro's fixed point on tflm,
    XNNPACK's (LiteRT's default delegate) elsewhere."""
    return "tflm" if target == "tflm" else "xnnpack"


def _device_inputs(artifact: Artifact, data: SequenceData) -> tuple[np.ndarray, np.ndarray | None]:
    """What the device will compute on: a fixed-T artifact without a length input sees the rows
    zero-padded to its T (runner.py does the same), so the float model must see them too."""
    X, lengths = data.X, data.lengths
    T_fix = artifact.inputs[0].shape[1] if artifact.form == "sequence" else None
    has_len = any(t.dtype.startswith("int") for t in artifact.inputs[1:])
    if isinstance(T_fix, int) and not has_len:
        if X.shape[1] < T_fix:
            pad = np.zeros((len(X), T_fix - X.shape[1], X.shape[2]), X.dtype)
            X = np.concatenate([X, pad], axis=1)
        return X, None
    return X, lengths


def run_check(
    artifacts: list[Path],
    targets: list[str],
    inputs: CheckInputs,
    cfg: RunConfig,
    budgets: Budgets,
) -> list[CheckRow]:
    loaded = [load_manifest(a) for a in artifacts]
    F = inputs.data.X.shape[2]
    for model, _, artifact in loaded:
        if artifact.spec.input_size != F:
            raise BadInput(
                f"{model.name} takes {artifact.spec.input_size} features, the data has {F}"
            )
    devices = [make_target(t) for t in targets]  # every target string is checked first
    runs = {d.name: [(m, j, a) for m, j, a in loaded if d.accepts(a)] for d in devices}
    for name, accepted in runs.items():
        if not accepted:
            raise BadInput(
                f"{name} runs none of these files (tflm: .tflite float32 or int8-static)"
            )
    rows: list[CheckRow] = []
    references: dict[tuple, np.ndarray] = {}
    with tempfile.TemporaryDirectory(prefix="edgegru-check-") as tmp:
        data_file = Path(tmp) / "data.npz"
        d = inputs.data
        arrays = {"X": d.X.astype(np.float32)}
        if d.lengths is not None:
            arrays["lengths"] = d.lengths.astype(np.int64)
        np.savez(data_file, **arrays)
        for device in devices:
            with device:
                for model, manifest, artifact in runs[device.name]:
                    result = device.run(model, manifest, data_file, cfg)
                    ref = None
                    if inputs.reference is not None and device.has_outputs:
                        X, L = _device_inputs(artifact, d)
                        key = (X.shape, L is None)
                        if key not in references:
                            references[key] = inputs.reference(X, L)
                        ref = references[key]
                    row = make_row(device.name, artifact, result, d.y, ref, inputs.task)
                    if (inputs.int8_reference is not None and artifact.precision == "int8-static"
                            and result.get("outputs") is not None):  # fmt: skip
                        X, L = _device_inputs(artifact, d)
                        ref8 = inputs.int8_reference(artifact, int8_mode(device.name), X, L)
                        if ref8 is not None:
                            out = np.asarray(result["outputs"], np.float32).reshape(ref8.shape)
                            row.int8_reference_max_abs_diff = float(np.abs(out - ref8).max())
                    row.artifact = str(model)
                    apply_budgets(row, budgets)
                    rows.append(row)
    return rows
