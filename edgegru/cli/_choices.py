"""click choices read from a registry (edgegru.names) when first needed, not at import: filling
a registry imports its modules, and ``edgegru --help`` stays instant."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import click


class RegistryChoice(click.Choice):
    """``click.Choice`` over ``names()`` (plus fixed ``extra`` names first, e.g. "auto")."""

    def __init__(self, names: Callable[[], Sequence[str]], extra: Sequence[str] = ()) -> None:
        self._names, self._extra = names, tuple(extra)
        super().__init__(())

    @property  # type: ignore[override]
    def choices(self) -> tuple[str, ...]:
        return (*self._extra, *self._names())

    @choices.setter
    def choices(self, value: Any) -> None:
        pass  # click.Choice.__init__ assigns its list; the registry is the one source
