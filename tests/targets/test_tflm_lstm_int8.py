"""Full-integer LSTM and peephole LSTM lowered to builtin int8 ops (``--option layout=lowered`` /
``unrolled``: ``lowerings/lstm_lowered_int8.py``) on TFLite Micro and LiteRT: bit for bit the
NumPy int8 reference of that graph (``quantize/lstm_lowered_reference.py``) in TFLite Micro's
arithmetic on the ``tflm`` target, within one output step of its XNNPACK-arithmetic result
under LiteRT (observed: bit-exact too), within the stated tolerance of the float model; with
``lengths`` too; the CLI check names the reference difference; and on a trained basicmotions
model the int8 files keep the float model's accuracy. Also: GRU ``loop`` files with ``lengths``
(two steps per iteration) run on TFLite Micro."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import numpy as np
import pytest

from edgegru.export import ExportConfig, export, read_manifest
from edgegru.quantize import QuantizeConfig, quantize_
from edgegru.quantize.lstm_lowered_reference import GRAPH_KEY, LOWERED
from edgegru.quantize.reference import predict_int8
from edgegru.reference import reference_forward
from edgegru.targets import make_target
from edgegru.targets.config import RunConfig
from tests.targets import artifacts as A
from tests.targets.test_tflm import _dataset

CFG = RunConfig(warmup=0, runs=2, timeout_s=600)
FILES = (("sequence", "lowered"), ("sequence", "unrolled"), ("step", "lowered"))


def _quantized(cell: str, head: str, layers: int):
    b = A.bundle(cell, head=head, layers=layers)
    X, _ = A.data(b, n=48, T=6, seed=3)
    q = quantize_(copy.deepcopy(b), QuantizeConfig(scheme="static", calib=48), _dataset(b, X))
    return b, q, X[:8]


def _export(q, folder: Path, form: str, layout: str, lengths: bool = False) -> Path:
    cfg = ExportConfig(formats=("tflite",), forms=(form,), precision="int8-static",
                       lengths=lengths, options={"layout": layout})  # fmt: skip
    (artifact,) = export(q, cfg, folder / f"{form}-{layout}")
    return Path(artifact.path)


@pytest.mark.parametrize(("cell", "head"), [("lstm", "last"), ("peephole", "mean")])
def test_lowered_int8_lstm_is_bit_exact_on_tflm_and_litert(tmp_path, cell, head):
    b, q, X = _quantized(cell, head, layers=2)
    np.savez(tmp_path / "data.npz", X=X)
    float_ref = reference_forward(b.spec, b.weights, X)
    ref = {m: predict_int8(q, X, None, m, graph=LOWERED) for m in ("tflm", "xnnpack")}
    s_y = q.quant.activations["head.y"].scale
    files = [_export(q, tmp_path, form, layout) for form, layout in FILES]
    for target_name, mode in (("tflm", "tflm"), ("local", "xnnpack")):
        with make_target(target_name) as target:
            for path in files:
                r = target.run(path, Path(f"{path}.json"), tmp_path / "data.npz", CFG)
                y = np.array(r["outputs"], np.float32)
                manifest = read_manifest(path)
                assert manifest.details[GRAPH_KEY] == LOWERED
                assert np.abs(y - float_ref).max() <= manifest.details["tolerance"], path
                if target_name == "tflm":
                    np.testing.assert_array_equal(y, ref["tflm"], err_msg=str(path))
                    assert "UNIDIRECTIONAL_SEQUENCE_LSTM" not in r["mcu"]["ops"]
                    assert r["mcu"]["arena_bytes"] > 0
                else:
                    assert np.abs(y - ref[mode]).max() <= s_y * (1 + 1e-4), path


def test_lowered_int8_lstm_with_lengths_on_tflm(tmp_path):
    """The WHILE stops after n iterations, unrolled GATHERs step n-1: the masked reference's
    answer bit for bit."""
    b, q, _ = _quantized("peephole", "mean", layers=1)
    X, lengths = A.data(b, n=6, T=6, seed=5, lengths=True)
    np.savez(tmp_path / "data.npz", X=X, lengths=lengths)
    expected = predict_int8(q, X, lengths, "tflm", graph=LOWERED)
    with make_target("tflm") as target:
        for layout in ("lowered", "unrolled"):
            path = _export(q, tmp_path, "sequence", layout, lengths=True)
            r = target.run(path, Path(f"{path}.json"), tmp_path / "data.npz", CFG)
            np.testing.assert_array_equal(np.array(r["outputs"], np.float32), expected, layout)


def test_cli_check_reports_the_lowered_reference_difference(cli, tmp_path):
    from edgegru.bundle import save_bundle

    b, q, X = _quantized("lstm", "last", layers=1)
    save_bundle(q, tmp_path / "int8")
    np.savez(tmp_path / "data.npz", X=X, y=np.arange(len(X)) % b.spec.num_outputs)
    step = _export(q, tmp_path, "step", "lowered")
    data = str(tmp_path / "data.npz")
    proc = cli("check", str(step), "--target", "tflm", "--data", data, "--test-data", data,
               "--runs", "2", "--warmup", "0", "--json",
               "--reference", str(tmp_path / "int8"))  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    row = json.loads(proc.stdout)["rows"][0]
    assert row["int8_reference_max_abs_diff"] == 0.0 and row["mcu"]["arena_bytes"] > 0


def test_lowered_int8_lstm_keeps_accuracy_on_basicmotions(tmp_path):
    """Trained LSTM and peephole on basicmotions (40 test windows): the int8 lowered file on
    TFLite Micro is the tflm-mode reference bit for bit, and within 5 points of the float
    model's accuracy."""
    from edgegru.datasets import load_dataset
    from edgegru.evaluate import predict
    from edgegru.train import TrainConfig, train
    from edgegru.types import ModelSpec

    ds = load_dataset("basicmotions")
    np.savez(tmp_path / "data.npz", X=ds.test.X, y=ds.test.y)
    for cell in ("lstm", "peephole"):
        spec = ModelSpec(cell, ds.num_features, 16, ds.num_outputs)
        b = train(spec, ds, TrainConfig(epochs=40, seed=0, min_steps=0), tmp_path / cell).bundle
        q = quantize_(copy.deepcopy(b), QuantizeConfig(scheme="static"), ds)
        float_acc = float(np.mean(predict(b, ds.test).argmax(1) == ds.test.y))
        path = _export(q, tmp_path / cell, "sequence", "lowered")
        with make_target("tflm") as target:
            r = target.run(path, Path(f"{path}.json"), tmp_path / "data.npz", CFG)
        y = np.array(r["outputs"], np.float32)
        np.testing.assert_array_equal(y, predict_int8(q, ds.test.X, None, "tflm", graph=LOWERED))
        assert float(np.mean(y.argmax(1) == ds.test.y)) >= float_acc - 0.05, cell


