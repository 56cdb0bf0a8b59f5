"""Service-time evidence from a load test's result file: a latency log or a Locust stats CSV.

Response times are taken as service times, which is right only at low utilization (no queueing);
the evidence's source line says so.  A latency log (``capplan.measurements.read_latency_csv``)
gives samples, fitted by :func:`capplan.plan.evidence.best_fit`; a Locust stats CSV gives its
``Aggregated`` row's percentile spectrum and request count, fitted as cumulative histogram
buckets (the percentile values as bucket bounds, the quantile levels times the requests as counts).
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np
from numpy.typing import NDArray

from capplan._sources import read_path
from capplan.errors import ParameterError
from capplan.measurements import read_latency_csv, read_locust_stats
from capplan.plan.evidence import ServiceEvidence, best_fit
from capplan.units import percentile_quantile

__all__ = ["loadtest_evidence", "response_times"]


def response_times(path: str | os.PathLike[str]) -> tuple[dict[float, float], float] | NDArray[np.float64]:
    """A Locust stats CSV's percentile spectrum ``{quantile: seconds}`` (Aggregated row) with its
    request count, or a latency log's samples in seconds."""
    head = read_path(path, what="a Locust stats CSV or a latency CSV", error=ParameterError).split("\n", 1)[0]
    if "Request Count" in head:
        row = _locust_row(path)
        spectrum = {_column_quantile(c): float(row[c]) for c in row.index if _is_percentile(c)}
        return spectrum, float(row["requests"])
    samples: NDArray[np.float64] = read_latency_csv(path)["latency"].to_numpy(dtype=float)
    return samples


def loadtest_evidence(op_class: str, path: str | os.PathLike[str]) -> ServiceEvidence:
    """A fitted service-time distribution from a latency log or a Locust stats CSV's percentiles."""
    source = f"{path}, response times taken as service times (right only at low utilization)"
    times = response_times(path)
    try:
        if isinstance(times, tuple):  # fit to the percentile spectrum, as cumulative histogram buckets
            return _spectrum_evidence(op_class, path, source, *times)
        return best_fit(op_class, times, source=source)
    except ParameterError as exc:
        raise ParameterError(f"{path}: cannot fit a service-time distribution: {exc}") from None


def _spectrum_evidence(
    op_class: str, path: str | os.PathLike[str], source: str, spectrum: dict[float, float], requests: float
) -> ServiceEvidence:
    """Fit to a percentile spectrum; tied percentiles (p98 = p99 = 300 ms) are one bucket bound
    holding the larger quantile, and a spectrum of one value is a constant service time."""
    bounds: dict[float, float] = {}
    for q, value in spectrum.items():
        if np.isfinite(value):
            bounds[value] = max(q, bounds.get(value, 0.0))
    if not bounds:
        raise ParameterError("no percentile values (all N/A)")
    if len(bounds) == 1:
        (value,) = bounds
        if value <= 0:
            raise ParameterError(f"every percentile is {value * 1e3:g} ms")
        note = f"every percentile is {value * 1e3:g} ms, taken as a constant service time"
        return ServiceEvidence(op_class, value, 0.0, f"{source}; {note}")
    le = np.array(sorted(bounds))
    counts = np.array([bounds[v] for v in le]) * requests
    return best_fit(op_class, le=le, counts=counts, source=source)


def _is_percentile(column: str) -> bool:
    return column.startswith("p") and column[1:].replace(".", "", 1).isdigit()


def _column_quantile(column: str) -> float:
    """``p99.9`` -> 0.999 (the key an SLA target has, see :func:`percentile_quantile`); ``p100`` -> 1."""
    return 1.0 if column == "p100" else percentile_quantile(float(column[1:]))


def _locust_row(path: str | os.PathLike[str]) -> Any:
    stats = read_locust_stats(path)
    rows = stats[stats["name"] == "Aggregated"]
    if rows.empty:
        rows = stats
    return rows.iloc[-1]
