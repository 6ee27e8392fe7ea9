"""What a model costs to ship: parameters, float32 bytes, int8 bytes, sparsity, gzip size.

NumPy only. ``int8_bytes`` follows the int8 scheme of docs/quantization.md: weight matrices int8
(1 byte), bias vectors int32 (4 bytes, scale s_in * s_w); peephole vectors int16 (2 bytes, as
TFLite's integer LSTM keeps its cell-to-gate weights). Per-channel scales and the graph are not
counted: they are the exporter's, and the same for every scheme compared here.
"""

from __future__ import annotations

import gzip
from typing import Any

import numpy as np

from edgegru.types import Bundle, ModelSpec


def is_matrix(name: str) -> bool:
    """W_ih, W_hh and the head: the tensors magnitude pruning and int8 weights apply to."""
    return "weight" in name and "peep" not in name


def int8_bytes(spec: ModelSpec) -> int:
    return spec.int8_bytes()  # one definition, in the spec


def model_sizes(spec: ModelSpec) -> dict[str, int]:
    n = spec.num_parameters()
    return {"parameters": n, "float32_bytes": 4 * n, "int8_bytes": int8_bytes(spec)}


def _int8_rows(w: np.ndarray) -> np.ndarray:
    """Symmetric per-output-row int8 rounding (the weight scheme of docs/quantization.md), for the
    gzip
    estimate only; zero stays exactly zero, so pruned weights compress as they would on a device."""
    w2 = w.reshape(w.shape[0], -1)
    scale = np.abs(w2).max(axis=1, keepdims=True) / 127.0
    scale[scale == 0] = 1.0
    return np.clip(np.round(w2 / scale), -127, 127).astype(np.int8)


def sparsity_report(bundle: Bundle) -> dict[str, Any]:
    """Honest numbers for a (possibly magnitude-pruned) bundle: dense runtimes store and multiply
    the zeros, so the dense sizes do not shrink; only a download (gzip) sees the sparsity."""
    w = bundle.weights
    names = sorted(w)
    per_tensor = {n: float(np.mean(w[n] == 0)) for n in names if is_matrix(n)}
    matrix_count = sum(w[n].size for n in per_tensor)
    matrix_zeros = sum(int(np.sum(w[n] == 0)) for n in per_tensor)
    total = sum(w[n].size for n in names)
    zeros = sum(int(np.sum(w[n] == 0)) for n in names)
    float_blob = b"".join(np.ascontiguousarray(w[n], dtype=np.float32).tobytes() for n in names)
    int8_blob = b"".join(
        (_int8_rows(w[n]) if is_matrix(n) else w[n].astype(np.float32)).tobytes() for n in names
    )
    return {
        **model_sizes(bundle.spec),
        "nonzero": total - zeros,
        "sparsity": zeros / max(1, total),
        "matrix_sparsity": matrix_zeros / max(1, matrix_count),
        "per_tensor_sparsity": per_tensor,
        "float32_gzip_bytes": len(gzip.compress(float_blob, compresslevel=9, mtime=0)),
        # weights rounded to int8 per row, the rest float32: an estimate until quantize/ lands
        "int8_gzip_bytes_estimate": len(gzip.compress(int8_blob, compresslevel=9, mtime=0)),
    }
