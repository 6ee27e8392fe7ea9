"""Device results against the float model, and budgets.

The truth is the float model on the data as given (with its lengths): accuracy, drop and
agreement are measured against it. ``max_abs_error`` is parity: the file against the float model
on the inputs the file actually ran on (over the zero padding for a fixed-T file without a length
input), so a broken kernel and a file that cannot honour the data's lengths read differently.

The CLI computes the float model's outputs on the host (PyTorch) and hands them in as arrays:
this module stays torch-free like the rest of the device side.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from edgegru.targets.config import BUDGET_OPTIONS, DEFAULT_BUDGETS, Budgets, Limit
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
    discordant: int | None = None  # rows exactly one of the file and the float model gets right
    padded_rows: int = 0  # rows the file ran over their zero padding (no length input)
    max_abs_error: float | None = None
    tolerance: float | None = None
    # figure -> statistics (us): invoke, call, window_invoke, window_call (targets/runner.py);
    # None where the target cannot measure that figure (adb: call)
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
    broken: list[dict[str, Any]] = field(default_factory=list)  # one record per broken budget
    # tflm: arena_bytes (the smallest that works), flash_bytes, ops, the allocator's record
    mcu: dict[str, Any] = field(default_factory=dict)
    # int8-static artifacts, when the check has the int8 bundle: max |device - NumPy int8
    # reference in the target's arithmetic| (0: bit-exact)
    int8_reference_max_abs_diff: float | None = None

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    def latency(self, figure: str = "invoke", stat: str = "p50") -> float | None:
        """One statistic of one latency figure (p50 falls back to the mean where a benchmark
        tool prints no median)."""
        stats = self.latency_us.get(figure) or {}
        value = stats.get(stat)
        return stats.get("mean") if value is None and stat == "p50" else value


def make_row(
    target: str,
    artifact: Artifact,
    result: dict[str, Any],
    y_true: np.ndarray | None,
    reference: np.ndarray | None,
    task: str,
    parity: np.ndarray | None = None,
) -> CheckRow:
    """Compare one device result with the float model's outputs on the data as given
    (``reference``) and the labels; ``parity`` is the float model on the inputs the file ran on
    when those differ (default: ``reference``)."""
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
        same = ref if parity is None else np.asarray(parity, np.float64).reshape(len(ref), -1)
        row.max_abs_error = float(np.abs(out - same).max())
        row.tolerance = tolerance(artifact, same)
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
                row.discordant = int(((pred == y_true) != (ref_pred == y_true)).sum())
    elif y_true is not None:
        row.accuracy = float(np.abs(out - y_true.reshape(len(out), -1)).mean())  # MAE
    return row


# How a broken budget reads: the measured value, then the limit as the user gave it.
_MESSAGES = {
    "max_accuracy_drop": "accuracy drop {v:.2f} pts > {l}",
    "min_agreement": "agreement {v:.4f} < {l}",
    "max_latency_us": "latency {v:.1f} us > {l}",  # the label names the figure and statistic
    "max_size_kb": "size {v:.1f} KB > {l}",
    "max_rss_mb": "peak RSS {v:.1f} MB > {l}",
    "max_logit_error": "max abs output error {v:.3g} > {l}",
    "max_arena_kb": "arena {v:.2f} KB > {l}",
    "max_flash_kb": "flash {v:.2f} KB > {l}",
}
STATED_TOLERANCE = "the stated tolerance"
# The default budgets are judged on a sample of n rows, so they allow this many standard errors
# of sampling noise (explicit budgets apply as given): one flipped row of 40 is 2.5 points.
NOISE_SE = 2.0


def noise(row: CheckRow, name: str) -> float:
    """Sampling noise a default budget allows on this row's n rows: for the accuracy drop, the
    standard error of the paired difference (McNemar: sqrt(discordant rows) / n); for the
    agreement, the binomial standard error at the default limit."""
    if not row.n:
        return 0.0
    if name == "max_accuracy_drop" and row.discordant is not None:
        return NOISE_SE * 100.0 * math.sqrt(row.discordant) / row.n
    if name == "min_agreement":
        p = DEFAULT_BUDGETS[name]
        return NOISE_SE * math.sqrt(p * (1.0 - p) / row.n)
    return 0.0


def _value(row: CheckRow, name: str, figure: str = "invoke") -> float | None:
    return {
        "max_accuracy_drop": row.accuracy_drop_pts,
        "min_agreement": row.agreement,
        "max_latency_us": row.latency(figure),
        "max_size_kb": row.size_kb,
        "max_rss_mb": row.peak_rss_mb,
        "max_logit_error": row.max_abs_error,
        "max_arena_kb": _kb(row.mcu.get("arena_bytes")),
        "max_flash_kb": _kb(row.mcu.get("flash_bytes")),
    }[name]


def _kb(n: float | None) -> float | None:
    return None if n is None else n / 1024.0


def apply_budgets(row: CheckRow, b: Budgets) -> list[str]:
    """Name every budget the row breaks (also kept in ``row.failures``, and one record each in
    ``row.broken`` for the summary table)."""
    where = f"({row.artifact} on {row.target})"
    fails: list[str] = []
    broken: list[dict[str, Any]] = []
    for name, (_, minimum) in BUDGET_OPTIONS.items():
        limit = b.limit_on(name, row.format, row.precision)
        if name in ("max_latency_us", "max_rss_mb") and row.emulated:
            if limit is not None and not limit.default:
                row.notes.append("latency and memory budgets not applied: emulated target")
            continue
        label = None if limit is None else limit.label
        if name == "max_latency_us" and label is not None:
            label += f" [{b.latency_figure} p50]"  # the figure it binds (docs/latency.md)
        if name == "max_logit_error" and limit is None and row.tolerance is not None:
            limit, label = Limit(name, row.tolerance, "stated"), STATED_TOLERANCE
        value = _value(row, name, b.latency_figure)
        if name in ("max_arena_kb", "max_flash_kb") and not row.mcu:
            if limit is not None:
                row.notes.append("arena and flash budgets apply to the tflm target only")
            continue
        if name == "max_latency_us" and limit is not None and value is None:
            row.notes.append(
                f"latency budget not applied: this target has no {b.latency_figure} figure"
            )
        if limit is None or value is None:
            continue
        slack = noise(row, name) if limit.default else 0.0
        bound = limit.value - slack if minimum else limit.value + slack
        if (value < bound) if minimum else (value > bound):
            shown = f"{label} {limit.value:.3g}" if label == STATED_TOLERANCE else label
            if slack:
                shown += f" {'-' if minimum else '+'} {slack:.3g} noise on {row.n} rows"
            fails.append(_MESSAGES[name].format(v=value, l=shown) + " " + where)
            record = {"budget": label, "name": name, "limit": limit.value, "scope": limit.scope,
                      "default": limit.default, "noise": slack, "bound": bound,
                      "value": value}  # fmt: skip
            broken.append(record | {"artifact": row.artifact, "target": row.target})
    if row.n == 0 and any(
        b.limit_on(n, row.format, row.precision) for n in ("max_accuracy_drop", "min_agreement")
    ):
        row.notes.append("no device outputs: accuracy budgets not applied")
    row.failures = fails
    row.broken = broken
    return fails


def summarize(broken: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One entry per broken budget (from the rows' ``broken`` records): its label, limit, the
    worst value, and the files and targets that broke it."""
    groups: dict[str, dict[str, Any]] = {}
    for br in broken:
        g = groups.setdefault(
            br["budget"],
            {"budget": br["budget"], "name": br["name"], "limit": br["limit"],
             "scope": br["scope"], "default": br["default"], "worst": br["value"],
             "artifacts": [], "targets": [], "count": 0},
        )  # fmt: skip
        _, minimum = BUDGET_OPTIONS[br["name"]]
        g["worst"] = (min if minimum else max)(g["worst"], br["value"])
        if br["budget"] == STATED_TOLERANCE:  # per-file limits: show the tightest broken
            g["limit"] = min(g["limit"], br["limit"])
        g["count"] += 1
        for key, v in (("artifacts", br["artifact"]), ("targets", br["target"])):
            if v not in g[key]:
                g[key].append(v)
    return list(groups.values())


