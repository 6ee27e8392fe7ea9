"""One ``edgegru check``: every artifact on every target, one connection per target.

Torch-free like the rest of the device side: the float model's outputs come in through
``CheckInputs.reference`` (the CLI passes a function that runs the bundle in PyTorch).
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import tempfile
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

import numpy as np

from edgegru.errors import BadInput
from edgegru.targets.base import Target, TargetError
from edgegru.targets.check import CheckRow, apply_budgets, make_row
from edgegru.targets.config import Budgets, RunConfig
from edgegru.targets.registry import make_target
from edgegru.types import Artifact, SequenceData

Reference = Callable[[np.ndarray, "np.ndarray | None"], np.ndarray]
R = TypeVar("R")


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


@dataclass
class CheckInputs:
    """The validation rows, their task, and the float model's outputs on any X (or None)."""

    data: SequenceData
    task: str
    reference: Reference | None = None


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


def run_concurrently(tasks: list[tuple[bool, Callable[[], R]]]) -> list[R]:
    """Run ``(emulated, task)`` pairs; results in the order given. Timed targets run one after
    another with the machine to themselves (another target's load would show in their latency);
    emulated ones, whose timings mean nothing, run after them side by side, as many at once as
    the machine has cores."""
    from concurrent.futures import ThreadPoolExecutor

    results: dict[int, R] = {}
    for i, (emulated, task) in enumerate(tasks):
        if not emulated:
            results[i] = task()
    rest = [(i, task) for i, (emulated, task) in enumerate(tasks) if emulated]
    if rest:
        with ThreadPoolExecutor(max_workers=max(1, min(len(rest), os.cpu_count() or 1))) as pool:
            futures = {i: pool.submit(task) for i, task in rest}
            for i, future in futures.items():
                results[i] = future.result()  # the first failure (e.g. a TargetError) is raised
    return [results[i] for i in range(len(tasks))]


def run_check(
    artifacts: list[Path],
    targets: list[str],
    inputs: CheckInputs,
    cfg: RunConfig,
    budgets: Budgets,
) -> list[CheckRow]:
    """Every artifact on every target: one runner session per target (targets/base.py), the
    targets scheduled by ``run_concurrently``; rows by target, then artifact."""
    loaded = [load_manifest(a) for a in artifacts]
    F = inputs.data.X.shape[2]
    for model, _, artifact in loaded:
        if artifact.spec.input_size != F:
            raise BadInput(
                f"{model.name} takes {artifact.spec.input_size} features, the data has {F}"
            )
    devices = [make_target(t) for t in targets]  # every target string is checked first
    references: dict[tuple, np.ndarray] = {}
    lock = threading.Lock()
    d = inputs.data

    def reference_for(artifact: Artifact) -> np.ndarray | None:
        if inputs.reference is None:
            return None
        X, L = _device_inputs(artifact, d)
        key = (X.shape, L is None)
        with lock:  # one float pass per input shape, shared by the targets' threads
            if key not in references:
                references[key] = inputs.reference(X, L)
            return references[key]

    with tempfile.TemporaryDirectory(prefix="edgegru-check-") as tmp:
        data_file = Path(tmp) / "data.npz"
        arrays = {"X": d.X.astype(np.float32)}
        if d.lengths is not None:
            arrays["lengths"] = d.lengths.astype(np.int64)
        np.savez(data_file, **arrays)

        def on(device: Target) -> list[CheckRow]:
            rows = []
            with device:
                jobs = [(model, manifest) for model, manifest, _ in loaded]
                results = device.run_many(jobs, data_file, cfg)
            for (model, _, artifact), result in zip(loaded, results, strict=True):
                if isinstance(result, TargetError):
                    raise result
                ref = reference_for(artifact) if device.has_outputs else None
                row = make_row(device.name, artifact, result, d.y, ref, inputs.task)
                row.artifact = str(model)
                apply_budgets(row, budgets)
                rows.append(row)
            return rows

        per_target = run_concurrently(
            [(device.emulated, functools.partial(on, device)) for device in devices]
        )
    return [row for rows in per_target for row in rows]
