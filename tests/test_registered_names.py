"""The names the CLI and the pipeline accept are the registries' (edgegru/names.py): every
registered cell, quantization scheme and export format is accepted by both, anything else is
refused by both; and each cell description has every piece a cell needs."""

from __future__ import annotations

import click
import pytest

from edgegru import names
from edgegru.cellspec import CELL_SPECS, UnitTensor, cell_spec
from edgegru.cli import distill_cmd, export_cmd, quantize_cmd, train_cmd
from edgegru.errors import BadInput
from edgegru.pipeline.config import PipelineConfig
from edgegru.types import FORMATS, QUANT_SCHEMES, ModelSpec
from tests.conftest import assert_one_line_error

# (what, the CLI option holding the names, the pipeline section and key taking one of them)
OPTIONS = [
    ("cells", train_cmd.command, "cell", {"train": {"cell": "{}"}}),
    ("cells", distill_cmd.command, "cell", {"compress": {"method": "distill", "cell": "{}"}}),
    ("quant_schemes", quantize_cmd.command, "scheme", {"quantize": {"schemes": ["{}"]}}),
    ("export_formats", export_cmd.command, "formats", {"export": {"formats": ["{}"]}}),
]
UNREGISTERED = "rnn8"


def _option(command: click.Command, name: str) -> click.Parameter:
    return next(p for p in command.params if p.name == name)


def _section(template: dict, value: str) -> dict:
    def fill(v):
        return value if v == "{}" else [fill(x) for x in v] if isinstance(v, list) else v

    return {s: {k: fill(v) for k, v in keys.items()} for s, keys in template.items()}


@pytest.mark.parametrize(("what", "command", "option", "section"), OPTIONS)
def test_cli_and_pipeline_accept_exactly_the_registered_names(what, command, option, section):
    registered = getattr(names, what)()
    opt = _option(command, option)
    assert tuple(opt.type.choices) == registered
    for name in registered:
        assert opt.type.convert(name, opt, None) == name
        PipelineConfig.from_json(_section(section, name))
    with pytest.raises(click.BadParameter):
        opt.type.convert(UNREGISTERED, opt, None)
    with pytest.raises(BadInput):
        PipelineConfig.from_json(_section(section, UNREGISTERED))


def test_a_newly_registered_format_is_offered_by_the_cli_and_the_pipeline(monkeypatch):
    from edgegru.export import EXPORTERS

    opt = _option(export_cmd.command, "formats")
    section = {"export": {"formats": ["npy"]}}
    with pytest.raises(BadInput):
        PipelineConfig.from_json(section)
    names.export_formats()  # the real writers first, then one more
    monkeypatch.setitem(EXPORTERS._entries, "npy", lambda *a: None)
    assert opt.type.convert("npy", opt, None) == "npy"
    assert PipelineConfig.from_json(section).export.formats == ["npy"]


@pytest.mark.parametrize(
    "args",
    [
        ("train", "--dataset", "watch", "--cell", UNREGISTERED, "-o", "out"),
        ("export", "model", "--format", UNREGISTERED, "-o", "out"),
        ("quantize", "model", "--scheme", UNREGISTERED, "-o", "out"),
    ],
)
def test_cli_refuses_an_unregistered_name(cli, tmp_path, args):
    proc = cli(*args, cwd=tmp_path)
    assert_one_line_error(proc, UNREGISTERED)
    assert not (tmp_path / "out").exists()


def test_the_light_name_lists_equal_the_registries():
    """types.py keeps the format and scheme names for reading manifests and bundles on the
    device side (which imports neither export nor quantize): they must be the registries'."""
    # as sets: the registration order follows which module a process imported first
    assert set(names.export_formats()) == set(FORMATS)
    assert set(names.quant_schemes()) == set(QUANT_SCHEMES)


def test_every_cell_description_has_every_piece_of_a_cell():
    from edgegru.cells import CELLS
    from edgegru.export.onnx.cells import ONNX_CELLS
    from edgegru.export.tflite.lowerings import load, load_int8
    from edgegru.reference import STEPS

    described = set(names.cells())
    assert described == set(CELL_SPECS.names())
    for registry in (CELLS, STEPS, ONNX_CELLS, load()):
        assert set(registry.names()) == described, registry.kind
    assert set(load_int8().names()) == {c for c in described if cell_spec(c).int8 is not None}


@pytest.mark.parametrize("cell", names.cells())
def test_the_description_is_what_the_model_holds(cell):
    """The torch stack's parameters and states are the ones the description names."""
    from edgegru.model import model_from_bundle
    from edgegru.reference import random_weights
    from edgegru.types import Bundle

    spec = ModelSpec(cell, 3, 4, 2, num_layers=2)
    c = spec.cell_spec
    assert spec.gates == len(c.gates) and spec.state_names == c.states
    model = model_from_bundle(Bundle(spec, random_weights(spec)))
    params = {n: tuple(p.shape) for n, p in model.state_dict().items() if not n.startswith("norm")}
    assert params == spec.weight_shapes()
    assert all(isinstance(t, UnitTensor) and f"rnn.{t.name}_l1" in params for t in c.unit_tensors)
    assert tuple(model.rnn.zero_state(1)) == c.states


def _members(protocol: type) -> set[str]:
    return set(protocol.__annotations__) | {
        n for n, v in vars(protocol).items() if callable(v) and not n.startswith("_")
    }


def test_every_int8_lowering_is_an_int8_lowering():
    from edgegru.export.tflite.lowerings import Int8Lowering, load_int8
    from edgegru.export.tflite.lowerings.lstm_lowered_int8 import LOWERINGS as LOWERED

    lowerings = {cell: load_int8().get(cell) for cell in load_int8()}
    lowerings |= {f"lowered-{k}": lowering for k, lowering in LOWERED.items()}
    for name, lowering in lowerings.items():
        assert all(hasattr(lowering, m) for m in _members(Int8Lowering)), name
        assert lowering.layouts and isinstance(lowering.float_states, bool), name
        assert lowering.float_states or "h" in lowering.state_points, name


def test_the_training_loop_offers_the_hooks_every_trainer_member():
    """A regression run: y_mean and y_std exist only there."""
    from edgegru.datasets import load_dataset
    from edgegru.train import TrainConfig, Trainer, _Trainer

    ds = load_dataset("sunspots")
    run = _Trainer(ModelSpec("gru", ds.num_features, 3, ds.num_outputs, task=ds.task), ds,
                   TrainConfig(), None)  # fmt: skip
    assert all(hasattr(run, m) for m in _members(Trainer))
