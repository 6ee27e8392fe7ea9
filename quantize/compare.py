"""Float vs quantized: the outputs of a quantized bundle on the host, accuracy and logit SQNR.

- dynamic: the float model with the int8 weights dequantized (what a weight-only runtime
  computes, up to its own input quantization in hybrid kernels);
- static / qat: the NumPy int8 reference (``reference.predict_int8``) in the arithmetic of
  LiteRT's default delegate, XNNPACK (``requant="xnnpack"``): what the runner and a device's
  default Interpreter compute (the builtin kernels round a few ties otherwise).
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np

from edgegru.metrics import compute_metrics
from edgegru.types import Bundle, SequenceData


def predict_quantized(bundle: Bundle, data: SequenceData, requant: str = "xnnpack") -> np.ndarray:
    if bundle.quant is None:
        raise ValueError("the bundle is not quantized")
    if bundle.quant.is_static:
        from edgegru.quantize.reference import predict_int8

        return predict_int8(bundle, data.X, data.lengths, requant)
    from edgegru.evaluate import predict
    from edgegru.quantize.weights import dequantized_weights

    weights = dequantized_weights(bundle)
    return predict(dataclasses.replace(bundle, weights=weights, quant=None), data)


def sqnr_db(reference: np.ndarray, test: np.ndarray) -> float:
    """Signal-to-quantization-noise ratio 10 log10(sum y^2 / sum (y - y_q)^2) in dB."""
    ref = np.asarray(reference, np.float64)
    noise = float(np.sum((ref - np.asarray(test, np.float64)) ** 2))
    signal = float(np.sum(ref**2))
    if noise == 0.0:
        return float("inf")
    return 10.0 * float(np.log10(signal / noise))


def compare(
    float_bundle: Bundle, quant_bundle: Bundle, data: SequenceData, task: str
) -> dict[str, Any]:
    """Metrics of both models on ``data``, logit SQNR, max |error| and prediction agreement."""
    from edgegru.evaluate import predict

    y_f = predict(float_bundle, data)
    y_q = predict_quantized(quant_bundle, data)
    labels = float_bundle.spec.labels
    m_f = compute_metrics(task, data.y, y_f, labels)
    m_q = compute_metrics(task, data.y, y_q, labels)
    out: dict[str, Any] = {
        "n": len(data),
        "sqnr_db": sqnr_db(y_f, y_q),
        "max_abs_error": float(np.abs(y_f - y_q).max()) if len(y_f) else 0.0,
        "float": {k: v for k, v in m_f.items() if not isinstance(v, (list, dict))},
        "int8": {k: v for k, v in m_q.items() if not isinstance(v, (list, dict))},
    }
    if task == "classification":
        out["agreement"] = float(np.mean(y_f.argmax(1) == y_q.argmax(1))) if len(y_f) else 1.0
    return out
