"""Variable-length rows end to end on ``japanesevowels`` (shipped; lengths 7..29, T = 29): small
models of every cell and head, trained for a few epochs, exported in every format, form and
precision the exporters make (GRU ``loop`` and ``unrolled``); each file takes ``lengths``
because the bundle was trained on data with lengths. Each file's outputs on the test rows, run
by the device runner's own code (targets/runner.py), against the float model with lengths:

- float32: every output within the file's stated tolerance (``check.tolerance``);
- int8-static: bit for bit the NumPy int8 reference with lengths (so the same accuracy);
- int8-dynamic (no stated tolerance): the same class as the float model on >= 95 % of rows.

Locally on all 370 test rows; on the emulated Pi 4 and Pi 5 a few files on a few rows.
"""

from __future__ import annotations

import copy
import os
from argparse import Namespace
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from edgegru.targets.check import tolerance

pytestmark = pytest.mark.slow  # trains 6 small models (~40 s on 2 cores)

CASES = [  # (cell, layers, head)
    ("gru", 1, "last"), ("gru", 2, "mean"), ("lstm", 1, "last"), ("lstm", 1, "mean"),
    ("peephole", 1, "last"), ("peephole", 1, "mean"),
]  # fmt: skip
FORMATS = ("onnx", "ort", "tflite")


@dataclass
class Case:
    name: str
    files: list[Path]
    float_out: np.ndarray  # the float model's outputs with lengths
    int8_out: np.ndarray  # the NumPy int8 reference's, with lengths ("xnnpack")


@dataclass
class Vowels:
    X: np.ndarray
    y: np.ndarray
    lengths: np.ndarray
    data: Path  # X, lengths for the runner
    cases: list[Case]


def _export_all(bundle, static, out: Path) -> list[Path]:
    from edgegru.export import ExportConfig, export

    jobs = [(bundle, "float32", FORMATS), (bundle, "int8-dynamic", FORMATS),
            (static, "int8-static", ("tflite",))]  # fmt: skip
    files = []
    for b, precision, formats in jobs:
        cfg = ExportConfig(formats=formats, precision=precision)
        files += [Path(a.path) for a in export(b, cfg, out / precision)]
        if b.spec.cell == "gru":  # the other layout (loop is the default)
            cfg = ExportConfig(formats=("tflite",), forms=("sequence",), precision=precision,
                               options={"layout": "unrolled"})  # fmt: skip
            files += [Path(a.path) for a in export(b, cfg, out / precision / "unrolled")]
    return files


@pytest.fixture(scope="module")
def vowels(tmp_path_factory) -> Vowels:
    from edgegru.datasets import load_dataset
    from edgegru.evaluate import predict
    from edgegru.quantize import QuantizeConfig, quantize_
    from edgegru.quantize.reference import predict_int8
    from edgegru.train import TrainConfig, train
    from edgegru.types import ModelSpec

    ds = load_dataset("japanesevowels")
    folder = tmp_path_factory.mktemp("vowels")
    cases = []
    for cell, layers, head in CASES:
        name = f"{cell}{layers}-{head}"
        spec = ModelSpec(cell, ds.num_features, 16, ds.num_outputs, num_layers=layers, head=head)
        bundle = train(spec, ds, TrainConfig(epochs=4, threads=1), folder / name).bundle
        static = quantize_(copy.deepcopy(bundle), QuantizeConfig(scheme="static", calib=64), ds)
        files = _export_all(bundle, static, folder / name)
        cases.append(Case(
            name, files, predict(bundle, ds.test),
            predict_int8(static, ds.test.X, ds.test.lengths, "xnnpack"),
        ))  # fmt: skip
    np.savez(folder / "data.npz", X=ds.test.X, lengths=ds.test.lengths)
    return Vowels(ds.test.X, ds.test.y, ds.test.lengths, folder / "data.npz", cases)


