"""int8-dynamic (hybrid) TFLite: int8 weights, float32 activations (docs/quantization.md,
docs/architecture.md#exporters).

The float lowerings write their weights through ``weight`` / ``gate_weight``; with the option
``weights = "int8"`` (set by the writer for precision int8-dynamic) these become int8 constants:

- FULLY_CONNECTED weights: symmetric per output channel (``quantize.weights``, zero point 0);
  ``ops.fully_connected`` then sets ``asymmetric_quantize_inputs`` so TFLite's hybrid kernel
  (fully_connected.cc ``EvalHybrid``) quantizes each input row with its own zero point, and
  XNNPACK runs it as its dynamically quantized FULLY_CONNECTED (qd8 x qc8w).
- UNIDIRECTIONAL_SEQUENCE_LSTM weights: symmetric PER TENSOR, one scale per gate matrix: the
  hybrid LSTM (lstm_eval.cc ``EvalHybrid``) reads a single ``params.scale`` per weight tensor.

The scales are those of the weights the graph holds (the first layer's W has the input
normalization folded in), so they may differ from ``bundle.quant.weight_scales`` there.
"""

from __future__ import annotations

import numpy as np

from edgegru.export.tflite.builder import Quantization, SubgraphBuilder
from edgegru.quantize.weights import channel_scales, quantize_weight

INT8 = "int8"


def is_int8(options: dict) -> bool:
    return options.get("weights") == INT8


def weight(g: SubgraphBuilder, name: str, W: np.ndarray, int8: bool) -> int:
    """A FULLY_CONNECTED weight [O, I]: float32, or int8 per output channel."""
    if not int8:
        return g.const(name, np.ascontiguousarray(W, np.float32))
    s = channel_scales(W)  # [O]
    q = Quantization(tuple(float(v) for v in s), (0,) * len(s), 0)
    return g.const(name, quantize_weight(W, s), quantization=q)


def gate_weight(g: SubgraphBuilder, name: str, W: np.ndarray, int8: bool) -> int:
    """A fused-LSTM weight [H, I] (or a peephole [H]: the hybrid kernel wants cell_to_* weights
    of the same type as the others, unidirectional_sequence_lstm.cc): float32, or int8 with one
    scale for the tensor."""
    if not int8:
        return g.const(name, np.ascontiguousarray(W, np.float32))
    amax = float(np.abs(np.asarray(W, np.float64)).max())
    scale = np.float32(amax / 127.0 if amax > 0 else 1.0 / 127.0)
    W2 = np.atleast_2d(W)
    q = quantize_weight(W2, np.full(W2.shape[0], scale, np.float32)).reshape(np.shape(W))
    return g.const(name, q, quantization=Quantization((float(scale),), (0,), 0))
