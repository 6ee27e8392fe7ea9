"""Errors that cross module boundaries.

The CLI maps them to exit codes (docs/architecture.md#cli-and-pipeline): ``BadInput`` -> 2 with one
line,
``CheckFailed`` -> 1. Library code raises, never prints or exits.
"""

from __future__ import annotations


class EdgegruError(Exception):
    """Base of every error edgegru raises on purpose."""


class BadInput(EdgegruError, ValueError):
    """The user's input (file, array, option) cannot be used; the message says why and how."""


class CheckFailed(EdgegruError):
    """A budget or parity check did not hold (exit code 1)."""
