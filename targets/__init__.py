"""Device runner, transports and checks (docs/targets.md). Never imports torch.

- ``runner.py``: the self-contained file a device runs (numpy + one runtime);
- ``registry``: the target syntax and the ``TARGETS`` registry; one module per transport:
  ``local``, ``ssh``, ``qemu`` (qemu-aarch64, with ``qemu_rootfs`` building its userland), ``adb``
  (with ``adb_parse`` for the benchmark tools' output), ``tflm`` (TFLite Micro on this machine);
- ``check``: device outputs against the float model, and budgets.
"""

from __future__ import annotations

from edgegru.targets.registry import TARGETS, TargetSpec, make_target

__all__ = ["TARGETS", "TargetSpec", "load_transports", "make_target"]

# One line per transport module (explicit, no scan).
_TRANSPORTS = (
    "edgegru.targets.local",
    "edgegru.targets.ssh",
    "edgegru.targets.qemu",
    "edgegru.targets.adb",
    "edgegru.targets.tflm",
)


def load_transports() -> None:
    import importlib

    for module in _TRANSPORTS:
        importlib.import_module(module)
