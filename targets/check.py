"""Device results against the float model, and budgets (DESIGN.md 6, "Checks").

The CLI computes the float model's outputs on the host (PyTorch) and hands them in as arrays:
this module stays torch-free like the rest of the device side.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from edgegru.targets.config import Budgets
from edgegru.types import Artifact

# The stated tolerance of float artifacts when the manifest gives none: float32 kernels (fused
# GRU/LSTM, XNNPACK) reorder sums, so outputs differ from the float model by a few ulp per step;
# 1e-4 absolute plus 1e-4 of the largest output magnitude holds for T in the hundreds.
FLOAT_ATOL, FLOAT_RTOL = 1e-4, 1e-4


def tolerance(artifact: Artifact, reference: np.ndarray) -> float | None:
    """The largest abs output error the artifact claims: its manifest's ``tolerance``, else the
    float default; None for int8 artifacts without one (they are held to the accuracy budgets)."""
    stated = artifact.details.get("tolerance")
    if stated is not None:
        return float(stated)
    if artifact.precision != "float32":
        return None
    scale = float(np.abs(reference).max()) if reference.size else 0.0
    return FLOAT_ATOL + FLOAT_RTOL * scale


@dataclass
class CheckRow:
    """One artifact on one target."""

    target: str
    artifact: str
    format: str
    form: str
    precision: str
    size_kb: float
    n: int = 0
    accuracy: float | None = None  # device (classification); MAE for regression
    reference_accuracy: float | None = None
    accuracy_drop_pts: float | None = None
    agreement: float | None = None
    max_abs_error: float | None = None
    tolerance: float | None = None
    latency_us: dict[str, Any] = field(default_factory=dict)
    init_us: float | None = None
    first_inference_us: float | None = None
    peak_rss_mb: float | None = None
    api: str = ""
    emulated: bool = False
    device: dict[str, Any] = field(default_factory=dict)
    versions: dict[str, Any] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)
    # tflm: arena_bytes (the smallest that works), flash_bytes, ops, the allocator's record
    mcu: dict[str, Any] = field(default_factory=dict)
    # int8-static artifacts, when the check has the int8 bundle: max |device - NumPy int8
    # reference in the target's arithmetic| (0: bit-exact)
    int8_reference_max_abs_diff: float | None = None

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def make_row(
    target: str,
    artifact: Artifact,
    result: dict[str, Any],
    y_true: np.ndarray | None,
    reference: np.ndarray | None,
    task: str,
) -> CheckRow:
    """Compare one device result with the float model's outputs and the labels."""
    rss = result.get("peak_rss_kb")
    row = CheckRow(
        target=target,
        artifact=artifact.path,
        format=artifact.format,
        form=artifact.form,
        precision=artifact.precision,
        size_kb=artifact.size_bytes / 1024.0,
        latency_us=dict(result.get("latency_us") or {}),
        init_us=result.get("init_us"),
        first_inference_us=result.get("first_inference_us"),
        peak_rss_mb=None if rss is None else rss / 1024.0,
        api=result.get("api", ""),
        emulated=bool(result.get("emulated")),
        device=dict(result.get("device") or {}),
        versions=dict(result.get("versions") or {}),
        notes=list(result.get("notes") or []),
        mcu=dict(result.get("mcu") or {}),
    )
    outputs = result.get("outputs")
    if outputs is None:
        return row
    out = np.asarray(outputs, np.float64).reshape(len(outputs), -1)
    row.n = len(out)
    if reference is not None:
        ref = np.asarray(reference, np.float64).reshape(len(reference), -1)
        row.max_abs_error = float(np.abs(out - ref).max())
        row.tolerance = tolerance(artifact, ref)
    if task == "classification":
        pred = out.argmax(axis=1)
        if y_true is not None:
            row.accuracy = float((pred == y_true).mean())
        if reference is not None:
            ref_pred = ref.argmax(axis=1)
            row.agreement = float((pred == ref_pred).mean())
            if y_true is not None:
                row.reference_accuracy = float((ref_pred == y_true).mean())
                row.accuracy_drop_pts = 100.0 * (row.reference_accuracy - row.accuracy)
    elif y_true is not None:
        row.accuracy = float(np.abs(out - y_true.reshape(len(out), -1)).mean())  # MAE
    return row


def apply_budgets(row: CheckRow, b: Budgets) -> list[str]:
    """Name every budget the row breaks (also kept in ``row.failures``)."""
    where = f"({row.artifact} on {row.target})"
    checks: list[tuple[float | None, float | None, bool, str]] = [
        # (value, limit, broken when value is below the limit, message head)
        (
            row.accuracy_drop_pts,
            b.max_accuracy_drop,
            False,
            "accuracy drop {v:.2f} pts > --max-accuracy-drop {l:g}",
        ),
        (row.agreement, b.min_agreement, True, "agreement {v:.4f} < --min-agreement {l:g}"),
        (row.size_kb, b.max_size_kb, False, "size {v:.1f} KB > --max-size-kb {l:g}"),
    ]
    if b.max_logit_error is not None:
        checks.append(
            (
                row.max_abs_error,
                b.max_logit_error,
                False,
                "max abs output error {v:.3g} > --max-logit-error {l:.3g}",
            )
        )
    else:
        checks.append(
            (
                row.max_abs_error,
                row.tolerance,
                False,
                "max abs output error {v:.3g} > the stated tolerance {l:.3g}",
            )
        )
    checks += mcu_checks(row, b)
    if row.emulated:
        if b.max_latency_us is not None or b.max_rss_mb is not None:
            row.notes.append("latency and memory budgets not applied: emulated target")
    else:
        p50 = row.latency_us.get("p50") or row.latency_us.get("mean")
        checks.append(
            (p50, b.max_latency_us, False, "latency p50 {v:.1f} us > --max-latency-us {l:g}")
        )
        checks.append(
            (row.peak_rss_mb, b.max_rss_mb, False, "peak RSS {v:.1f} MB > --max-rss-mb {l:g}")
        )
    fails = []
    for value, limit, minimum, message in checks:
        if value is None or limit is None:
            continue
        if (value < limit) if minimum else (value > limit):
            fails.append(message.format(v=value, l=limit) + " " + where)
    if row.n == 0 and (b.max_accuracy_drop is not None or b.min_agreement is not None):
        row.notes.append("no device outputs: accuracy budgets not applied")
    row.failures = fails
    return fails


def mcu_checks(row: CheckRow, b: Budgets) -> list[tuple[float | None, float | None, bool, str]]:
    """The arena and flash budgets, on rows that measured them (the tflm target)."""
    if not row.mcu:
        if b.max_arena_kb is not None or b.max_flash_kb is not None:
            row.notes.append("arena and flash budgets apply to the tflm target only")
        return []
    arena, flash = row.mcu.get("arena_bytes"), row.mcu.get("flash_bytes")
    return [
        (None if arena is None else arena / 1024.0, b.max_arena_kb, False,
         "arena {v:.2f} KB > --max-arena-kb {l:g}"),
        (None if flash is None else flash / 1024.0, b.max_flash_kb, False,
         "flash {v:.2f} KB > --max-flash-kb {l:g}"),
    ]  # fmt: skip
