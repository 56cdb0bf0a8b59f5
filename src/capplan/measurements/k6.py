"""k6 results: ``--out json`` points, and the end-of-test summary in both of its JSON shapes.

``k6 run --out json=FILE`` writes newline-delimited JSON: ``{"type": "Metric", "metric": NAME,
"data": {"type": ..., "contains": "time"|"data"|"default", ...}}`` once per metric, then one
``{"type": "Point", "metric": NAME, "data": {"time": RFC3339, "value": v, "tags": {...}}}`` per
sample (k6 documentation, "JSON" output).  :func:`read_k6_points` returns ``metric, timestamp``
(Unix seconds), ``value`` (seconds for metrics that contain time - k6 records milliseconds -
bytes for data, as is otherwise) and one column per tag.

The end-of-test summary comes in two shapes, both read by :func:`read_k6_summary`:

* the data passed to ``handleSummary(data)`` (k6 >= 0.30, documentation "Custom summary"):
  ``metrics.NAME = {"type", "contains", "values": {...}, "thresholds": {EXPR: {"ok": bool}}}``;
* the legacy ``--summary-export`` file: ``metrics.NAME = {stat: value, ..., "thresholds":
  {EXPR: bool}}`` where the boolean is **true when the threshold failed** (k6 issue #1498,
  k6-docs issue #30), and no type information, so time metrics are recognised by name
  (:data:`TIME_METRICS`, plus ``time_metrics=`` for custom trends).

Both give ``K6Summary.metrics`` (``metric, stat, value``, time statistics in seconds) and
``K6Summary.thresholds`` (``metric, threshold, ok``).
"""

from __future__ import annotations

import itertools
import os
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import pandas as pd

from capplan._strict import finite_json_number, load_json
from capplan.errors import UnitError
from capplan.measurements._common import MeasurementError, read_measurement
from capplan.units import percentile_quantile

__all__ = ["TIME_METRICS", "K6Summary", "k6_percentiles", "read_k6_points", "read_k6_summary"]

#: k6's built-in metrics measured in milliseconds (documentation, "Built-in metrics").
TIME_METRICS: frozenset[str] = frozenset(
    {
        "http_req_duration",
        "http_req_blocked",
        "http_req_connecting",
        "http_req_tls_handshaking",
        "http_req_sending",
        "http_req_waiting",
        "http_req_receiving",
        "iteration_duration",
        "group_duration",
        "ws_session_duration",
        "ws_connecting",
        "ws_ping",
        "grpc_req_duration",
    }
)

_MS = 1e-3
#: Tags that name a group of requests in a submetric: a scenario, or a tag the script sets.
_GROUP_TAGS = ("scenario", "class", "name")
_PERCENTILE_STAT = re.compile(r"^p\((\d+(?:\.\d+)?)\)$")
#: Statistics of a time metric that carry its unit (counts and rates do not).
_TIME_STATS = re.compile(r"^(avg|min|med|max|value|p\(\d+(\.\d+)?\))$")
_FRACTION = re.compile(r"(\.\d+)")


def _timestamp(label: str, line: int, text: Any) -> float:
    if not isinstance(text, str):
        raise MeasurementError(f"{label}: line {line}: data.time must be an RFC 3339 string, got {text!r}")
    # Python parses at most microseconds; k6 writes nanoseconds
    trimmed = _FRACTION.sub(lambda m: m.group(1)[:7], text, count=1)
    try:
        return datetime.fromisoformat(trimmed).timestamp()
    except ValueError:
        raise MeasurementError(f"{label}: line {line}: data.time {text!r} is not an RFC 3339 time") from None


