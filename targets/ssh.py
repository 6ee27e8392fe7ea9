"""``ssh://user@host[:port]``: a Raspberry Pi (or any Linux box with Python) over OpenSSH.

The OpenSSH client in BatchMode (never a password prompt) with host keys checked
(StrictHostKeyChecking=yes; ``?known_hosts=FILE`` names the file), one master connection
(ControlMaster) for the whole check, every remote argument shlex-quoted, a remote temp folder
removed in ``finally``, timeouts everywhere. Options: ``known_hosts``, ``identity`` (a private
key), ``python`` (the device's Python command, default python3), ``timeout`` (connect, s).
"""

from __future__ import annotations

import contextlib
import re
import shlex
import shutil
import subprocess
import tempfile
from pathlib import Path

from edgegru.targets.base import RunnerTarget, TargetError
from edgegru.targets.registry import TARGETS, TargetSpec

# User and host names as ssh takes them, never starting with "-": ssh would read a destination
# like "-oProxyCommand=..." as an option (and run the command it names).
_HOST = re.compile(
    r"^(?:(?P<user>[A-Za-z0-9_][A-Za-z0-9._-]*)@)?"
    r"(?P<host>[A-Za-z0-9_][A-Za-z0-9._-]*|\[[0-9a-fA-F:]+\])(?::(?P<port>\d{1,5}))?/?$"
)


def diagnose(name: str, host: str, port: int, stderr: str) -> TargetError:
    """OpenSSH's stderr -> one line with the cause and the fix."""
    text = stderr.strip()
    last = text.splitlines()[-1] if text else "no message"
    if "REMOTE HOST IDENTIFICATION HAS CHANGED" in text:
        cause, fix = (
            "the host key changed",
            f"check the device, then ssh-keygen -R '[{host}]:{port}'",
        )
    elif "Host key verification failed" in text or "No ED25519 host key" in text:
        cause = "the host key is not known"
        fix = (
            f"ssh-keyscan -p {port} {host} >> ~/.ssh/known_hosts (compare the fingerprint) "
            "or name a file with ?known_hosts=FILE"
        )
    elif "Permission denied" in text:
        cause = "the key was refused"
        fix = "ssh-copy-id the key to the device, or name one with ?identity=KEY"
    elif re.search(
        r"Connection refused|No route to host|Connection timed out|"
        r"Could not resolve hostname|Network is unreachable|timed out",
        text,
    ):
        cause = "the host is unreachable"
        fix = "check the address and port and that sshd runs on the device"
    else:
        cause, fix = "ssh failed", "run the same ssh command by hand to see why"
    return TargetError(f"{name}: {cause} ({last}): {fix}")


