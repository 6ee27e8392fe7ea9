"""What an exported file does with padded steps: the manifest's ``lengths`` and ``padding``
fields, the same words for every format (docs/padding.md has the table).

- ``masked``: the full-sequence file takes ``lengths`` [batch] int32. Its outputs are those of
  the masked recurrence h_t = h_{t-1} + m_t (h~_t - h_{t-1}), m_t = [t < length] (c likewise):
  the ``last`` head reads the state at step length - 1, the ``mean`` head averages steps
  0..length-1. Lengths outside 1..T count as 1 or T.
- ``processed``: no length input; every step of ``x`` runs through the recurrence, padding
  included. Right for full-length rows; a padded row gives a different answer unless the caller
  cuts x to the row's length (ONNX's time axis is dynamic; TFLite's T is fixed).
- ``not fed``: the streaming step form; the app feeds the valid steps and stops.
"""

from __future__ import annotations

from typing import Any

MASKED = "masked"
PROCESSED = "processed"
NOT_FED = "not fed"
INPUT = "lengths"  # the input's name in every format


def fields(form: str, with_lengths: bool, how: str | None = None) -> dict[str, Any]:
    """The manifest / metadata fields of one file; ``how`` says how a masked file does it."""
    if form == "step":
        return {"lengths": False, "padding": NOT_FED}
    out: dict[str, Any] = {
        "lengths": with_lengths,
        "padding": MASKED if with_lengths else PROCESSED,
    }
    if with_lengths and how:
        out["padding_how"] = how
    return out
