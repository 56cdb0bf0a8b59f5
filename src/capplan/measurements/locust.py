"""Locust ``--csv`` results: the stats file, the stats-history file, and per-stage summaries.

``locust --csv PREFIX`` writes ``PREFIX_stats.csv`` (one row per request type and name, plus an
``Aggregated`` row) and ``PREFIX_stats_history.csv`` (one ``Aggregated`` row per second, with the
user count), with response times in milliseconds and ``N/A`` where there is no data yet (Locust
documentation, "Retrieve test statistics in CSV format").  The readers return seconds, requests
per second and bytes:

* stats: ``type, name, requests, failures, median, mean, min, max, content_size, throughput,
  failure_throughput`` and the percentile columns ``p50 ... p100``;
* history: ``timestamp, users, type, name, throughput, failure_throughput, p50 ... p100,
  total_requests, total_failures, total_median, total_mean, total_min, total_max,
  total_content_size``.

:func:`locust_stages` turns a stepped run (several user counts held in turn) into one row per
user count - the table :func:`capplan.scaling.fit_usl` takes.
"""

from __future__ import annotations

import math
import os

import numpy as np
import pandas as pd

from capplan._strict import MAX_COUNT
from capplan.errors import ParameterError
from capplan.measurements._common import MeasurementError, csv_records, number, read_measurement

__all__ = ["PERCENTILES", "locust_stages", "read_locust_history", "read_locust_stats"]

#: Locust's percentile columns and the names the readers give them.
PERCENTILES: dict[str, str] = {
    "50%": "p50",
    "66%": "p66",
    "75%": "p75",
    "80%": "p80",
    "90%": "p90",
    "95%": "p95",
    "98%": "p98",
    "99%": "p99",
    "99.9%": "p99.9",
    "99.99%": "p99.99",
    "100%": "p100",
}

_MS = 1e-3

_STATS_COLUMNS: dict[str, tuple[str, float]] = {
    "Request Count": ("requests", 1.0),
    "Failure Count": ("failures", 1.0),
    "Median Response Time": ("median", _MS),
    "Average Response Time": ("mean", _MS),
    "Min Response Time": ("min", _MS),
    "Max Response Time": ("max", _MS),
    "Average Content Size": ("content_size", 1.0),
    "Requests/s": ("throughput", 1.0),
    "Failures/s": ("failure_throughput", 1.0),
}

_HISTORY_COLUMNS: dict[str, tuple[str, float]] = {
    "Timestamp": ("timestamp", 1.0),
    "User Count": ("users", 1.0),
    "Requests/s": ("throughput", 1.0),
    "Failures/s": ("failure_throughput", 1.0),
    "Total Request Count": ("total_requests", 1.0),
    "Total Failure Count": ("total_failures", 1.0),
    "Total Median Response Time": ("total_median", _MS),
    "Total Average Response Time": ("total_mean", _MS),
    "Total Min Response Time": ("total_min", _MS),
    "Total Max Response Time": ("total_max", _MS),
    "Total Average Content Size": ("total_content_size", 1.0),
}


#: Columns that count users or requests: whole numbers.
_WHOLE = frozenset(
    {"User Count", "Request Count", "Failure Count", "Total Request Count", "Total Failure Count"}
)


def _nonnegative(label: str, line: int, row: dict[str, str], col: str, unit: str = "") -> float:
    """A numeric column's value (NaN for ``N/A``); counts, rates and times are never negative, and
    counts are whole numbers."""
    value = number(label, line, col, row[col])
    if value < 0:
        raise MeasurementError(f"{label}: line {line}: column {col!r}: {row[col]!r}{unit} is negative")
    if col in _WHOLE and not math.isnan(value) and not (value == math.floor(value) and value <= MAX_COUNT):
        raise MeasurementError(
            f"{label}: line {line}: column {col!r}: {row[col]!r} is not a whole number up to 2**53"
        )
    return value


def _check_ascending(label: str, line: int, row: dict[str, str], values: dict[str, float]) -> None:
    """The percentile columns do not decrease from one to the next (``N/A`` skipped)."""
    previous: tuple[str, float] | None = None
    for col, value in values.items():
        if math.isnan(value):
            continue
        if previous is not None and value < previous[1]:
            raise MeasurementError(
                f"{label}: line {line}: percentiles must not decrease, but column {col!r} "
                f"({row[col]} ms) < column {previous[0]!r} ({row[previous[0]]} ms)"
            )
        previous = (col, value)


