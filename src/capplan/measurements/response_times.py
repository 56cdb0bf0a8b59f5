"""Response times from whichever measurement file a user has: the kind is told by its content.

:func:`detect_kind` recognises a k6 JSON summary, a Locust stats CSV, wrk / wrk2 console output,
an HdrHistogram percentile spectrum, Prometheus exposition text (``/metrics``) and, failing
those, a CSV latency log.  :func:`read_response_times` reads the file with the matching reader
and returns :class:`ResponseTimes`: the percentiles it states (``{quantile: seconds}``), and what
a distribution can be fitted to - the latency samples of a log, or cumulative buckets (upper
bound, count) from a histogram, a spectrum or percentiles with a request count.
"""

from __future__ import annotations

import itertools
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from capplan._sources import read_path
from capplan.measurements._common import MeasurementError
from capplan.measurements.exposition import parse_selector, read_exposition, series_quantiles
from capplan.measurements.hdr import read_hdr_spectrum
from capplan.measurements.k6 import k6_percentiles, read_k6_summary
from capplan.measurements.latency_csv import read_latency_csv
from capplan.measurements.locust import PERCENTILES, read_locust_stats
from capplan.measurements.promql import bucket_quantile
from capplan.measurements.wrk import read_wrk
from capplan.units import percentile_quantile

__all__ = ["LEVELS", "Kind", "ResponseTimes", "detect_kind", "read_response_times", "split_selector"]

Kind = Literal["k6-summary", "locust-stats", "wrk", "hdr-spectrum", "prometheus-text", "latency-csv"]

#: Quantiles reported for samples and histograms (which have every quantile).
LEVELS: tuple[float, ...] = (0.5, 0.75, 0.9, 0.95, 0.99, 0.999)

_EXPOSITION = re.compile(r"^# (TYPE|HELP) [a-zA-Z_:]|^[a-zA-Z_:][a-zA-Z0-9_:]*(\{.*\})? \S+", re.M)


@dataclass(frozen=True)
class ResponseTimes:
    """Response times read from one file.

    ``percentiles``: ``{quantile: seconds}`` (the maximum, quantile 1, left out); ``samples``:
    the latencies of a log; ``le``/``counts``: cumulative buckets (seconds, requests) when the
    file gives a request count or a histogram; ``notes``: what a reader of the check should know
    (errors the percentiles leave out, interpolated quantiles).
    """

    source: str
    kind: Kind
    percentiles: dict[float, float]
    samples: NDArray[np.float64] | None = None
    le: NDArray[np.float64] | None = None
    counts: NDArray[np.float64] | None = None
    notes: tuple[str, ...] = field(default=())


def detect_kind(text: str) -> Kind:
    """The kind of measurement file ``text`` is (see the module notes)."""
    head = text.lstrip()
    first = head.split("\n", 1)[0]
    if head.startswith("{"):
        return "k6-summary"
    if "Request Count" in first and "Name" in first:
        return "locust-stats"
    if re.search(r"^\s*\d+ requests in \S+, \S+ read\s*$", text, re.M) and "Requests/sec:" in text:
        return "wrk"
    if re.search(r"^\s*\"?Value\"?[ ,]+\"?Percentile\"?[ ,]+\"?TotalCount", text, re.M):
        return "hdr-spectrum"
    if _EXPOSITION.search(text) and not re.match(r"[^\n]*,", head):
        return "prometheus-text"
    return "latency-csv"