@pytest.mark.slow
def test_pipeline_checks_the_lowered_int8_peephole_on_tflm(cli, tmp_path):
    """With tflm among the targets the pipeline exports the LSTM files lowered, int8 included,
    and checks them there: bit-exact with the lowered reference on TFLite Micro and LiteRT."""
    from tests.test_pipeline import TINY

    text = (TINY.replace("hidden = 4", 'cell = "peephole"\nhidden = 4')
            .replace('schemes = ["dynamic"]', 'schemes = ["static"]')
            .replace('formats = ["onnx", "tflite"]', 'formats = ["tflite"]')
            .replace("[check]", '[check]\ntargets = ["local", "tflm"]\nlimit = 8'))  # fmt: skip
    (tmp_path / "c.toml").write_text(text)
    proc = cli("pipeline", str(tmp_path / "c.toml"), "-o", str(tmp_path / "o"))
    assert proc.returncode == 0, proc.stderr
    rows = json.loads((tmp_path / "o" / "results.json").read_text())["stages"]["check"]
    int8 = [r for r in rows["outputs"]["rows"] if r["precision"] == "int8-static"]
    assert sorted(r["target"] for r in int8) == ["local", "local", "tflm", "tflm"]
    assert all(r["int8_reference_max_abs_diff"] == 0.0 and not r["failures"] for r in int8)


def test_bundle_calibrated_without_the_lowered_points_is_bad_input(cli, tmp_path):
    """A bundle quantized before the lowered graph had points: one line, exit 2, no file."""
    import dataclasses

    from edgegru.bundle import save_bundle
    from edgegru.quantize.points import lstm_lowered_points

    _, q, _ = _quantized("peephole", "last", layers=1)
    old = {n: a for n, a in q.quant.activations.items() if n not in lstm_lowered_points(q.spec)}
    save_bundle(dataclasses.replace(q, quant=dataclasses.replace(q.quant, activations=old)),
                tmp_path / "old")  # fmt: skip
    proc = cli("export", str(tmp_path / "old"), "--format", "tflite", "--option",
               "layout=lowered", "-o", str(tmp_path / "out"))  # fmt: skip
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1 and "--scheme static" in proc.stderr
    assert not list(tmp_path.glob("out/*.tflite"))


