"""int8 schemes: calibration, post-training (dynamic, static) and quantization-aware training, and a
NumPy int8 reference (docs/quantization.md).

One scheme = one module registering a handler with ``@SCHEMES.register("name")``:
``handler(bundle, cfg, data) -> QuantParams`` (QAT also updates ``bundle.weights``).
``quantize_(bundle, cfg, data)`` runs one and attaches its ``QuantParams`` to the bundle in place.

    dynamic.py   int8 weights per channel, float activations (weight-only)
    static.py    full integer: calibrated int8 activations (GRU; LSTM / peephole: lstm_calibrate)
    qat.py       static + fine-tuning with fake quantization (classification; qgru / qlstm)

Heavy imports (torch) stay inside the handlers; this module imports none.
"""

from __future__ import annotations

from collections.abc import Callable

from edgegru.quantize.config import QuantizeConfig
from edgegru.registry import Registry
from edgegru.types import Bundle, Dataset, QuantParams

__all__ = ["SCHEMES", "QuantizeConfig", "quantize_"]

Scheme = Callable[[Bundle, QuantizeConfig, "Dataset | None"], QuantParams]
SCHEMES: Registry[Scheme] = Registry("quantization scheme")


def quantize_(bundle: Bundle, cfg: QuantizeConfig, data: Dataset | None = None) -> Bundle:
    """Quantize ``bundle`` in place with ``cfg.scheme``; ``data`` supplies calibration (and QAT
    training) sequences. Returns the bundle."""
    load_schemes()
    handler = SCHEMES.get(cfg.scheme)
    bundle.quant = handler(bundle, cfg, data)
    return bundle


def load_schemes() -> None:
    """Import the scheme modules, which register their handlers (explicit list, no scan)."""
    import importlib

    for module in _SCHEME_MODULES:
        importlib.import_module(module)


# One line per scheme module.
_SCHEME_MODULES: list[str] = [
    "edgegru.quantize.dynamic",
    "edgegru.quantize.static",
    "edgegru.quantize.qat",
]
