"""`train --resume` after SIGKILL at random moments ends with the uninterrupted run's weights, bit
for bit; a damaged checkpoint is refused with one line; no temp file survives."""

from __future__ import annotations

import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from edgegru.checkpoint import CHECKPOINT_DIR, CHECKPOINT_FILE, read_checkpoint
from edgegru.errors import BadInput
from tests.conftest import assert_one_line_error
from tests.faults import invoke

EPOCHS = 60
ARGS = ["train", "--dataset", "basicmotions", "--cell", "gru", "--hidden", "16", "--epochs",
        str(EPOCHS), "--patience", "1000", "--seed", "3", "--jitter", "0.2"]  # fmt: skip


def _epoch(out: Path) -> int | None:
    try:
        return read_checkpoint(out / CHECKPOINT_DIR / CHECKPOINT_FILE)[0]["epoch"]
    except BadInput:
        return None


def _kill_at_random(out: Path, resume: bool, rng: random.Random) -> int | None:
    """Start a run, SIGKILL it a random moment after its first checkpoint of this attempt; the
    checkpoint's epoch after the kill (None: the run finished first)."""
    start = _epoch(out) or 0
    proc = subprocess.Popen(
        [sys.executable, "-m", "edgegru", *ARGS, "-o", str(out), *(["--resume"] if resume else [])],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 120
    while proc.poll() is None and time.monotonic() < deadline:
        epoch = _epoch(out)
        if epoch is not None and epoch > start:
            break
        time.sleep(0.002)
    time.sleep(rng.uniform(0.0, 0.25))
    proc.send_signal(signal.SIGKILL)
    finished = proc.wait() == 0
    return None if finished else _epoch(out)


@pytest.mark.slow
def test_resume_after_kills_at_random_moments_is_bit_exact(tmp_path):
    full = tmp_path / "full"
    result = invoke(*ARGS, "-o", full)
    assert result.code == 0, result.stderr
    killed = tmp_path / "killed"
    rng = random.Random(13)
    kills: list[int] = []
    for attempt in range(6):
        epoch = _kill_at_random(killed, resume=attempt > 0, rng=rng)
        if epoch is None:
            break
        kills.append(epoch)
        if len(kills) == 3:
            break
    assert len(kills) >= 3, f"only {len(kills)} kills landed mid-run: {kills}"
    result = invoke(*ARGS, "-o", killed, "--resume")
    assert result.code == 0, result.stderr
    for name in ("model.safetensors", "model.json"):
        assert (killed / name).read_bytes() == (full / name).read_bytes(), (name, kills)
    leftovers = [p.name for p in killed.rglob("*") if p.name.endswith(".tmp")]
    assert not leftovers


def test_damaged_or_foreign_checkpoints_are_refused(tmp_path):
    def cli(*args):  # in-process: the same click command, without interpreter start-up
        out = invoke(*args)
        assert not out.traceback, out.stderr
        return subprocess.CompletedProcess(args, out.code, "", out.stderr)

    out = tmp_path / "r"
    base = ["train", "--dataset", "basicmotions", "--hidden", "4", "--epochs", "2", "-o", str(out)]
    assert cli(*base).returncode == 0
    state = out / CHECKPOINT_DIR / CHECKPOINT_FILE
    good = state.read_bytes()
    # a stale temp file of a killed write is swept by the next run
    (state.parent / ".state.safetensors.abc.tmp").write_bytes(good[:100])
    assert cli(*base, "--resume").returncode == 0
    assert not list(state.parent.glob("*.tmp")) and not list(state.parent.glob(".*.tmp"))
    for damaged in (
        good[: len(good) // 2],
        b"\xff" * 8 + good[8:],
        good[:-9] + bytes([good[-9] ^ 1]) + good[-8:],
    ):
        state.write_bytes(damaged)
        assert_one_line_error(cli(*base, "--resume"), "checkpoint")
    # the older two-file layout is named, not misread
    state.unlink()
    (state.parent / "state.json").write_text("{}")
    assert_one_line_error(cli(*base, "--resume"), "older edgegru")
