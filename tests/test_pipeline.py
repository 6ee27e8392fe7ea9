"""edgegru pipeline / report: config validation, stage caching, the report, errors."""

from __future__ import annotations

import json

import pytest

from edgegru.errors import BadInput
from edgegru.pipeline.config import PipelineConfig, load_config
from tests.conftest import assert_one_line_error

TINY = """
[data]
dataset = "basicmotions"
[train]
hidden = 4
epochs = 2
min_steps = 0
[compress]
enabled = false
[quantize]
schemes = ["dynamic"]
[export]
formats = ["onnx", "tflite"]
[check]
emulated = "off"
runs = 5
warmup = 1
"""


def write(tmp_path, text, name="c.toml"):
    path = tmp_path / name
    path.write_text(text)
    return path


def test_default_config_and_json_round_trip():
    cfg = load_config(None)
    assert cfg.data.dataset == "watch" and cfg.train.cell == "gru"
    assert PipelineConfig.from_json(json.loads(json.dumps(cfg.to_json()))) == cfg


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        ("[train]\nepoch = 3\n", "unknown key 'epoch' (did you mean 'epochs'?)"),
        ("[trian]\n", "unknown key 'trian' (did you mean 'train'?)"),
        ("[train]\nhidden = 'x'\n", "hidden must be int"),
        ("[train]\ncell = 'rnn'\n", "cell must be one of"),
        ("[export]\nformats = ['onxx']\n", "unknown format 'onxx'"),
        ("[export]\nlengths = 'maybe'\n", "lengths must be one of auto, yes, no"),
        ("[data\n", "not valid TOML"),
        ("[check]\nmax_size_kb = { int9 = 1 }\n", "unknown scope 'int9'"),
        ("[check]\nmax_size_kb = { int8 = 'x' }\n", "max_size_kb must be float"),
        ("[check]\ndefault_budgets = 1\n", "default_budgets must be bool"),
    ],
)
def test_bad_configs_name_the_problem(tmp_path, text, needle):
    with pytest.raises(BadInput, match=None) as e:
        load_config(write(tmp_path, text))
    assert needle in str(e.value)


def test_check_budgets_are_the_cli_budgets(tmp_path):
    text = "[check]\nmax_accuracy_drop = 2\nmax_size_kb = { all = 64, int8 = 16 }\n"
    c = load_config(write(tmp_path, text + "default_budgets = false\n")).check
    assert c.limit_on("max_size_kb", "tflite", "int8-static").value == 16
    assert c.limit_on("max_size_kb", "onnx", "float32").value == 64
    assert c.limit_on("min_agreement", "onnx", "float32") is None  # defaults off
    c = load_config(write(tmp_path, text)).check
    assert c.limit_on("min_agreement", "onnx", "float32").default
    assert c.limit_on("max_accuracy_drop", "onnx", "float32").value == 2


def test_pipeline_runs_skips_and_reruns(cli, tmp_path):
    config = write(tmp_path, TINY)
    out = tmp_path / "out"
    proc = cli("pipeline", str(config), "-o", str(out), "--json")
    assert proc.returncode == 0, proc.stderr
    first = json.loads(proc.stdout)
    assert not first["train"]["skipped"] and not first["export"]["skipped"]
    files = {a["file"] for a in first["export"]["outputs"]["artifacts"]}
    assert {"model.onnx", "model.step.onnx", "model.tflite", "model.step.tflite",
            "dynamic/model.dynint8.onnx", "dynamic/model.step.dynint8.onnx"} <= files  # fmt: skip
    quant = first["quantize"]["outputs"]["schemes"]["dynamic"]
    assert quant["agreement"] > 0.9 and quant["sqnr_db"] > 20
    for name in ("report.md", "results.json", "training.png", "sizes.png"):
        assert (out / name).is_file(), name
    report = (out / "report.md").read_text()
    assert "model.step.tflite" in report
    rows = first["check"]["outputs"]["rows"]
    assert {r["file"] for r in rows} == files and {r["target"] for r in rows} == {"local"}
    for r in rows:  # float artifacts agree with the float model on the device
        if r["precision"] == "float32":
            assert r["agreement"] == 1.0 and r["max_abs_error"] < 1e-4, r
        else:
            assert r["agreement"] >= 0.9, r
    results = json.loads((out / "results.json").read_text())
    assert len(results["artifacts"]) == len(files) and results["artifacts"][0]["checks"]
    assert (out / "pareto.png").is_file()

    # the report's numbers are edgegru check's numbers
    proc = cli("check", str(out / "export" / "model.tflite"), "--runs", "3", "--json")
    assert proc.returncode == 0, proc.stderr
    (direct,) = json.loads(proc.stdout)["rows"]
    (in_report,) = [r for r in results["artifacts"] if r["file"] == "model.tflite"]
    (row,) = in_report["checks"]
    assert row["accuracy"] == direct["accuracy"] and row["agreement"] == direct["agreement"]
    assert row["max_abs_error"] == pytest.approx(direct["max_abs_error"])

    again = json.loads(cli("pipeline", str(config), "-o", str(out), "--json").stdout)
    assert again["train"]["skipped"] and again["export"]["skipped"]

    # a changed export section re-runs export only; train is kept
    write(tmp_path, TINY.replace('["onnx", "tflite"]', '["onnx"]'))
    third = json.loads(cli("pipeline", str(config), "-o", str(out), "--json").stdout)
    assert third["train"]["skipped"] and third["quantize"]["skipped"]
    assert not third["export"]["skipped"]
    assert not (out / "export" / "model.tflite").exists()  # no stale artifact survives

    # a tampered output is noticed and rebuilt
    (out / "export" / "model.onnx").write_bytes(b"garbage")
    fourth = json.loads(cli("pipeline", str(config), "-o", str(out), "--json").stdout)
    assert not fourth["export"]["skipped"]

    (out / "report.md").unlink()
    assert cli("report", str(out)).returncode == 0
    assert (out / "report.md").is_file()


