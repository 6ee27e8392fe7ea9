"""Stage hooks of a sweep's trials: a shared stage cache and per-device leases.

The cache holds every completed stage folder under ``OUTDIR/cache/<stage>/<fingerprint>/``. A
stage's fingerprint covers its config section, its inputs' fingerprints and the edgegru version
(``pipeline.executor``), so two trials whose upstream keys agree compute the same fingerprint and
the second one links the first one's folder in instead of training again. While one trial
computes a stage, others that need the same fingerprint wait on a file lock (``flock``: released
by the kernel when a worker dies), then link the result. Files are hard-linked (stages replace
files atomically, never write into them), copied where the cache is on another filesystem.

Checks on a real device (ssh, adb) take a lease first: a zero-CPU Ray actor that needs the
custom resource named after the device (one unit on the cluster), so two trials never time on the
same board at once, wherever they run. The lease dies with its trial's worker.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import shutil
import time
from pathlib import Path
from typing import IO, Any

from edgegru.pipeline.executor import MANIFEST


def device_resource(target: str) -> str | None:
    """The Ray resource that serializes checks on ``target``; None for targets that run anywhere
    (local, emulated, tflm)."""
    if target.startswith(("ssh://", "adb")):
        return "device:" + target.split("?", 1)[0]
    return None


def _link_or_copy(src: str, dst: str) -> None:
    try:
        os.link(src, dst)
    except OSError:
        shutil.copy2(src, dst)


def copy_tree(src: Path, dst: Path) -> None:
    shutil.copytree(src, dst, copy_function=_link_or_copy)


class _Lease:
    def ready(self) -> bool:
        return True


class TrialStages:
    """``Context.hooks`` for one trial: fetch / publish through the cache, lease devices."""

    def __init__(self, cache: Path, devices: list[str] = ()) -> None:  # type: ignore[assignment]
        self.cache = cache
        self.devices = list(devices)  # Ray resource names the check stage must hold
        self._locks: dict[str, IO[str]] = {}
        self._leases: list[Any] = []
        self.held: list[dict[str, Any]] = []  # each device lease: resource, from, to (epoch s)

    def _entry(self, stage: str, fingerprint: str) -> Path:
        return self.cache / stage / fingerprint

    def before(self, stage: str, fingerprint: str, folder: Path) -> None:
        entry = self._entry(stage, fingerprint)
        entry.parent.mkdir(parents=True, exist_ok=True)
        lock = (entry.parent / f"{fingerprint}.lock").open("a")
        fcntl.flock(lock, fcntl.LOCK_EX)  # waits while another trial computes this stage
        if (entry / MANIFEST).is_file():
            lock.close()
            if not _same_manifest(entry, folder):
                shutil.rmtree(folder, ignore_errors=True)
                copy_tree(entry, folder)
        else:
            self._locks[stage] = lock  # ours to compute and publish
        if stage == "check":
            self._lease_devices()

    def after(self, stage: str, fingerprint: str, folder: Path) -> None:
        lock = self._locks.pop(stage, None)
        if lock is not None:
            entry = self._entry(stage, fingerprint)
            if not entry.exists():
                tmp = entry.parent / f".{fingerprint}.{os.getpid()}.tmp"
                shutil.rmtree(tmp, ignore_errors=True)
                copy_tree(folder, tmp)
                os.rename(tmp, entry)  # atomic: a half-copied entry is never seen
            lock.close()
        if stage == "check":
            self._release_devices()

    def close(self) -> None:
        for lock in self._locks.values():
            lock.close()
        self._locks.clear()
        self._release_devices()

    def _lease_devices(self) -> None:
        if not self.devices:
            return
        import ray
        from ray.util.scheduling_strategies import PlacementGroupSchedulingStrategy

        actor = ray.remote(num_cpus=0)(_Lease)
        # outside the trial's placement group: the device resource is the cluster's, not the
        # trial's bundle
        anywhere = PlacementGroupSchedulingStrategy(placement_group=None)
        for resource in self.devices:
            lease = actor.options(  # type: ignore[attr-defined]
                resources={resource: 1}, scheduling_strategy=anywhere
            ).remote()
            ray.get(lease.ready.remote())  # waits until no other trial holds the device
            self._leases.append(lease)
            self.held.append({"resource": resource, "from": time.time()})

    def _release_devices(self) -> None:
        if self._leases:
            import ray

            for lease in self._leases:
                with contextlib.suppress(Exception):
                    ray.kill(lease)
            self._leases.clear()
            for h in self.held:
                h.setdefault("to", time.time())


def _same_manifest(entry: Path, folder: Path) -> bool:
    try:
        return (entry / MANIFEST).read_bytes() == (folder / MANIFEST).read_bytes()
    except OSError:
        return False
