"""edgegru: train, compress, quantize, export and validate compact recurrent models for the edge.

Importing the package has no side effects and does not import torch.
"""

from __future__ import annotations

__version__ = "0.1.0"
