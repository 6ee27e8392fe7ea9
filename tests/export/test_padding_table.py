"""docs/padding.md's table of what each form does with padding is what the exporters write: every
row's words against the ``padding`` field of the manifests of the files it names, exported with
and without ``lengths``, for every precision that format writes."""

from __future__ import annotations

import copy
import re

import numpy as np

from edgegru.export import ExportConfig, export
from edgegru.quantize import QuantizeConfig, quantize_
from edgegru.types import Dataset, DatasetInfo, SequenceData
from tests.conftest import ROOT
from tests.targets import artifacts as A

# table row -> the (cell, format, form, options) it covers
ROWS = {
    "TFLite GRU `loop`": [("gru", "tflite", "sequence", {"layout": "loop"})],
    "TFLite GRU `unrolled`": [("gru", "tflite", "sequence", {"layout": "unrolled"})],
    "TFLite LSTM / peephole (fused op)": [
        ("lstm", "tflite", "sequence", {}), ("peephole", "tflite", "sequence", {})],
    "ONNX / ORT sequence": [
        (c, f, "sequence", {}) for c in ("gru", "peephole") for f in ("onnx", "ort")],
    "step files (streaming)": [
        (c, f, "step", {}) for c in ("gru", "peephole") for f in ("onnx", "ort", "tflite")],
}  # fmt: skip


def padding_table() -> dict[str, tuple[str, str]]:
    """row label -> (the padding word with lengths, without); "-" when not applicable."""
    text = (ROOT / "docs" / "padding.md").read_text()
    start = text.index("**Padding in exported files**")
    rows = {}
    for line in text[start:].splitlines()[1:]:
        if rows and not line.startswith("|"):
            break
        cells = [c.strip() for c in line.strip("|").split("|")]
        if len(cells) != 3 or cells[0] in ("file", "---"):
            continue
        words = [m.group(1) if (m := re.match(r"`([^`]+)`", c)) else c for c in cells[1:]]
        rows[cells[0]] = (words[0], words[1])
    return rows


def _bundles() -> dict[str, tuple]:
    """cell -> (float bundle, static bundle) on a few synthetic rows."""
    out = {}
    for cell in ("gru", "lstm", "peephole"):
        b = A.bundle(cell)
        X, _ = A.data(b, n=32, T=6, seed=3)
        part = SequenceData(X, np.zeros(len(X), np.int64))
        ds = Dataset(DatasetInfo("synthetic", "", "", ""), "classification", part, part,
                     ("x0", "x1", "x2"), ("a", "b", "c", "d"))  # fmt: skip
        out[cell] = (b, quantize_(copy.deepcopy(b), QuantizeConfig(calib=32), ds))
    return out


def test_padding_table_matches_the_manifests(tmp_path):
    table = padding_table()
    assert set(table) == set(ROWS), "the table's rows and the test's rows differ"
    bundles = _bundles()
    checked = 0
    for row, kinds in ROWS.items():
        for column, with_lengths in ((0, True), (1, False)):
            want = table[row][column]
            if want == "-":
                continue
            for cell, fmt, form, options in kinds:
                for precision in ("float32", "int8-dynamic", "int8-static"):
                    if precision == "int8-static" and fmt != "tflite":
                        continue  # ONNX writes no int8-static files
                    b = bundles[cell][precision == "int8-static"]
                    cfg = ExportConfig(formats=(fmt,), forms=(form,), precision=precision,
                                       options=options, lengths=with_lengths)  # fmt: skip
                    name = f"{row}-{column}-{cell}-{fmt}-{form}-{precision}"
                    (art,) = export(b, cfg, tmp_path / re.sub(r"[^\w-]", "_", name))
                    assert art.details["padding"] == want, (row, cell, fmt, precision)
                    names = [t.name for t in art.inputs]
                    assert ("lengths" in names) == (want == "masked"), (row, names)
                    checked += 1
    assert checked >= 40