def test_gru_loop_files_with_lengths_run_on_tflm(tmp_path):
    """Two steps per WHILE iteration with ``lengths`` (the iteration count and the last step's
    place come from constant tables: TFLite Micro has no int32 FLOOR_DIV / FLOOR_MOD): the
    float file matches the masked float model, the int8 file the reference bit for bit."""
    b = A.bundle("gru", head="mean")
    X, lengths = A.data(b, n=6, T=6, seed=5, lengths=True)
    q = quantize_(copy.deepcopy(b), QuantizeConfig(scheme="static", calib=6), _dataset(b, X))
    np.savez(tmp_path / "data.npz", X=X, lengths=lengths)
    expected = {"float32": reference_forward(b.spec, b.weights, X, lengths),
                "int8-static": predict_int8(q, X, lengths, "tflm")}  # fmt: skip
    with make_target("tflm") as target:
        for precision, source in (("float32", b), ("int8-static", q)):
            cfg = ExportConfig(formats=("tflite",), forms=("sequence",), precision=precision,
                               lengths=True, options={"layout": "loop"})  # fmt: skip
            (artifact,) = export(source, cfg, tmp_path / precision)
            assert artifact.details["steps_per_iteration"] == 2
            path = Path(artifact.path)
            y = np.array(target.run(path, Path(f"{path}.json"), tmp_path / "data.npz",
                                    CFG)["outputs"], np.float32)  # fmt: skip
            assert np.abs(y - expected[precision]).max() <= (1e-4 if precision == "float32"
                                                             else 0.0), precision  # fmt: skip


@pytest.mark.slow
def test_every_tflite_file_of_every_cell_runs_on_tflm(tmp_path):
    """Every TFLite file the exporter makes for GRU, LSTM and peephole (LSTM cells lowered),
    float32 and int8-static, each sequence layout with and without ``lengths`` and the step form,
    2 layers: on TFLite Micro the float files match the float model and the int8 ones the
    reference of their graph bit for bit, with an arena measured."""
    cases = 0
    with make_target("tflm") as target:
        for cell, head in (("gru", "mean"), ("lstm", "last"), ("peephole", "mean")):
            layouts = ("loop", "unrolled") if cell == "gru" else ("lowered", "unrolled")
            b = A.bundle(cell, head=head, layers=2)
            X, L = A.data(b, n=5, T=6, seed=5, lengths=True)
            q = quantize_(copy.deepcopy(b), QuantizeConfig(scheme="static", calib=5),
                          _dataset(b, X))  # fmt: skip
            for lengths in (False, True):
                data = tmp_path / f"{cell}{lengths}.npz"
                np.savez(data, **({"X": X, "lengths": L} if lengths else {"X": X}))
                kinds = [("sequence", lay) for lay in layouts]
                kinds += [] if lengths else [("step", layouts[0])]
                for precision, source in (("float32", b), ("int8-static", q)):
                    for form, layout in kinds:
                        cfg = ExportConfig(formats=("tflite",), forms=(form,),
                                           precision=precision, lengths=lengths,
                                           options={"layout": layout})  # fmt: skip
                        where = tmp_path / f"{cell}-{lengths}-{precision}-{form}-{layout}"
                        (a,) = export(source, cfg, where)
                        r = target.run(Path(a.path), Path(f"{a.path}.json"), data, CFG)
                        y = np.array(r["outputs"], np.float32)
                        Lr = L if lengths else None
                        if precision == "float32":
                            assert np.abs(y - reference_forward(b.spec, b.weights, X, Lr)).max() \
                                <= 1e-4, where  # fmt: skip
                        else:
                            ref = predict_int8(q, X, Lr, "tflm", graph=a.details.get(GRAPH_KEY))
                            np.testing.assert_array_equal(y, ref, err_msg=str(where))
                        assert r["mcu"]["arena_bytes"] > 0
                        cases += 1
    assert cases == 3 * (2 * 2 * 2 + 2)  # per cell: 2 layouts x 2 lengths x 2 precisions + 2 step


def test_int8_lstm_c_array_is_lowered_for_tflite_micro(tmp_path):
    """The c-array of an int8-static LSTM picks layout=lowered itself (the fused integer LSTM
    does not run on TFLite Micro), sequence and step."""
    _, q, _ = _quantized("lstm", "last", layers=1)
    cfg = ExportConfig(formats=("c-array",), forms=("sequence", "step"), precision="int8-static")
    for art in export(q, cfg, tmp_path):
        assert art.details[GRAPH_KEY] == LOWERED and art.details["arena_bytes"] > 0
        assert "UNIDIRECTIONAL_SEQUENCE_LSTM" not in art.details["ops"]
