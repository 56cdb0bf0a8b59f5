"""PromQL's ``histogram_quantile`` and ``rate``/``increase``, computed on samples in Python.

Both follow the Prometheus 2.x source (``promql/quantile.go`` ``bucketQuantile``, and
``promql/functions.go`` ``extrapolatedRate``) so that a quantile or a rate computed here from raw
samples equals what the server answers for the same samples; the tests check that against a
running Prometheus.

``histogram_quantile(q, buckets)`` for cumulative bucket counts ``c_i`` with upper bounds
``le_i`` (sorted, the last ``+Inf``; equal bounds merged; counts made non-decreasing):
``rank = q c_n``; the first bucket ``b`` with ``c_b >= rank`` holds the quantile and, assuming
the observations spread uniformly inside it, ``le_{b-1} + (le_b - le_{b-1}) (rank - c_{b-1}) /
(c_b - c_{b-1})`` (``le_{-1} = 0``: the lowest bucket starts at 0 when its bound is positive).
If the rank falls in the ``+Inf`` bucket, the answer is the largest finite bound; ``q < 0`` gives
``-Inf``, ``q > 1`` ``+Inf``; fewer than two buckets, no ``+Inf`` bucket or no observations give
NaN.  The interpolation is an approximation: the true quantile lies anywhere in its bucket, so
``lower``/``upper`` report that bucket's bounds (``upper = inf`` past the largest finite bound).

``rate`` over a window ``[t - w, t]``: the increase between the first and last sample in the
window, adding back the value before each counter reset (a decrease), extrapolated to the window
edges when the first/last sample lies within 1.1 average sample intervals of them (else by half
an interval), and never extrapolated below zero at the start; divided by ``w`` for ``rate``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike, NDArray

from capplan._validate import FloatArray
from capplan.errors import ParameterError

__all__ = ["METHOD", "bucket_quantile", "extrapolated_rate", "histogram_quantile", "rate"]

#: How :func:`histogram_quantile` estimates (kept in the result's ``attrs["method"]``).
METHOD = (
    "approximate: linear interpolation inside the bucket holding the quantile (PromQL "
    "histogram_quantile); the true quantile lies in [lower, upper]"
)


def _le_value(le: object) -> float:
    try:
        return float(le)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise ParameterError(f"le must be a number or '+Inf', got {le!r}") from None


def bucket_quantile(q: float, upper_bounds: ArrayLike, counts: ArrayLike) -> tuple[float, float, float]:
    """``(value, lower, upper)``: PromQL's ``histogram_quantile`` of one histogram and its bucket.

    ``upper_bounds`` are the ``le`` values (any order, ``inf`` for ``+Inf``) and ``counts`` the
    cumulative counts.  ``lower``/``upper`` bound the true quantile (the bucket it falls in); they
    are NaN when the value is NaN and equal the value for the ``q < 0``, ``q > 1`` and
    non-positive-lowest-bucket cases, where PromQL answers without interpolating.
    """
    le = np.asarray(upper_bounds, dtype=np.float64).ravel()
    c = np.asarray(counts, dtype=np.float64).ravel()
    if le.shape != c.shape:
        raise ParameterError(f"upper_bounds and counts must have the same length, got {le.size} and {c.size}")
    nan3 = (math.nan, math.nan, math.nan)
    if math.isnan(q):
        return nan3
    if q < 0:
        return (-math.inf, -math.inf, -math.inf)
    if q > 1:
        return (math.inf, math.inf, math.inf)
    if le.size == 0:
        return nan3
    order = np.argsort(le, kind="stable")
    le, c = le[order], c[order]
    if not (math.isinf(le[-1]) and le[-1] > 0):
        return nan3
    # coalesce equal bounds (summing their counts), then make the counts non-decreasing
    uniq, start = np.unique(le, return_index=True)
    c = np.add.reduceat(c, start)
    le = uniq
    c = np.maximum.accumulate(c)
    if le.size < 2:
        return nan3
    observations = float(c[-1])
    if observations == 0 or math.isnan(observations):
        return nan3
    rank = q * observations
    b = int(np.searchsorted(c[:-1], rank, side="left"))
    if b == le.size - 1:
        return (float(le[-2]), float(le[-2]), math.inf)
    if b == 0 and le[0] <= 0:
        return (float(le[0]), float(le[0]), float(le[0]))
    bucket_start = 0.0
    bucket_end = float(le[b])
    count = float(c[b])
    if b > 0:
        bucket_start = float(le[b - 1])
        count -= float(c[b - 1])
        rank -= float(c[b - 1])
    # rank 0 in an empty first bucket: 0/0, NaN in Go's float arithmetic as here
    fraction = rank / count if count > 0 else math.nan
    value = bucket_start + (bucket_end - bucket_start) * fraction
    if math.isnan(value):
        return nan3
    return (value, bucket_start, bucket_end)


def histogram_quantile(
    q: float | Sequence[float], buckets: pd.DataFrame, *, le: str = "le", value: str = "value"
) -> pd.DataFrame:
    """PromQL ``histogram_quantile`` over a tidy frame of bucket samples.

    ``buckets`` has a bucket-bound column ``le`` (numbers or strings such as ``"0.05"``,
    ``"+Inf"``), a count column ``value``, and any other columns (labels, ``timestamp``) that
    identify a histogram: like PromQL, one histogram per combination of those columns, the metric
    name dropped.  Returns one row per histogram and ``q``: the identifying columns, ``quantile``,
    ``value`` and the bucket bounds ``lower``, ``upper`` between which the true quantile lies.
    """
    if le not in buckets.columns or value not in buckets.columns:
        raise ParameterError(f"buckets must have columns {le!r} and {value!r}, got {list(buckets.columns)}")
    qs = [float(q)] if isinstance(q, int | float) else [float(x) for x in q]
    frame = buckets.copy()
    frame["_le"] = [_le_value(x) for x in frame[le]]
    keys = [col for col in frame.columns if col not in (le, value, "metric", "_le")]
    rows: list[dict[str, object]] = []
    groups = frame.groupby(keys, sort=True, dropna=False) if keys else [((), frame)]
    for key, group in groups:
        ident = dict(zip(keys, key if isinstance(key, tuple) else (key,), strict=True))
        for qq in qs:
            v, lo, hi = bucket_quantile(qq, group["_le"].to_numpy(), group[value].to_numpy(dtype=float))
            rows.append({**ident, "quantile": qq, "value": v, "lower": lo, "upper": hi})
    out = pd.DataFrame(rows, columns=[*keys, "quantile", "value", "lower", "upper"])
    out.attrs["method"] = METHOD
    return out


def extrapolated_rate(
    timestamps: ArrayLike,
    values: ArrayLike,
    range_start: float,
    range_end: float,
    *,
    is_counter: bool = True,
    is_rate: bool = True,
) -> float:
    """Prometheus's ``extrapolatedRate`` for the samples of one series inside one window.

    ``is_rate`` divides by the window length (``rate``); otherwise the extrapolated increase
    (``increase``).  NaN with fewer than two samples (PromQL returns no value then).

    Times are taken in whole milliseconds, as Prometheus stores them, and durations are formed
    from integer differences: in float seconds since the epoch (ulp ~2e-7 s) the durations would
    carry errors of ~1e-8 relative that Prometheus's results do not have.
    """
    t = _milliseconds(timestamps)
    v = np.asarray(values, dtype=np.float64).ravel()
    if t.size < 2:
        return math.nan
    start_ms, end_ms = (int(x) for x in _milliseconds([range_start, range_end]))
    result = float(v[-1] - v[0])
    if is_counter:
        drops = v[1:] < v[:-1]
        result += float(v[:-1][drops].sum())
    duration_to_start = float(t[0] - start_ms) / 1000
    duration_to_end = float(end_ms - t[-1]) / 1000
    sampled = float(t[-1] - t[0]) / 1000
    average = sampled / (t.size - 1)
    if is_counter and result > 0 and v[0] >= 0:
        duration_to_zero = sampled * (float(v[0]) / result)
        duration_to_start = min(duration_to_start, duration_to_zero)
    threshold = average * 1.1
    interval = sampled
    interval += duration_to_start if duration_to_start < threshold else average / 2
    interval += duration_to_end if duration_to_end < threshold else average / 2
    result *= interval / sampled
    if is_rate:
        result /= (end_ms - start_ms) / 1000
    return result


def _milliseconds(seconds: ArrayLike) -> NDArray[np.int64]:
    """Seconds since the epoch as integer milliseconds (Prometheus's time resolution)."""
    return np.rint(np.asarray(seconds, dtype=np.float64).ravel() * 1000).astype(np.int64)


def rate(samples: pd.DataFrame, window: float, at: ArrayLike, *, increase: bool = False) -> pd.DataFrame:
    """PromQL ``rate(x[window])`` (or ``increase``) of every series in ``samples`` at times ``at``.

    ``samples`` is a tidy frame (``timestamp``, ``value`` and label columns, e.g. from
    :func:`capplan.measurements.prometheus.query` of a range selector or a range query of the
    raw counter).  The window at ``t`` is ``[t - window, t]``, both ends included, as in
    Prometheus 2.x.  Returns the label columns, ``timestamp`` and ``value`` (per second for a
    rate), without rows where a window holds fewer than two samples.
    """
    if not (math.isfinite(window) and window > 0):
        raise ParameterError(f"window must be a positive number of seconds, got {window!r}")
    for col in ("timestamp", "value"):
        if col not in samples.columns:
            raise ParameterError(f"samples must have a {col!r} column, got {list(samples.columns)}")
    times: FloatArray = np.atleast_1d(np.asarray(at, dtype=np.float64))
    keys = [c for c in samples.columns if c not in ("timestamp", "value", "metric")]
    rows: list[dict[str, object]] = []
    groups = samples.groupby(keys, sort=True, dropna=False) if keys else [((), samples)]
    for key, group in groups:
        ident = dict(zip(keys, key if isinstance(key, tuple) else (key,), strict=True))
        g = group.sort_values("timestamp")
        ts = g["timestamp"].to_numpy(dtype=float)
        vs = g["value"].to_numpy(dtype=float)
        for t_eval in times:
            lo = int(np.searchsorted(ts, t_eval - window, side="left"))
            hi = int(np.searchsorted(ts, t_eval, side="right"))
            r = extrapolated_rate(ts[lo:hi], vs[lo:hi], t_eval - window, float(t_eval), is_rate=not increase)
            if not math.isnan(r):
                rows.append({**ident, "timestamp": float(t_eval), "value": r})
    return pd.DataFrame(rows, columns=[*keys, "timestamp", "value"])