_UNITS = {
    "max_accuracy_drop": "{:.2f} pts",
    "min_agreement": "{:.4f}",
    "max_latency_us": "{:.1f} us",
    "max_size_kb": "{:.1f} KB",
    "max_rss_mb": "{:.1f} MB",
    "max_logit_error": "{:.3g}",
    "max_arena_kb": "{:.2f} KB",
    "max_flash_kb": "{:.2f} KB",
}


def _few(names: list[str], keep: int = 2) -> str:
    shown = ", ".join(names[:keep])
    return shown + (f" +{len(names) - keep} more" if len(names) > keep else "")


def broken_table(
    broken: list[dict[str, Any]], pairs: int
) -> tuple[list[str], list[tuple[str, ...]]]:
    """(header, one short line per broken budget) for the CLI and the report: the worst value,
    and the files and targets that broke it, counted and abbreviated (files relative to their
    common folder; the full list is ``broken``, one record per file x target x budget)."""
    import os

    paths = [os.path.dirname(b["artifact"]) for b in broken]
    same_kind = len({os.path.isabs(p) for p in paths}) == 1  # commonpath refuses a mix
    base = os.path.commonpath(paths) if paths and same_kind else ""
    lines = []
    for g in summarize(broken):
        files = [os.path.relpath(a, base) if base else a for a in g["artifacts"]]
        if g["budget"] == STATED_TOLERANCE:
            budget, limit = "tolerance", "stated per file"
        else:
            budget = "--" + g["name"].replace("_", "-")
            limit = f"{g['limit']:g}" if g["scope"] == "all" else f"{g['scope']}={g['limit']:g}"
            limit += " (default)" if g["default"] else ""
        lines.append(
            (
                budget,
                limit,
                _UNITS[g["name"]].format(g["worst"]),
                f"{g['count']} of {pairs}",
                _few(files),
                _few(g["targets"]),
            )
        )
    header = ["budget", "limit", "worst", "broken", "files", "targets"]
    return header, lines


def broken_summary(broken: list[dict[str, Any]], pairs: int) -> str:
    """One line naming every broken budget (the message of the exit-1 error)."""
    groups = summarize(broken)
    return f"{len(groups)} budget{'s' if len(groups) > 1 else ''} broken: " + "; ".join(
        f"{g['budget']} (worst {_UNITS[g['name']].format(g['worst'])}, "
        f"{g['count']} of {pairs} file x target pairs)"
        for g in groups
    )
