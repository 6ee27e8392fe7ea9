"""Fixtures of the targets tests: artifacts of every kind this checkout exports (with the NumPy
reference's outputs on the validation rows) and a real OpenSSH server on 127.0.0.1 with
throw-away keys, which CI installs (make system-deps) and these tests start."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from edgegru.reference import reference_forward
from tests.targets import artifacts as A


@dataclass
class Built:
    folder: Path
    files: dict[tuple[str, str], Path]  # (format, form) -> file
    data: Path  # data.npz: X, lengths
    reference: np.ndarray  # the NumPy reference's outputs [N, O]
    X: np.ndarray
    lengths: np.ndarray | None
    padded_reference: np.ndarray  # the same rows run over their zero padding (no lengths)

    def expected(self, fmt: str, form: str) -> np.ndarray:
        """TFLite sequence artifacts have a fixed T and no length input: every row runs all T
        steps (the runner notes it), so they match the reference without lengths."""
        return self.padded_reference if (fmt, form) == ("tflite", "sequence") else self.reference


@pytest.fixture(scope="session")
def built(tmp_path_factory) -> Built:
    """Every kind this checkout can export, from one GRU bundle; variable-length rows."""
    folder = tmp_path_factory.mktemp("artifacts")
    b = A.bundle()
    files = {(fmt, form): A.make(b, fmt, form, folder) for fmt, form, _ in A.kinds()}
    X, L = A.data(b, n=7, lengths=True)
    np.savez(folder / "data.npz", X=X, lengths=L)
    ref = reference_forward(b.spec, b.weights, X, L)
    padded = reference_forward(b.spec, b.weights, X)
    return Built(folder, files, folder / "data.npz", ref, X, L, padded)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Sshd:
    port: int
    folder: Path
    key: Path  # the client's private key (authorized)
    other_key: Path  # a key the server does not know
    known_hosts: Path

    def target(self, **options: str) -> str:
        query = "&".join(f"{k}={v}" for k, v in {
            "known_hosts": str(self.known_hosts), "identity": str(self.key),
            "python": sys.executable, **options,
        }.items())  # fmt: skip
        return f"ssh://root@127.0.0.1:{self.port}?{query}"


def _keygen(path: Path) -> None:
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(path)], check=True)


@pytest.fixture(scope="session")
def sshd(tmp_path_factory):
    exe = shutil.which("sshd") or "/usr/sbin/sshd"
    if not Path(exe).exists():
        if os.environ.get("CI"):
            pytest.fail("sshd missing in CI: make system-deps installs openssh-server")
        pytest.skip("sshd not installed (apt-get install openssh-server, or make system-deps)")
    folder = tmp_path_factory.mktemp("sshd")
    os.chmod(folder, 0o700)
    for name in ("host_key", "client_key", "other_key"):
        _keygen(folder / name)
    (folder / "authorized_keys").write_text((folder / "client_key.pub").read_text())
    port = _free_port()
    (folder / "sshd_config").write_text(
        f"Port {port}\nListenAddress 127.0.0.1\nHostKey {folder}/host_key\n"
        f"AuthorizedKeysFile {folder}/authorized_keys\nPidFile {folder}/sshd.pid\n"
        "StrictModes no\nPermitRootLogin prohibit-password\nPasswordAuthentication no\n"
        "KbdInteractiveAuthentication no\nUsePAM no\nMaxStartups 50\nMaxSessions 50\n"
    )
    Path("/run/sshd").mkdir(exist_ok=True)  # sshd's privilege separation folder
    with open(folder / "sshd.log", "w") as log:  # the child keeps its own copy of the fd
        proc = subprocess.Popen(
            [exe, "-D", "-e", "-f", str(folder / "sshd_config")],
            stdout=subprocess.DEVNULL,
            stderr=log,
        )  # fmt: skip
    deadline = time.time() + 15
    while time.time() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            break
        except OSError:
            if proc.poll() is not None:
                pytest.fail(f"sshd exited: {(folder / 'sshd.log').read_text()}")
            time.sleep(0.1)
    host_pub = (folder / "host_key.pub").read_text().split()
    (folder / "known_hosts").write_text(f"[127.0.0.1]:{port} {host_pub[0]} {host_pub[1]}\n")
    yield Sshd(port, folder, folder / "client_key", folder / "other_key", folder / "known_hosts")
    proc.terminate()
    proc.wait(timeout=10)
