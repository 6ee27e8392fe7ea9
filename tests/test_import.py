"""`edgegru import`: real nn.GRU / nn.LSTM classifiers' state_dicts predict identically (<= 1e-5:
the same float32 kernels run on both sides; the margin covers summation order only)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from safetensors.torch import save_file
from torch import nn

from edgegru.bundle import load_bundle
from edgegru.evaluate import predict
from edgegru.types import SequenceData


class Classifier(nn.Module):
    def __init__(self, kind: str, layers: int, bias: bool = True) -> None:
        super().__init__()
        rnn = nn.GRU if kind == "gru" else nn.LSTM
        self.encoder = rnn(5, 7, layers, batch_first=True, bias=bias)
        self.fc = nn.Linear(7, 3)

    def forward(self, x):
        out, _ = self.encoder(x)
        return self.fc(out[:, -1])


@pytest.mark.parametrize(
    ("kind", "layers", "bias", "fmt"),
    [
        ("gru", 1, True, "pt"),
        ("gru", 2, False, "safetensors"),
        ("lstm", 2, True, "pt"),
        ("lstm", 1, True, "safetensors"),
    ],
)
def test_import_predicts_like_the_original(cli, tmp_path, kind, layers, bias, fmt):
    torch.manual_seed(0)
    net = Classifier(kind, layers, bias).eval()
    path = tmp_path / f"sd.{fmt}"
    if fmt == "pt":
        torch.save(net.state_dict(), path)
    else:
        save_file(net.state_dict(), path)
    proc = cli("import", str(path), "--labels", "a,b,c", "-o", str(tmp_path / "m"))
    assert proc.returncode == 0, proc.stderr
    bundle = load_bundle(tmp_path / "m")
    assert (bundle.spec.cell, bundle.spec.num_layers, bundle.spec.bias) == (kind, layers, bias)
    assert bundle.spec.labels == ("a", "b", "c")
    X = np.random.default_rng(0).standard_normal((4, 9, 5)).astype(np.float32)
    with torch.no_grad():
        want = net(torch.from_numpy(X)).numpy()
    got = predict(bundle, SequenceData(X, np.zeros(4, np.int64)))
    np.testing.assert_allclose(got, want, atol=1e-5)


def test_import_with_normalization_from_data(cli, tmp_path):
    torch.manual_seed(1)
    net = Classifier("gru", 1).eval()
    torch.save(net.state_dict(), tmp_path / "sd.pt")
    X = (np.random.default_rng(0).standard_normal((10, 9, 5)) * 3 + 2).astype(np.float32)
    np.savez(tmp_path / "d.npz", X=X, y=np.arange(10) % 3)
    proc = cli(
        "import",
        str(tmp_path / "sd.pt"),
        "--norm-from",
        str(tmp_path / "d.npz"),
        "-o",
        str(tmp_path / "m"),
    )
    assert proc.returncode == 0, proc.stderr
    bundle = load_bundle(tmp_path / "m")
    mean = np.array(bundle.spec.normalization.mean, np.float32)
    std = np.array(bundle.spec.normalization.std, np.float32)
    with torch.no_grad():
        want = net(torch.from_numpy((X - mean) / std)).numpy()
    np.testing.assert_allclose(
        predict(bundle, SequenceData(X, np.zeros(10, np.int64))), want, atol=1e-5
    )


def test_whole_module_pickle_is_refused(cli, tmp_path):
    torch.save(Classifier("gru", 1), tmp_path / "module.pt")
    proc = cli("import", str(tmp_path / "module.pt"), "-o", str(tmp_path / "m"))
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert "state_dict" in proc.stderr
    assert not (tmp_path / "m").exists()


def test_bidirectional_is_refused(cli, tmp_path):
    sd = {
        **nn.GRU(3, 4, bidirectional=True).state_dict(),
        **{f"fc.{k}": v for k, v in nn.Linear(8, 2).state_dict().items()},
    }
    torch.save(sd, tmp_path / "bi.pt")
    proc = cli("import", str(tmp_path / "bi.pt"), "-o", str(tmp_path / "m"))
    assert proc.returncode == 2 and "bidirectional" in proc.stderr


def test_import_with_the_models_own_normalization_file(cli, tmp_path):
    """--norm FILE.json: the mean/std the model was trained with, applied inside the bundle;
    `info` names it. A malformed or mis-sized file is one line, exit 2, nothing written."""
    import json

    torch.manual_seed(2)
    net = Classifier("gru", 1).eval()
    torch.save(net.state_dict(), tmp_path / "sd.pt")
    mean, std = [0.5, -1.0, 2.0, 0.0, 3.0], [2.0, 0.5, 1.0, 4.0, 1.5]
    (tmp_path / "norm.json").write_text(json.dumps({"mean": mean, "std": std}))
    proc = cli("import", str(tmp_path / "sd.pt"), "--norm", str(tmp_path / "norm.json"),
               "-o", str(tmp_path / "m"))  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    X = np.random.default_rng(1).standard_normal((4, 9, 5)).astype(np.float32) * 3
    with torch.no_grad():
        want = net(torch.from_numpy((X - np.float32(mean)) / np.float32(std))).numpy()
    got = predict(load_bundle(tmp_path / "m"), SequenceData(X, np.zeros(4, np.int64)))
    np.testing.assert_allclose(got, want, atol=1e-5)
    info = cli("info", str(tmp_path / "m"))
    assert "normalization: per-feature mean/std of 5 features, inside the model (given: " in (
        info.stdout
    )
    for bad, why in [({"mean": mean}, "expected"), ({"mean": mean[:3], "std": std[:3]},
                     "has 3 values per statistic, the model takes 5"),
                     ({"mean": mean, "std": [0.0] * 5}, "std must be > 0")]:  # fmt: skip
        (tmp_path / "bad.json").write_text(json.dumps(bad))
        proc = cli("import", str(tmp_path / "sd.pt"), "--norm", str(tmp_path / "bad.json"),
                   "-o", str(tmp_path / "n"))  # fmt: skip
        assert proc.returncode == 2 and why in proc.stderr, proc.stderr
        assert len(proc.stderr.strip().splitlines()) == 1 and not (tmp_path / "n").exists()
