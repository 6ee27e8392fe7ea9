"""The ``tflm`` target: TFLite Micro's interpreter (the ``tflite-micro`` package) runs edgegru's
TFLite files. Float files match the float model within their stated tolerance; full-integer
GRU files equal the NumPy int8 reference in TFLite Micro arithmetic (``requant="tflm"``) bit for
bit; the arena the runner reports is the smallest TFLite Micro allocates in; unsupported ops,
a broken arena budget and a missing package each end in one line."""

from __future__ import annotations

import copy
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from edgegru.bundle import save_bundle
from edgegru.export import ExportConfig, export
from edgegru.quantize import QuantizeConfig, quantize_
from edgegru.quantize.reference import predict_int8
from edgegru.reference import reference_forward
from edgegru.targets import make_target
from edgegru.targets.config import RunConfig
from edgegru.types import Dataset, DatasetInfo, SequenceData
from tests.targets import artifacts as A

CFG = RunConfig(warmup=1, runs=3, timeout_s=600)
# (form, precision, layout): every TFLite GRU file the exporter makes in these precisions
GRU_KINDS = [
    (form, precision, layout)
    for precision in ("float32", "int8-static")
    for form, layout in (("sequence", "loop"), ("sequence", "unrolled"), ("step", "loop"))
]


@dataclass
class Built:
    folder: Path
    files: dict[tuple[str, str, str], Path]
    data: Path
    X: np.ndarray
    float_ref: np.ndarray
    quantized: object  # the static-quantized bundle


def _dataset(b, X):
    y = np.arange(len(X)) % b.spec.num_outputs
    part = SequenceData(X, y)
    names = tuple(f"x{i}" for i in range(b.spec.input_size))
    labels = tuple(f"c{i}" for i in range(b.spec.num_outputs))
    return Dataset(DatasetInfo("synthetic", "", "", ""), "classification", part, part, names,
                   labels)  # fmt: skip


def _build(folder: Path, head: str = "last", layers: int = 1, logits_bits: int = 16) -> Built:
    b = A.bundle("gru", head=head, layers=layers)
    X, _ = A.data(b, n=48, T=6, seed=3)
    qcfg = QuantizeConfig(scheme="static", calib=48, logits_bits=logits_bits)
    q = quantize_(copy.deepcopy(b), qcfg, _dataset(b, X))
    files = {}
    for form, precision, layout in GRU_KINDS:
        source = q if precision == "int8-static" else b
        cfg = ExportConfig(formats=("tflite",), forms=(form,), precision=precision,
                           options={"layout": layout})  # fmt: skip
        (artifact,) = export(source, cfg, folder / f"{precision}-{layout}")
        files[(form, precision, layout)] = Path(artifact.path)
    save_bundle(b, folder / "model")
    save_bundle(q, folder / "int8")
    X = X[:10]
    np.savez(folder / "data.npz", X=X, y=np.arange(len(X)) % b.spec.num_outputs)
    return Built(folder, files, folder / "data.npz", X, reference_forward(b.spec, b.weights, X), q)


@pytest.fixture(scope="module")
def gru(tmp_path_factory) -> Built:
    return _build(tmp_path_factory.mktemp("tflm"))


def _run(built: Built, keys=None) -> dict:
    results = {}
    with make_target("tflm") as target:
        for key, path in built.files.items():
            if keys is None or key in keys:
                results[key] = target.run(path, Path(f"{path}.json"), built.data, CFG)
    return results


def _smallest_arena_holds(path: Path, arena: int) -> None:
    """TFLite Micro itself: the reported arena allocates, one byte less does not."""
    from tflite_micro import runtime

    data = path.read_bytes()
    runtime.Interpreter.from_bytes(data, arena_size=arena)
    with pytest.raises(RuntimeError):
        runtime.Interpreter.from_bytes(data, arena_size=arena - 1)


