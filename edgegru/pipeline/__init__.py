"""The one-command pipeline (docs/architecture.md#cli-and-pipeline): train -> export -> report,
each stage a
function of its inputs and its config writing only its own folder with a manifest, so a re-run
skips what did not change. Stages register in ``stages.py`` (one function each)."""

from __future__ import annotations

from edgegru.pipeline import stages  # noqa: F401  (registers the stages, in order)
from edgegru.pipeline.config import PipelineConfig, load_config
from edgegru.pipeline.executor import Context, run_pipeline
from edgegru.pipeline.report import render_report

__all__ = ["Context", "PipelineConfig", "load_config", "render_report", "run_pipeline"]
