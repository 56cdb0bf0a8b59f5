"""Service-time evidence from a load test's result file.

Any file :func:`capplan.measurements.read_response_times` reads: a latency log, a Locust stats
CSV, a k6 summary, wrk / wrk2 output, a percentile spectrum or Prometheus ``/metrics`` text.
Response times are taken as service times, which is right only at low utilization (no queueing);
the evidence's source line says so.  Samples are fitted by :func:`capplan.plan.evidence.best_fit`;
percentiles with a request count are fitted as cumulative histogram buckets (the percentile values
as bucket bounds, the quantile levels times the requests as counts).
"""

from __future__ import annotations

import os

import numpy as np
from numpy.typing import NDArray

from capplan.errors import ParameterError
from capplan.measurements import read_response_times
from capplan.plan.evidence import ServiceEvidence, best_fit

__all__ = ["loadtest_evidence"]


def loadtest_evidence(op_class: str, path: str | os.PathLike[str]) -> ServiceEvidence:
    """A fitted service-time distribution from a latency log, or from the cumulative buckets of a
    histogram, a percentile spectrum or percentiles with a request count (Locust, wrk, /metrics)."""
    source = f"{path}, response times taken as service times (right only at low utilization)"
    times = read_response_times(path, op_class)
    try:
        if times.samples is not None:
            return best_fit(op_class, times.samples, source=source)
        if times.le is None or times.counts is None:
            raise ParameterError(f"a {times.kind} file has no request count to weigh its percentiles")
        return _bucket_evidence(op_class, source, times.le, times.counts)
    except ParameterError as exc:
        raise ParameterError(f"{path}: cannot fit a service-time distribution: {exc}") from None


def _bucket_evidence(
    op_class: str, source: str, le: NDArray[np.float64], counts: NDArray[np.float64]
) -> ServiceEvidence:
    """Fit to cumulative buckets; a spectrum of one value is a constant service time."""
    finite = np.isfinite(le)
    if not finite.any():
        raise ParameterError("no percentile values (all N/A)")
    if np.unique(le[finite]).size == 1 and counts[finite].max() >= counts.max():
        value = float(le[finite][0])
        if value <= 0:
            raise ParameterError(f"every percentile is {value * 1e3:g} ms")
        note = f"every percentile is {value * 1e3:g} ms, taken as a constant service time"
        return ServiceEvidence(op_class, value, 0.0, f"{source}; {note}")
    return best_fit(op_class, le=le, counts=counts, source=source)
