"""The CLI end to end in subprocesses: happy paths, exit codes, one-line errors, resume."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

from edgegru.bundle import load_bundle
from tests.conftest import assert_one_line_error


def test_help_is_instant_and_explains(cli):
    proc = cli("--help")
    assert proc.returncode == 0
    for cmd in ("train", "evaluate", "datasets", "info", "import"):
        assert cmd in proc.stdout
    proc = cli("train", "--help")
    assert "Example" in proc.stdout and "--resume" in proc.stdout


def test_help_does_not_import_torch():
    code = "import sys; from edgegru.cli import main; assert 'torch' not in sys.modules, 'torch'"
    subprocess.run([sys.executable, "-c", code], check=True)


def test_datasets_json(cli):
    proc = cli("datasets", "--json")
    assert proc.returncode == 0, proc.stderr
    names = {d["name"] for d in json.loads(proc.stdout)}
    assert {"watch", "basicmotions", "japanesevowels", "sunspots"} <= names


def test_train_evaluate_info_on_basicmotions(cli, tmp_path):
    out = tmp_path / "bm"
    proc = cli(
        "train",
        "--dataset",
        "basicmotions",
        "--cell",
        "lstm",
        "--hidden",
        "8",
        "--epochs",
        "3",
        "--min-steps",
        "0",
        "-o",
        str(out),
        "--json",
    )
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout)
    assert result["epochs_run"] == 3 and result["optimizer_steps"] == 15  # 40 rows, batch 8
    bundle = load_bundle(out)
    assert bundle.spec.cell == "lstm" and bundle.spec.labels
    assert bundle.provenance["dataset"] == "basicmotions"
    proc = cli("evaluate", str(out), "--json")
    assert proc.returncode == 0, proc.stderr
    metrics = json.loads(proc.stdout)
    assert metrics["accuracy"] == pytest.approx(result["test"]["accuracy"])
    assert np.array(metrics["confusion_matrix"]).sum() == 40
    proc = cli("evaluate", str(out))
    assert "confusion matrix" in proc.stdout
    assert cli("evaluate", str(out), "--min-accuracy", "1.01").returncode == 1
    proc = cli("info", str(out), "--json")
    assert json.loads(proc.stdout)["parameters"] == bundle.spec.num_parameters()


def test_train_regression_on_own_npz(cli, tmp_path):
    rng = np.random.default_rng(0)
    X = rng.standard_normal((60, 12, 2)).astype(np.float32) * 10 + 100
    y = X[:, -3:, 0].mean(axis=1, keepdims=True)
    np.savez(tmp_path / "d.npz", X=X, y=y)
    proc = cli(
        "train",
        "--data",
        str(tmp_path / "d.npz"),
        "--hidden",
        "4",
        "--epochs",
        "2",
        "--head",
        "mean",
        "-o",
        str(tmp_path / "r"),
    )
    assert proc.returncode == 0, proc.stderr
    assert "MAE" in proc.stdout
    assert load_bundle(tmp_path / "r").spec.task == "regression"


@pytest.fixture
def bad_npz(tmp_path):
    rng = np.random.default_rng(0)
    X = rng.standard_normal((20, 5, 3)).astype(np.float32)
    y = np.arange(20) % 2
    files = {}
    np.savez(tmp_path / "shape.npz", X=X[:, :, 0], y=y)
    files["shape"] = ("X must be [N, T, F]",)
    Xn = X.copy()
    Xn[3, 2, 1] = np.nan
    np.savez(tmp_path / "nan.npz", X=Xn, y=y)
    files["nan"] = ("NaN",)
    np.savez(tmp_path / "labels.npz", X=X, y=np.where(y == 1, 5, 0))
    files["labels"] = ("missing",)
    np.savez(tmp_path / "neg.npz", X=X, y=y - 1)
    files["neg"] = ("negative",)
    (tmp_path / "trunc.npz").write_bytes((tmp_path / "nan.npz").read_bytes()[:200])
    files["trunc"] = ("truncated",)
    return tmp_path, files


@pytest.mark.parametrize("case", ["shape", "nan", "labels", "neg", "trunc"])
def test_bad_npz_one_line_exit_2(cli, bad_npz, case):
    folder, files = bad_npz
    out = folder / f"out-{case}"
    proc = cli("train", "--data", str(folder / f"{case}.npz"), "--epochs", "1", "-o", str(out))
    assert_one_line_error(proc, f"{case}.npz", *files[case])
    assert not out.exists()


def test_unknown_cell_exit_2(cli, tmp_path):
    proc = cli("train", "--dataset", "basicmotions", "--cell", "rnn", "-o", str(tmp_path / "x"))
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert "rnn" in proc.stderr and "gru" in proc.stderr
    assert not (tmp_path / "x").exists()


def test_unknown_dataset_exit_2(cli, tmp_path):
    assert_one_line_error(
        cli("train", "--dataset", "nope", "-o", str(tmp_path / "x")), "unknown dataset"
    )


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    from edgegru.bundle import save_bundle
    from edgegru.reference import random_weights
    from edgegru.types import Bundle, ModelSpec

    spec = ModelSpec(
        cell="gru", input_size=6, hidden_size=4, num_outputs=4, labels=("a", "b", "c", "d")
    )
    path = tmp_path_factory.mktemp("b") / "m"
    save_bundle(Bundle(spec, random_weights(spec), {"dataset": "basicmotions"}), path)
    return path


def test_truncated_safetensors_exit_2(cli, trained, tmp_path):
    import shutil

    bad = tmp_path / "m"
    shutil.copytree(trained, bad)
    w = bad / "model.safetensors"
    w.write_bytes(w.read_bytes()[:100])
    assert_one_line_error(cli("evaluate", str(bad)), "model.safetensors")
    assert_one_line_error(cli("info", str(bad)), "corrupt")


def test_bundle_missing_key_exit_2(cli, trained, tmp_path):
    import shutil

    from safetensors.numpy import load_file, save_file

    bad = tmp_path / "m"
    shutil.copytree(trained, bad)
    tensors = load_file(bad / "model.safetensors")
    del tensors["head.bias"]
    save_file(tensors, bad / "model.safetensors")
    meta = json.loads((bad / "model.json").read_text())
    meta.pop("weights_sha256")
    (bad / "model.json").write_text(json.dumps(meta))
    assert_one_line_error(cli("evaluate", str(bad)), "missing tensor(s) head.bias")


def test_bundle_not_found_and_bad_json_exit_2(cli, trained, tmp_path):
    assert_one_line_error(cli("info", str(tmp_path / "none")), "does not exist")
    import shutil

    bad = tmp_path / "m"
    shutil.copytree(trained, bad)
    (bad / "model.json").write_text("{")
    assert_one_line_error(cli("info", str(bad)), "not valid JSON")


def test_unwritable_output_exit_2(cli, tmp_path):
    """The output folder cannot be made (its parent is a file: fails even as root)."""
    (tmp_path / "file").write_text("x")
    proc = cli(
        "train",
        "--dataset",
        "basicmotions",
        "--epochs",
        "1",
        "--hidden",
        "2",
        "-o",
        str(tmp_path / "file" / "m"),
    )
    assert_one_line_error(proc, "file")


def test_resume_with_other_options_is_refused(cli, tmp_path):
    out = tmp_path / "r"
    base = ["train", "--dataset", "basicmotions", "--hidden", "4", "-o", str(out)]
    assert cli(*base, "--epochs", "1").returncode == 0
    assert_one_line_error(cli(*base, "--epochs", "1", "--lr", "0.1", "--resume"), "other options")
    assert_one_line_error(
        cli("train", "--dataset", "basicmotions", "-o", str(tmp_path / "n"), "--resume"),
        "no checkpoint",
    )