def test_every_gru_file_runs_with_parity_and_a_measured_arena(gru):
    from edgegru.export import read_manifest

    int8_tflm = predict_int8(gru.quantized, gru.X, None, "tflm")
    int8_xnn = predict_int8(gru.quantized, gru.X, None, "xnnpack")
    for key, r in _run(gru).items():
        form, precision, _ = key
        y = np.array(r["outputs"], np.float32)
        tol = read_manifest(gru.files[key]).details.get("tolerance")
        if precision == "float32":
            assert np.abs(y - gru.float_ref).max() <= (tol or 1e-4), key
        else:
            np.testing.assert_array_equal(y, int8_tflm, err_msg=str(key))
            assert np.abs(y - gru.float_ref).max() <= tol, key
        mcu = r["mcu"]
        assert mcu["flash_bytes"] == gru.files[key].stat().st_size
        assert mcu["arena_bytes"] >= mcu["arena_record_bytes"] > 0
        assert "FULLY_CONNECTED" in mcu["ops"] and ("WHILE" in mcu["ops"]) == (
            key[2] == "loop" and form != "step"
        )
        assert any("not an MCU latency" in n for n in r["notes"])
    # TFLite Micro's fixed-point arithmetic is not XNNPACK's: the mode matters on these rows
    assert not np.array_equal(int8_tflm, int8_xnn)


@pytest.mark.parametrize(("head", "layers", "bits"), [("mean", 2, 16), ("last", 1, 8)])
def test_int8_gru_variants_are_bit_exact_in_tflm_arithmetic(tmp_path, head, layers, bits):
    built = _build(tmp_path, head, layers, bits)
    keys = [k for k in built.files if k[1] == "int8-static"]
    expected = predict_int8(built.quantized, built.X, None, "tflm")
    for key, r in _run(built, keys).items():
        np.testing.assert_array_equal(np.array(r["outputs"], np.float32), expected, str(key))


def test_reported_arena_is_the_smallest_that_allocates(gru):
    for key in (("step", "int8-static", "loop"), ("sequence", "float32", "loop")):
        r = _run(gru, [key])[key]
        _smallest_arena_holds(gru.files[key], r["mcu"]["arena_bytes"])


def _check(cli, built: Built, *args: str):
    return cli("check", *args, "--target", "tflm", "--data", str(built.data), "--test-data",
               str(built.data), "--runs", "2", "--warmup", "0")  # fmt: skip


def test_cli_mcu_table_and_budgets(cli, gru):
    step = gru.files[("step", "int8-static", "loop")]
    ok = _check(cli, gru, str(step), "--max-arena-kb", "64", "--max-flash-kb", "64", "--json",
                "--reference", str(gru.folder / "int8"))  # fmt: skip
    assert ok.returncode == 0, ok.stderr
    row = json.loads(ok.stdout)["rows"][0]
    assert row["mcu"]["arena_bytes"] > 0 and row["failures"] == []
    assert row["int8_reference_max_abs_diff"] == 0.0  # in TFLite Micro's arithmetic
    small = _check(cli, gru, str(step), "--max-arena-kb", "0.5")
    assert small.returncode == 1
    assert "arena KB" in small.stdout and "not an MCU latency" in small.stdout
    assert "--max-arena-kb 0.5" in small.stderr and "Traceback" not in small.stderr


def test_unsupported_op_is_one_line_naming_it(cli, tmp_path):
    """The peephole LSTM's fused file: TFLite Micro's LSTM kernel takes no peepholes."""
    b = A.bundle("peephole")
    save_bundle(b, tmp_path / "model")
    (artifact,) = export(b, ExportConfig(formats=("tflite",), forms=("sequence",)), tmp_path)
    X, _ = A.data(b, n=3)
    np.savez(tmp_path / "data.npz", X=X, y=np.zeros(3, np.int64))
    proc = cli("check", artifact.path, "--target", "tflm", "--data", str(tmp_path / "data.npz"))
    assert proc.returncode == 2
    (line,) = proc.stderr.strip().splitlines()
    assert "UNIDIRECTIONAL_SEQUENCE_LSTM with peepholes" in line


def test_missing_package_is_one_line_with_the_fix(cli, gru, tmp_path):
    """A Python whose ``tflite_micro`` cannot import (shadowed by a package that fails)."""
    shadow = tmp_path / "shadow" / "tflite_micro"
    shadow.mkdir(parents=True)
    (shadow / "__init__.py").write_text("raise ImportError('No module named tflite_micro')\n")
    import sys

    python = f"env PYTHONPATH={shadow.parent} {sys.executable}"
    step = gru.files[("step", "float32", "loop")]
    proc = cli("check", str(step), "--target", f"tflm?python={python}", "--data",
               str(gru.data))  # fmt: skip
    assert proc.returncode == 2
    (line,) = proc.stderr.strip().splitlines()
    assert "tflite-micro" in line and "pip install" in line


