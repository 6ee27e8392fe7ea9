"""``edgegru sweep``: search the pipeline's keys for the smallest, fastest model that keeps its
accuracy on a target; trials run as Ray Tune trials (in-process Ray or a cluster), share
upstream stages through a fingerprint-keyed cache, and land in a report with Pareto fronts.

Importing this package does not import Ray: only ``engine.run_sweep`` does.
"""

from __future__ import annotations

from edgegru.sweep.config import Sweep, load_sweep, parse_sweep
from edgegru.sweep.report import pareto_front, render_sweep_report
from edgegru.sweep.trial import run_trial

__all__ = ["Sweep", "load_sweep", "pareto_front", "parse_sweep", "render_sweep_report", "run_trial"]
