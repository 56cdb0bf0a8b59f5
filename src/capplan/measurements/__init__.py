"""Inputs from measurements: load-test results, latency logs, histograms and Prometheus.

Every reader turns a tool's own output into a tidy DataFrame in SI units (seconds,
requests/second, bytes) and raises :class:`MeasurementError` (a ``ValueError``) naming the file
and line or key when the input is malformed.

* :mod:`~capplan.measurements.locust` - Locust ``--csv`` stats and stats-history files;
* :mod:`~capplan.measurements.k6` - k6 ``--out json`` points and end-of-test summaries;
* :mod:`~capplan.measurements.hdr` - wrk2 / HdrHistogram percentile spectra;
* :mod:`~capplan.measurements.latency_csv` - plain CSV latency logs and histogram bucket counts;
* :mod:`~capplan.measurements.prometheus` - the Prometheus HTTP API (instant and range queries);
* :mod:`~capplan.measurements.promql` - ``histogram_quantile`` and ``rate`` on raw samples.
"""

from __future__ import annotations

from capplan.measurements._common import MeasurementError
from capplan.measurements.prometheus import PrometheusClient, PrometheusError, query, query_range
from capplan.measurements.promql import bucket_quantile, extrapolated_rate, histogram_quantile, rate

__all__ = [
    "MeasurementError",
    "PrometheusClient",
    "PrometheusError",
    "bucket_quantile",
    "extrapolated_rate",
    "histogram_quantile",
    "query",
    "query_range",
    "rate",
]