def read_k6_points(source: str | os.PathLike[str], *, time_metrics: Iterable[str] = ()) -> pd.DataFrame:
    """Read ``k6 run --out json=FILE`` output (a path, or the text) into a tidy sample frame.

    Raises
    ------
    MeasurementError
        A line that is not JSON, not an object, or a Point without a numeric ``data.value`` /
        a valid ``data.time`` (the message names the file and line).
    """
    label, text = read_measurement(source, caller="read_k6_points", what="a k6 JSON output file")
    timed = set(TIME_METRICS) | set(time_metrics)
    rows: list[dict[str, Any]] = []
    for line, raw in enumerate(text.splitlines(), start=1):
        if not raw.strip():
            continue
        obj = load_json(raw, label, MeasurementError, first_line=line)
        if not isinstance(obj, dict) or "type" not in obj:
            raise MeasurementError(f"{label}: line {line}: expected an object with a 'type' key")
        data = obj.get("data")
        name = obj.get("metric")
        if obj["type"] == "Metric":
            if isinstance(data, dict) and data.get("contains") == "time" and isinstance(name, str):
                timed.add(name)
            continue
        if obj["type"] != "Point":
            continue
        if not isinstance(data, dict) or not isinstance(name, str):
            raise MeasurementError(f"{label}: line {line}: a Point needs 'metric' and a 'data' object")
        value = finite_json_number(data.get("value"), f"{label}: line {line}: data.value", MeasurementError)
        tags = data.get("tags") or {}
        if not isinstance(tags, dict):
            raise MeasurementError(f"{label}: line {line}: data.tags must be an object, got {tags!r}")
        rows.append(
            {
                "metric": name,
                "timestamp": _timestamp(label, line, data.get("time")),
                "value": value,
                **{
                    f"tag_{k}" if k in ("metric", "timestamp", "value") else k: str(v)
                    for k, v in tags.items()
                },
            }
        )
    if not rows:
        return pd.DataFrame({"metric": pd.Series(dtype=str), "timestamp": [], "value": []})
    frame = pd.DataFrame(rows)
    negative = frame["metric"].isin(timed) & (frame["value"] < 0)
    if negative.any():
        row = frame[negative].iloc[0]
        raise MeasurementError(
            f"{label}: metric {row['metric']!r}: a time of {row['value']!r} ms is negative"
        )
    scale = frame["metric"].map(lambda m: _MS if m in timed else 1.0)
    frame["value"] = frame["value"] * scale
    tags_cols = sorted(c for c in frame.columns if c not in ("metric", "timestamp", "value"))
    frame[tags_cols] = frame[tags_cols].fillna("")
    return frame[["metric", "timestamp", "value", *tags_cols]]


@dataclass(frozen=True)
class K6Summary:
    """A k6 end-of-test summary: ``metrics`` (metric, stat, value) and ``thresholds`` (metric,
    threshold, ok); ``format`` is ``"handleSummary"`` or ``"summary-export"``."""

    metrics: pd.DataFrame
    thresholds: pd.DataFrame
    format: str

    @property
    def passed(self) -> bool:
        """True when every threshold passed (and when there are none)."""
        return bool(self.thresholds["ok"].all())

    def stat(self, metric: str, stat: str) -> float:
        """One statistic, e.g. ``stat("http_req_duration", "p(95)")`` (seconds)."""
        hit = self.metrics[(self.metrics["metric"] == metric) & (self.metrics["stat"] == stat)]
        if hit.empty:
            raise MeasurementError(f"k6 summary has no statistic {stat!r} for metric {metric!r}")
        return float(hit["value"].iloc[0])

    def __repr__(self) -> str:
        return (
            f"K6Summary(format={self.format!r}, metrics={self.metrics['metric'].nunique()}, "
            f"thresholds={len(self.thresholds)}, passed={self.passed})"
        )


def _number(label: str, key: str, value: Any) -> float:
    if isinstance(value, bool):
        return float(value)
    return finite_json_number(value, f"{label}: key {key}", MeasurementError)


def _thresholds(label: str, key: str, body: Mapping[str, Any]) -> Mapping[str, Any]:
    thresholds = body.get("thresholds") or {}
    if not isinstance(thresholds, Mapping):
        raise MeasurementError(f"{label}: key {key}.thresholds: expected an object, got {thresholds!r}")
    return thresholds


def _stats(label: str, prefix: str, values: Mapping[str, Any], timed: bool) -> list[tuple[str, float]]:
    """``(stat, value)`` of one metric, time statistics in seconds; times are non-negative and the
    percentiles (``med`` and ``p(N)``) do not decrease with N."""
    out: list[tuple[str, float]] = []
    spectrum: list[tuple[float, str, float]] = []
    for stat, value in values.items():
        v = _number(label, f"{prefix}.{stat}", value)
        if timed and _TIME_STATS.match(stat):
            if v < 0:
                raise MeasurementError(f"{label}: key {prefix}.{stat}: a time of {v!r} ms is negative")
            v *= _MS
        pct = _PERCENTILE_STAT.match(stat)
        if stat == "med" or pct is not None:
            spectrum.append((50.0 if pct is None else float(pct.group(1)), stat, v))
        out.append((stat, v))
    spectrum.sort()
    for (_, low, a), (_, high, b) in itertools.pairwise(spectrum):
        if b < a:
            raise MeasurementError(
                f"{label}: key {prefix}: percentiles must not decrease, but {high} ({b:g}) < {low} ({a:g})"
            )
    return out


