"""Coverage guard (docs/extending.md): every registered export format has a test module here that
names it in ``FORMATS_TESTED``, and every cell has an ONNX lowering."""

from __future__ import annotations

import importlib
from pathlib import Path

from edgegru.cells import CELLS
from edgegru.export import EXPORTERS, load_writers


def test_every_export_format_has_a_test():
    load_writers()
    tested: set[str] = set()
    for path in sorted(Path(__file__).parent.glob("test_*.py")):
        module = importlib.import_module(f"tests.export.{path.stem}")
        tested |= set(getattr(module, "FORMATS_TESTED", ()))
    missing = set(EXPORTERS.names()) - tested
    assert not missing, f"export formats without tests (add FORMATS_TESTED): {sorted(missing)}"


def test_every_cell_lowers_to_onnx():
    from edgegru.export.onnx.cells import ONNX_CELLS

    assert set(CELLS.names()) <= set(ONNX_CELLS.names())


def test_onnx_writer_imports_stay_light():
    """onnx, onnxruntime (and torch) load only when a writer runs (docs/architecture.md#style, rule
    9)."""
    import subprocess
    import sys

    code = (
        "import sys, edgegru.export.onnx; "
        "heavy = {'onnx', 'onnxruntime', 'torch'} & set(sys.modules); assert not heavy, heavy"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
