"""`edgegru check` and `edgegru targets` end to end: one table for several artifacts and targets,
budgets exit 1 naming the broken one, bad input exit 2 with one line."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

from edgegru.bundle import save_bundle
from tests.conftest import assert_one_line_error
from tests.targets import artifacts as A


@pytest.fixture(scope="module")
def project(tmp_path_factory):
    """runs/m (a bundle) with runs/m/export/* (its artifacts) and a labelled data file."""
    root = tmp_path_factory.mktemp("project")
    b = A.bundle()
    save_bundle(b, root / "m")
    files = [A.make(b, fmt, form, root / "m" / "export") for fmt, form, _ in A.kinds()]
    X, L = A.data(b, n=12, lengths=True)
    y = np.arange(12) % 4
    np.savez(root / "data.npz", X=X, y=y, lengths=L)
    return root, files


def check(cli, root, *args):
    data = str(root / "data.npz")
    return cli("check", *args, "--data", data, "--test-data", data, "--runs", "5", "--warmup", "1")


def test_several_artifacts_and_targets_one_table(cli, project, sshd):
    root, files = project
    onnx = [str(f) for f in files if f.suffix in (".onnx", ".ort")]
    proc = check(cli, root, *onnx, "--target", "local", "--target", sshd.target())
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert lines[0].split()[:4] == ["target", "artifact", "form", "accuracy"]
    rows = [ln for ln in lines[2:] if ln.startswith(("local", "ssh://"))]
    assert len(rows) == 2 * len(onnx) and all(r.split()[-1] == "ok" for r in rows)
    assert "InferenceSession" in proc.stdout


def test_json_measures_every_file_against_the_float_model_with_lengths(cli, project):
    """Every file is judged against the float model on the rows with their lengths. The fixed-T
    TFLite sequence file has no length input: it runs the short rows over their padding (parity
    holds against the float model over the same padding), so it alone disagrees."""
    root, files = project
    proc = check(cli, root, *map(str, files), "--json")
    out = json.loads(proc.stdout)
    assert proc.returncode == (1 if out["failures"] else 0), proc.stderr
    padded = [r for r in out["rows"] if r["padded_rows"]]
    assert [r["artifact"].rsplit("/", 1)[1] for r in padded] == ["model.tflite"]
    T = A.bundle().provenance["seq_len"]  # the TFLite file's fixed T
    assert padded[0]["padded_rows"] == (np.load(root / "data.npz")["lengths"] < T).sum()
    for row in out["rows"]:
        assert row["max_abs_error"] < row["tolerance"] < 1e-3
        assert row["n"] == 12 and row["latency_us"]["invoke"]["count"] == 5
        assert row["latency_us"]["call"]["count"] == 5 and row["latency_us"]["window_invoke"]
        if not row["padded_rows"]:
            assert row["agreement"] == 1.0 and row["accuracy_drop_pts"] == 0.0
    assert padded[0]["agreement"] < 1.0
    assert any("ran over their zero padding" in n for n in padded[0]["notes"])
    assert out["rows_scored"] == "rows scored: 12, the test split of data (24 rows in all)"


@pytest.mark.parametrize(
    ("option", "named"),
    [
        (("--max-latency-us", "0.001"), "--max-latency-us 0.001 [invoke p50]"),
        (
            ("--max-latency-us", "0.001", "--latency-figure", "call"),
            "--max-latency-us 0.001 [call p50]",
        ),
        (("--max-size-kb", "0.01"), "--max-size-kb 0.01"),
        (("--max-rss-mb", "1"), "--max-rss-mb 1"),
        (("--max-logit-error", "0"), "--max-logit-error"),
    ],
)
def test_broken_budget_exits_1_naming_it(cli, project, option, named):
    root, files = project
    proc = check(cli, root, str(files[0]), *option)
    assert proc.returncode == 1, proc.stderr
    assert named in proc.stderr and "Traceback" not in proc.stderr
    assert "FAIL" in proc.stdout


def test_accuracy_budgets_pass_at_zero_drop(cli, project):
    root, files = project
    proc = check(cli, root, str(files[0]), "--max-accuracy-drop", "0", "--min-agreement", "1")
    assert proc.returncode == 0, proc.stderr


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        ("truncate", "does not match its manifest"),
        ("no-manifest", "does not exist (export writes one"),
        ("bad-target", "unknown target 'nowhere'"),
        ("unreachable", "host is unreachable"),
    ],
)
def test_bad_input_exits_2_with_one_line(cli, project, tmp_path, mutate, message):
    root, files = project
    src = files[0]
    path = tmp_path / src.name
    shutil.copyfile(src, path)
    shutil.copyfile(src.with_name(src.name + ".json"), path.with_name(path.name + ".json"))
    args = [str(path), "--reference", str(root / "m")]
    if mutate == "truncate":
        path.write_bytes(path.read_bytes()[:100])
    elif mutate == "no-manifest":
        path.with_name(path.name + ".json").unlink()
    elif mutate == "bad-target":
        args += ["--target", "nowhere"]
    else:
        args += ["--target", "ssh://root@127.0.0.1:1?timeout=3"]
    proc = check(cli, root, *args)
    assert proc.returncode == 2, (proc.stdout, proc.stderr)
    assert message in proc.stderr and len(proc.stderr.strip().splitlines()) == 1


def test_targets_list(cli):
    proc = cli("targets", "list", "--json")
    assert proc.returncode == 0, proc.stderr
    names = [t["target"] for t in json.loads(proc.stdout)]
    assert names[0] == "local" and any(n.startswith("qemu-aarch64") for n in names)


@pytest.mark.parametrize(
    ("option", "message"),
    [
        (("--max-size-kb", "int9=3"), "unknown scope 'int9'"),
        (("--max-size-kb", "int8=x"), "give a number or SCOPE=NUMBER"),
        (("--min-agreement", "int8=1.5"), "fraction in [0, 1]"),
    ],
)
def test_bad_budget_exits_2_before_any_run(cli, project, option, message):
    root, files = project
    assert_one_line_error(check(cli, root, str(files[0]), *option), message)


def test_scoped_budget_applies_to_its_files_only(cli, project):
    root, files = project
    by_format = {f.suffix: f for f in files if ".step." not in f.name}
    args = [str(by_format[".onnx"]), str(by_format[".ort"]), "--max-size-kb", "ort=0.01"]
    proc = check(cli, root, *args, "--json")
    assert proc.returncode == 1, proc.stderr
    broken = json.loads(proc.stdout)["broken"]
    assert [(b["artifact"].rsplit(".", 1)[1], b["budget"]) for b in broken] == [
        ("ort", "--max-size-kb ort=0.01")
    ]
    assert "--max-size-kb ort=0.01" in proc.stderr
