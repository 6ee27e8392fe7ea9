"""The ``lengths`` input of full-sequence TFLite files (``edgegru.export.padding``: ``masked``).

The recurrence runs over x [1, T, F] as before (a fixed T); what changes is what the head reads:
the top layer's h at step n - 1 (``last``) or the mean of its h over steps 0..n-1 (``mean``),
n = lengths clamped to 1..T. Step t's h depends on steps <= t only, so these are exactly the
outputs of the masked recurrence (the state frozen past the length) without a per-step mask:
the cost stays outside the recurrence (a GATHER of one row, a few int32 ops), and a GRU ``loop``
stops its WHILE after ceil(n / S) iterations instead of running the padding.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from edgegru.export import padding
from edgegru.export.tflite import ops
from edgegru.export.tflite.builder import SubgraphBuilder


@dataclass
class Lengths:
    """The clamped lengths n [1] int32 of the main subgraph and what is derived from it (each op
    written once, when first asked for)."""

    g: SubgraphBuilder
    T: int
    input: int  # the file's ``lengths`` [1] int32
    n: int  # clamped to 1..T
    _made: dict[str, int] = field(default_factory=dict)

    @staticmethod
    def add_input(g: SubgraphBuilder, T: int) -> Lengths:
        raw = g.tensor(padding.INPUT, (1,), np.int32)
        lo = ops.maximum(g, "len/ge1", raw, g.const("len/one", np.ones(1, np.int32)))
        n = ops.minimum(g, "len/n", lo, g.const("len/T", np.array([T], np.int32)))
        return Lengths(g, T, raw, n)

    def _once(self, key: str, make) -> int:
        if key not in self._made:
            self._made[key] = make()
        return self._made[key]

    def _int(self, name: str, v: int) -> int:
        return self.g.const(name, np.array([v], np.int32))

    def last(self) -> int:
        """n - 1 [1] int32: the row of the last valid step."""
        one = self._int("len/1", 1)
        return self._once("last", lambda: ops.sub(self.g, "len/last", self.n, one))

    def count(self) -> int:
        """n as float32 [1, 1] (the mean's divisor)."""
        g = self.g
        return self._once(
            "count", lambda: ops.reshape(g, "len/count", ops.cast(g, "len/f", self.n, np.float32),
                                         (1, 1)),
        )  # fmt: skip

    def mask(self) -> int:
        """[1, T, 1] float32: 1 for t < n, else 0 (min(max(n - t, 0), 1) on exact integers)."""
        g, T = self.g, self.T

        def make() -> int:
            t = g.const("len/t", np.arange(T, dtype=np.float32).reshape(1, T, 1))
            left = ops.sub(g, "len/left", ops.reshape(g, "len/n3", self.count(), (1, 1, 1)), t)
            pos = ops.maximum(g, "len/pos", left, g.const("len/zero", np.zeros(1, np.float32)))
            return ops.minimum(g, "len/mask", pos, g.const("len/onef", np.ones(1, np.float32)))

        return self._once("mask", make)

    def _table(self, name: str, f) -> int:
        """f(n) [1] int32 looked up in a constant table over n = 0..T: TFLite Micro's
        FLOOR_DIV / FLOOR_MOD and GATHER take no int32 data, so the table is float32 (exact for
        these small integers), GATHERed and CAST back."""
        g = self.g
        table = g.const(f"{name}/table", np.array([f(n) for n in range(self.T + 1)], np.float32))
        return ops.cast(g, name, ops.gather(g, f"{name}/f", table, self.n), np.int32)

    def iterations(self, S: int) -> int:
        """ceil(n / S) [1] int32: the WHILE iterations that cover the valid steps."""
        return self._once(f"iters{S}", lambda: self._table("len/iters", lambda n: -(-n // S)))

    def within(self, S: int) -> int:
        """(n - 1) mod S [1] int32: the last valid step's place in its iteration."""
        return self._once(
            f"within{S}", lambda: self._table("len/within", lambda n: max(n - 1, 0) % S)
        )


def pick(g: SubgraphBuilder, name: str, rows: list[int], index: int) -> int:
    """rows[index] of equally shaped [1, D] tensors (exact: a GATHER moves values, int8 too)."""
    from edgegru.export.tflite.lowerings.gru import stack_rows

    if len(rows) == 1:
        return rows[0]
    return ops.gather(g, name, stack_rows(g, f"{name}/rows", rows), index)


def masked_sum(g: SubgraphBuilder, name: str, y: int, lengths: Lengths) -> int:
    """y [1, T, H] float32 -> the sum over steps t < n [1, H] (padded steps add exact zeros)."""
    return ops.reduce_sum(g, name, ops.mul(g, f"{name}/masked", y, lengths.mask()), 1)
