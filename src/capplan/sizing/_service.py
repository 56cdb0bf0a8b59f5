"""How a sizing call describes the service time: a mean with an SCV, a distribution, or samples."""

from __future__ import annotations

from typing import Any

import numpy as np
from scipy import stats

from capplan.errors import ParameterError

__all__ = ["service_distribution"]

_HISTOGRAM_BINS = 200


def service_distribution(service: Any) -> Any:
    """None for a mean+SCV description; a distribution object otherwise.

    Samples (a sequence or array of measured times) become an empirical distribution
    (``scipy.stats.rv_histogram`` over log-spaced bins, so skewed latency samples keep their tail).
    """
    if service is None or hasattr(service, "ppf"):
        return service
    try:
        samples = np.asarray(service, dtype=np.float64).ravel()
    except (TypeError, ValueError) as exc:
        raise ParameterError(f"service must be a distribution or samples of times, got {service!r}") from exc
    if samples.size < 2:
        raise ParameterError(f"service needs at least 2 samples, got {samples.size}")
    if not np.all(np.isfinite(samples)) or np.any(samples <= 0):
        raise ParameterError("service samples must be finite positive times (seconds)")
    lo, hi = float(samples.min()), float(samples.max())
    if hi <= lo:
        raise ParameterError("service samples are all equal: give the constant as service_time with scv 0")
    edges = np.geomspace(lo, hi * (1 + 1e-9), _HISTOGRAM_BINS + 1)
    return stats.rv_histogram(np.histogram(samples, bins=edges), density=False)
