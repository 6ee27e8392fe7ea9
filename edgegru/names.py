"""The names the CLI and the pipeline accept, read from the registries (docs/extending.md): a
registered cell, quantization scheme or export format is accepted everywhere, anything else is
refused, and no list of names is kept beside the registry.

Each call imports the modules that fill its registry (light: no torch, no runtime), so the CLI
calls these when an option is parsed or its help shown, never at import time.
"""

from __future__ import annotations


def cells() -> tuple[str, ...]:
    from edgegru.cellspec import cell_names

    return cell_names()


def quant_schemes() -> tuple[str, ...]:
    from edgegru.quantize import SCHEMES, load_schemes

    load_schemes()
    return SCHEMES.in_order()


def export_formats() -> tuple[str, ...]:
    from edgegru.export import EXPORTERS, load_writers

    load_writers()
    return EXPORTERS.in_order()
