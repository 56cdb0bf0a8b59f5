"""Scaling laws fitted to measurements: the Universal Scalability Law and Amdahl's law.

``fit_usl(concurrency, throughput)`` and ``fit_amdahl`` return fitted models (parameters with
standard errors and intervals, peak concurrency, maximum throughput, predictions with bands, the
latency they imply by Little's law and the concurrency where a latency target breaks).  Both share
the least-squares machinery of :class:`FittedLaw`.
"""

from __future__ import annotations

from capplan.scaling._fitted import FittedLaw, FitWarning
from capplan.scaling.usl import USL, Amdahl, LatencyKnee, fit_amdahl, fit_usl, quantile_ratio

__all__ = [
    "USL",
    "Amdahl",
    "FitWarning",
    "FittedLaw",
    "LatencyKnee",
    "fit_amdahl",
    "fit_usl",
    "quantile_ratio",
]
