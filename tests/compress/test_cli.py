"""`edgegru prune` and `edgegru distill` end to end: happy paths with tables and JSON, and bad
input as one line with exit code 2."""

from __future__ import annotations

import json

import pytest

from edgegru.bundle import load_bundle, save_bundle
from edgegru.types import ModelSpec
from tests.compress.conftest import random_bundle
from tests.test_cli import assert_one_line_error


def _saved(folder, spec):
    bundle = random_bundle(spec)
    bundle.provenance = {"dataset": "basicmotions"}
    return save_bundle(bundle, folder)


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    """An untrained GRU-12 for basicmotions (6 features, 4 classes): pruning needs no skill."""
    return _saved(tmp_path_factory.mktemp("m") / "gru12", ModelSpec("gru", 6, 12, 4))


def test_help_has_examples(cli):
    for cmd in ("prune", "distill"):
        proc = cli(cmd, "--help")
        assert proc.returncode == 0 and "Example" in proc.stdout
    assert "prune" in cli("--help").stdout


def test_prune_hidden_prints_before_and_after(cli, model, tmp_path):
    proc = cli(
        "prune", str(model), "--hidden", "5", "--finetune-epochs", "1", "-o", str(tmp_path / "p")
    )
    assert proc.returncode == 0, proc.stderr
    for word in ("before", "after", "parameters", "float32 size", "int8 size", "test accuracy"):
        assert word in proc.stdout
    step = load_bundle(tmp_path / "p").provenance["compression"][-1]
    assert step["config"]["hidden_size"] == 5
    assert "teacher" not in step  # the labels alone by default, as the pipeline's [compress]


def test_prune_params_json(cli, model, tmp_path):
    proc = cli("prune", str(model), "--params", "300", "--steps", "1", "--finetune-epochs", "1",
               "--distill", "-o", str(tmp_path / "p"), "--json")  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout)
    assert result["after"]["parameters"] <= 300 < result["before"]["parameters"]
    assert result["before"]["hidden_size"] == 12
    assert 0 <= result["after"]["accuracy"] <= 1
    bundle = load_bundle(tmp_path / "p")
    step = bundle.provenance["compression"][0]
    assert step["scheme"] == "structured"
    # --distill: the unpruned model teaches, with DistillConfig's loss (the recipe's)
    assert (step["teacher"]["hidden_size"], step["teacher"]["alpha"], step["teacher"]["mixup"]) == (
        12, 1.0, 0.5)  # fmt: skip


def test_prune_sparsity_json(cli, model, tmp_path):
    proc = cli("prune", str(model), "--sparsity", "0.7", "--finetune-epochs", "2",
               "--scope", "per-tensor", "-o", str(tmp_path / "s"), "--json")  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout)
    assert result["after"]["sparsity"] == pytest.approx(0.7, abs=0.01)
    assert result["after"]["float32_bytes"] == result["before"]["float32_bytes"]
    assert result["after"]["float32_gzip_bytes"] < result["before"]["float32_gzip_bytes"]


def test_distill_prints_teacher_and_student(cli, model, tmp_path):
    proc = cli("distill", "--teacher", str(model), "--cell", "lstm", "--hidden", "4",
               "--epochs", "1", "-o", str(tmp_path / "d"))  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert "teacher" in proc.stdout and "student" in proc.stdout and "int8 size" in proc.stdout
    proc = cli("distill", "--teacher", str(model), "--hidden", "3", "--epochs", "1",
               "--temperature", "2", "-o", str(tmp_path / "d2"), "--json")  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout)
    assert result["student"]["hidden_size"] == 3 and result["config"]["temperature"] == 2
    assert load_bundle(tmp_path / "d2").provenance["distilled_from"]["hidden_size"] == 12


def test_prune_with_another_teacher_and_distill_from_an_ensemble(cli, model, tmp_path):
    other = _saved(tmp_path / "gru16", ModelSpec("gru", 6, 16, 4))
    proc = cli("prune", str(model), "--hidden", "5", "--steps", "1", "--finetune-epochs", "1",
               "--teacher", str(other), "--mixup", "0.5", "-o", str(tmp_path / "p"), "--json")
    assert proc.returncode == 0, proc.stderr
    step = load_bundle(tmp_path / "p").provenance["compression"][-1]
    assert step["teacher"]["hidden_size"] == 16 and step["teacher"]["mixup"] == 0.5
    proc = cli("distill", "--teacher", str(model), "--teacher", str(other), "--hidden", "3",
               "--epochs", "1", "--mixup", "0.3", "-o", str(tmp_path / "d"))  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert "teacher 2" in proc.stdout
    prov = load_bundle(tmp_path / "d").provenance["distilled_from"]
    assert [t["hidden_size"] for t in prov["ensemble"]] == [12, 16] and prov["mixup"] == 0.3
    proc = cli("distill", "--teacher", str(model), "--hidden", "3", "--prune-from", "5",
               "--epochs", "1", "--prune-epochs", "1", "-o", str(tmp_path / "d3"), "--json")
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["student"]["hidden_size"] == 3
    proc = cli("distill", "--teacher", str(model), "--hidden", "5", "--prune-from", "5",
               "-o", str(tmp_path / "x"))  # fmt: skip
    assert_one_line_error(proc, "--prune-from (5) must be larger than --hidden (5)")


BAD = [
    (["--sparsity", "1.5"], "sparsity must be in [0, 1)"),
    (["--hidden", "13"], "larger than the model's 12"),
    (["--params", "5"], "below the smallest"),
    (["--hidden", "4", "--sparsity", "0.5"], "exactly one of"),
    ([], "exactly one of"),
    (["--hidden", "4", "--importance", "random"], "unknown importance"),
    (["--hidden", "4", "--dataset", "japanesevowels"], "the data has 12"),
    (["--hidden", "4", "--mixup", "0.9"], "mixup must be in [0, 0.5]"),
    (["--hidden", "4", "--teacher", ".", "--no-distill"], "drop --no-distill"),
]


@pytest.mark.parametrize(("args", "needle"), BAD, ids=[b[1] for b in BAD])
def test_prune_bad_input(cli, model, tmp_path, args, needle):
    assert_one_line_error(cli("prune", str(model), *args, "-o", str(tmp_path / "x")), needle)


def test_distill_teacher_with_another_input_size(cli, model, tmp_path):
    proc = cli("distill", "--teacher", str(model), "--dataset", "japanesevowels", "--epochs", "1",
               "-o", str(tmp_path / "x"))  # fmt: skip
    assert_one_line_error(proc, "the teacher takes 6 input features, the data has 12")
    proc = cli("distill", "--teacher", str(model), "--alpha", "2", "-o", str(tmp_path / "x"))
    assert_one_line_error(proc, "alpha must be in [0, 1]")
    proc = cli("distill", "--teacher", str(tmp_path / "nope"), "-o", str(tmp_path / "x"))
    assert_one_line_error(proc, "does not exist")
