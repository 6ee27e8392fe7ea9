"""Atomic writes: every file goes to a temporary file in the same folder and is renamed into
place, so a crash or a full disk never leaves a half-written file; a command's whole output goes
to a temporary sibling folder moved into place when complete (``staged_output``)."""

from __future__ import annotations

import contextlib
import ctypes
import glob
import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from edgegru.errors import BadInput


def _read_umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


_UMASK = _read_umask()


def _check_folder(folder: Path) -> None:
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise BadInput(f"cannot create folder {folder}: {e.strerror or e}") from None
    if not os.access(folder, os.W_OK):
        raise BadInput(f"folder {folder} is not writable")


def atomic_write_bytes(path: str | os.PathLike[str], data: bytes) -> Path:
    path = Path(path)
    _check_folder(path.parent)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        os.fchmod(fd, 0o666 & ~_UMASK)  # mkstemp makes 0600; a plain open() would respect umask
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except OSError as e:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise BadInput(f"cannot write {path}: {e.strerror or e}") from None
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    return path


def atomic_write_text(path: str | os.PathLike[str], text: str) -> Path:
    return atomic_write_bytes(path, text.encode("utf-8"))


def atomic_write_json(path: str | os.PathLike[str], data: Any) -> Path:
    return atomic_write_text(path, json.dumps(data, indent=2, sort_keys=True) + "\n")


_TMP_TAG = ".tmp-"


def _stale_siblings(dest: Path) -> list[Path]:
    """Temp siblings of ``dest`` left by killed runs (their process id is gone)."""
    stale = []
    for p in dest.parent.glob(f".{glob.escape(dest.name)}{_TMP_TAG}*"):
        pid = p.name[len(dest.name) + 1 + len(_TMP_TAG) :].split("-")[0]
        if pid.isdigit() and not _alive(int(pid)):
            stale.append(p)
    return stale


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _exchange(a: Path, b: Path) -> bool:
    """Swap two paths in one atomic step (Linux renameat2 RENAME_EXCHANGE); False where the
    system cannot."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        fn = libc.renameat2
    except (OSError, AttributeError):
        return False
    at_fdcwd, rename_exchange = -100, 2
    rc = fn(at_fdcwd, os.fsencode(a), at_fdcwd, os.fsencode(b), rename_exchange)
    return rc == 0


def replace_folder(new: Path, dest: Path) -> None:
    """Put the complete folder ``new`` at ``dest``, replacing a folder there as one step: a kill
    leaves the old folder or the new one, not a mix."""
    if not dest.exists():
        os.rename(new, dest)
        return
    if _exchange(new, dest):
        shutil.rmtree(new, ignore_errors=True)  # now the old folder
        return
    old = dest.parent / f".{dest.name}{_TMP_TAG}{os.getpid()}-old"
    os.rename(dest, old)
    os.rename(new, dest)
    shutil.rmtree(old, ignore_errors=True)


def _missing_ancestors(path: Path) -> list[Path]:
    """``path`` and its parents that do not exist yet, outermost first."""
    missing = []
    for p in (path, *path.parents):
        if p.exists() or p.is_symlink():
            break
        missing.append(p)
    return missing[::-1]


def check_output_folder(out: Path) -> None:
    """``out`` can be created or written (one line naming the problem otherwise)."""
    if out.exists() and not out.is_dir():
        raise BadInput(f"output {out} is a file, not a folder")
    for p in out.parents:
        if p.exists():
            if not p.is_dir():
                raise BadInput(f"output {out}: {p} is a file, not a folder")
            if not os.access(p, os.W_OK | os.X_OK) and not out.exists():
                raise BadInput(f"output {out}: folder {p} is not writable")
            break
    if out.is_dir() and not os.access(out, os.W_OK | os.X_OK):
        raise BadInput(f"output folder {out} is not writable")


@contextlib.contextmanager
def staged_output(out: str | os.PathLike[str], *, replace: bool = False) -> Iterator[Path]:
    """All-or-nothing output: yield an empty temp folder beside ``out`` to write into.

    When the body returns, its files move into ``out``: with ``replace`` the whole folder is
    swapped in (``replace_folder``), otherwise each finished file replaces its namesake and other
    files in ``out`` stay. When the body fails (an error, a full disk, Ctrl-C), the temp folder
    and any parent folders this call created are removed: ``out`` is as it was. A killed run's
    temp folder is swept by the next run into the same ``out``.
    """
    out = Path(out)
    check_output_folder(out)
    created = _missing_ancestors(out.parent)
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        for p in _stale_siblings(out):
            shutil.rmtree(p, ignore_errors=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}{_TMP_TAG}{os.getpid()}-", dir=out.parent))
    except OSError as e:
        _remove_created(created)
        raise BadInput(f"cannot write {out}: {e.strerror or e}") from None
    try:
        os.chmod(tmp, 0o777 & ~_UMASK)  # mkdtemp makes 0700
        yield tmp
        if replace or not out.exists():
            replace_folder(tmp, out)
        else:
            _merge(tmp, out)
    except BaseException as e:
        shutil.rmtree(tmp, ignore_errors=True)
        _remove_created(created)
        if isinstance(e, OSError):
            raise BadInput(f"cannot write {out}: {e.strerror or e}") from None
        raise


def _merge(src: Path, dest: Path) -> None:
    """Move every entry of ``src`` into ``dest`` (a folder entry replaces its namesake whole);
    JSON files (manifests, model.json) last, after the files they describe."""
    for entry in sorted(src.iterdir(), key=lambda p: (p.suffix == ".json", p.name)):
        target = dest / entry.name
        if entry.is_dir() and not entry.is_symlink() and target.is_dir():
            replace_folder(entry, target)
        else:
            os.replace(entry, target)
    src.rmdir()


def _remove_created(created: list[Path]) -> None:
    for p in reversed(created):
        with contextlib.suppress(OSError):
            p.rmdir()


def new_temp_dir(kind: str) -> str:
    """A new folder in the system temp dir named ``edgegru-<kind>-<pid>-*``, after removing any
    such folder whose process is gone (a run killed with SIGKILL cannot clean up after itself)."""
    root = Path(tempfile.gettempdir())
    prefix = f"edgegru-{kind}-"
    for p in root.glob(f"{prefix}*"):
        pid = p.name[len(prefix) :].split("-")[0]
        if pid.isdigit() and not _alive(int(pid)) and p.is_dir() and p.owner() == _me():
            shutil.rmtree(p, ignore_errors=True)
    return tempfile.mkdtemp(prefix=f"{prefix}{os.getpid()}-", dir=root)


def _me() -> str:
    import pwd

    return pwd.getpwuid(os.getuid()).pw_name


@contextlib.contextmanager
def owned_temp_dir(kind: str) -> Iterator[str]:
    """``new_temp_dir``, removed when the block ends."""
    path = new_temp_dir(kind)
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)
