"""`edgegru check` judges files against the float model on the data as given: a GRU trained on the
variable-length `japanesevowels`, a fixed-T TFLite sequence file without a length input (it runs
the short rows over their padding, as a device would) fails the default accuracy budget with no
budget option given; files that honour the lengths pass."""

from __future__ import annotations

import json

import pytest

from edgegru.targets.session import has_length_input, load_manifest
from tests.conftest import run_cli


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    root = tmp_path_factory.mktemp("jv")
    for args in (
        ("train", "--dataset", "japanesevowels", "--hidden", "16", "--epochs", "8",
         "-o", str(root / "m")),
        ("export", str(root / "m"), "--format", "tflite", "--format", "onnx", "--no-lengths",
         "-o", str(root / "m" / "export")),
    ):  # fmt: skip
        proc = run_cli(*args)
        assert proc.returncode == 0, proc.stderr
    return root / "m" / "export"


def check(cli, *args):
    return cli("check", *map(str, args), "--runs", "3", "--warmup", "1")


@pytest.mark.slow
def test_a_file_without_length_input_fails_the_default_accuracy_budget(cli, trained):
    file = trained / "model.tflite"
    assert not has_length_input(load_manifest(file)[2])  # the premise: T fixed, no lengths
    proc = check(cli, file)  # no budget option: the defaults apply
    assert proc.returncode == 1, (proc.stdout, proc.stderr)
    assert "--max-accuracy-drop 1 (default)" in proc.stderr
    assert "Traceback" not in proc.stderr and len(proc.stderr.strip().splitlines()) == 1
    table = proc.stdout.split("Budgets broken")[1].splitlines()
    assert table[1].split()[:2] == ["budget", "limit"]
    assert any(ln.startswith("--max-accuracy-drop  1 (default)") for ln in table)
    assert "sequence+" in proc.stdout and "ran over their zero padding" in proc.stdout

    proc = check(cli, file, "--no-default-budgets", "--json")
    assert proc.returncode == 0, proc.stderr  # the file computes its own graph correctly
    (row,) = json.loads(proc.stdout)["rows"]
    assert row["accuracy_drop_pts"] > 20 and row["agreement"] < 0.8
    assert row["max_abs_error"] < row["tolerance"]


@pytest.mark.slow
def test_files_that_honour_the_lengths_pass_the_defaults(cli, trained):
    files = [trained / "model.step.tflite", trained / "model.onnx", trained / "model.step.onnx"]
    proc = check(cli, *files, "--json")
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    assert out["budgets"]["default_budgets"] and not out["broken"]
    for row in out["rows"]:
        assert row["agreement"] == 1.0 and row["accuracy_drop_pts"] == 0.0
        assert row["reference_accuracy"] > 0.5 and row["n"] == 370
