"""`edgegru export --format tflite` and `export()`: files, manifests, options, bad input."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

from edgegru.bundle import save_bundle
from edgegru.errors import BadInput
from edgegru.export import ExportConfig, export, read_manifest
from edgegru.export.tflite import runtime
from edgegru.reference import random_weights, reference_forward
from edgegru.types import Bundle, ModelSpec
from tests.conftest import assert_one_line_error


@pytest.fixture(scope="module")
def bundle_dir(tmp_path_factory):
    spec = ModelSpec(cell="gru", input_size=6, hidden_size=4, num_outputs=3, labels=("a", "b", "c"))
    path = tmp_path_factory.mktemp("b") / "m"
    save_bundle(Bundle(spec, random_weights(spec), {"seq_len": 9}), path)
    return path


def test_export_writes_both_forms_with_manifests(tmp_path):
    spec = ModelSpec(cell="lstm", input_size=3, hidden_size=4, num_outputs=2, head="mean")
    bundle = Bundle(spec, random_weights(spec), {"seq_len": 8})
    arts = export(bundle, ExportConfig(formats=("tflite",)), tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "model.step.tflite", "model.step.tflite.json", "model.tflite", "model.tflite.json",
    ]  # fmt: skip
    seq, step = arts
    back = read_manifest(tmp_path / "model.tflite")
    assert back == seq
    assert seq.details["seq_len"] == 8 and seq.details["batch"] == 1
    assert seq.inputs[0].shape == (1, 8, 3) and seq.outputs[0].shape == (1, 2)
    assert "Interpreter" in seq.details["runtime"]
    assert [t.name for t in step.inputs] == ["x", "h", "c", "sum", "count"]
    assert [t.name for t in step.outputs] == ["y", "h_out", "c_out", "sum_out", "count_out"]
    assert step.details["ops"] > 0
    X = np.random.default_rng(0).standard_normal((1, 8, 3)).astype(np.float32)
    y = runtime.load(tmp_path / "model.tflite")(x=X)["y"]
    np.testing.assert_allclose(y, reference_forward(spec, bundle.weights, X), atol=1e-5)


def test_layout_option_and_manifest_runtime(tmp_path):
    spec = ModelSpec(cell="gru", input_size=3, hidden_size=4, num_outputs=2)
    bundle = Bundle(spec, random_weights(spec))
    cfg = ExportConfig(formats=("tflite",), forms=("sequence",), seq_len=6)
    (default,) = export(bundle, cfg, tmp_path / "d")
    assert default.details["layout"] == "loop"  # the default, per bench/results/tflite.json
    cfg.options = {"layout": "unrolled"}
    (unrolled,) = export(bundle, cfg, tmp_path / "u")
    assert "weight cache" in unrolled.details["runtime"]
    cfg.options = {"layout": "loop", "steps_per_iteration": "3"}
    (loop,) = export(bundle, cfg, tmp_path / "l")
    assert loop.details["layout"] == "loop" and loop.details["steps_per_iteration"] == 3
    assert loop.size_bytes < unrolled.size_bytes
    for bad, needle in [
        ({"layout": "spiral"}, "spiral"),
        ({"colour": "red"}, "unknown TFLite option"),
        ({"steps_per_iteration": "0"}, "steps_per_iteration"),
    ]:
        cfg.options = bad
        with pytest.raises(BadInput, match=needle):
            export(bundle, cfg, tmp_path / "bad")
        assert not (tmp_path / "bad").exists() or not any((tmp_path / "bad").iterdir())


def test_cli_happy_path(cli, bundle_dir, tmp_path):
    out = tmp_path / "out"
    proc = cli("export", str(bundle_dir), "--format", "tflite", "--option", "layout=loop",
               "-o", str(out))  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert "model.tflite" in proc.stdout and "model.step.tflite" in proc.stdout
    manifest = json.loads((out / "model.tflite.json").read_text())
    assert manifest["format"] == "tflite" and manifest["details"]["seq_len"] == 9
    assert manifest["details"]["layout"] == "loop"
    proc = cli("export", str(bundle_dir), "--format", "tflite", "--streaming", "--json",
               "-o", str(tmp_path / "s"))  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert [a["form"] for a in json.loads(proc.stdout)] == ["step"]


def test_cli_bad_inputs_one_line_exit_2(cli, bundle_dir, tmp_path):
    bad = tmp_path / "corrupt"
    shutil.copytree(bundle_dir, bad)
    w = bad / "model.safetensors"
    w.write_bytes(w.read_bytes()[:100])
    out = tmp_path / "o1"
    assert_one_line_error(cli("export", str(bad), "--format", "tflite", "-o", str(out)))
    assert not out.exists()
    proc = cli("export", str(bundle_dir), "--format", "tflite2", "-o", str(tmp_path / "o2"))
    assert proc.returncode == 2 and "tflite2" in proc.stderr and "Traceback" not in proc.stderr
    (tmp_path / "file").write_text("x")
    proc = cli("export", str(bundle_dir), "--format", "tflite", "-o", str(tmp_path / "file" / "o"))
    assert_one_line_error(proc, "file")
    out = tmp_path / "o3"
    proc = cli("export", str(bundle_dir), "--format", "tflite", "--option", "layout=spiral",
               "-o", str(out))  # fmt: skip
    assert_one_line_error(proc, "spiral")
    assert not out.exists() or not list(out.iterdir())  # no partial file