def test_typo_in_config_exits_2_and_keeps_results(cli, tmp_path):
    out = tmp_path / "out"
    assert cli("pipeline", str(write(tmp_path, TINY)), "-o", str(out)).returncode == 0
    before = (out / "train" / "model.safetensors").read_bytes()
    bad = write(tmp_path, TINY.replace("epochs = 2", "epochz = 2"), "bad.toml")
    assert_one_line_error(cli("pipeline", str(bad), "-o", str(out)), "epochz")
    assert (out / "train" / "model.safetensors").read_bytes() == before


def test_broken_budget_exits_1_with_the_report(cli, tmp_path):
    """A size budget scoped to the TFLite files: a short table on stderr, one line naming the
    budget, the full list of file x target pairs in results.json, the table in the report."""
    cfg = write(tmp_path, TINY.replace("[check]", "[check]\nmax_size_kb = { tflite = 1.0 }"))
    proc = cli("pipeline", str(cfg), "-o", str(tmp_path / "o"))
    assert proc.returncode == 1, proc.stderr
    last = proc.stderr.strip().splitlines()[-1]
    assert last.startswith("check failed: 1 budget broken: --max-size-kb tflite=1 (worst")
    table = proc.stderr.split("Budgets broken")[1].splitlines()
    assert table[1].split()[:3] == ["budget", "limit", "worst"]
    assert table[3].split()[:2] == ["--max-size-kb", "tflite=1"]
    results = json.loads((tmp_path / "o" / "results.json").read_text())
    checked = results["stages"]["check"]["outputs"]
    tflite = {r["artifact"] for r in checked["rows"] if r["format"] == "tflite"}
    assert {b["artifact"] for b in checked["broken"]} == tflite and len(tflite) >= 2
    assert all(b["name"] == "max_size_kb" for b in checked["broken"])
    report = (tmp_path / "o" / "report.md").read_text()
    assert "**Budgets broken**" in report and "| --max-size-kb | tflite=1 |" in report


def test_missing_dataset_exits_2(cli, tmp_path):
    cfg = write(tmp_path, '[data]\ndataset = "nope"\n')
    assert_one_line_error(cli("pipeline", str(cfg), "-o", str(tmp_path / "o")), "unknown dataset")
    cfg = write(tmp_path, '[data]\npath = "missing.npz"\n', "b.toml")
    assert_one_line_error(cli("pipeline", str(cfg), "-o", str(tmp_path / "o")), "missing.npz")


def test_report_of_a_folder_without_results_exits_2(cli, tmp_path):
    assert_one_line_error(cli("report", str(tmp_path)), "no pipeline results")


COMPRESS = """
[data]
dataset = "basicmotions"
[train]
hidden = 12
epochs = 2
min_steps = 0
[compress]
deploy = "compressed"
method = "{method}"
hidden = {hidden}{extra}
curve = [4]
finetune_epochs = 1
epochs = 1
[quantize]
enabled = false
[export]
formats = ["onnx"]
forms = ["sequence"]
[check]
emulated = "off"
runs = 2
warmup = 0
"""


@pytest.mark.parametrize(("method", "extra"), [("prune", ""), ("prune", "\ndistill = true"),
                                               ("distill", "")])  # fmt: skip
