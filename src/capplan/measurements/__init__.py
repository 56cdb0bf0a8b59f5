"""Inputs from measurements: load-test results, latency logs, histograms and Prometheus.

Every reader turns a tool's own output into a tidy DataFrame in SI units (seconds,
requests/second, bytes) and raises :class:`MeasurementError` (a ``ValueError``) naming the file
and line or key when the input is malformed.

* :mod:`~capplan.measurements.locust` - Locust ``--csv`` stats and stats-history files;
* :mod:`~capplan.measurements.k6` - k6 ``--out json`` points and end-of-test summaries;
* :mod:`~capplan.measurements.wrk` - wrk and wrk2 console output (``--latency``);
* :mod:`~capplan.measurements.hdr` - wrk2 / HdrHistogram percentile spectra;
* :mod:`~capplan.measurements.latency_csv` - plain CSV latency logs and histogram bucket counts;
* :mod:`~capplan.measurements.prometheus` - the Prometheus HTTP API (instant and range queries);
* :mod:`~capplan.measurements.exposition` - Prometheus exposition text (a saved ``/metrics``);
* :mod:`~capplan.measurements.response_times` - any of these files' response-time percentiles,
  the kind told by the content;
* :mod:`~capplan.measurements.promql` - ``histogram_quantile`` and ``rate`` on raw samples;
* :mod:`~capplan.measurements.traces` - access traces (cache key streams).
"""

from __future__ import annotations

from capplan.measurements._common import MeasurementError
from capplan.measurements.exposition import read_exposition, series_quantiles
from capplan.measurements.hdr import read_hdr_spectrum
from capplan.measurements.k6 import K6Summary, read_k6_points, read_k6_summary
from capplan.measurements.latency_csv import read_bucket_csv, read_latency_csv
from capplan.measurements.locust import locust_stages, read_locust_history, read_locust_stats
from capplan.measurements.prometheus import PrometheusClient, PrometheusError, query, query_range
from capplan.measurements.promql import bucket_quantile, extrapolated_rate, histogram_quantile, rate
from capplan.measurements.response_times import ResponseTimes, detect_kind, read_response_times
from capplan.measurements.traces import TraceChunk, count_keys, iter_trace, read_trace
from capplan.measurements.wrk import WrkResult, read_wrk

__all__ = [
    "K6Summary",
    "MeasurementError",
    "PrometheusClient",
    "PrometheusError",
    "ResponseTimes",
    "TraceChunk",
    "WrkResult",
    "bucket_quantile",
    "count_keys",
    "detect_kind",
    "extrapolated_rate",
    "histogram_quantile",
    "iter_trace",
    "locust_stages",
    "query",
    "query_range",
    "rate",
    "read_bucket_csv",
    "read_exposition",
    "read_hdr_spectrum",
    "read_k6_points",
    "read_k6_summary",
    "read_latency_csv",
    "read_locust_history",
    "read_locust_stats",
    "read_response_times",
    "read_trace",
    "read_wrk",
    "series_quantiles",
]
