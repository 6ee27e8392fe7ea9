"""Import a model trained elsewhere: a PyTorch ``state_dict`` of an ``nn.GRU`` or ``nn.LSTM`` plus
an ``nn.Linear`` head, from ``.safetensors`` or ``.pt`` (``torch.load(weights_only=True)``: never
unpickle arbitrary objects).

Shapes give the input size, hidden size, layers, cell (3H rows: GRU, 4H: LSTM) and outputs; the
head kind, task, labels and normalization come from the caller (``ImportConfig``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from edgegru.cellspec import cell_names, cell_spec
from edgegru.errors import BadInput
from edgegru.types import Bundle, ModelSpec, Normalization

_RNN_KEY = re.compile(r"^(?P<prefix>.*?)weight_ih_l(?P<k>\d+)(?P<rev>_reverse)?$")


@dataclass
class ImportConfig:
    head: str = "last"
    task: str = "classification"
    labels: tuple[str, ...] = ()
    normalization: Normalization | None = None
    rnn_prefix: str | None = None  # e.g. "gru."; found automatically when there is one RNN
    head_prefix: str | None = None  # e.g. "fc."; found automatically when there is one Linear
    provenance: dict = field(default_factory=dict)


def read_state_dict(path: str | Path) -> dict[str, np.ndarray]:
    path = Path(path)
    if not path.is_file():
        raise BadInput(f"{path} does not exist")
    import torch

    if path.suffix == ".safetensors":
        from safetensors import SafetensorError
        from safetensors.torch import load

        try:
            obj = load(path.read_bytes())  # torch's loader: it reads bfloat16 too
        except (SafetensorError, ValueError, OSError) as e:
            raise BadInput(f"{path}: cannot read safetensors ({e})") from None
    else:
        import pickle

        try:
            obj = torch.load(path, map_location="cpu", weights_only=True)
        except (pickle.UnpicklingError, RuntimeError, EOFError, OSError, ValueError) as e:
            first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
            raise BadInput(
                f"{path}: not a weights-only PyTorch state_dict ({first}); save "
                "model.state_dict() rather than the whole module"
            ) from None
        if isinstance(obj, dict) and isinstance(obj.get("state_dict"), dict):
            obj = obj["state_dict"]
    if not isinstance(obj, dict) or not all(isinstance(v, torch.Tensor) for v in obj.values()):
        raise BadInput(f"{path}: expected a state_dict (a mapping of names to tensors)")
    out: dict[str, np.ndarray] = {}
    for k, v in obj.items():
        if not isinstance(k, str):
            raise BadInput(f"{path}: state_dict key {k!r} is not a name (str)")
        if v.layout != torch.strided:
            raise BadInput(f"{path}: tensor {k} is {v.layout}; save dense tensors (.to_dense())")
        if v.is_complex():
            raise BadInput(f"{path}: tensor {k} is {v.dtype}; weights must be real numbers")
        # floating point of any width (bf16, fp16, fp64) -> float32; other dtypes stay as they
        # are, refused only if the model needs them (a BatchNorm's int counter is harmless)
        out[k] = (v.detach().to(torch.float32) if v.is_floating_point() else v.detach()).numpy()
    return out


def _find_prefix(keys: list[str], pattern: re.Pattern[str], what: str, given: str | None) -> str:
    prefixes = sorted({m.group("prefix") for k in keys if (m := pattern.match(k))})
    if given is not None:
        if given not in prefixes:
            raise BadInput(f"no {what} with prefix {given!r} (found: {prefixes or 'none'})")
        return given
    if len(prefixes) != 1:
        raise BadInput(
            f"found {len(prefixes)} {what}s ({prefixes}); name one with its prefix option"
        )
    return prefixes[0]


def bundle_from_state_dict(sd: dict[str, np.ndarray], cfg: ImportConfig) -> Bundle:
    keys = list(sd)
    if any(k.endswith("_reverse") for k in keys):
        raise BadInput("bidirectional RNNs are not supported (edge streaming needs a causal model)")
    if any(re.search(r"weight_hr_l\d+$", k) for k in keys):
        raise BadInput("LSTMs with proj_size are not supported")
    rp = _find_prefix(keys, _RNN_KEY, "recurrent layer", cfg.rnn_prefix)
    layers = 0
    while f"{rp}weight_ih_l{layers}" in sd:
        layers += 1
    for key in (f"{rp}weight_ih_l0", f"{rp}weight_hh_l0"):
        w = sd.get(key)
        if w is None:
            raise BadInput(f"missing {key}")
        if w.ndim != 2 or 0 in w.shape:
            raise BadInput(f"{key} has shape {w.shape}; expected a non-empty 2-D matrix")
    w_hh = sd[f"{rp}weight_hh_l0"]
    hidden = int(w_hh.shape[1])
    gates = w_hh.shape[0] // hidden
    # the cells PyTorch has a module for, told apart by their gate count
    by_gates = {len(c.gates): name for name in cell_names() if (c := cell_spec(name)).torch_module}
    cell = by_gates.get(gates if w_hh.shape[0] == gates * hidden else -1)
    if cell is None:
        raise BadInput(
            f"{rp}weight_hh_l0 has shape {w_hh.shape}: neither GRU (3H x H) nor LSTM (4H x H)"
        )
    input_size = int(sd[f"{rp}weight_ih_l0"].shape[1])
    bias = f"{rp}bias_ih_l0" in sd
    rnn_keys = {k for k in keys if k.startswith(rp) and re.search(r"_l\d+$", k)}
    linear = [
        k[: -len("weight")]
        for k in keys
        if k.endswith("weight")
        and k not in rnn_keys
        and sd[k].ndim == 2
        and sd[k].shape[1] == hidden
    ]
    if cfg.head_prefix is not None:
        linear = [p for p in linear if p == cfg.head_prefix]
    if len(linear) != 1:
        raise BadInput(
            f"expected one Linear head [outputs, {hidden}], found {len(linear)} ({linear}); "
            "name it with the head prefix option"
        )
    hp = linear[0]
    outputs = int(sd[f"{hp}weight"].shape[0])
    try:
        spec = ModelSpec(
            cell=cell,
            input_size=input_size,
            hidden_size=hidden,
            num_outputs=outputs,
            num_layers=layers,
            head=cfg.head,
            task=cfg.task,
            bias=bias,
            labels=tuple(cfg.labels),
            normalization=cfg.normalization,
        )
    except ValueError as e:
        raise BadInput(str(e)) from None
    weights: dict[str, np.ndarray] = {}
    for name in spec.weight_shapes():
        # rnn.X -> <rnn prefix>X, head.X -> <head prefix>X
        src = rp + name[4:] if name.startswith("rnn.") else hp + name[5:]
        if name == "head.bias" and src not in sd:
            weights[name] = np.zeros(outputs, np.float32)  # Linear(bias=False)
            continue
        if src not in sd:
            raise BadInput(f"state_dict has no {src}")
        if sd[src].dtype.kind != "f":
            raise BadInput(f"{src} is {sd[src].dtype}; expected floating-point weights")
        weights[name] = np.ascontiguousarray(sd[src], dtype=np.float32)
        if weights[name].shape != spec.weight_shapes()[name]:
            raise BadInput(
                f"{src} has shape {weights[name].shape}, expected {spec.weight_shapes()[name]}"
            )
    from edgegru.bundle import check_weights

    check_weights(spec, weights, "state_dict")
    return Bundle(spec=spec, weights=weights, provenance=dict(cfg.provenance))


def read_normalization(path: Path) -> Normalization:
    """A normalization file as users keep it beside a checkpoint: JSON ``{"mean": [...],
    "std": [...]}`` (one number per input feature); its length is checked against the model's
    input size when the spec is built."""
    import json

    try:
        data = json.loads(Path(path).read_text())
    except FileNotFoundError:
        raise BadInput(f"{path}: no such file") from None
    except (OSError, UnicodeDecodeError, ValueError) as e:
        raise BadInput(f"{path}: not a JSON file ({e})") from None
    if not isinstance(data, dict) or "mean" not in data or "std" not in data:
        raise BadInput(f'{path}: expected {{"mean": [...], "std": [...]}}, one value per feature')
    values = {}
    for key in ("mean", "std"):
        v = data[key]
        if not isinstance(v, list) or not v or not all(
            isinstance(x, int | float) and not isinstance(x, bool) for x in v
        ):
            raise BadInput(f"{path}: {key} must be a non-empty list of numbers")
        values[key] = tuple(float(x) for x in v)
    try:
        return Normalization(values["mean"], values["std"])
    except ValueError as e:
        raise BadInput(f"{path}: {e}") from None
