"""``edgegru targets setup qemu-aarch64``: an emulated Raspberry Pi userland, built once.

Measured: ``mmdebstrap --variant=extract --arch=arm64`` with python3, libstdc++6 and
libgcc-s1 (~76 MB, no emulation needed, ~15-30 s) plus this machine's pip installing the aarch64
wheels of numpy, onnxruntime and ai-edge-litert into ROOT/opt/site. Then
``qemu-aarch64-static -cpu cortex-a72 -L BOARD BOARD/usr/bin/python3`` runs it (no binfmt, no
root). ONNX Runtime's cpuinfo crashes on the host's x86 /proc/cpuinfo under qemu 7.2, so each
board folder gets a Pi's /proc/cpuinfo: qemu-user's -L prefix looks every absolute path up in
the prefix first, so BOARD is a folder of symlinks into ROOT plus its own proc/.

pip's ``--platform`` takes exact tags: ai-edge-litert 2.x ships manylinux_2_27 wheels, which
``--platform manylinux_2_28_aarch64`` alone does not match with every pip, so every tag a
bookworm (glibc 2.36) userland accepts is listed.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from edgegru.targets.base import TargetError

SUITE = "bookworm"  # Raspberry Pi OS 12 is bookworm: the same Python 3.11 and glibc 2.36
PYTHON_VERSION = "311"
PACKAGES = ("python3", "libstdc++6", "libgcc-s1")
WHEELS = ("numpy", "onnxruntime", "ai-edge-litert")
LAYOUT_VERSION = 2  # bump when the layout or the board files change


@dataclass(frozen=True)
class Board:
    cpu: str  # qemu -cpu
    part: str  # /proc/cpuinfo "CPU part" (Arm's part number)
    revision: str  # the Pi's board revision code
    model: str  # /proc/device-tree/model
    features: str  # /proc/cpuinfo "Features" as the board's kernel prints them


BOARDS = {
    # ARMv8.0: no LSE "atomics" (the runner then skips LiteRT's CompiledModel, which needs them)
    "pi4": Board(
        "cortex-a72",
        "0xd08",
        "c03114",
        "Raspberry Pi 4 Model B Rev 1.4",
        "fp asimd evtstrm crc32 cpuid",
    ),
    # ARMv8.2
    "pi5": Board(
        "cortex-a76",
        "0xd0b",
        "d04170",
        "Raspberry Pi 5 Model B Rev 1.0",
        "fp asimd evtstrm aes pmull sha1 sha2 crc32 atomics fphp asimdhp cpuid "
        "asimdrdm lrcpc dcpop asimddp",
    ),
}


def cache_dir() -> Path:
    """$EDGEGRU_CACHE/qemu-aarch64, else $XDG_CACHE_HOME (~/.cache)/edgegru/qemu-aarch64."""
    if os.environ.get("EDGEGRU_CACHE"):
        return Path(os.environ["EDGEGRU_CACHE"]) / "qemu-aarch64"
    xdg = os.environ.get("XDG_CACHE_HOME")
    return (Path(xdg) if xdg else Path.home() / ".cache") / "edgegru" / "qemu-aarch64"


def cpuinfo(board: Board, cores: int = 4) -> str:
    """A Pi's /proc/cpuinfo as its kernel prints it (arm64)."""
    block = (
        "processor\t: {n}\nBogoMIPS\t: 108.00\n"
        "Features\t: {features}\nCPU implementer\t: 0x41\n"
        "CPU architecture: 8\nCPU variant\t: 0x0\nCPU part\t: {part}\nCPU revision\t: 3\n\n"
    )
    body = "".join(
        block.format(n=n, part=board.part, features=board.features) for n in range(cores)
    )
    return body + f"Revision\t: {board.revision}\nModel\t\t: {board.model}\n"


def installed_versions() -> dict[str, str]:
    """The host's versions of the wheels, so the emulated Pi runs what this machine runs."""
    import contextlib
    from importlib import metadata

    out = {}
    for name in WHEELS:
        with contextlib.suppress(metadata.PackageNotFoundError):
            out[name] = metadata.version(name)
    return out


def stamp(versions: dict[str, str]) -> dict:
    return {
        "layout": LAYOUT_VERSION,
        "suite": SUITE,
        "packages": list(PACKAGES),
        "wheels": versions,
    }


def is_ready(cache: Path | None = None) -> bool:
    cache = cache or cache_dir()
    return (cache / "stamp.json").is_file() and all((cache / b).is_dir() for b in BOARDS)


def _run(argv: list[str], what: str, timeout: float) -> None:
    try:
        proc = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, check=False)
    except FileNotFoundError:
        raise TargetError(f"{what}: {argv[0]} not found: apt-get install mmdebstrap") from None
    except subprocess.TimeoutExpired:
        raise TargetError(f"{what}: no result within {timeout:.0f} s") from None
    if proc.returncode != 0:
        lines = [ln for ln in proc.stderr.strip().splitlines() if "is ignored" not in ln]
        raise TargetError(f"{what} failed: {lines[-1] if lines else proc.returncode}")


def setup(cache: Path | None = None, force: bool = False) -> Path:
    """Build the rootfs and the board folders into ``cache`` (idempotent); returns ``cache``."""
    cache = cache or cache_dir()
    versions = installed_versions()
    want = stamp(versions)
    stamp_file = cache / "stamp.json"
    if not force and is_ready(cache) and json.loads(stamp_file.read_text()) == want:
        return cache
    if shutil.which("qemu-aarch64-static") is None and shutil.which("qemu-aarch64") is None:
        raise TargetError("qemu-aarch64 is not installed: apt-get install qemu-user-static")
    cache.parent.mkdir(parents=True, exist_ok=True)
    tmp = cache.with_name(cache.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir()
    root = tmp / "root"
    _run(
        [
            "mmdebstrap",
            "--variant=extract",
            "--arch=arm64",
            "--include=" + ",".join(PACKAGES),
            SUITE,
            str(root),
        ],
        "mmdebstrap (the arm64 userland)",
        900,
    )
    platforms = [f"manylinux_2_{g}_aarch64" for g in range(36, 16, -1)] + ["manylinux2014_aarch64"]
    pins = [f"{n}=={versions[n]}" if n in versions else n for n in WHEELS]
    argv = [
        sys.executable,
        "-m",
        "pip",
        "install",
        "--quiet",
        "--no-compile",
        "--disable-pip-version-check",
        "--only-binary=:all:",
        "--python-version",
        PYTHON_VERSION,
        "--target",
        str(root / "opt" / "site"),
    ]
    for p in platforms:
        argv += ["--platform", p]
    _run([*argv, *pins], "pip (the aarch64 wheels)", 900)
    for name, board in BOARDS.items():
        folder = tmp / name
        (folder / "proc" / "device-tree").mkdir(parents=True)
        for entry in root.iterdir():
            if entry.name != "proc":
                # Absolute links into the final place (the tmp folder is renamed below).
                (folder / entry.name).symlink_to(cache / "root" / entry.name)
        (folder / "proc" / "cpuinfo").write_text(cpuinfo(board))
        (folder / "proc" / "device-tree" / "model").write_bytes(
            f"{board.model} (emulated: qemu-aarch64 -cpu {board.cpu})".encode() + b"\0"
        )
    (tmp / "stamp.json").write_text(json.dumps(want, indent=2))
    shutil.rmtree(cache, ignore_errors=True)
    os.replace(tmp, cache)
    return cache
