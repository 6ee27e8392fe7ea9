"""The local target: the shared copy-run-remove path with awkward file names."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np

from edgegru.targets import make_target
from edgegru.targets.config import RunConfig

AWKWARD = 'it\'s a "model"; rm -rf x $(id) `id` & name.onnx'


def copy_as(src: Path, folder: Path, name: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    dst = folder / name
    shutil.copyfile(src, dst)
    shutil.copyfile(src.with_name(src.name + ".json"), dst.with_name(dst.name + ".json"))
    return dst


def test_local_runs_awkward_names_and_leaves_nothing(built, tmp_path):
    path = copy_as(built.files[("onnx", "sequence")], tmp_path / "a dir; with 'quotes'", AWKWARD)
    data = Path(shutil.copyfile(built.data, tmp_path / "my data (1).npz"))
    target = make_target("local")
    with target:
        r = target.run(path, path.with_name(path.name + ".json"), data, RunConfig(runs=5))
    assert np.abs(np.array(r["outputs"]) - built.reference).max() < 1e-5
    assert target.remote_dirs and not any(Path(d).exists() for d in target.remote_dirs)
