"""A small helper around ``onnx.helper``: unique names, initializers, nodes, the final model.

Also the parts both forms share: the normalization in front of the first layer and the metadata.
"""

from __future__ import annotations

import json
from typing import Any

import numpy as np

from edgegru import __version__
from edgegru.bundle import weights_sha256
from edgegru.export.onnx.cells import LayerOp
from edgegru.types import Bundle, ModelSpec, TensorInfo

# Opset 17 / IR 8: every op used here has had its current form since opset 14-15, and ONNX
# Runtime (Mobile) >= 1.13 runs it, which keeps older device runtimes usable.
OPSET = 17
IR_VERSION = 8

# Folding the normalization into W and B rounds differently from (x - mean) / std: the folded
# bias B' = B - W @ (mean / std) cancels against W' @ x, so the float32 error grows with
# |mean| / std. Measured against the float64 reference (3 cells, H 16, T 30, weights of scale
# 0.5), max |error| folded vs Sub+Mul nodes: ratio 1: 8e-7 vs 3e-7; 4: 1.5e-6 vs 7e-7;
# 8: 2.8e-6 vs 2.6e-6; 16: 7.6e-6 vs 3.5e-6; 64: 3.1e-5 vs 1.3e-5. Up to 8 the fold is as exact
# as the nodes (the shipped datasets have ratios <= 1.8) and saves two nodes; above it Sub and Mul
# nodes apply the normalization first, as the PyTorch model does.
FOLD_MAX_MEAN_OVER_STD = 8.0


class Graph:
    """Collects nodes and initializers; names every tensor once."""

    def __init__(self) -> None:
        self.nodes: list[Any] = []
        self.initializers: list[Any] = []
        self._names: set[str] = set()
        self._shared: dict[tuple[str, bytes], str] = {}

    def name(self, base: str) -> str:
        name, i = base, 1
        while name in self._names:
            name, i = f"{base}_{i}", i + 1
        self._names.add(name)
        return name

    def reserve(self, *names: str) -> None:
        """Graph input/output names, so no internal tensor takes them."""
        self._names.update(names)

    def const(self, base: str, value: np.ndarray) -> str:
        from onnx import numpy_helper

        name = self.name(base)
        self.initializers.append(numpy_helper.from_array(np.ascontiguousarray(value), name))
        return name

    def axes(self, *values: int) -> str:
        """An int64 axes constant, shared by every node that needs the same axes."""
        key = ("axes", np.asarray(values, np.int64).tobytes())
        if key not in self._shared:
            name = "axes_" + "_".join(str(v) for v in values)
            self._shared[key] = self.const(name, np.asarray(values, np.int64))
        return self._shared[key]

    def node(
        self,
        op_type: str,
        inputs: list[str],
        outputs: list[str] | None = None,
        name: str | None = None,
        **attributes: Any,
    ) -> list[str]:
        """Add a node; outputs default to one fresh tensor named after the node."""
        from onnx import helper

        node_name = self.name(name or op_type.lower())
        outputs = outputs if outputs is not None else [node_name]
        self.nodes.append(helper.make_node(op_type, inputs, outputs, node_name, **attributes))
        return outputs


def normalization_plan(spec: ModelSpec, precision: str = "float32") -> str:
    """ "none" (identity), "folded" (into the first layer's W and B) or "nodes" (Sub, Mul).
    int8 weights are never folded: they stay exactly the bundle's int8 weights."""
    norm = spec.normalization
    if norm is None or (not any(norm.mean) and all(s == 1.0 for s in norm.std)):
        return "none"
    if precision != "float32":
        return "nodes"
    ratio = np.abs(np.asarray(norm.mean)) / np.asarray(norm.std)
    return "folded" if float(ratio.max()) <= FOLD_MAX_MEAN_OVER_STD else "nodes"