def _read(source: str | os.PathLike[str], caller: str, numeric: dict[str, tuple[str, float]]) -> pd.DataFrame:
    label, text = read_measurement(source, caller=caller, what="a Locust CSV file")
    required = ("Type", "Name", *numeric)
    header, rows = csv_records(label, text, required)
    pct = [c for c in header if c in PERCENTILES]
    records = []
    for line, row in rows:
        rec: dict[str, object] = {"type": row["Type"], "name": row["Name"]}
        for col, (name, scale) in numeric.items():
            rec[name] = _nonnegative(label, line, row, col, " ms" if scale == _MS else "") * scale
        spectrum = {col: _nonnegative(label, line, row, col, " ms") for col in pct}
        _check_ascending(label, line, row, spectrum)
        rec.update({PERCENTILES[col]: value * _MS for col, value in spectrum.items()})
        records.append(rec)
    names = ["type", "name", *(n for n, _ in numeric.values()), *(PERCENTILES[c] for c in pct)]
    return pd.DataFrame(records, columns=names)


def read_locust_stats(source: str | os.PathLike[str]) -> pd.DataFrame:
    """Read ``PREFIX_stats.csv`` (a path, or the file's text) into seconds / requests per second.

    Raises
    ------
    MeasurementError
        Missing columns, a row with the wrong number of fields, a non-numeric value, a negative
        response time or percentiles that decrease from one column to the next (the message
        names the file, line and column).
    """
    return _read(source, "read_locust_stats", _STATS_COLUMNS)


def read_locust_history(source: str | os.PathLike[str]) -> pd.DataFrame:
    """Read ``PREFIX_stats_history.csv`` (a path, or the file's text); see :func:`read_locust_stats`.

    ``timestamp`` is Unix seconds; ``p50 ... p100`` are Locust's *current* percentiles (over its
    recent response-time window, 10 s by default), the ``total_*`` columns cumulative since the
    start of the run.
    """
    frame = _read(source, "read_locust_history", _HISTORY_COLUMNS)
    return frame.astype({"users": "int64"}) if not frame["users"].isna().any() else frame


def locust_stages(history: pd.DataFrame, *, warmup: float = 0.0, name: str = "Aggregated") -> pd.DataFrame:
    """One row per user-count stage of a stepped Locust run: concurrency, throughput, latency.

    A stage is a run of consecutive history rows of request ``name`` with the same ``users``.
    Rows in its first ``warmup`` seconds are skipped; over the rest, from its first to its last
    row,

    * ``throughput = delta(total_requests) / delta(timestamp)``;
    * ``mean_latency = delta(total_mean * total_requests) / delta(total_requests)`` (the mean of
      the stage's own requests, recovered from Locust's cumulative mean);
    * ``p50, p95, p99`` from the stage's last row (Locust's current window at the stage end);
    * ``failure_fraction = delta(total_failures) / delta(total_requests)``.

    Stages with user count 0 or fewer than two rows left after the warm-up are dropped.

    Raises
    ------
    ParameterError
        ``warmup`` negative, or ``history`` lacks the columns :func:`read_locust_history` gives.
    """
    if not (math.isfinite(warmup) and warmup >= 0):
        raise ParameterError(f"warmup must be a non-negative number of seconds, got {warmup!r}")
    need = [
        "timestamp",
        "users",
        "name",
        "total_requests",
        "total_failures",
        "total_mean",
        "p50",
        "p95",
        "p99",
    ]
    missing = [c for c in need if c not in history.columns]
    if missing:
        raise ParameterError(f"history lacks column(s) {missing}; read it with read_locust_history")
    rows = history[history["name"] == name].sort_values("timestamp")
    if rows.empty:
        raise MeasurementError(f"history has no rows for request name {name!r}")
    users = rows["users"].to_numpy()
    stage_id = np.concatenate([[0], np.cumsum(users[1:] != users[:-1])])
    out = []
    for _, stage in rows.groupby(stage_id, sort=True):
        n = int(stage["users"].iloc[0])
        t = stage["timestamp"].to_numpy(dtype=float)
        kept = stage[t >= t[0] + warmup]
        if n <= 0 or len(kept) < 2:
            continue
        first, last = kept.iloc[0], kept.iloc[-1]
        dt = float(last["timestamp"] - first["timestamp"])
        dn = float(last["total_requests"] - first["total_requests"])
        if dt <= 0 or dn <= 0:
            continue
        busy = float(
            last["total_mean"] * last["total_requests"] - first["total_mean"] * first["total_requests"]
        )
        out.append(
            {
                "users": n,
                "start": float(first["timestamp"]),
                "end": float(last["timestamp"]),
                "requests": dn,
                "throughput": dn / dt,
                "mean_latency": busy / dn,
                "p50": float(last["p50"]),
                "p95": float(last["p95"]),
                "p99": float(last["p99"]),
                "failure_fraction": float(last["total_failures"] - first["total_failures"]) / dn,
            }
        )
    return pd.DataFrame(
        out,
        columns=[
            "users",
            "start",
            "end",
            "requests",
            "throughput",
            "mean_latency",
            "p50",
            "p95",
            "p99",
            "failure_fraction",
        ],
    )
