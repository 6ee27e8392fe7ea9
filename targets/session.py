"""One ``edgegru check``: every artifact on every target, one connection per target.

Torch-free like the rest of the device side: the float model's outputs come in through
``CheckInputs.reference`` (the CLI passes a function that runs the bundle in PyTorch).
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import json
import os
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

import numpy as np

from edgegru.errors import BadInput
from edgegru.io import owned_temp_dir
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
    except (ValueError, KeyError, TypeError, AttributeError, RecursionError) as e:
        raise BadInput(f"{manifest}: not a valid edgegru manifest ({e})") from None
    _check_io(manifest, artifact)
    # The file is where it is now: a manifest's recorded path goes stale when an output folder
    # is moved into place (exports are written into a temporary sibling folder first).
    artifact = dataclasses.replace(artifact, path=str(model))
    if model.stat().st_size != artifact.size_bytes:
        raise BadInput(
            f"{model} does not match its manifest ({model.stat().st_size} bytes, not "
            f"{artifact.size_bytes}): the file changed or is incomplete; re-export it"
        )
    if hashlib.sha256(model.read_bytes()).hexdigest() != artifact.sha256:
        raise BadInput(
            f"{model} does not match its manifest (sha256 differs): the file changed or "
            "is incomplete; re-export it"
        )
    return model, manifest, artifact


def _check_io(manifest: Path, artifact: Artifact) -> None:
    """The input ``x`` and output ``y`` a device feeds and reads agree with the model spec (a
    hand-edited manifest would otherwise fail inside the runtime, or not at all)."""
    spec, rank = artifact.spec, 3 if artifact.form == "sequence" else 2
    tensors = {t.name: t for t in (*artifact.inputs, *artifact.outputs)}
    for name, last, want in (("x", spec.input_size, rank), ("y", spec.num_outputs, 2)):
        t = tensors.get(name)
        if t is None or len(t.shape) != want or t.shape[-1] != last or t.dtype != "float32":
            raise BadInput(
                f"{manifest}: tensor {name!r} must be float32 of rank {want} ending in {last} "
                "for this model; re-export the file"
            )


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


def over_padding(artifact: Artifact, data: SequenceData) -> tuple[np.ndarray, int] | None:
    """(rows zero-padded to T, how many rows are shorter) when the file runs this data over its
    padding, as a device would: a fixed-T sequence file without a length input steps through
    every padded row to T. None when it computes on the rows as given (a length input, a step
    file, or a dynamic-T file, which the runner feeds each row cut to its own length)."""
    X, lengths = data.X, data.lengths
    T_fix = artifact.inputs[0].shape[1] if artifact.form == "sequence" else None
    if not isinstance(T_fix, int) or has_length_input(artifact):
        return None
    L = np.full(len(X), X.shape[1]) if lengths is None else np.asarray(lengths)
    short = int((T_fix > L).sum())
    if short == 0:
        return None
    if X.shape[1] < T_fix:
        X = np.concatenate([X, np.zeros((len(X), T_fix - X.shape[1], X.shape[2]), X.dtype)], 1)
    return X, short


def has_length_input(artifact: Artifact) -> bool:
    """The runner's rule: a sequence file's integer input after x is its length input."""
    return artifact.form == "sequence" and any(
        t.dtype.startswith("int") for t in artifact.inputs[1:]
    )


def padding_note(artifact: Artifact, short: int, n: int) -> str:
    T = artifact.inputs[0].shape[1]
    return (
        f"fixed T={T}, no length input: {short} of {n} rows shorter than T ran over their zero "
        "padding, as on a device; accuracy, drop and agreement are against the float model on "
        "the rows with their lengths, max|err| against it over the same padding"
    )


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
    # once each: a shell glob can name a file and its manifest
    loaded = list({m[0].resolve(): m for m in map(load_manifest, artifacts)}.values())
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
    references: dict[object, np.ndarray] = {}
    lock = threading.Lock()
    d = inputs.data

    def float_model(key: object, X: np.ndarray, L: np.ndarray | None) -> np.ndarray:
        with lock:  # one float pass per input, shared by the targets' threads
            if key not in references:
                references[key] = inputs.reference(X, L)  # type: ignore[misc]
            return references[key]

    with owned_temp_dir("check") as tmp:
        data_file = Path(tmp) / "data.npz"
        arrays = {"X": d.X.astype(np.float32)}
        if d.lengths is not None:
            arrays["lengths"] = d.lengths.astype(np.int64)
        np.savez(data_file, **arrays)

        def on(device: Target) -> list[CheckRow]:
            rows = []
            with device:
                mine = runs[device.name]
                jobs = [(model, manifest) for model, manifest, _ in mine]
                results = device.run_many(jobs, data_file, cfg)
            for (model, _, artifact), result in zip(mine, results, strict=True):
                if isinstance(result, TargetError):
                    raise result
                truth = parity = None
                padded = over_padding(artifact, d)
                if inputs.reference is not None and device.has_outputs:
                    # the truth: the float model on the rows as given, with their lengths
                    truth = float_model("as given", d.X, d.lengths)
                    if padded is not None:
                        parity = float_model(padded[0].shape, padded[0], None)
                row = make_row(device.name, artifact, result, d.y, truth, inputs.task, parity)
                if padded is not None:
                    row.padded_rows = padded[1]
                    row.notes.append(padding_note(artifact, padded[1], len(d.X)))
                if (inputs.int8_reference is not None and artifact.precision == "int8-static"
                        and result.get("outputs") is not None):  # fmt: skip
                    # the same inputs the file computed on: over its padding, or with lengths
                    X, L = (padded[0], None) if padded is not None else (d.X, d.lengths)
                    ref8 = inputs.int8_reference(artifact, int8_mode(device.name), X, L)
                    if ref8 is not None:
                        out = np.asarray(result["outputs"], np.float32).reshape(ref8.shape)
                        row.int8_reference_max_abs_diff = float(np.abs(out - ref8).max())
                row.artifact = str(model)
                apply_budgets(row, budgets)
                rows.append(row)
            return rows

        per_target = run_concurrently(
            [(device.emulated, functools.partial(on, device)) for device in devices]
        )
    return [row for rows in per_target for row in rows]