def _buckets(
    spectrum: dict[float, float], requests: float
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Percentiles with a request count as cumulative buckets; tied values keep the larger quantile."""
    bounds: dict[float, float] = {}
    for q, value in spectrum.items():
        bounds[value] = max(q, bounds.get(value, 0.0))
    le = np.array(sorted(bounds), dtype=np.float64)
    return le, np.array([bounds[v] for v in le], dtype=np.float64) * requests


def _from_locust(path: str) -> ResponseTimes:
    stats = read_locust_stats(path)
    if stats.empty:
        raise MeasurementError(f"{path}: no rows of request statistics")
    rows = stats[stats["name"] == "Aggregated"]
    row = (rows if not rows.empty else stats).iloc[-1]
    quantiles = {c: 1.0 if c == "p100" else percentile_quantile(float(c[1:])) for c in PERCENTILES.values()}
    spectrum = {quantiles[c]: float(row[c]) for c in quantiles if c in row.index}
    spectrum = {q: v for q, v in spectrum.items() if np.isfinite(v)}
    le, counts = _buckets(spectrum, float(row["requests"]))
    return ResponseTimes(path, "locust-stats", _below_max(spectrum), le=le, counts=counts)


def _from_wrk(path: str) -> ResponseTimes:
    run = read_wrk(path)
    errors = sum(run.errors.values())
    if not run.percentiles:
        raise MeasurementError(f"{path}: wrk output without a latency distribution (run wrk with --latency)")
    if errors and not run.latency.get("max", 1.0) > 0:
        raise MeasurementError(f"{path}: wrk recorded no latency: every request failed ({run.errors})")
    notes = tuple(_wrk_notes(run.errors))
    if run.spectrum is None:
        le, counts = _buckets(run.percentiles, float(run.requests))
        return ResponseTimes(path, "wrk", _below_max(run.percentiles), le=le, counts=counts, notes=notes)
    le, counts, quantiles = _spectrum(run.spectrum)
    merged = dict(sorted(_below_max({**quantiles, **run.percentiles}).items()))
    values = list(merged.values())
    if any(b < a for a, b in itertools.pairwise(values)):
        raise MeasurementError(f"{path}: the latency distribution and the percentile spectrum disagree")
    return ResponseTimes(path, "wrk", merged, le=le, counts=counts, notes=notes)


def _wrk_notes(errors: dict[str, int]) -> list[str]:
    socket = {k: v for k, v in errors.items() if k != "non_2xx" and v}
    out = [f"socket errors {socket}: those requests are not in the latency percentiles"] if socket else []
    if errors.get("non_2xx"):
        out.append(f"{errors['non_2xx']} responses were not 2xx or 3xx (their latencies are included)")
    return out


def _spectrum(
    frame: pd.DataFrame,
) -> tuple[NDArray[np.float64], NDArray[np.float64], dict[float, float]]:
    """Bounds, cumulative counts and the quantiles at :data:`LEVELS` of a percentile spectrum:
    HdrHistogram's value at a percentile, the smallest value with at least that share below it."""
    value = frame["value"].to_numpy(dtype=np.float64)
    pct = frame["percentile"].to_numpy(dtype=np.float64)
    quantiles = {q: float(value[int(np.searchsorted(pct, q))]) for q in LEVELS if q <= pct[-1]}
    return value, frame["count"].to_numpy(dtype=np.float64), quantiles


def _from_spectrum(path: str) -> ResponseTimes:
    le, counts, quantiles = _spectrum(read_hdr_spectrum(path))
    return ResponseTimes(path, "hdr-spectrum", quantiles, le=le, counts=counts)


def _from_exposition(path: str, group: str | None, selector: str | None) -> ResponseTimes:
    frame = read_exposition(path, selector)
    types = frame.attrs["types"]
    name = parse_selector(selector)[0] if selector else None
    present = set(frame["metric"])
    families = [
        f
        for f, t in types.items()
        if t in ("histogram", "summary")
        and (f == name or (name is None and f.endswith("_seconds")))
        and any(m.startswith(f) for m in present)
    ]
    if len(families) != 1:
        raise MeasurementError(
            f"{path}: expected one histogram or summary of seconds (name ending in _seconds), "
            f'found {families or "none"}; choose one with FILE#name{{label="value"}}'
        )
    family = families[0]
    rows = frame[frame["metric"].str.startswith(family)]
    labels = [c for c in rows.columns if c not in ("metric", "le", "quantile", "timestamp", "value")]
    chosen = [c for c in labels if group is not None and (rows[c] == group).any()]
    if chosen:
        rows = rows[rows[chosen[0]] == group]
    if types[family] == "summary":
        table = series_quantiles(rows, family, LEVELS)
        if table["quantile"].duplicated().any():
            raise MeasurementError(
                f"{path}: summary {family} has several series, and quantiles do not add up across "
                f'series; choose one with FILE#{family}{{label="value"}}'
            )
        return ResponseTimes(
            path, "prometheus-text", dict(zip(table["quantile"], table["value"], strict=True))
        )
    buckets = rows[rows["metric"] == f"{family}_bucket"]
    if buckets.empty:
        raise MeasurementError(f"{path}: histogram {family} has no {family}_bucket samples")
    le_values = np.array([float(x) for x in buckets["le"]], dtype=np.float64)
    totals = buckets.groupby(le_values)["value"].sum()  # sum by (le): every series together
    le, counts = totals.index.to_numpy(dtype=np.float64), totals.to_numpy(dtype=np.float64)
    quantiles = {q: bucket_quantile(q, le, counts)[0] for q in LEVELS}
    quantiles = {q: v for q, v in quantiles.items() if np.isfinite(v)}
    note = f"{family}: quantiles interpolated inside histogram buckets (PromQL histogram_quantile)"
    return ResponseTimes(path, "prometheus-text", quantiles, le=le, counts=counts, notes=(note,))


def _below_max(spectrum: dict[float, float]) -> dict[float, float]:
    return {q: v for q, v in spectrum.items() if q < 1.0}  # p100 is the maximum, not a target


def split_selector(source: str) -> tuple[str, str | None]:
    """``"metrics.txt#name{a=\"b\"}"`` -> ``("metrics.txt", "name{a=\"b\"}")``; a path that
    exists as given (``#`` in its name) or has no ``#`` comes back whole, with ``None``."""
    path, sep, selector = source.partition("#")
    if not sep or Path(source).exists():
        return source, None
    return path, selector


def read_response_times(path: str | os.PathLike[str], group: str | None = None) -> ResponseTimes:
    """Read a measurement file of any kind :func:`detect_kind` knows.

    ``group`` (an operation class) picks a k6 submetric or the Prometheus series with a label of
    that value; files of one group ignore it.  A Prometheus text file may carry a selector after
    ``#`` (``metrics.txt#http_request_duration_seconds{handler="/api"}``, see
    :func:`capplan.measurements.exposition.parse_selector`): the family and series to read,
    otherwise the file's one histogram or summary whose name ends in ``_seconds``.

    Raises
    ------
    MeasurementError
        The file cannot be read, or its reader rejects it (the message names the file).
    """
    label, selector = split_selector(str(path))
    text = read_path(label, what="a load-test result, latency log or metrics file", error=MeasurementError)
    kind = detect_kind(text)
    if selector is not None and kind != "prometheus-text":
        raise MeasurementError(f"{label}: a #selector applies to Prometheus text, this is {kind}")
    try:
        return _read(label, kind, group, selector)
    except MeasurementError as exc:
        if label in str(exc):
            raise
        raise MeasurementError(f"{label}: {exc}") from None


def _read(label: str, kind: Kind, group: str | None, selector: str | None) -> ResponseTimes:
    if kind == "k6-summary":
        return ResponseTimes(label, kind, _below_max(k6_percentiles(read_k6_summary(label), group)))
    if kind == "locust-stats":
        return _from_locust(label)
    if kind == "wrk":
        return _from_wrk(label)
    if kind == "hdr-spectrum":
        return _from_spectrum(label)
    if kind == "prometheus-text":
        return _from_exposition(label, group, selector)
    samples = read_latency_csv(label)["latency"].to_numpy(dtype=np.float64)
    if samples.size == 0:
        raise MeasurementError(f"{label}: no latency samples")
    quantiles = {q: float(v) for q, v in zip(LEVELS, np.quantile(samples, LEVELS), strict=True)}
    return ResponseTimes(label, kind, quantiles, samples=samples)
