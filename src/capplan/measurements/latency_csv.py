"""Plain CSV latency logs and histogram bucket counts.

:func:`read_latency_csv` reads one latency per row from a named column (any other columns are
kept) and converts it to seconds with ``unit`` (``"s"``, ``"ms"``, ``"us"``, ``"ns"``).
:func:`read_bucket_csv` reads cumulative histogram buckets - an upper-bound column ``le``
(numbers or ``+Inf``) and a ``count`` column, plus identifying columns such as a user count -
the shape of a Prometheus ``*_bucket`` series, ready for
:func:`capplan.measurements.promql.histogram_quantile` and
:func:`capplan.fitting.fit_service_time_buckets`.
"""

from __future__ import annotations

import math
import os

import pandas as pd

from capplan.errors import ParameterError
from capplan.measurements._common import MeasurementError, csv_records, number, read_measurement

__all__ = ["UNITS", "read_bucket_csv", "read_latency_csv"]

#: Seconds per unit.
UNITS: dict[str, float] = {"s": 1.0, "ms": 1e-3, "us": 1e-6, "ns": 1e-9}


def read_latency_csv(
    source: str | os.PathLike[str], *, column: str = "latency", unit: str = "s"
) -> pd.DataFrame:
    """Read a CSV latency log; ``column`` becomes ``latency`` in seconds, other columns are kept.

    Raises
    ------
    MeasurementError
        Missing column, a value that is not a non-negative number (file, line and column named).
    ParameterError
        ``unit`` not one of :data:`UNITS`.
    """
    if unit not in UNITS:
        raise ParameterError(f"unit must be one of {sorted(UNITS)}, got {unit!r}")
    label, text = read_measurement(source, caller="read_latency_csv", what="a CSV latency log")
    header, rows = csv_records(label, text, (column,))
    lat = []
    for line, row in rows:
        v = number(label, line, column, row[column], allow_na=False)
        if not (math.isfinite(v) and v >= 0):
            raise MeasurementError(
                f"{label}: line {line}: column {column!r}: latency must be >= 0, got {v!r}"
            )
        lat.append(v * UNITS[unit])
    frame = pd.DataFrame([r for _, r in rows], columns=header)
    frame = frame.drop(columns=[column])
    frame.insert(0, "latency", lat)
    return frame


def read_bucket_csv(source: str | os.PathLike[str], *, le: str = "le", count: str = "count") -> pd.DataFrame:
    """Read cumulative histogram buckets: ``le`` (float, ``inf`` for ``+Inf``) and ``count``.

    Other columns identify the histogram and are kept (numbers converted where every value is
    numeric).

    Raises
    ------
    MeasurementError
        Missing columns, a non-numeric bound or count, or a negative count (file and line named).
    """
    label, text = read_measurement(source, caller="read_bucket_csv", what="a CSV of histogram buckets")
    header, rows = csv_records(label, text, (le, count))
    les, counts = [], []
    for line, row in rows:
        b = number(label, line, le, row[le], allow_na=False, finite=False)
        c = number(label, line, count, row[count], allow_na=False)
        if not (c >= 0 and math.isfinite(c)):
            raise MeasurementError(f"{label}: line {line}: column {count!r}: count must be >= 0, got {c!r}")
        les.append(b)
        counts.append(c)
    frame = pd.DataFrame([r for _, r in rows], columns=header).drop(columns=[le, count])
    for col in frame.columns:
        converted = pd.to_numeric(frame[col], errors="coerce")
        if not converted.isna().any():
            frame[col] = converted
    frame["le"] = les
    frame["count"] = counts
    return frame
