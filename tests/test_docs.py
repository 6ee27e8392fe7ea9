"""The documentation keeps up with the code: docs/extending.md's "files to touch" table names
files and guard tests that exist, docs/performance.md is what bench/results gives, the README
stays short and its links resolve, and no file points to a document outside the repository."""

from __future__ import annotations

import re
import subprocess
import sys

import pytest

from tests.conftest import ROOT

DOCS = ROOT / "docs"
README_MAX_LINES = 250


def _table_rows(text: str, header: str) -> list[list[str]]:
    """The body rows of the Markdown table whose header row starts with ``header``."""
    lines = text.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith(f"| {header} |"))
    rows = []
    for line in lines[start + 2 :]:
        if not line.startswith("|"):
            break
        rows.append([cell.strip() for cell in line.strip("|").split(" | ")])
    return rows


def _code_spans(cell: str) -> list[str]:
    return re.findall(r"`([^`]+)`", cell)


def _extending_rows() -> list[list[str]]:
    return _table_rows((DOCS / "extending.md").read_text(), "extension")


def test_extending_table_covers_every_extension_point():
    names = [row[0] for row in _extending_rows()]
    assert names == [
        "a cell", "an ONNX lowering", "a TFLite lowering", "an int8 lowering",
        "a quantization scheme", "an export format", "a target", "a dataset",
    ]  # fmt: skip


@pytest.mark.parametrize("row", _extending_rows(), ids=lambda r: r[0])
def test_extending_table_names_files_that_exist(row):
    """A path with ``<name>`` is a new module: existing modules match it with ``*`` for it."""
    paths = [p for p in _code_spans(row[1]) if "/" in p or p.endswith(".toml")]
    assert paths, row[0]
    missing = []
    for path in paths:
        if "<name>" in path:
            if not list(ROOT.glob(path.replace("<name>", "*"))):
                missing.append(path)
        elif not (ROOT / path).is_file():
            missing.append(path)
    assert not missing, f"{row[0]}: {missing}"


@pytest.mark.parametrize("row", _extending_rows(), ids=lambda r: r[0])
def test_extending_table_names_guard_tests_that_exist(row):
    guards = _code_spans(row[2])
    assert guards, row[0]
    for guard in guards:
        path, _, name = guard.partition("::")
        assert path.startswith("tests/") and (ROOT / path).is_file(), guard
        if name:
            assert re.search(rf"^def {re.escape(name)}\(", (ROOT / path).read_text(), re.M), guard


def test_performance_page_is_generated_from_the_bench_results():
    from bench import docs

    assert (DOCS / "performance.md").read_text() == docs.render(), (
        "docs/performance.md is stale: run `python -m bench.docs`"
    )


def test_readme_numbers_are_generated_from_the_bench_results():
    from bench import docs

    text = (ROOT / "README.md").read_text()
    assert text == docs.render_readme(text), (
        "README.md's generated lines are stale: run `python -m bench.docs`"
    )


def test_readme_is_short_and_its_local_links_resolve():
    text = (ROOT / "README.md").read_text()
    assert len(text.splitlines()) <= README_MAX_LINES
    links = re.findall(r"\]\(([^)#\s]+)(?:#[^)]*)?\)", text)
    local = [link for link in links if "://" not in link]
    assert local
    missing = {link for link in local if not (ROOT / link).exists()}
    assert not missing, sorted(missing)


@pytest.mark.slow
def test_readme_python_example_runs(tmp_path):
    """The README's Python API example, as written (5 epochs on `watch`, ~40 s on 2 cores)."""
    text = (ROOT / "README.md").read_text()
    (code,) = re.findall(r"```python\n(.*?)```", text, re.S)
    proc = subprocess.run(
        [sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, timeout=600,
        check=False,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "float accuracy" in proc.stdout
    names = {p.name for p in (tmp_path / "runs" / "api" / "export").iterdir()}
    assert {"model.onnx", "model.tflite", "model.int8.tflite", "model.int8.tflite.json"} <= names


def _anchors(page) -> set[str]:
    """GitHub's heading anchors: lower case, punctuation dropped, spaces to hyphens."""
    text = re.sub(r"```.*?```", "", page.read_text(), flags=re.S)
    return {
        re.sub(r"[^\w\- ]", "", h.strip().lower()).replace(" ", "-")
        for h in re.findall(r"^#+ (.+)$", text, re.M)
    }


def test_docs_links_and_anchors_resolve():
    for page in [ROOT / "README.md", *DOCS.glob("*.md")]:
        for link, anchor in re.findall(r"\]\(([^)#\s]*)(?:#([^)]*))?\)", page.read_text()):
            if "://" in link:
                continue
            target = page.parent / link if link else page
            assert target.exists(), f"{page.name}: {link}"
            if anchor:
                assert anchor in _anchors(target), f"{page.name}: {link}#{anchor}"


def test_no_file_refers_to_a_document_outside_the_repository():
    tracked = subprocess.run(
        ["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout.split()
    outside = ("DESIGN" + ".md", "MEASUREMENTS" + ".md", "../" + "shared")
    found = []
    for name in tracked:
        path = ROOT / name
        if path.suffix in (".npz", ".png") or not path.is_file():
            continue
        text = path.read_text(errors="replace")
        found += [f"{name}: {ref}" for ref in outside if ref in text]
        if not name.startswith("tests/targets/data/"):  # other projects' trackers, cited there
            found += [f"{name}: {m}" for m in re.findall(r"(?i)\bissue \d+", text)]
    assert not found, f"{len(found)} references, e.g. {found[:5]}"
