"""``--format c-array``: the TFLite file as C++ for TFLite Micro. The array holds exactly the
.tflite bytes, the header's arena is one TFLite Micro allocates in (and one byte less fails),
the example registers exactly the file's ops, and the generated C++ passes the host compiler's
syntax check against the declarations of TFLite Micro's API in tests/export/data/tflm_api."""

from __future__ import annotations

import copy
import os
import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

from edgegru.export import ExportConfig, export
from edgegru.export.c_array import RESOLVER_METHODS
from edgegru.quantize import QuantizeConfig, quantize_
from edgegru.types import Dataset, DatasetInfo, SequenceData
from tests.conftest import assert_one_line_error
from tests.targets import artifacts as A

FORMATS_TESTED = ("c-array",)  # the coverage guard in test_formats_covered.py
API = Path(__file__).parent / "data" / "tflm_api"


def array_bytes(source: str) -> bytes:
    body = source[source.index("{") + 1 : source.index("};")]
    return bytes(int(v, 16) for v in re.findall(r"0x([0-9a-f]{2})", body))


def _static(b):
    X, _ = A.data(b, n=32, T=6, seed=3)
    part = SequenceData(X, np.arange(len(X)) % 4)
    ds = Dataset(DatasetInfo("synthetic", "", "", ""), "classification", part, part,
                 ("x0", "x1", "x2"), ("a", "b", "c", "d"))  # fmt: skip
    return quantize_(copy.deepcopy(b), QuantizeConfig(scheme="static", calib=32), ds)


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    folder = tmp_path_factory.mktemp("c_array")
    b = A.bundle()
    q = _static(b)
    cfg = ExportConfig(formats=("c-array",), precision="int8-static")
    arrays = export(q, cfg, folder / "c")
    tflite = export(q, ExportConfig(formats=("tflite",), precision="int8-static"), folder / "t")
    return arrays, tflite


def test_array_round_trips_and_the_arena_is_the_smallest(exported):
    from tflite_micro import runtime

    arrays, tflite = exported
    assert [Path(a.path).name for a in arrays] == ["model_int8_data.cc", "model_step_int8_data.cc"]
    for art, tfl in zip(arrays, tflite, strict=True):
        data = array_bytes(Path(art.path).read_text())
        assert data == Path(tfl.path).read_bytes()
        header = Path(art.path).with_name(Path(art.path).name.replace(".cc", ".h")).read_text()
        stem = Path(art.path).name[: -len("_data.cc")]
        camel = "".join(p.capitalize() for p in stem.split("_"))
        arena = int(re.search(rf"k{camel}ArenaSize = (\d+);", header).group(1))
        assert arena == art.details["arena_bytes"]
        assert f"k{camel}Len = {len(data)};" in header
        assert 'kLabels[] = {"0", "1", "2", "3"}' in header  # unnamed classes: their indices
        runtime.Interpreter.from_bytes(data, arena_size=arena)
        with pytest.raises(RuntimeError):
            runtime.Interpreter.from_bytes(data, arena_size=arena - 1)


def test_example_registers_exactly_the_files_ops_and_compiles(exported, tmp_path):
    from edgegru.export.tflite.reader import summarize

    gxx = shutil.which("g++")
    if gxx is None:
        if os.environ.get("CI"):
            pytest.fail("g++ missing in CI: make system-deps installs it")
        pytest.skip("no host C++ compiler (apt-get install g++, or make system-deps)")
    (tmp_path / "resolver_methods.inc").write_text(
        "".join(f"  TfLiteStatus {m}();\n" for m in RESOLVER_METHODS)
    )
    arrays, tflite = exported
    for art, tfl in zip(arrays, tflite, strict=True):
        src = Path(art.path)
        example = src.with_name(src.name.replace("_data.cc", "_example_main.cc"))
        text = example.read_text()
        ops = {op for sub in summarize(Path(tfl.path).read_bytes()).ops for op in sub}
        n = int(re.search(r"MicroMutableOpResolver<(\d+)>", text).group(1))
        added = re.findall(r"resolver\.(Add\w+)\(\)", text)
        assert n == len(ops) == len(added) == len(set(added))
        assert {a[3:].upper() for a in added} == {op.replace("_", "") for op in ops}
        for file in (example, src):
            proc = subprocess.run(
                [gxx, "-std=c++17", "-fsyntax-only", "-Wall", "-Werror", "-I", str(API),
                 "-I", str(tmp_path), "-I", str(src.parent), str(file)],
                capture_output=True, text=True, check=False,
            )  # fmt: skip
            assert proc.returncode == 0, proc.stderr


def test_hybrid_precision_is_refused_in_one_line(cli, tmp_path):
    from edgegru.bundle import save_bundle

    b = A.bundle()
    save_bundle(b, tmp_path / "m")
    proc = cli("export", str(tmp_path / "m"), "--format", "c-array", "--precision",
               "int8-dynamic", "-o", str(tmp_path / "out"))  # fmt: skip
    assert_one_line_error(proc, "no hybrid")


def test_peephole_lstm_is_lowered_for_tflite_micro(tmp_path):
    """TFLite Micro's fused LSTM takes no peepholes: the c-array uses layout=lowered itself."""
    b = A.bundle("peephole")
    (art,) = export(b, ExportConfig(formats=("c-array",), forms=("sequence",)), tmp_path)
    assert art.details["layout"] == "lowered" and art.details["arena_bytes"] > 0
    assert "UNIDIRECTIONAL_SEQUENCE_LSTM" not in art.details["ops"]
    assert "resolver.AddWhile()" in (tmp_path / "model_example_main.cc").read_text()