def read_k6_summary(source: str | os.PathLike[str], *, time_metrics: Iterable[str] = ()) -> K6Summary:
    """Read a k6 end-of-test summary: ``handleSummary`` data or a legacy ``--summary-export``.

    The shape is recognised per metric: an object with a ``values`` object is the
    ``handleSummary`` shape (threshold entries ``{"ok": bool}``), otherwise the legacy shape
    (threshold entries ``bool``, **true meaning failed**).

    Raises
    ------
    MeasurementError
        Not JSON, no ``metrics`` object, or a statistic / threshold of the wrong type (the
        message names the key path).
    """
    label, text = read_measurement(source, caller="read_k6_summary", what="a k6 summary JSON file")
    doc = load_json(text, label, MeasurementError)
    if not isinstance(doc, dict) or not isinstance(doc.get("metrics"), dict):
        raise MeasurementError(f"{label}: expected a JSON object with a 'metrics' object")
    extra_timed = set(time_metrics)
    stats: list[dict[str, Any]] = []
    checks: list[dict[str, Any]] = []
    formats: set[str] = set()
    for name, body in doc["metrics"].items():
        key = f"metrics.{name}"
        if not isinstance(body, Mapping):
            raise MeasurementError(f"{label}: key {key}: expected an object")
        if isinstance(body.get("values"), Mapping):
            formats.add("handleSummary")
            values = body["values"]
            base = name.split("{", 1)[0]
            timed = body.get("contains") == "time" or base in extra_timed
            for th, res in _thresholds(label, key, body).items():
                if not (isinstance(res, Mapping) and isinstance(res.get("ok"), bool)):
                    raise MeasurementError(f"{label}: key {key}.thresholds.{th}: expected {{'ok': bool}}")
                checks.append({"metric": name, "threshold": th, "ok": res["ok"]})
            prefix = f"{key}.values"
        else:
            formats.add("summary-export")
            values = {k: v for k, v in body.items() if k != "thresholds"}
            base = name.split("{", 1)[0]
            timed = base in TIME_METRICS or base in extra_timed
            for th, failed in _thresholds(label, key, body).items():
                if not isinstance(failed, bool):
                    raise MeasurementError(f"{label}: key {key}.thresholds.{th}: expected true/false")
                checks.append({"metric": name, "threshold": th, "ok": not failed})
            prefix = key
        stats += [{"metric": name, "stat": k, "value": v} for k, v in _stats(label, prefix, values, timed)]
    fmt = formats.pop() if len(formats) == 1 else ("mixed" if formats else "empty")
    return K6Summary(
        metrics=pd.DataFrame(stats, columns=["metric", "stat", "value"]),
        thresholds=pd.DataFrame(checks, columns=["metric", "threshold", "ok"]).astype({"ok": bool}),
        format=fmt,
    )


def k6_percentiles(
    summary: K6Summary, group: str | None = None, *, metric: str = "http_req_duration"
) -> dict[float, float]:
    """Percentiles ``{quantile: seconds}`` of a summary's trend metric (``med`` is the median).

    With ``group`` (e.g. an operation class) the submetric tagged for it is used -
    ``metric{scenario:<group>}``, ``{class:<group>}`` or ``{name:<group>}``, as a threshold on it
    makes k6 report it; the whole metric only when the summary has no submetric of ``metric`` at
    all (a test of one group).

    Raises
    ------
    MeasurementError
        No such metric, several groups but none named ``group``, or no percentile statistics.
    """
    names = list(dict.fromkeys(summary.metrics["metric"]))
    chosen = metric
    if group is not None:
        tagged = [f"{metric}{{{tag}:{group}}}" for tag in _GROUP_TAGS]
        found = [n for n in tagged if n in names]
        others = [n for n in names if n.startswith(metric + "{")]
        if found:
            chosen = found[0]
        elif others:
            raise MeasurementError(
                f"k6 summary has no submetric of {metric} for {group!r} (tried {', '.join(tagged)}); "
                f"it has {', '.join(others)}"
            )
    rows = summary.metrics[summary.metrics["metric"] == chosen]
    if rows.empty:
        raise MeasurementError(f"k6 summary has no metric {chosen!r}; it has {', '.join(names) or 'none'}")
    out: dict[float, float] = {}
    for stat, value in zip(rows["stat"], rows["value"], strict=True):
        m = _PERCENTILE_STAT.match(str(stat))
        if stat == "med":
            out[0.5] = float(value)
        elif m is not None and 0 < float(m.group(1)) < 100:
            try:
                out[percentile_quantile(float(m.group(1)))] = float(value)
            except UnitError as exc:
                raise MeasurementError(f"k6 summary: metric {chosen!r}, statistic {stat!r}: {exc}") from None
    if not out:
        raise MeasurementError(f"k6 summary: metric {chosen!r} has no percentile statistics (med, p(N))")
    return dict(sorted(out.items()))
