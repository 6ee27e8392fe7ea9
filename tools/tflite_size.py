"""Where the bytes of a .tflite file go: a breakdown by what they hold (e.g. the int8 loop
file must stay within the int8 weight bytes + 8 KB).

    python -m tools.tflite_size FILE.tflite [...]        # one table per file
    python -m tools.tflite_size --workload h64 h128x2    # the int8 loop files of bench/tflite_int8

Every vector and string of the flatbuffer is attributed once (shared ones, e.g. a quantization
table referenced by many tensors, count once) to a category; "tables" is the rest: the tables
and vtables of tensors, operators and quantization records, and alignment padding.
"""

from __future__ import annotations

import argparse
import sys
from collections import Counter
from typing import Any

from edgegru.export.tflite.builder import schema

# vtable slots (schema.fbs field order: slot i -> 4 + 2 i)
_TENSOR = {"shape": 4, "name": 10}
_QUANT = {"scale": 8, "zero_point": 10}  # after min, max
_OPERATOR = {"inputs": 6, "outputs": 8}
_BUFFER_DATA = 4


def _vector(tab: Any, slot: int, elem: int) -> tuple[int, int] | None:
    """[start, end) of a vector field including its 4-byte length prefix (None when absent)."""
    o = tab.Offset(slot)
    if not o:
        return None
    start = tab.Vector(o)
    return start - 4, start + tab.VectorLen(o) * elem


def _string(tab: Any, slot: int) -> tuple[int, int] | None:
    r = _vector(tab, slot, 1)
    return None if r is None else (r[0], r[1] + 1)  # the terminating NUL


def breakdown(data: bytes) -> dict[str, Any]:
    """Bytes per category (each byte range counted once) and a few counts."""
    s = schema()
    model = s.Model.GetRootAs(data, 0)
    seen: dict[tuple[int, int], str] = {}

    def add(r: tuple[int, int] | None, kind: str) -> None:
        if r is not None and r not in seen:
            seen[r] = kind

    meta_buffers = {model.Metadata(i).Buffer() for i in range(model.MetadataLength())}
    buffer_kind: dict[int, str] = {}
    counts: Counter = Counter()
    for g in range(model.SubgraphsLength()):
        sg = model.Subgraphs(g)
        counts["subgraphs"] += 1
        counts["operators"] += sg.OperatorsLength()
        for i in range(sg.OperatorsLength()):
            op = sg.Operators(i)
            for slot in _OPERATOR.values():
                add(_vector(op._tab, slot, 4), "op io vectors")
        for i in range(sg.TensorsLength()):
            t = sg.Tensors(i)
            counts["tensors"] += 1
            add(_string(t._tab, _TENSOR["name"]), "tensor names")
            add(_vector(t._tab, _TENSOR["shape"], 4), "tensor shapes")
            q = t.Quantization()
            if q is not None and q.ScaleLength():
                counts["quantized tensors"] += 1
                kind = "per-channel" if q.ScaleLength() > 1 else "per-tensor"
                add(_vector(q._tab, _QUANT["scale"], 4), f"{kind} scales (float32)")
                add(_vector(q._tab, _QUANT["zero_point"], 8), f"{kind} zero points (int64)")
            if t.Buffer() and t.Buffer() not in buffer_kind:
                dtype = {v: k for k, v in vars(s.TensorType).items() if not k.startswith("_")}
                buffer_kind[t.Buffer()] = f"constants {dtype[t.Type()].lower()}"
    for b in range(model.BuffersLength()):
        r = _vector(model.Buffers(b)._tab, _BUFFER_DATA, 1)
        if r is None:
            continue
        add(r, "metadata" if b in meta_buffers else buffer_kind.get(b, "constants ?"))
    out: Counter = Counter()
    for (a, z), kind in seen.items():
        out[kind] += z - a
    out["tables, vtables, padding"] = len(data) - sum(out.values())
    return {"total": len(data), "bytes": dict(out.most_common()), "counts": dict(counts)}


def render(name: str, b: dict[str, Any], weight_bytes: int | None = None) -> str:
    rows = [f"{name}: {b['total']} bytes"]
    if weight_bytes is not None:
        rows[0] += f" (int8 weights + int32 biases {weight_bytes}: + {b['total'] - weight_bytes})"
    rows += [f"  {v:>8}  {k}" for k, v in b["bytes"].items()]
    rows.append("  " + ", ".join(f"{k} {v}" for k, v in b["counts"].items()))
    return "\n".join(rows)


def _workload(name: str) -> tuple[bytes, int]:
    from bench.tflite import T
    from bench.tflite_int8 import int8_bytes, quantized
    from edgegru.export.tflite.graph_int8 import build_sequence_int8

    hidden, layers = {"h64": (64, 1), "h128x2": (128, 2)}[name]
    bundle = quantized(hidden, layers)
    built = build_sequence_int8(bundle, T, {"layout": "loop"}, "bench")
    return built.data, int8_bytes(bundle)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("files", nargs="*", help=".tflite files")
    ap.add_argument("--workload", nargs="*", default=[], choices=["h64", "h128x2"])
    args = ap.parse_args(argv)
    for path in args.files:
        with open(path, "rb") as f:
            print(render(path, breakdown(f.read())))
    for name in args.workload:
        data, w = _workload(name)
        print(render(f"int8 loop {name}", breakdown(data), w))
    return 0


if __name__ == "__main__":
    sys.exit(main())