def fold_normalization(spec: ModelSpec, layer: LayerOp) -> LayerOp:
    """x_n = (x - mean) / std folded exactly (in float64) into the first layer:
    W' = W / std, Wb' = Wb - W @ (mean / std)."""
    norm = spec.normalization
    assert norm is not None
    mean, std = np.asarray(norm.mean, np.float64), np.asarray(norm.std, np.float64)
    W = layer.W[0].astype(np.float64)  # [G*H, I]
    gh = W.shape[0]
    B = np.zeros(2 * gh) if layer.B is None else layer.B[0].astype(np.float64)  # [2*G*H]
    B[:gh] -= W @ (mean / std)  # Wb' lives in the first half of B (ONNX: B = [Wb, Rb])
    layer.W = (W / std[None, :]).astype(np.float32)[None]  # [1, G*H, I]
    layer.B = B.astype(np.float32)[None]  # [1, 2*G*H]
    return layer


def normalize_nodes(g: Graph, spec: ModelSpec, x: str) -> str:
    """(x - mean) * (1 / std) as the first nodes, broadcast over the last axis."""
    norm = spec.normalization
    assert norm is not None
    mean = np.asarray(norm.mean, np.float32)  # [F]
    inv_std = (1.0 / np.asarray(norm.std, np.float64)).astype(np.float32)  # [F]
    (centred,) = g.node("Sub", [x, g.const("norm_mean", mean)], name="normalize_sub")
    (scaled,) = g.node("Mul", [centred, g.const("norm_inv_std", inv_std)], name="normalize_mul")
    return scaled


def metadata(bundle: Bundle, form: str, extra: dict[str, Any]) -> dict[str, str]:
    """metadata_props: what a device needs to use the model without its bundle
    (docs/architecture.md#artifacts).

    The normalization is the raw-input one, already inside the graph ("applied": folded into the
    first layer's W and B, or by Sub and Mul nodes); a caller feeds raw x.
    """
    spec = bundle.spec
    norm = spec.normalization
    extra = dict(extra)
    applied = extra.pop("normalization")
    props = {
        "edgegru_version": __version__,
        "source_sha256": weights_sha256(bundle),
        "form": form,
        "task": spec.task,
        "labels": json.dumps(list(spec.labels)),
        "normalization": json.dumps(
            None
            if norm is None
            else {"mean": list(norm.mean), "std": list(norm.std), "applied": applied}
        ),
        "spec": json.dumps(spec.to_json(), sort_keys=True),
    }
    props.update({k: json.dumps(v, sort_keys=True) for k, v in extra.items()})
    return props


def value_info(info: TensorInfo) -> Any:
    from onnx import TensorProto, helper

    dtype = {"float32": TensorProto.FLOAT, "int32": TensorProto.INT32}[info.dtype]
    return helper.make_tensor_value_info(info.name, dtype, list(info.shape))


def make_model(
    g: Graph,
    name: str,
    inputs: tuple[TensorInfo, ...],
    outputs: tuple[TensorInfo, ...],
    props: dict[str, str],
) -> Any:
    """The ModelProto, checked with onnx.checker's full check (shape inference included)."""
    import onnx
    from onnx import helper

    graph = helper.make_graph(
        g.nodes,
        name,
        [value_info(t) for t in inputs],
        [value_info(t) for t in outputs],
        initializer=g.initializers,
    )
    model = helper.make_model(
        graph,
        producer_name="edgegru",
        producer_version=__version__,
        opset_imports=[helper.make_opsetid("", OPSET)],
        ir_version=IR_VERSION,
    )
    helper.set_model_props(model, props)
    onnx.checker.check_model(model, full_check=True)
    return model


def details(model: Any, forms_extra: dict[str, Any]) -> dict[str, Any]:
    """Manifest details: opset, node count and op types."""
    ops: dict[str, int] = {}
    for n in model.graph.node:
        ops[n.op_type] = ops.get(n.op_type, 0) + 1
    return {
        "opset": OPSET,
        "ir_version": IR_VERSION,
        "nodes": len(model.graph.node),
        "op_types": dict(sorted(ops.items())),
        **forms_extra,
    }
