"""Run the pipeline's stages in order, each into its own folder with a manifest.

A stage is a function of its config section and the manifests of the stages before it; it
writes only ``OUTDIR/<stage>/``. Its manifest (``stage.json``, written last and atomically)
holds a fingerprint of everything it read (its config, the edgegru version, the hashes of its
inputs' manifests) and the sha256 of every file it wrote, so a re-run skips a stage whose
fingerprint and files are unchanged, and an interrupted stage never looks complete.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from edgegru import __version__
from edgegru.io import atomic_write_json, check_output_folder, staged_output
from edgegru.pipeline.config import PipelineConfig
from edgegru.registry import Registry

MANIFEST = "stage.json"


@dataclass
class StageResult:
    name: str
    folder: Path
    outputs: dict[str, Any]  # JSON-able: metrics, relative file names
    fingerprint: str
    skipped: bool = False
    seconds: float = 0.0


@dataclass
class Context:
    out: Path
    config: PipelineConfig
    results: dict[str, StageResult] = field(default_factory=dict)
    on_event: Callable[[str, str], None] | None = None  # (stage, message) for the CLI
    # Called around each stage: ``before(stage, fingerprint, folder)`` may fill the folder (a
    # sweep's trials share stages through a cache), ``after(...)`` once the stage is complete.
    hooks: Any = None
    _data: Any = None

    def data(self) -> Any:
        """The config's dataset, loaded once (a ``Dataset``)."""
        if self._data is None:
            from edgegru.datasets import load_dataset, load_npz

            d = self.config.data
            self._data = load_npz(d.path, d.test_path) if d.path else load_dataset(d.dataset or "")
        return self._data

    on_progress: Callable[[str, int, int], None] | None = None  # (stage, done, total)

    def say(self, stage: str, message: str) -> None:
        if self.on_event is not None:
            self.on_event(stage, message)

    def progress(self, stage: str, done: int, total: int) -> None:
        if self.on_progress is not None:
            self.on_progress(stage, done, total)


@dataclass(frozen=True)
class Stage:
    name: str
    section: str  # the config section it reads
    needs: tuple[str, ...]  # stages whose results it reads
    run: Callable[[Context, Path], dict[str, Any]]
    extra_inputs: Callable[[Context], dict[str, Any]] | None = None  # e.g. a data file's hash
    # Checks the stage's config section against the data (and the model it will get) without
    # doing any work; every stage's runs before the first stage starts.
    validate: Callable[[Context], None] | None = None


STAGES: Registry[Stage] = Registry("pipeline stage")
ORDER: list[str] = []  # run order; each stage module appends itself


def stage(
    name: str,
    section: str,
    needs: tuple[str, ...] = (),
    extra_inputs: Callable[[Context], dict[str, Any]] | None = None,
    validate: Callable[[Context], None] | None = None,
) -> Callable[
    [Callable[[Context, Path], dict[str, Any]]], Callable[[Context, Path], dict[str, Any]]
]:
    def add(
        fn: Callable[[Context, Path], dict[str, Any]],
    ) -> Callable[[Context, Path], dict[str, Any]]:
        STAGES.register(name)(Stage(name, section, needs, fn, extra_inputs, validate))
        ORDER.append(name)
        return fn

    return add


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _fingerprint(st: Stage, ctx: Context) -> str:
    section = getattr(ctx.config, st.section).__dict__ if st.section else {}
    read = {
        "stage": st.name,
        "edgegru": __version__,
        "config": section,
        # every earlier result, not only ``needs``: optional stages (compress, quantize) change
        # what flows downstream when they run
        "inputs": {n: r.fingerprint for n, r in ctx.results.items()},
        "extra": st.extra_inputs(ctx) if st.extra_inputs else {},
    }
    return hashlib.sha256(json.dumps(read, sort_keys=True, default=str).encode()).hexdigest()


def _cached(folder: Path, fingerprint: str) -> dict[str, Any] | None:
    try:
        manifest = json.loads((folder / MANIFEST).read_text())
    except (OSError, ValueError):
        return None
    if manifest.get("fingerprint") != fingerprint:
        return None
    for rel, digest in manifest.get("files", {}).items():
        path = folder / rel
        if not path.is_file() or sha256_file(path) != digest:
            return None
    return manifest


def _files(folder: Path) -> dict[str, str]:
    return {
        str(p.relative_to(folder)): sha256_file(p)
        for p in sorted(folder.rglob("*"))
        if p.is_file() and p.name != MANIFEST and not p.name.endswith(".tmp")
    }


def _enabled(ctx: Context, st: Stage) -> bool:
    section = getattr(ctx.config, st.section, None)
    if st.name == "train" and getattr(section, "model", None):
        return True  # enabled = false + model: the stage takes that bundle instead of training
    return section is None or getattr(section, "enabled", True)


def validate_pipeline(ctx: Context) -> None:
    """Every input of every enabled stage, before any of them runs: bad data, a bad section or an
    unusable output folder fail here with one line, and OUTDIR stays as it was."""
    ctx.data()
    check_output_folder(ctx.out)
    for name in ORDER:
        st = STAGES.get(name)
        if _enabled(ctx, st) and st.validate is not None:
            st.validate(ctx)


def run_pipeline(ctx: Context, only_enabled: bool = True) -> dict[str, StageResult]:
    """Run (or skip, when unchanged) every enabled stage in order.

    Each stage writes into a temporary sibling folder that replaces ``OUTDIR/<stage>`` only once
    the stage completed: a failed or killed stage leaves the earlier result as it was."""
    validate_pipeline(ctx)
    for name in ORDER:
        st = STAGES.get(name)
        if only_enabled and not _enabled(ctx, st):
            ctx.say(name, "off")
            continue
        if any(n not in ctx.results for n in st.needs):
            missing = [n for n in st.needs if n not in ctx.results]
            ctx.say(name, f"skipped: needs {', '.join(missing)}")
            continue
        folder = ctx.out / name
        fingerprint = _fingerprint(st, ctx)
        if ctx.hooks is not None:
            ctx.hooks.before(name, fingerprint, folder)
        cached = _cached(folder, fingerprint)
        if cached is not None:
            ctx.results[name] = StageResult(name, folder, cached["outputs"], fingerprint, True)
            ctx.say(name, "unchanged, skipped")
            if ctx.hooks is not None:
                ctx.hooks.after(name, fingerprint, folder)
            continue
        ctx.say(name, "running")
        # A changed stage starts from an empty folder (no stale file of an older config survives
        # into the report), swapped in whole when complete; other stages' folders stay.
        t0 = time.perf_counter()
        with staged_output(folder, replace=True) as work:
            outputs = st.run(ctx, work)
            seconds = time.perf_counter() - t0
            atomic_write_json(
                work / MANIFEST,
                {"stage": name, "fingerprint": fingerprint, "outputs": outputs,
                 "files": _files(work), "seconds": round(seconds, 3)},
            )  # fmt: skip
        ctx.results[name] = StageResult(name, folder, outputs, fingerprint, False, seconds)
        if ctx.hooks is not None:
            ctx.hooks.after(name, fingerprint, folder)
        ctx.say(name, f"done in {seconds:.1f} s")
    return ctx.results