def _check(case: Case, path: Path, out: np.ndarray, rows: np.ndarray, y: np.ndarray) -> None:
    from edgegru.export import read_manifest

    artifact = read_manifest(path)
    what = f"{case.name} {path.parent.name}/{path.name}"
    if artifact.form == "sequence":
        assert artifact.details["lengths"] and artifact.details["padding"] == "masked", what
    ref = case.float_out[rows]
    if artifact.precision == "float32":
        err = np.abs(out - ref).max()
        assert err <= tolerance(artifact, ref), (what, err)
    elif artifact.precision == "int8-static":
        np.testing.assert_array_equal(out, case.int8_out[rows].astype(out.dtype), err_msg=what)
        assert (out.argmax(1) == y).mean() == (case.int8_out[rows].argmax(1) == y).mean()
    else:
        assert (out.argmax(1) == ref.argmax(1)).mean() >= 0.95, what


def test_every_file_with_lengths_on_local(vowels):
    """All test rows through the runner's own validation code (as on a device), in-process."""
    import json

    from edgegru.targets import runner

    args = Namespace(threads=1, delegate="auto", api="auto")
    rows = np.arange(len(vowels.X))
    for case in vowels.cases:
        for path in case.files:
            manifest = json.loads(Path(str(path) + ".json").read_text())
            model = runner.load_model(str(path), manifest, args)
            out = runner.validate(model, runner.Plan(manifest), vowels.X, vowels.lengths, [])
            _check(case, path, np.asarray(out), rows, vowels.y)


EMULATED_ROWS = 12


@pytest.mark.parametrize("board", ["pi4", "pi5"])
def test_files_with_lengths_on_the_emulated_pi(vowels, board, tmp_path):
    """A few rows of a few sequence files through the runner on the emulated Pi (each file costs
    a LiteRT / ONNX Runtime start under qemu, so the boards share EMULATED)."""
    from edgegru.targets import make_target
    from edgegru.targets.config import RunConfig
    from edgegru.targets.qemu_rootfs import is_ready

    if not is_ready():
        if os.environ.get("CI"):
            pytest.fail("CI must build the userland: edgegru targets setup qemu-aarch64")
        pytest.skip("no emulated userland: edgegru targets setup qemu-aarch64")
    rows = np.linspace(0, len(vowels.X) - 1, EMULATED_ROWS).astype(int)
    data = tmp_path / "rows.npz"
    np.savez(data, X=vowels.X[rows], lengths=vowels.lengths[rows])
    picks = _emulated_picks(vowels)[0 if board == "pi4" else 1 :: 2]  # half each, see EMULATED
    target = make_target(f"qemu-aarch64:{board}")
    with target:
        for case, path in picks:
            r = target.run(path, Path(str(path) + ".json"), data, RunConfig(warmup=0, runs=1))
            _check(case, path, np.array(r["outputs"], np.float32), rows, vowels.y[rows])


# (case, file under the case's folder): each cell, both GRU layouts, both heads and every
# precision at least once; ONNX once (locally every file runs). The Pi 4 runs the even entries,
# the Pi 5 the odd ones (each covers all three precisions): a file costs ~30 s under qemu.
EMULATED = [
    ("gru1-last", "int8-static/model.int8.tflite"),
    ("gru1-last", "float32/unrolled/model.tflite"),
    ("gru2-mean", "float32/model.tflite"),
    ("gru2-mean", "int8-static/unrolled/model.int8.tflite"),
    ("gru2-mean", "int8-dynamic/model.dynint8.onnx"),
    ("lstm1-last", "int8-dynamic/model.dynint8.tflite"),
    ("lstm1-mean", "int8-static/model.int8.tflite"),
    ("peephole1-last", "float32/model.tflite"),
    ("peephole1-mean", "int8-static/model.int8.tflite"),
]


def _emulated_picks(vowels: Vowels) -> list[tuple[Case, Path]]:
    cases = {c.name: c for c in vowels.cases}
    picks = []
    for name, rel in EMULATED:
        (path,) = [p for p in cases[name].files if p.as_posix().endswith(f"{name}/{rel}")]
        picks.append((cases[name], path))
    return picks