class SshTarget(RunnerTarget):
    def __init__(
        self,
        user: str | None,
        host: str,
        port: int = 22,
        *,
        known_hosts: str | None = None,
        identity: str | None = None,
        python: str = "python3",
        connect_timeout: int = 10,
    ) -> None:
        super().__init__()
        self.user, self.host, self.port = user, host, port
        self.known_hosts, self.identity = known_hosts, identity
        self.python = shlex.split(python)
        self.connect_timeout = connect_timeout
        self.name = f"ssh://{user + '@' if user else ''}{host}:{port}"
        self._control: str | None = None

    # -- the connection -----------------------------------------------------------------
    def base(self) -> list[str]:
        argv = [
            "ssh",
            "-p",
            str(self.port),
            "-o",
            "BatchMode=yes",
            "-o",
            "StrictHostKeyChecking=yes",
            "-o",
            f"ConnectTimeout={self.connect_timeout}",
            "-o",
            "ServerAliveInterval=15",
            "-o",
            "ServerAliveCountMax=4",
            "-o",
            "LogLevel=ERROR",
        ]
        if self.known_hosts:
            argv += ["-o", f"UserKnownHostsFile={self.known_hosts}"]
        if self.identity:
            argv += ["-i", self.identity, "-o", "IdentitiesOnly=yes"]
        if self._control:
            argv += ["-o", f"ControlPath={self._control}"]
        return argv

    @property
    def destination(self) -> str:
        return f"{self.user}@{self.host}" if self.user else self.host

    def __enter__(self) -> SshTarget:
        if shutil.which("ssh") is None:
            raise TargetError(f"{self.name}: no ssh client here: apt-get install openssh-client")
        # A short private folder for the control socket (a UNIX socket path has ~100 bytes).
        self._dir = tempfile.mkdtemp(prefix="eg-ssh-", dir="/tmp")
        self._control = f"{self._dir}/cm"
        # -f backgrounds the master after authentication; its stderr goes to a file because a
        # background ssh would hold a pipe open forever.
        log = Path(self._dir) / "master.log"
        with open(log, "w") as err:
            argv = [
                *self.base(),
                "-M",
                "-N",
                "-f",
                "-o",
                "ControlMaster=yes",
                "-o",
                "ControlPersist=yes",
                self.destination,
            ]
            try:
                rc = subprocess.run(
                    argv,
                    stdin=subprocess.DEVNULL,
                    stdout=subprocess.DEVNULL,
                    stderr=err,
                    timeout=self.connect_timeout + 20,
                    check=False,
                ).returncode
            except subprocess.TimeoutExpired:
                rc = -1
                err.write("connection timed out\n")
        if rc != 0:
            message = log.read_text()
            self._close()
            raise diagnose(self.name, self.host, self.port, message)
        return self

    def __exit__(self, *exc: object) -> None:
        self._close()

    def _close(self) -> None:
        if self._control and Path(self._control).exists():
            with contextlib.suppress(subprocess.SubprocessError, OSError):
                subprocess.run(
                    [*self.base(), "-O", "exit", self.destination],
                    capture_output=True,
                    timeout=15,
                    check=False,
                )
        if getattr(self, "_dir", None):
            shutil.rmtree(self._dir, ignore_errors=True)
        self._control = None

    def ssh(
        self, command: list[str], timeout: float, stdin: Path | None = None
    ) -> subprocess.CompletedProcess:
        """Run one remote command; each argument is shlex-quoted for the remote shell."""
        if not self._control:
            raise RuntimeError("use the target as a context manager (with target: ...)")
        remote = shlex.join(command)
        argv = [*self.base(), "-o", "ControlMaster=no", self.destination, "--", remote]
        try:
            if stdin is not None:
                with open(stdin, "rb") as f:
                    proc = subprocess.run(
                        argv, stdin=f, capture_output=True, timeout=timeout, check=False
                    )
            else:
                proc = subprocess.run(
                    argv,
                    stdin=subprocess.DEVNULL,
                    capture_output=True,
                    timeout=timeout,
                    check=False,
                )
        except subprocess.TimeoutExpired:
            raise TargetError(f"{self.name}: no answer within {timeout:.0f} s") from None
        out = subprocess.CompletedProcess(
            argv,
            proc.returncode,
            proc.stdout.decode(errors="replace"),
            proc.stderr.decode(errors="replace"),
        )
        if proc.returncode == 255:  # ssh's own failure, not the remote command's
            raise diagnose(self.name, self.host, self.port, out.stderr)
        return out

    # -- RunnerTarget primitives ------------------------------------------------------------
    def mkdtemp(self) -> str:
        proc = self.ssh(["mktemp", "-d", "/tmp/edgegru.XXXXXXXX"], 30)
        folder = proc.stdout.strip()
        if proc.returncode != 0 or not folder.startswith("/tmp/edgegru."):
            raise TargetError(f"{self.name}: cannot make a temp folder: {proc.stderr.strip()}")
        return folder

    def mkdir(self, remote: str) -> None:
        proc = self.ssh(["mkdir", "--", remote], 30)
        if proc.returncode != 0:
            raise TargetError(f"{self.name}: cannot make {remote}: {proc.stderr.strip()}")

    def put(self, local: Path, remote: str) -> None:
        # cat over the master connection: no sftp-server or scp quirks, the name is quoted.
        proc = self.ssh(["sh", "-c", 'cat > "$1"', "sh", remote], 300, stdin=local)
        if proc.returncode != 0:
            raise TargetError(f"{self.name}: cannot write {remote}: {proc.stderr.strip()}")

    def execute(self, argv: list[str], timeout: float) -> subprocess.CompletedProcess:
        try:
            return self.ssh(argv, timeout)
        except TargetError as e:
            if "no answer within" in str(e):
                raise subprocess.TimeoutExpired(argv, timeout) from None
            raise

    def remove(self, remote: str) -> None:
        if self._control:
            with contextlib.suppress(TargetError):
                self.ssh(["rm", "-rf", "--", remote], 60)


@TARGETS.register("ssh")
def make(spec: TargetSpec) -> SshTarget:
    m = _HOST.fullmatch(spec.rest)
    if not m or not 1 <= int(m["port"] or 22) <= 65535:
        raise TargetError(f"target {spec.text!r}: expected ssh://user@host[:port]")
    known = {"known_hosts", "identity", "python", "timeout"}
    unknown = set(spec.options) - known
    if unknown:
        raise TargetError(
            f"target {spec.text!r}: unknown option(s) {', '.join(sorted(unknown))} "
            f"(known: {', '.join(sorted(known))})"
        )
    for key in ("known_hosts", "identity"):
        if key in spec.options and not Path(spec.options[key]).is_file():
            raise TargetError(f"target {spec.text!r}: {key} file {spec.options[key]} not found")
    timeout = spec.options.get("timeout", "10")
    if not (timeout.isascii() and timeout.isdigit() and 1 <= int(timeout) <= 3600):
        raise TargetError(
            f"target {spec.text!r}: timeout must be whole seconds in 1..3600, got {timeout!r}"
        )
    return SshTarget(
        m["user"],
        m["host"].strip("[]"),
        int(m["port"] or 22),
        known_hosts=spec.options.get("known_hosts"),
        identity=spec.options.get("identity"),
        python=spec.options.get("python", "python3"),
        connect_timeout=int(timeout),
    )