def test_other_formats_are_skipped_and_alone_rejected(cli, gru, tmp_path):
    b = A.bundle()
    onnx = A.make(b, "onnx", "step", tmp_path)
    proc = cli("check", str(onnx), "--target", "tflm", "--data", str(gru.data))
    assert proc.returncode == 2 and "tflm runs none of these files" in proc.stderr


def test_op_list_names_real_builtin_ops():
    """Every op the runner accepts is a BuiltinOperator of the schema the package ships."""
    from edgegru.targets import runner

    schema = runner.tflm_schema()
    names = {k for k in vars(schema.BuiltinOperator) if not k.startswith("_")}
    assert names >= runner.TFLM_OPS and "UNIDIRECTIONAL_SEQUENCE_LSTM" in runner.TFLM_OPS


@pytest.mark.parametrize("cell", [pytest.param("lstm", marks=pytest.mark.slow), "peephole"])
def test_lowered_lstm_files_run_on_tflm_and_litert(tmp_path, cell):
    """layout=lowered (WHILE) and unrolled: builtin ops only, so TFLite Micro runs the peephole
    LSTM too; two layers and both heads exercise every loop variable. The step file (builtin
    ops already) runs as well."""
    b = A.bundle(cell, head="mean" if cell == "peephole" else "last", layers=2)
    X, _ = A.data(b, n=6, T=6, seed=4)
    np.savez(tmp_path / "data.npz", X=X)
    expected = reference_forward(b.spec, b.weights, X)
    files = []
    for form, layout in (("sequence", "lowered"), ("sequence", "unrolled"), ("step", "lowered")):
        cfg = ExportConfig(formats=("tflite",), forms=(form,), options={"layout": layout})
        (artifact,) = export(b, cfg, tmp_path / layout)
        files.append(Path(artifact.path))
    for name in ("tflm", "local"):
        with make_target(name) as target:
            for path in files:
                r = target.run(path, Path(f"{path}.json"), tmp_path / "data.npz", CFG)
                err = np.abs(np.array(r["outputs"]) - expected).max()
                assert err < 1e-4, (name, path, err)
                if name == "tflm":
                    assert "UNIDIRECTIONAL_SEQUENCE_LSTM" not in r["mcu"]["ops"]


def test_lowered_lstm_files_with_lengths_run_on_tflm(tmp_path):
    """The builtin-op layouts with a ``lengths`` input (the WHILE stops after n iterations;
    unrolled GATHERs step n-1) run on TFLite Micro with the masked reference's answer."""
    b = A.bundle("peephole", head="mean", layers=2)
    X, lengths = A.data(b, n=6, T=6, seed=5, lengths=True)
    np.savez(tmp_path / "data.npz", X=X, lengths=lengths)
    expected = reference_forward(b.spec, b.weights, X, lengths)
    with make_target("tflm") as target:
        for layout in ("lowered", "unrolled"):
            cfg = ExportConfig(formats=("tflite",), forms=("sequence",), lengths=True,
                               options={"layout": layout})  # fmt: skip
            (artifact,) = export(b, cfg, tmp_path / layout)
            assert artifact.details["padding"] == "masked"
            path = Path(artifact.path)
            r = target.run(path, Path(f"{path}.json"), tmp_path / "data.npz", CFG)
            assert np.abs(np.array(r["outputs"]) - expected).max() < 1e-4, layout


def test_int8_fused_lstm_is_named_unsupported(tmp_path):
    b = A.bundle("lstm")
    X, _ = A.data(b, n=16, T=6, seed=3)
    q = quantize_(copy.deepcopy(b), QuantizeConfig(scheme="static", calib=16), _dataset(b, X))
    cfg = ExportConfig(formats=("tflite",), forms=("step",), precision="int8-static")
    (artifact,) = export(q, cfg, tmp_path)
    np.savez(tmp_path / "data.npz", X=X[:2])
    from edgegru.targets.base import TargetError

    fix = r"integer mode.*--option layout=lowered"  # the one line names the fix
    with make_target("tflm") as target, pytest.raises(TargetError, match=fix):
        target.run(Path(artifact.path), Path(f"{artifact.path}.json"), tmp_path / "data.npz", CFG)
