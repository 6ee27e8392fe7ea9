"""The target registry and the target syntax (docs/architecture.md#style, rule 2: explicit
registration).

    local | ssh://user@host[:port][?known_hosts=F&identity=KEY&python=CMD]
    qemu-aarch64[:pi4|pi5] | adb[:serial][?benchmark_model=PATH&perf_test=PATH]

One transport = one module that registers a factory ``make(spec) -> Target`` under its scheme.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING
from urllib.parse import parse_qsl

from edgegru.errors import BadInput
from edgegru.registry import Registry

if TYPE_CHECKING:
    from edgegru.targets.base import Target


@dataclass(frozen=True)
class TargetSpec:
    """A parsed target string: ``scheme``, what follows it (``ssh``: user@host:port; ``adb``:
    the serial; ``qemu-aarch64``: the board) and ``?key=value`` options."""

    text: str
    scheme: str
    rest: str = ""
    options: dict[str, str] = field(default_factory=dict)

    @staticmethod
    def parse(text: str) -> TargetSpec:
        body, _, query = text.partition("?")
        try:
            options = dict(parse_qsl(query, strict_parsing=True)) if query else {}
        except ValueError:
            raise BadInput(f"target {text!r}: options are ?key=value&key=value") from None
        if "://" in body:
            scheme, _, rest = body.partition("://")
        else:
            scheme, _, rest = body.partition(":")
        if not scheme:
            raise BadInput(f"target {text!r}: empty (e.g. local, ssh://pi@raspberrypi)")
        return TargetSpec(text, scheme, rest, options)


TARGETS: Registry[Callable[[TargetSpec], Target]] = Registry("target")


def make_target(text: str) -> Target:
    from edgegru.targets import load_transports

    load_transports()
    spec = TargetSpec.parse(text)
    return TARGETS.get(spec.scheme)(spec)
