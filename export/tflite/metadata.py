"""The metadata buffer every edgegru .tflite carries (docs/architecture.md#artifacts): what a
device needs
to use the model without anything else: labels, the input normalization (already applied inside
the graph; recorded so the device knows), feature names, version and the source hash."""

from __future__ import annotations

import json
from typing import Any

from edgegru import __version__
from edgegru.types import Bundle

NAME = "edgegru"  # the Metadata entry's name in the model


def _g9(v: float) -> float:
    return float(f"{v:.9g}")  # 9 significant digits round-trip float32 and keep the file small


def metadata(bundle: Bundle, source_sha256: str, form: str, extra: dict[str, Any]) -> bytes:
    spec = bundle.spec
    norm = spec.normalization
    data: dict[str, Any] = {
        "format": "edgegru-tflite",
        "edgegru_version": __version__,
        "form": form,
        "cell": spec.cell,
        "num_layers": spec.num_layers,
        "hidden_size": spec.hidden_size,
        "head": spec.head,
        "task": spec.task,
        "labels": list(spec.labels),
        "feature_names": list(spec.feature_names),
        "normalization": None
        if norm is None
        else {
            "mean": [_g9(v) for v in norm.mean],
            "std": [_g9(v) for v in norm.std],
            "applied_in_graph": True,
        },
        "source_sha256": source_sha256,
        **extra,
    }
    return json.dumps(data, separators=(",", ":"), sort_keys=True).encode()


def read_metadata(entries: dict[str, bytes]) -> dict[str, Any]:
    return json.loads(entries[NAME].decode())
