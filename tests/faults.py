"""Helpers of the fault suites: run the CLI in-process, snapshot folders, judge an outcome.

Every generated case is judged by the same contract: exit code 0, 1 or 2; no traceback; exactly
one error line for exit 2; and, when the command failed, its output folder byte for byte as it
was before. With ``EDGEGRU_FAULT_COUNTS=FILE`` the judge records each case (class, defect or
not) in FILE instead of failing, which is how the closing counts were taken.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass
from pathlib import Path

from click.testing import CliRunner

COUNTS = os.environ.get("EDGEGRU_FAULT_COUNTS")


@dataclass
class Outcome:
    code: int
    stderr: str
    traceback: bool


def invoke(*args: str) -> Outcome:
    """The click CLI in this process (what ``edgegru ARGS`` runs, without interpreter start)."""
    from edgegru.cli import main

    result = CliRunner().invoke(main, [str(a) for a in args], catch_exceptions=True)
    crashed = result.exception is not None and not isinstance(result.exception, SystemExit)
    return Outcome(result.exit_code, result.stderr, crashed or "Traceback" in result.stderr)


def snapshot(folder: Path) -> dict[str, bytes] | None:
    """Every file and folder below ``folder`` (hidden ones too) with its bytes; None: absent."""
    if not folder.exists():
        return None
    return {
        str(p.relative_to(folder)): (p.read_bytes() if p.is_file() else b"<dir>")
        for p in sorted(folder.rglob("*"))
    }


def problems(out: Outcome, before: object = None, after: object = None) -> list[str]:
    found = []
    if out.code not in (0, 1, 2):
        found.append(f"exit code {out.code}")
    if out.traceback:
        found.append("traceback")
    # the pipeline logs "[stage] message" lines before a failure; the rest is the error
    lines = [x for x in out.stderr.strip().splitlines() if not re.match(r"\[\w+\] ", x)]
    if out.code == 2 and not (len(lines) == 1 or out.stderr.startswith("Usage:")):
        found.append(f"{len(lines)} error lines")
    if out.code != 0 and before != after:
        found.append("output folder changed on failure")
    return found


def judge(
    cls: str, out: Outcome, before: object = None, after: object = None, extra: tuple = ()
) -> None:
    """``extra``: defects the caller found itself (e.g. temp files left behind)."""
    found = problems(out, before, after) + list(extra)
    if COUNTS:
        with open(COUNTS, "a") as f:
            f.write(json.dumps({"class": cls, "defect": bool(found), "why": found}) + "\n")
        return
    assert not found, (cls, found, out.code, out.stderr[-2000:])
