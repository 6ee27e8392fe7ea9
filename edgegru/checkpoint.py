"""A training run's checkpoint: one safetensors file, its JSON state in the file's own header.

One file, written atomically (temp file in the same folder + rename), is the unit a SIGKILL can
never tear: the run's tensors (weights, best weights, Adam moments, RNG states) and the plain
state (epoch, early stopping, history, options) are replaced together. Nothing is unpickled: the
RNG states of Python and NumPy are stored as integer tensors plus JSON numbers.
"""

from __future__ import annotations

import hashlib
import json
import random
import struct
from pathlib import Path
from typing import Any

import numpy as np
import torch

from edgegru.errors import BadInput

CHECKPOINT_DIR = "checkpoint"
CHECKPOINT_FILE = "state.safetensors"
# The header key holding the JSON state; also names the format in that state.
CHECKPOINT_FORMAT = "edgegru-checkpoint-2"
# The two-file layout of older versions (its JSON was replaced separately from its tensors).
LEGACY_FILE = "state.json"
RNG_TENSORS = ("rng.torch", "rng.python", "rng.numpy", "rng.shuffle")
_MAX_HEADER = 64 << 20  # a checkpoint's header is a few kB per epoch of history

_STATE_TYPES: dict[str, type | tuple[type, ...]] = {
    "format": str,
    "epoch": int,
    "best_score": (int, float),
    "since_best": int,
    "history": list,
    "adam_steps": dict,
    "rng": dict,
    "config": dict,
    "spec": dict,
}


def rng_state() -> dict[str, Any]:
    """The global RNG states of torch, Python and NumPy: integer tensors under ``tensors``, the
    rest as JSON numbers (what ``set_rng_state`` takes back)."""
    version, words, gauss = random.getstate()
    # The legacy global state on purpose: it is what third-party code seeded by np.random.seed uses.
    kind, keys, pos, has_gauss, cached = np.random.get_state()  # noqa: NPY002
    return {
        "tensors": {
            "rng.torch": torch.get_rng_state(),
            "rng.python": torch.tensor(words, dtype=torch.int64),
            "rng.numpy": torch.from_numpy(np.asarray(keys, dtype=np.int64)),
        },
        "python": [version, gauss],
        "numpy": [kind, int(pos), int(has_gauss), float(cached)],
    }


def set_rng_state(meta: dict[str, Any], tensors: dict[str, torch.Tensor]) -> None:
    version, gauss = meta["python"]
    kind, pos, has_gauss, cached = meta["numpy"]
    words = tuple(int(w) for w in tensors["rng.python"].tolist())
    keys = tensors["rng.numpy"].numpy().astype(np.uint32)
    random.setstate((int(version), words, None if gauss is None else float(gauss)))
    np.random.set_state((str(kind), keys, int(pos), int(has_gauss), float(cached)))  # noqa: NPY002
    torch.set_rng_state(tensors["rng.torch"])


def serialize(tensors: dict[str, torch.Tensor], meta: dict[str, Any]) -> bytes:
    """The checkpoint file's bytes: ``meta`` (plus the sha256 of the tensor data, checked on
    load) in the safetensors header."""
    from safetensors.torch import save

    tensors = {k: v.contiguous() for k, v in tensors.items()}
    plain = save(tensors)
    (size,) = struct.unpack("<Q", plain[:8])
    meta = dict(meta, tensors_sha256=hashlib.sha256(plain[8 + size :]).hexdigest())
    return save(tensors, metadata={CHECKPOINT_FORMAT: json.dumps(meta)})


def read_checkpoint(path: Path) -> tuple[dict[str, Any], dict[str, torch.Tensor]]:
    """The state and tensors of the checkpoint at ``path``; any defect is ``BadInput``."""
    from safetensors import SafetensorError
    from safetensors.torch import load

    folder = path.parent
    if not path.is_file():
        if (folder / LEGACY_FILE).is_file():
            raise BadInput(
                f"--resume: {folder} holds a checkpoint of an older edgegru; "
                "start a new output folder"
            )
        raise BadInput(f"--resume: no checkpoint in {folder}")
    try:
        data = path.read_bytes()
        (size,) = struct.unpack("<Q", data[:8])
        if size > min(_MAX_HEADER, len(data) - 8):
            raise ValueError("header size out of range")
        header = json.loads(data[8 : 8 + size])
        meta = json.loads(header["__metadata__"][CHECKPOINT_FORMAT])
        if not isinstance(meta, dict):
            raise ValueError("its state is not a JSON object")
        if meta.get("tensors_sha256") != hashlib.sha256(data[8 + size :]).hexdigest():
            raise ValueError("its tensors do not match the sha256 in its header")
        tensors = load(data)
    except (OSError, ValueError, KeyError, TypeError, struct.error, SafetensorError) as e:
        raise BadInput(f"--resume: checkpoint {path} is unreadable ({e})") from None
    except RecursionError:
        raise BadInput(f"--resume: checkpoint {path} is nested too deeply") from None
    bad = [k for k, t in _STATE_TYPES.items() if not isinstance(meta.get(k), t)]
    if bad or meta["format"] != CHECKPOINT_FORMAT:
        raise BadInput(f"--resume: checkpoint {path} has an invalid state ({', '.join(bad)})")
    return meta, tensors


def clean_folder(folder: Path) -> None:
    """Remove the temp files (``.NAME.*.tmp``) a killed run's interrupted write can leave in a
    run's folder or its checkpoint folder."""
    if folder.is_dir():
        for p in folder.glob(".*.tmp"):
            if p.is_file():
                p.unlink(missing_ok=True)
