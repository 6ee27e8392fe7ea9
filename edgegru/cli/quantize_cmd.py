"""edgegru quantize: int8 a model bundle (dynamic, static, qat) and report what it costs."""

from __future__ import annotations

import click

from edgegru.cli._choices import RegistryChoice
from edgegru.cli._common import (
    data_options,
    echo_json,
    json_option,
    model_argument,
    out_option,
    resolve_data,
    rows_scored,
    table,
)
from edgegru.names import quant_schemes
from edgegru.quantize.config import QuantizeConfig
from edgegru.quantize.weights import GRANULARITIES
from edgegru.types import CALIBRATION_METHODS


@click.command("quantize")
@model_argument
@click.option(
    "--scheme",
    type=RegistryChoice(quant_schemes),
    default="static",
    show_default=True,
    help="dynamic: int8 weights; static: full integer (calibrated); qat: static + fine-tuning.",
)
@data_options
@click.option(
    "--calib",
    type=click.IntRange(1),
    default=QuantizeConfig.calib,
    show_default=True,
    help="Calibration sequences drawn from the training split.",
)
@click.option(
    "--calib-method",
    type=click.Choice(CALIBRATION_METHODS),
    default=None,
    help="How each activation's range is chosen [default: mse, measured best on watch].",
)
@click.option(
    "--percentile",
    type=float,
    default=QuantizeConfig.percentile,
    show_default=True,
    help="For --calib-method percentile.",
)
@click.option(
    "--weights",
    "weight_granularity",
    type=click.Choice(GRANULARITIES),
    default=QuantizeConfig.weights,
    show_default=True,
    help="static/qat weight scales: per channel, per tensor, or auto (per tensor where that "
    "costs <= 6 dB of a block's weight SQNR: smaller .tflite files).",
)
@click.option(
    "--logits-bits",
    type=click.Choice(["8", "16"]),
    default=str(QuantizeConfig.logits_bits),
    show_default=True,
    help="static/qat: int16 logits (a 16x8 head: no ties where float logits differ by less "
    "than an int8 step) or int8 (every op int8).",
)
@click.option("--epochs", type=click.IntRange(1), default=QuantizeConfig.qat_epochs,
              show_default=True, help="QAT epochs.")  # fmt: skip
@click.option("--lr", type=float, default=QuantizeConfig.qat_lr, show_default=True,
              help="QAT learning rate.")  # fmt: skip
@click.option("--seed", type=int, default=QuantizeConfig.seed, show_default=True)
@out_option("Output bundle folder (the float weights + a quant section).")
@json_option()
def command(
    model, scheme, dataset, data, test_data, calib, calib_method, percentile, weight_granularity,
    logits_bits, epochs, lr, seed, out, as_json,
) -> None:  # fmt: skip
    """Quantize a model bundle to int8; print float vs int8 accuracy and the logits' SQNR.

    The int8 accuracy of static and qat comes from the NumPy int8 reference (what LiteRT's
    integer kernels compute); of dynamic from the float model with int8-rounded weights.
    With no data option the model's training dataset is used.

    \b
    Examples:
      edgegru quantize runs/gru32 --scheme static -o runs/gru32-int8
      edgegru quantize runs/gru32 --scheme qat --epochs 5 -o runs/gru32-qat
      edgegru quantize runs/gru32 --scheme dynamic -o runs/gru32-dyn --json
    """
    import copy

    from edgegru.bundle import load_bundle, save_bundle
    from edgegru.errors import BadInput
    from edgegru.io import check_output_folder
    from edgegru.quantize import QuantizeConfig, quantize_
    from edgegru.quantize.compare import compare
    from edgegru.quantize.config import DEFAULT_METHOD

    try:
        cfg = QuantizeConfig(
            scheme=scheme, calib=calib, method=calib_method or DEFAULT_METHOD,
            percentile=percentile, seed=seed, qat_epochs=epochs, qat_lr=lr,
            weights=weight_granularity, logits_bits=int(logits_bits),
        )  # fmt: skip
    except ValueError as e:
        raise BadInput(str(e)) from None
    bundle = load_bundle(model)
    default = bundle.provenance.get("dataset")
    ds = None
    if dataset or data or default:
        ds = resolve_data(dataset, data, test_data, default=default if not data else None)
    elif scheme != "dynamic":
        raise BadInput(f"scheme {scheme} needs calibration data: give --dataset or --data")
    if ds is not None and ds.num_features != bundle.spec.input_size:
        raise BadInput(
            f"{model} takes {bundle.spec.input_size} features, the data has {ds.num_features}"
        )
    check_output_folder(out)
    float_bundle = copy.deepcopy(bundle)
    quantize_(bundle, cfg, ds)
    result = {"scheme": scheme, "config": cfg.to_json(), "out": str(out)}
    if ds is not None:
        result |= compare(float_bundle, bundle, ds.test, ds.task)
        result["rows_scored"] = rows_scored(ds)
    save_bundle(bundle, out)
    if as_json:
        echo_json(result)
        return
    click.echo(f"{model} -> {out}: scheme {scheme}")
    if ds is not None:
        click.echo(result["rows_scored"])
    if bundle.quant is not None and bundle.quant.calibration:
        c = bundle.quant.calibration
        click.echo(
            f"calibration: {c.get('sequences')} sequences of {c.get('dataset')}, {c.get('method')}"
        )
    if ds is None:
        return
    key = "accuracy" if ds.task == "classification" else "rmse"
    rows = [
        ("float32", result["float"][key]),
        (
            "int8" + (" (NumPy int8 reference)" if scheme != "dynamic" else " weights"),
            result["int8"][key],
        ),
    ]
    click.echo(table(rows, ["model", f"{key} ({ds.info.name} test, n={result['n']})"]))
    line = f"logit SQNR {result['sqnr_db']:.1f} dB, max |error| {result['max_abs_error']:.4g}"
    if "agreement" in result:
        line += f", same class as float on {100 * result['agreement']:.1f}% of windows"
    click.echo(line)
