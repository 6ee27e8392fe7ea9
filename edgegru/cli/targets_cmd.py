"""edgegru targets: list the transports, set one up (the emulated Pi's userland)."""

from __future__ import annotations

import shutil

import click

from edgegru.cli._common import echo_json, json_option, table


@click.group("targets")
def command() -> None:
    """Devices `edgegru check` runs on.

    \b
    Examples:
      edgegru targets list
      edgegru targets setup qemu-aarch64
    """


def _status() -> list[tuple[str, str, str]]:
    import importlib.util

    from edgegru.targets.qemu_rootfs import cache_dir, is_ready

    def has(tool: str) -> str:
        return "ready" if shutil.which(tool) else f"needs {tool}"

    qemu = (
        ("ready" if is_ready() else "run: edgegru targets setup qemu-aarch64")
        if shutil.which("qemu-aarch64-static") or shutil.which("qemu-aarch64")
        else ("needs qemu-user-static")
    )
    return [
        ("local", "this machine, the runner in a subprocess", "ready"),
        (
            "ssh://user@host[:port]",
            "a Raspberry Pi or any Linux box with python3 over OpenSSH",
            has("ssh"),
        ),
        (
            "qemu-aarch64[:pi4|pi5]",
            f"emulated Pi userland in {cache_dir()} (timings meaningless)",
            qemu,
        ),
        ("adb[:serial]", "an Android phone: benchmark_model / onnxruntime_perf_test", has("adb")),
        (
            "tflm",
            "TFLite Micro's interpreter here: op check, arena, flash (host timings)",
            "ready"
            if importlib.util.find_spec("tflite_micro")
            else "needs: pip install --pre tflite-micro",
        ),
    ]


@command.command("list")
@json_option()
def list_cmd(as_json: bool) -> None:
    """The registered targets and whether this machine can use them."""
    from edgegru.targets import TARGETS, load_transports

    load_transports()
    rows = _status()
    assert {r[0].split(":")[0].split("[")[0] for r in rows} == set(TARGETS.names())
    if as_json:
        echo_json([{"target": t, "what": w, "status": s} for t, w, s in rows])
    else:
        click.echo(table(rows, ["target", "what", "status"]))


@command.command("setup")
@click.argument("name", type=click.Choice(["qemu-aarch64"]))
@click.option("--force", is_flag=True, help="Rebuild even when the cache is current.")
def setup_cmd(name: str, force: bool) -> None:
    """Build what a target needs on this machine (idempotent).

    qemu-aarch64: a Debian arm64 userland with Python 3.11 and the aarch64 wheels of numpy,
    onnxruntime and ai-edge-litert (~260 MB, about a minute; needs mmdebstrap and
    qemu-user-static: apt-get install mmdebstrap qemu-user-static).
    """
    from edgegru.targets.qemu_rootfs import setup

    path = setup(force=force)
    click.echo(f"{name}: ready in {path}")
