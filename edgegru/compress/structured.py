"""Structured pruning: remove whole hidden units, leaving a genuinely smaller dense model.

A unit j of layer k touches: its rows in every gate block of W_ih and W_hh and of the biases,
its column of W_hh (what the other units read from it), its peephole entries, and its column in
the next layer's W_ih or, for the top layer, in the head. Its importance is a norm over all of
them. Removing it deletes those rows and columns, so H shrinks and every exported file with it.

Exact by construction: a unit whose rows are all zero stays at h = c = 0 from the zero initial
state (GRU: n = tanh(0) = 0 and h' = z h = 0; LSTM/peephole: g = 0 so c' = f c = 0 and
h' = o tanh(0) = 0), so it feeds nothing; the pruned model computes exactly what the original
computes with those units zeroed (``zero_units``; tested).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from edgegru.errors import BadInput
from edgegru.registry import Registry
from edgegru.types import Bundle, Dataset, ModelSpec

if TYPE_CHECKING:
    from edgegru.compress.prune import FinetuneSetup

# name -> f(groups) -> [H] scores, where each group is [n, H]: the weights touching each unit
# along the last axis.
IMPORTANCE: Registry[Callable[[list[np.ndarray]], np.ndarray]] = Registry("importance criterion")


@IMPORTANCE.register("l2")
def _l2(groups: list[np.ndarray]) -> np.ndarray:
    return np.sqrt(sum((g.astype(np.float64) ** 2).sum(axis=0) for g in groups))


@IMPORTANCE.register("l1")
def _l1(groups: list[np.ndarray]) -> np.ndarray:
    return sum(np.abs(g.astype(np.float64)).sum(axis=0) for g in groups)


@dataclass
class StructuredPruneConfig:
    """Prune to ``hidden_size`` units, or to the largest H within ``max_params`` parameters, in
    ``steps`` rounds of prune -> fine-tune (``finetune_epochs`` each; 0: prune only)."""

    hidden_size: int | None = None
    max_params: int | None = None
    importance: str = "l2"
    steps: int = 3
    finetune_epochs: int = 8

    scheme = "structured"  # class attribute, not a field: the key in compress.PRUNERS

    def __post_init__(self) -> None:
        if (self.hidden_size is None) == (self.max_params is None):
            raise ValueError("give exactly one of hidden_size and max_params")
        for name in ("hidden_size", "max_params"):
            v = getattr(self, name)
            if v is not None and (not isinstance(v, int) or isinstance(v, bool) or v < 1):
                raise ValueError(f"{name} must be a positive integer, got {v!r}")
        if self.importance not in IMPORTANCE:
            known = ", ".join(IMPORTANCE.names())
            raise ValueError(f"unknown importance {self.importance!r} (known: {known})")
        if self.steps < 1:
            raise ValueError("steps must be >= 1")
        if self.finetune_epochs < 0:
            raise ValueError("finetune_epochs must be >= 0")

    def to_json(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @staticmethod
    def from_json(data: dict[str, Any]) -> StructuredPruneConfig:
        return StructuredPruneConfig(**data)


def target_hidden(spec: ModelSpec, cfg: StructuredPruneConfig) -> int:
    """The hidden size the config asks of this model; BadInput when it cannot be met."""
    if cfg.hidden_size is not None:
        if cfg.hidden_size > spec.hidden_size:
            raise BadInput(
                f"hidden size {cfg.hidden_size} is larger than the model's {spec.hidden_size} units"
            )
        return cfg.hidden_size
    assert cfg.max_params is not None
    fits = [
        h
        for h in range(1, spec.hidden_size + 1)
        if dataclasses.replace(spec, hidden_size=h).num_parameters() <= cfg.max_params
    ]
    if not fits:
        smallest = dataclasses.replace(spec, hidden_size=1).num_parameters()
        raise BadInput(
            f"a budget of {cfg.max_params} parameters is below the smallest model of this shape "
            f"({smallest} parameters at 1 hidden unit)"
        )
    return fits[-1]


def schedule(start: int, target: int, steps: int) -> list[int]:
    """Hidden sizes after each round, geometric from start to target (each a real reduction)."""
    sizes = [round(start * (target / start) ** (s / steps)) for s in range(1, steps + 1)]
    sizes[-1] = target
    out: list[int] = []
    for h in sizes:
        if h < (out[-1] if out else start):
            out.append(h)
    return out or [target]


def _gate_rows(spec: ModelSpec, units: np.ndarray) -> np.ndarray:
    """Row indices of ``units`` in every gate block of a [G*H, *] tensor, gate-major."""
    return (np.arange(spec.gates)[:, None] * spec.hidden_size + units[None, :]).ravel()


def touching_weights(bundle: Bundle, layer: int) -> list[np.ndarray]:
    """Every weight touching each unit of ``layer``, as groups [n, H] (units on the last axis)."""
    spec, w = bundle.spec, bundle.weights
    G, H = spec.gates, spec.hidden_size

    def rows(t: np.ndarray) -> np.ndarray:  # [G*H, C] -> [G*C, H]: unit j's rows in all gates
        return t.reshape(G, H, -1).transpose(0, 2, 1).reshape(-1, H)

    W_ih, W_hh = w[f"rnn.weight_ih_l{layer}"], w[f"rnn.weight_hh_l{layer}"]
    groups = [rows(W_ih), rows(W_hh), W_hh]  # W_hh [G*H, H] columns: what others read from j
    if spec.bias:
        groups += [
            w[f"rnn.bias_ih_l{layer}"].reshape(G, H),
            w[f"rnn.bias_hh_l{layer}"].reshape(G, H),
        ]
    groups += [w[f"rnn.{t.name}_l{layer}"] for t in spec.cell_spec.unit_tensors]  # [rows, H]
    if layer + 1 < spec.num_layers:
        groups.append(w[f"rnn.weight_ih_l{layer + 1}"])  # [G*H, H] columns
    else:
        groups.append(w["head.weight"])  # [O, H] columns
    return groups


def select_units(bundle: Bundle, hidden_size: int, importance: str = "l2") -> list[np.ndarray]:
    """Per layer, the sorted indices of the ``hidden_size`` most important units."""
    score = IMPORTANCE.get(importance)
    keep = []
    for k in range(bundle.spec.num_layers):
        s = score(touching_weights(bundle, k))
        order = np.argsort(-s, kind="stable")  # ties keep the lower index
        keep.append(np.sort(order[:hidden_size]))
    return keep


def remove_units(bundle: Bundle, keep: list[np.ndarray]) -> Bundle:
    """A new, smaller bundle holding only the ``keep`` units of each layer (same order)."""
    spec, w = bundle.spec, bundle.weights
    sizes = {len(k) for k in keep}
    if len(keep) != spec.num_layers or len(sizes) != 1:
        raise ValueError("keep one index array per layer, all of one length")
    new_spec = dataclasses.replace(spec, hidden_size=sizes.pop())
    out: dict[str, np.ndarray] = {}
    for k, units in enumerate(keep):
        rows = _gate_rows(spec, units)  # [G*H']
        W_ih = w[f"rnn.weight_ih_l{k}"][rows]  # [G*H', I]
        if k > 0:
            W_ih = W_ih[:, keep[k - 1]]  # [G*H', H'] the layer below lost units too
        out[f"rnn.weight_ih_l{k}"] = W_ih
        out[f"rnn.weight_hh_l{k}"] = w[f"rnn.weight_hh_l{k}"][rows][:, units]  # [G*H', H']
        if spec.bias:
            out[f"rnn.bias_ih_l{k}"] = w[f"rnn.bias_ih_l{k}"][rows]  # [G*H']
            out[f"rnn.bias_hh_l{k}"] = w[f"rnn.bias_hh_l{k}"][rows]
        for t in spec.cell_spec.unit_tensors:  # e.g. the peepholes [3, H']
            out[f"rnn.{t.name}_l{k}"] = w[f"rnn.{t.name}_l{k}"][:, units]
    out["head.weight"] = w["head.weight"][:, keep[-1]]  # [O, H']
    out["head.bias"] = w["head.bias"]
    out = {n: np.ascontiguousarray(v, dtype=np.float32) for n, v in out.items()}
    return Bundle(new_spec, out, dict(bundle.provenance))


def zero_units(bundle: Bundle, drop: list[np.ndarray]) -> Bundle:
    """The same-size bundle with the ``drop`` units of each layer silenced: their rows and
    peepholes zeroed (so they stay 0) and their outgoing columns zeroed (so they feed nothing).
    What ``remove_units`` of the complement computes, in the original shape."""
    spec = bundle.spec
    w = {n: v.copy() for n, v in bundle.weights.items()}
    for k, units in enumerate(drop):
        rows = _gate_rows(spec, units)
        for name in ("weight_ih", "weight_hh", "bias_ih", "bias_hh"):
            if f"rnn.{name}_l{k}" in w:
                w[f"rnn.{name}_l{k}"][rows] = 0.0
        w[f"rnn.weight_hh_l{k}"][:, units] = 0.0
        for t in spec.cell_spec.unit_tensors:
            w[f"rnn.{t.name}_l{k}"][:, units] = 0.0
        nxt = f"rnn.weight_ih_l{k + 1}" if k + 1 < spec.num_layers else "head.weight"
        w[nxt][:, units] = 0.0
    return Bundle(spec, w, dict(bundle.provenance))


def prune_units(bundle: Bundle, hidden_size: int, importance: str = "l2") -> Bundle:
    """One round without fine-tuning: keep the ``hidden_size`` most important units."""
    if hidden_size > bundle.spec.hidden_size:
        raise BadInput(
            f"hidden size {hidden_size} is larger than the model's {bundle.spec.hidden_size}"
        )
    return remove_units(bundle, select_units(bundle, hidden_size, importance))


def prune_structured(
    bundle: Bundle, cfg: StructuredPruneConfig, data: Dataset | None, setup: FinetuneSetup
) -> Bundle:
    """Iterative prune -> fine-tune down to the target; returns the new, smaller bundle."""
    target = target_hidden(bundle.spec, cfg)
    if cfg.finetune_epochs and data is None:
        raise BadInput("fine-tuning needs data: give a dataset or finetune_epochs=0")
    for h in schedule(bundle.spec.hidden_size, target, cfg.steps):
        bundle = prune_units(bundle, h, cfg.importance)
        if cfg.finetune_epochs:
            assert data is not None
            bundle = setup.finetune(bundle, data, cfg.finetune_epochs)
    return bundle
