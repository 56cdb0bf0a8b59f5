"""Traffic history for the forecast: a regular series of request rates (requests/s) in time.

A history comes from a CSV file (:func:`load_history`), from a Prometheus range query
(:func:`history_from_prometheus`) or from any pandas Series with a DatetimeIndex
(:func:`check_history`).  Every path ends in :func:`check_history`, which raises
:class:`ForecastError` naming the file (or ``history``) and the field when the series cannot be
fitted: too short, NaN or negative values, times out of order, repeated or unevenly spaced.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from capplan.errors import ParameterError, clipped

if TYPE_CHECKING:
    from capplan.measurements.prometheus import PrometheusClient

__all__ = [
    "MIN_WEEKS",
    "ForecastError",
    "check_history",
    "history_from_prometheus",
    "load_history",
    "week_steps",
]

#: Whole weeks a history must span: the weekly cycle is estimated, and the seasonal-naive
#: baseline needs a week to copy.
MIN_WEEKS = 2
_WEEK = pd.Timedelta(days=7)


class ForecastError(ParameterError):
    """A traffic history or forecast input is unusable; the message names the file or field."""


def check_history(history: pd.Series, source: str = "history") -> pd.Series:
    """``history`` as float requests/s on a regular UTC DatetimeIndex, or :class:`ForecastError`.

    The index must be strictly increasing with one step (at most an hour, dividing a day), span
    at least :data:`MIN_WEEKS` weeks, and every value must be finite and >= 0 (positive on average).
    """
    if not isinstance(history, pd.Series):
        raise ForecastError(f"{source}: expected a pandas Series, got {type(history).__name__}")
    if not isinstance(history.index, pd.DatetimeIndex):
        raise ForecastError(
            f"{source}: the index must be times (DatetimeIndex), got {type(history.index).__name__}"
        )
    values = pd.to_numeric(history, errors="coerce").astype(float)
    bad = values.index[~np.isfinite(values.to_numpy())]
    if len(bad):
        raise ForecastError(f"{source}: rate is NaN or not a number at {bad[0]} ({len(bad)} rows)")
    if (values < 0).any():
        raise ForecastError(f"{source}: rate is negative at {values.index[values < 0][0]}")
    index = history.index
    steps = index[1:] - index[:-1]
    if (steps <= pd.Timedelta(0)).any():
        where = int(np.argmax(steps <= pd.Timedelta(0)))
        raise ForecastError(
            f"{source}: timestamp is not increasing: {index[where + 1]} follows {index[where]}"
        )
    step = steps[0] if steps.size else pd.Timedelta(0)
    if steps.size and (steps != step).any():
        where = int(np.argmax(steps != step))
        raise ForecastError(
            f"{source}: timestamp is not evenly spaced: {index[where]} to {index[where + 1]} "
            f"after steps of {step}"
        )
    if steps.size and (step > pd.Timedelta(hours=1) or pd.Timedelta(days=1) % step):
        raise ForecastError(f"{source}: timestamp step must divide a day and be at most 1h, got {step}")
    span = step * len(index)
    if not steps.size or span < MIN_WEEKS * _WEEK:
        raise ForecastError(
            f"{source}: too short: {len(index)} rows spanning {span}; the forecast needs at least "
            f"{MIN_WEEKS} weeks"
        )
    if not values.mean() > 0:
        raise ForecastError(f"{source}: rate is zero throughout")
    out = pd.Series(values.to_numpy(), index=_utc(index), name="rate")
    out.index.name = "time"
    return out


def _utc(index: pd.DatetimeIndex) -> pd.DatetimeIndex:
    return index.tz_localize("UTC") if index.tz is None else index.tz_convert("UTC")


def week_steps(history: pd.Series) -> int:
    """Steps of ``history`` in one week (168 for hourly data): the seasonal-naive period."""
    step = history.index[1] - history.index[0]
    return int(_WEEK / step)


def load_history(path: str | os.PathLike[str]) -> pd.Series:
    """Read a traffic history CSV: a ``timestamp`` column and ``requests`` or ``rate``.

    ``timestamp`` is ISO 8601 (UTC unless an offset is given) or Unix seconds; ``requests`` is the
    count served in the interval starting at the timestamp (divided by the interval to give
    requests/s), ``rate`` is already requests/s.  Returns the checked series (see
    :func:`check_history`), errors name the file and the column.
    """
    label = str(path)
    try:
        frame = pd.read_csv(path)
    except (OSError, ValueError) as exc:
        raise ForecastError(f"{label}: cannot read as CSV: {exc}") from None
    if "timestamp" not in frame.columns:
        columns = clipped(", ".join(map(str, frame.columns)))
        raise ForecastError(f"{label}: no 'timestamp' column (columns: {columns})")
    value_columns = [c for c in ("requests", "rate") if c in frame.columns]
    if len(value_columns) != 1:
        raise ForecastError(
            f"{label}: give exactly one of the columns 'requests' (count per interval) or 'rate'"
        )
    column = value_columns[0]
    times = _parse_times(frame["timestamp"], label)
    values = pd.to_numeric(frame[column], errors="coerce").astype(float)
    series = pd.Series(values.to_numpy(), index=times)
    if column == "requests" and len(times) > 1:
        seconds = (times[1] - times[0]).total_seconds()
        if seconds <= 0:
            raise ForecastError(f"{label}: timestamp is not increasing: {times[1]} follows {times[0]}")
        series = series / seconds
    return check_history(series, f"{label}: column {column!r}")


def _parse_times(column: pd.Series, label: str) -> pd.DatetimeIndex:
    try:
        if pd.api.types.is_numeric_dtype(column):
            return pd.DatetimeIndex(pd.to_datetime(column, unit="s", utc=True))
        return pd.DatetimeIndex(pd.to_datetime(column, utc=True, format="ISO8601"))
    except (ValueError, TypeError) as exc:
        raise ForecastError(f"{label}: column 'timestamp': {exc}") from None


def history_from_prometheus(
    client: PrometheusClient | str,
    promql: str,
    start: float | pd.Timestamp,
    end: float | pd.Timestamp,
    step: str | float = "1h",
) -> pd.Series:
    """The history of a request rate from a Prometheus range query, e.g.
    ``sum(rate(http_requests_total[1h]))`` at ``step="1h"``.

    ``client`` is a :class:`~capplan.measurements.prometheus.PrometheusClient` or the server URL;
    ``start`` and ``end`` are Unix seconds or Timestamps; ``step`` seconds or a duration (``"1h"``).
    The query must return exactly one series; steps where it had no sample become NaN and are
    reported by :func:`check_history`.
    """
    from capplan.measurements.prometheus import PrometheusClient  # noqa: PLC0415 - its imports
    from capplan.units import parse_duration  # noqa: PLC0415

    prom = PrometheusClient(client) if isinstance(client, str) else client
    seconds = parse_duration(step) if isinstance(step, str) else float(step)
    t0, t1 = (x.timestamp() if isinstance(x, pd.Timestamp) else float(x) for x in (start, end))
    source = f"{prom.url} query_range {promql!r}"
    frame = prom.query_range(promql, t0, t1, seconds)
    labels = [c for c in frame.columns if c not in ("timestamp", "value")]
    groups = frame.groupby(labels, dropna=False).ngroups if labels and len(frame) else min(len(frame), 1)
    if groups != 1:
        raise ForecastError(f"{source}: expected one series, got {groups}; aggregate it with sum(...)")
    grid = np.arange(t0, t1 + seconds / 2, seconds)
    values = pd.Series(frame["value"].to_numpy(), index=frame["timestamp"].to_numpy()).reindex(grid)
    index = pd.DatetimeIndex(pd.to_datetime(grid, unit="s", utc=True))
    return check_history(pd.Series(values.to_numpy(), index=index), source)
