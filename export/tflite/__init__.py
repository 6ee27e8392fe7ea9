"""TFLite / LiteRT writer (docs/architecture.md#exporters): ``.tflite`` flatbuffers written from
the bundle's weights with the schema that ships with ``ai-edge-litert``, no TensorFlow.

- ``builder`` / ``reader``: the flatbuffer writer (a small state machine) and its reader;
- ``lowerings/``: one module per cell (GRU -> builtin ops in two layouts; LSTM and peephole
  LSTM -> the fused UNIDIRECTIONAL_SEQUENCE_LSTM; every cell's streaming step -> builtin ops);
- ``graph``: normalization, head, signature and metadata around a lowering; ``graph_int8``
  the same for full-integer models (``ops_int8``, ``lowerings/gru_int8``); ``hybrid``: the
  int8 weights of int8-dynamic files;
- ``runtime``: runs a file in LiteRT (tests, bench).

Options (``ExportConfig.options``): ``layout`` = unrolled | loop (GRU full sequence), fused |
lowered | unrolled (LSTM, peephole: ``lowerings/lstm_lowered.py``; int8-static:
``lowerings/lstm_lowered_int8.py``), ``steps_per_iteration`` (GRU loop).
"""

from __future__ import annotations

from pathlib import Path

from edgegru.errors import BadInput
from edgegru.export import EXPORTERS, ExportConfig, make_artifact
from edgegru.types import Artifact, Bundle

FORMAT = "tflite"
KNOWN_OPTIONS = ("layout", "steps_per_iteration")


def _check_options(bundle: Bundle, cfg: ExportConfig) -> dict:
    options = dict(cfg.options)
    unknown = sorted(set(options) - set(KNOWN_OPTIONS))
    if unknown:
        raise BadInput(
            f"unknown TFLite option(s) {', '.join(unknown)} (known: {', '.join(KNOWN_OPTIONS)})"
        )
    if "layout" in options:
        from edgegru.export.tflite.lowerings import load

        layouts = load().get(bundle.spec.cell).layouts
        if options["layout"] not in layouts:
            raise BadInput(
                f"layout {options['layout']!r} is not one of {bundle.spec.cell}'s TFLite "
                f"layouts ({', '.join(layouts)})"
            )
    if "steps_per_iteration" in options:
        try:
            options["steps_per_iteration"] = int(options["steps_per_iteration"])
            assert options["steps_per_iteration"] >= 1
        except (ValueError, AssertionError):
            raise BadInput("steps_per_iteration must be an integer >= 1") from None
    return options


def _check_static(bundle: Bundle) -> None:
    """Full integer needs calibrated activation ranges and a cell with an int8 lowering."""
    from edgegru.export.tflite.lowerings import load_int8

    if bundle.quant is None or not bundle.quant.is_static:
        raise BadInput(
            "int8-static export needs a calibrated model: run `edgegru quantize MODEL --scheme "
            "static` (or qat) first"
        )
    if bundle.spec.cell not in load_int8().names():
        raise BadInput(
            f"TFLite int8-static is not available for {bundle.spec.cell} models; "
            "use --precision int8-dynamic (hybrid kernels)"
        )


@EXPORTERS.register(FORMAT)
def write(bundle: Bundle, form: str, cfg: ExportConfig, path: Path) -> Artifact:
    from edgegru.bundle import weights_sha256
    from edgegru.export.tflite.graph import build_sequence, build_step
    from edgegru.io import atomic_write_bytes

    cfg = cfg.for_bundle(bundle)
    options = _check_options(bundle, cfg)
    lengths = cfg.resolved_lengths(bundle)
    source = weights_sha256(bundle)
    if cfg.precision == "int8-static":
        from edgegru.export.tflite.graph_int8 import build_sequence_int8, build_step_int8

        _check_static(bundle)
        if form == "step":
            built = build_step_int8(bundle, options, source)
        else:
            T = cfg.resolved_seq_len(bundle)
            built = build_sequence_int8(bundle, T, options, source, lengths)
    else:
        if cfg.precision == "int8-dynamic":
            options["weights"] = "int8"
        if form == "step":
            built = build_step(bundle, options, source)
        else:
            built = build_sequence(bundle, cfg.resolved_seq_len(bundle), options, source, lengths)
        if cfg.precision == "int8-dynamic":
            built.details["quantization"] = {
                "scheme": "dynamic",
                "weights": "int8 symmetric, per output channel (FULLY_CONNECTED) or per tensor "
                "(UNIDIRECTIONAL_SEQUENCE_LSTM, whose files keep the small head float32), of "
                "the normalization-folded weights",
                "activations": "float32; inputs quantized per call (asymmetric_quantize_inputs)",
            }
    atomic_write_bytes(path, built.data)
    return make_artifact(
        bundle, path, fmt=FORMAT, form=form, precision=cfg.precision,
        inputs=built.inputs, outputs=built.outputs, details=built.details,
    )  # fmt: skip