def test_compressed_model_flows_downstream(cli, tmp_path, method, extra):
    from edgegru.bundle import load_bundle
    from edgegru.export import read_manifest

    cfg = write(tmp_path, COMPRESS.format(method=method, hidden=8, extra=extra))
    out = tmp_path / "o"
    proc = cli("pipeline", str(cfg), "-o", str(out), "--json")
    assert proc.returncode == 0, proc.stderr
    curve = json.loads(proc.stdout)["compress"]["outputs"]["curve"]
    assert [p["hidden"] for p in curve] == [12, 8, 4]
    assert curve[1]["parameters"] < curve[0]["parameters"]
    assert read_manifest(out / "export" / "model.onnx").spec.hidden_size == 8
    assert (out / "compression.png").is_file()
    assert "## Compression" in (out / "report.md").read_text()
    if method == "prune":  # by default on the labels alone; distill = true: taught by the model
        step = load_bundle(out / "compress" / "model").provenance["compression"][-1]
        assert ("teacher" in step) == bool(extra)
        assert not extra or step["teacher"]["hidden_size"] == 12


def test_prune_to_a_bigger_model_exits_2(cli, tmp_path):
    cfg = write(tmp_path, COMPRESS.format(method="prune", hidden=16, extra=""))
    proc = cli("pipeline", str(cfg), "-o", str(tmp_path / "o"))
    # every section is validated before the first stage runs: nothing is trained or written
    assert_one_line_error(proc, "error: [compress]", "not smaller")
    assert not (tmp_path / "o").exists()


def test_unreachable_target_exits_2_and_keeps_results(cli, tmp_path):
    text = TINY.replace(
        'emulated = "off"', 'emulated = "off"\ntargets = ["ssh://nobody@127.0.0.1:1"]'
    )
    proc = cli("pipeline", str(write(tmp_path, text)), "-o", str(tmp_path / "o"))
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert proc.stderr.strip().splitlines()[-1].startswith("error:")
    assert (tmp_path / "o" / "export" / "stage.json").is_file()


@pytest.mark.slow
def test_tflm_target_rows_mcu_table_and_arena_budget(cli, tmp_path):
    """[check] targets = ["local", "tflm"]: the TFLite files also run on TFLite Micro (the ONNX
    and hybrid int8 ones are not its kind), the report gains the MCU table, and an arena budget
    it breaks exits 1 naming it."""
    text = TINY.replace('schemes = ["dynamic"]', 'schemes = ["static"]').replace(
        "[check]", '[check]\ntargets = ["local", "tflm"]\nlimit = 8\nmax_arena_kb = 1.0'
    )
    proc = cli("pipeline", str(write(tmp_path, text)), "-o", str(tmp_path / "o"))
    assert proc.returncode == 1, proc.stderr
    assert "--max-arena-kb 1" in proc.stderr
    rows = json.loads((tmp_path / "o" / "results.json").read_text())["stages"]["check"]
    tflm = [r for r in rows["outputs"]["rows"] if r["target"] == "tflm"]
    assert {r["file"].endswith(".tflite") for r in tflm} == {True} and len(tflm) == 4
    assert all(r["mcu"]["arena_bytes"] > 1024 for r in tflm)
    int8 = [r for r in rows["outputs"]["rows"] if r["precision"] == "int8-static"]
    assert {r["target"] for r in int8} == {"local", "tflm"}
    assert all(r["int8_reference_max_abs_diff"] == 0.0 for r in int8)  # bit-exact on both
    report = (tmp_path / "o" / "report.md").read_text()
    assert "## MCU (TFLite Micro)" in report and "not a microcontroller's" in report
    assert "bit-exact" in report


@pytest.mark.slow
def test_check_stage_judges_against_the_float_model_with_lengths(cli, tmp_path):
    """japanesevowels (lengths 7..29), exported without a length input: the fixed-T TFLite
    sequence file fails the default budgets, the step file passes; the report says why."""
    text = ('[data]\ndataset = "japanesevowels"\n[train]\nhidden = 16\nepochs = 8\n'
            '[compress]\nenabled = false\n[quantize]\nenabled = false\n'
            '[export]\nformats = ["tflite"]\nlengths = "no"\n[check]\nemulated = "off"\nruns = 3\n'
            'warmup = 1\n'
            '[report]\nplots = false\n')  # fmt: skip
    out = tmp_path / "o"
    proc = cli("pipeline", str(write(tmp_path, text)), "-o", str(out))
    assert proc.returncode == 1, proc.stderr
    assert "--max-accuracy-drop 1 (default)" in proc.stderr.strip().splitlines()[-1]
    checked = json.loads((out / "results.json").read_text())["stages"]["check"]["outputs"]
    verdicts = {r["file"]: (r["padded_rows"] > 0, bool(r["failures"])) for r in checked["rows"]}
    assert verdicts == {"model.tflite": (True, True), "model.step.tflite": (False, False)}
    assert "Fixed-T files without a length input (model.tflite)" in (out / "report.md").read_text()
