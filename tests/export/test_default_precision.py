"""`edgegru export` of a quantized bundle writes that bundle's own precision unless asked."""

from __future__ import annotations

import json

from edgegru.bundle import save_bundle
from edgegru.quantize import quantize_
from edgegru.quantize.config import QuantizeConfig
from tests.targets import artifacts as A


def test_quantized_bundle_exports_its_own_precision(cli, tmp_path):
    float_bundle = A.bundle()
    save_bundle(float_bundle, tmp_path / "float")
    dyn = quantize_(A.bundle(), QuantizeConfig(scheme="dynamic"))
    save_bundle(dyn, tmp_path / "dyn")

    def exported(model, *extra):
        out = tmp_path / f"out-{model}-{len(extra)}"
        proc = cli("export", str(tmp_path / model), "--streaming", "-o", str(out), "--json",
                   *extra)  # fmt: skip
        assert proc.returncode == 0, proc.stderr
        return [(a["path"].rsplit("/", 1)[-1], a["precision"]) for a in json.loads(proc.stdout)]

    assert exported("float") == [("model.step.onnx", "float32")]
    assert exported("dyn") == [("model.step.dynint8.onnx", "int8-dynamic")]
    assert exported("dyn", "--precision", "float32") == [("model.step.onnx", "float32")]
