"""``tflm``: TFLite Micro's interpreter on this machine (the ``tflite-micro`` package, the same
reference kernels a Cortex-M runs without CMSIS-NN), through the runner with ``--runtime tflm``.

What it answers is what a microcontroller build needs: does every op of the file exist in
TFLite Micro (checked before anything runs; the unsupported ones named in one line), the
smallest tensor arena the model runs in (measured by TFLite Micro's own allocator, see
``runner.TflmModel``), the flash the model takes (its bytes) and its outputs. The latency is the
host build's: it says nothing about an MCU's. Only ``.tflite`` float32 and int8-static files run
there (TFLite Micro has no hybrid int8-weight kernels); other artifacts are skipped.

    tflm[?python=CMD]
"""

from __future__ import annotations

import shlex

from edgegru.targets.local import LocalTarget
from edgegru.targets.registry import TARGETS, TargetSpec
from edgegru.types import Artifact

# What the fix is when the file uses an op TFLite Micro lacks.
LOWERED_FIX = (
    "LSTM / peephole LSTM files (float32 and int8-static) run there exported with --option "
    "layout=lowered (builtin ops only)"
)


class TflmTarget(LocalTarget):
    def __init__(self, python: list[str] | None = None) -> None:
        super().__init__(python, name="tflm")

    def runner_extra_args(self) -> list[str]:
        return ["--runtime", "tflm"]

    def accepts(self, artifact: Artifact) -> bool:
        return artifact.format == "tflite" and artifact.precision in ("float32", "int8-static")


@TARGETS.register("tflm")
def make(spec: TargetSpec) -> TflmTarget:
    python = spec.options.get("python")
    return TflmTarget(shlex.split(python) if python else None)
