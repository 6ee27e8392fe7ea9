"""Model bundles: a folder with ``model.safetensors`` (float32 weights) and ``model.json``
(format, spec, provenance, the weights' sha256, and for a quantized model a ``quant`` section:
``QuantParams`` as JSON). No pickle anywhere (docs/architecture.md#artifacts).

The ``quant`` section is optional, so bundles written before it existed read unchanged and the
format version stays 1; an older edgegru reading a quantized bundle sees its float model.

NumPy only: exporters and tools read bundles without torch.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any

import numpy as np

from edgegru import __version__
from edgegru.errors import BadInput
from edgegru.io import atomic_write_bytes, atomic_write_text, staged_output
from edgegru.types import Bundle, ModelSpec, QuantParams

FORMAT = "edgegru-bundle"
FORMAT_VERSION = 1
WEIGHTS_FILE = "model.safetensors"
META_FILE = "model.json"


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def check_weights(spec: ModelSpec, weights: dict[str, np.ndarray], where: str) -> None:
    """Every tensor the spec names, with its shape, float32 and finite; nothing else."""
    shapes = spec.weight_shapes()
    missing = [k for k in shapes if k not in weights]
    if missing:
        raise BadInput(f"{where}: missing tensor(s) {', '.join(missing)}")
    extra = [k for k in weights if k not in shapes]
    if extra:
        raise BadInput(f"{where}: unexpected tensor(s) {', '.join(sorted(extra))}")
    for name, shape in shapes.items():
        w = weights[name]
        if tuple(w.shape) != shape:
            raise BadInput(f"{where}: tensor {name} has shape {tuple(w.shape)}, expected {shape}")
        if w.dtype != np.float32:
            raise BadInput(f"{where}: tensor {name} is {w.dtype}, expected float32")
        if not np.isfinite(w).all():
            raise BadInput(f"{where}: tensor {name} holds NaN or inf")


def save_bundle(bundle: Bundle, path: str | os.PathLike[str]) -> Path:
    """Write the bundle folder atomically (a complete new folder replaces any old one)."""
    from safetensors.numpy import save

    check_weights(bundle.spec, bundle.weights, "model")
    data = save({k: np.ascontiguousarray(v) for k, v in sorted(bundle.weights.items())})
    meta: dict[str, Any] = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "edgegru_version": __version__,
        "spec": bundle.spec.to_json(),
        "provenance": bundle.provenance,
        "weights_sha256": _sha256(data),
    }
    if bundle.quant is not None:
        check_quant(bundle.spec, bundle.quant, "model")
        meta["quant"] = bundle.quant.to_json()
    # Both files are written in full beside the folder before either replaces its namesake
    # (JSON last); other files of the folder (a run's checkpoint, metrics) stay. A failure leaves
    # the folder as it was; the weights' sha256 in model.json makes a torn pair fail on load.
    path = Path(path)
    with staged_output(path) as work:
        atomic_write_bytes(work / WEIGHTS_FILE, data)
        atomic_write_text(work / META_FILE, json.dumps(meta, indent=2, sort_keys=True) + "\n")
    return path


def weights_sha256(bundle: Bundle) -> str:
    """The hash that names a bundle's weights (exports record it as their source); equal to
    ``weights_sha256`` in the saved bundle's model.json."""
    from safetensors.numpy import save

    return _sha256(save({k: np.ascontiguousarray(v) for k, v in sorted(bundle.weights.items())}))


def load_bundle(path: str | os.PathLike[str]) -> Bundle:
    """Read and validate a bundle; any defect raises ``BadInput`` with one line naming it."""
    from safetensors import SafetensorError
    from safetensors.numpy import load

    path = Path(path)
    if not path.is_dir():
        what = "is not a model bundle folder" if path.exists() else "does not exist"
        raise BadInput(f"{path} {what}")
    meta_path, weights_path = path / META_FILE, path / WEIGHTS_FILE
    for p in (meta_path, weights_path):
        if not p.is_file():
            raise BadInput(f"{path}: missing {p.name} (not an edgegru model bundle?)")
    try:
        meta = json.loads(meta_path.read_text())
    except (ValueError, UnicodeDecodeError, RecursionError) as e:
        raise BadInput(f"{meta_path}: not valid JSON ({type(e).__name__}: {e})") from None
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        raise BadInput(f"{meta_path}: not an edgegru model bundle")
    if meta.get("format_version") != FORMAT_VERSION:
        raise BadInput(
            f"{meta_path}: bundle format version {meta.get('format_version')!r} is not supported "
            f"(this edgegru reads version {FORMAT_VERSION})"
        )
    try:
        spec = ModelSpec.from_json(meta["spec"])
    except (KeyError, TypeError, ValueError) as e:
        raise BadInput(f"{meta_path}: invalid model spec: {e}") from None
    data = weights_path.read_bytes()
    if meta.get("weights_sha256") not in (None, _sha256(data)):
        raise BadInput(f"{weights_path}: contents do not match model.json (corrupt or replaced)")
    try:
        weights = load(data)
    except KeyError as e:  # a dtype NumPy has no type for (bfloat16, float8)
        raise BadInput(
            f"{weights_path}: holds {e.args[0] if e.args else 'unknown'} tensors; a bundle's "
            "weights are float32 (re-save them as float32 or use `edgegru import`)"
        ) from None
    except (SafetensorError, ValueError, OSError, TypeError) as e:
        raise BadInput(f"{weights_path}: cannot read safetensors ({e})") from None
    check_weights(spec, weights, str(weights_path))
    provenance = meta.get("provenance") or {}
    if not isinstance(provenance, dict):
        raise BadInput(f"{meta_path}: provenance must be an object")
    quant = None
    if meta.get("quant") is not None:
        try:
            quant = QuantParams.from_json(meta["quant"])
        except (KeyError, TypeError, ValueError, AttributeError) as e:
            raise BadInput(f"{meta_path}: invalid quant section: {e}") from None
        check_quant(spec, quant, str(meta_path))
    return Bundle(spec=spec, weights=weights, provenance=provenance, quant=quant)


def check_quant(spec: ModelSpec, quant: QuantParams, where: str) -> None:
    """Weight scales name tensors of the spec and have one scale per row."""
    shapes = spec.weight_shapes()
    for name, scales in quant.weight_scales.items():
        if name not in shapes or len(shapes[name]) != 2:
            raise BadInput(f"{where}: quant scales for {name}, which is not a 2-D weight")
        if len(scales) != shapes[name][0]:
            raise BadInput(
                f"{where}: {len(scales)} scales for {name}, which has {shapes[name][0]} rows"
            )
