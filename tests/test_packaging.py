"""The four source folders install as one namespace `edgegru` and import without side effects."""

from __future__ import annotations

import subprocess
import sys
import zipfile

import pytest
import tomllib

from tests.conftest import ROOT

SOURCE_FOLDERS = {
    "edgegru": "edgegru",
    "quantize": "edgegru.quantize",
    "export": "edgegru.export",
    "targets": "edgegru.targets",
}


def test_every_package_folder_is_listed_in_pyproject():
    listed = set(
        tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"]
    )
    found = set()
    for folder, name in SOURCE_FOLDERS.items():
        for init in (ROOT / folder).rglob("__init__.py"):
            rel = init.parent.relative_to(ROOT / folder).parts
            found.add(".".join((name, *rel)))
    assert found == listed, f"add to / remove from pyproject packages: {found ^ listed}"


@pytest.mark.slow
def test_wheel_holds_only_the_edgegru_namespace(tmp_path):
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "--no-build-isolation",
            "-q",
            "-w",
            str(tmp_path),
            str(ROOT),
        ],
        check=True,
    )
    (wheel,) = tmp_path.glob("edgegru-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    top = {n.split("/")[0] for n in names}
    assert {t for t in top if not t.endswith(".dist-info")} == {"edgegru"}, top
    for must in (
        "edgegru/export/__init__.py",
        "edgegru/quantize/__init__.py",
        "edgegru/targets/__init__.py",
        "edgegru/py.typed",
        "edgegru/datasets/data/watch.npz",
        "edgegru/datasets/data/LICENSES.md",
    ):
        assert must in names, must
    assert not any(n.startswith(("tests/", "bench/")) for n in names)


@pytest.mark.parametrize(
    "module",
    [
        "edgegru",
        "edgegru.types",
        "edgegru.bundle",
        "edgegru.datasets",
        "edgegru.cli",
        "edgegru.compress",
        "edgegru.pipeline.config",
        "edgegru.export",
        "edgegru.quantize",
        "edgegru.targets",
    ],
)
def test_import_does_not_pull_torch(module):
    code = f"import sys, {module}; assert 'torch' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True)
