"""ONNX export (docs/architecture.md#exporters): graphs built from the weights with ``onnx.helper``.

``writer`` registers the "onnx" format, ``ort`` the ORT Mobile "ort" format; ``cells`` lowers
each edgegru cell to the fused ONNX GRU / LSTM op, ``sequence`` and ``step`` build the two forms.
onnx and onnxruntime are imported inside the functions that use them.
"""

from __future__ import annotations

from edgegru.export.onnx import ort, writer  # noqa: F401  (registration)
