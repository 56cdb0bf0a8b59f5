"""Prometheus exposition text (``curl host:port/metrics`` saved to a file) as tidy samples.

Both formats a ``/metrics`` endpoint answers are read (Prometheus documentation, "Exposition
formats", text format 0.0.4; OpenMetrics 1.0 specification): ``# HELP`` / ``# TYPE`` / ``# UNIT``
lines, and samples ``name{label="value",...} value [timestamp]`` where label values escape
``\\``, ``"`` and a line feed as ``\\\\``, ``\\"`` and ``\\n``, values may be ``NaN``, ``+Inf``
and ``-Inf``, and an OpenMetrics sample may carry an exemplar after `` # `` (ignored here).
Timestamps are milliseconds in the text format and seconds in OpenMetrics (a file ending in
``# EOF``); both become Unix seconds, NaN when the sample has none.

:func:`read_exposition` returns the frame :func:`capplan.measurements.prometheus.query` returns
for the same series: ``metric`` (the sample's name, e.g. ``x_bucket``), one column per label
(``""`` where a series lacks it), ``timestamp`` and ``value``, so histogram buckets go straight to
:func:`capplan.measurements.promql.histogram_quantile`.  ``selector`` picks series with
PromQL's syntax: ``x`` or ``x{path="/work",code!~"5.."}``; a bare family name (``x`` of a
histogram) selects its ``_bucket``, ``_sum`` and ``_count`` samples.  :func:`series_quantiles`
gives the latency quantiles of each series of a histogram or summary family.

Every malformed line raises :class:`MeasurementError` naming the file and line: bad syntax or
escapes, a value or timestamp that is not an ASCII number, a repeated label, an unknown ``TYPE``,
a bucket without a numeric ``le``, a count (bucket, ``_count``, counter) that is negative, NaN
or infinite, cumulative buckets that decrease, a histogram without a ``+Inf`` bucket, summary
quantiles outside [0, 1] or values that decrease as the quantile grows.
"""

from __future__ import annotations

import itertools
import math
import os
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import pandas as pd

from capplan._strict import ascii_float
from capplan.errors import ParameterError
from capplan.measurements._common import MeasurementError, read_measurement
from capplan.measurements.promql import histogram_quantile

__all__ = ["TYPES", "parse_selector", "read_exposition", "series_quantiles"]

#: Metric types of the text format and OpenMetrics.
TYPES = frozenset(
    {"counter", "gauge", "histogram", "summary", "untyped", "unknown", "gaugehistogram", "info", "stateset"}
)
#: Sample-name suffixes of each type's series (the family name is the name without it).
_SUFFIXES = {
    "counter": ("_total", "_created"),
    "histogram": ("_bucket", "_count", "_sum", "_created"),
    "gaugehistogram": ("_bucket", "_gcount", "_gsum"),
    "summary": ("_count", "_sum", "_created"),
    "info": ("_info",),
}
_COUNTS = ("_bucket", "_count", "_total", "_gcount")
_NAME = re.compile(r"[a-zA-Z_:][a-zA-Z0-9_:]*")
_LABEL = re.compile(r"\s*([a-zA-Z_][a-zA-Z0-9_]*)\s*(=~|!~|!=|=)\s*\"((?:[^\"\\]|\\.)*)\"\s*(,?)", re.S)
_RESERVED = ("metric", "timestamp", "value")

Matcher = tuple[str, str, str]


@dataclass(frozen=True)
class _Sample:
    line: int
    name: str
    labels: dict[str, str]
    value: float
    timestamp: float


def _unescape(text: str) -> str:
    return re.sub(r"\\(.)", lambda m: {"n": "\n", "\\": "\\", '"': '"'}.get(m.group(1), m.group(0)), text)


def _labels(text: str, start: int, where: str, ops: tuple[str, ...]) -> tuple[list[Matcher], int]:
    """Label pairs from ``text[start]`` (just after ``{``) to the closing ``}``; its end index."""
    out: list[Matcher] = []
    pos = start
    while True:
        close = re.compile(r"\s*\}").match(text, pos)
        if close:
            return out, close.end()
        m = _LABEL.match(text, pos)
        if m is None or m.group(2) not in ops:
            raise MeasurementError(f"{where}: malformed label set at {text[pos : pos + 40]!r}")
        out.append((m.group(1), m.group(2), _unescape(m.group(3))))
        pos = m.end()
        if not m.group(4) and not re.compile(r"\s*\}").match(text, pos):
            raise MeasurementError(f"{where}: expected ',' or '}}' at {text[pos : pos + 40]!r}")


def _sample(text: str, where: str, line: int, openmetrics: bool) -> _Sample:
    m = _NAME.match(text)
    if m is None:
        raise MeasurementError(f"{where}: expected a metric name, got {text[:40]!r}")
    labels: dict[str, str] = {}
    pos = m.end()
    if text.startswith("{", pos):
        pairs, pos = _labels(text, pos + 1, where, ("=",))
        for key, _, value in pairs:
            if key in labels:
                raise MeasurementError(f"{where}: label {key!r} given twice")
            labels[key] = value
    rest = text[pos:].split(" # ", 1)[0].split()  # an OpenMetrics exemplar follows ' # '
    if not text[pos : pos + 1].isspace() or len(rest) not in (1, 2):
        raise MeasurementError(f"{where}: expected 'name{{labels}} value [timestamp]', got {text[:80]!r}")
    number = ascii_float(rest[0])
    if number is None:
        raise MeasurementError(f"{where}: value {rest[0]!r} is not a number")
    stamp = math.nan
    if len(rest) == 2:
        parsed = ascii_float(rest[1], specials=False)
        if parsed is None or not math.isfinite(parsed):
            raise MeasurementError(f"{where}: timestamp {rest[1]!r} is not a number")
        stamp = parsed if openmetrics else parsed / 1000.0
    return _Sample(line, m.group(0), labels, number, stamp)


def _family(name: str, types: dict[str, str]) -> tuple[str, str]:
    """``(family, type)`` of a sample name: its declared family, else the name itself, untyped."""
    if name in types and types[name] not in _SUFFIXES:
        return name, types[name]
    for kind, suffixes in _SUFFIXES.items():
        for suffix in suffixes:
            base = name.removesuffix(suffix)
            if base != name and types.get(base) == kind:
                return base, kind
    return name, types.get(name, "untyped")


def _comment(text: str, where: str, types: dict[str, str], seen: set[str]) -> None:
    parts = text[1:].split(None, 3)
    if not parts or parts[0] != "TYPE":
        return  # HELP, UNIT, EOF or a comment
    if len(parts) != 3 or not _NAME.fullmatch(parts[1]) or parts[2] not in TYPES:
        raise MeasurementError(f"{where}: expected '# TYPE name {'|'.join(sorted(TYPES))}', got {text!r}")
    if parts[1] in types or parts[1] in seen:
        raise MeasurementError(f"{where}: TYPE of {parts[1]!r} given twice or after its samples")
    types[parts[1]] = parts[2]


def _is_openmetrics(lines: list[str]) -> bool:
    """OpenMetrics ends with ``# EOF`` (then at most blank lines); the text format has no end mark."""
    return any(ln.strip() == "# EOF" for ln in lines[-3:])


def _parse(label: str, lines: list[str]) -> tuple[list[_Sample], dict[str, str]]:
    openmetrics = _is_openmetrics(lines)
    types: dict[str, str] = {}
    seen: set[str] = set()
    samples: list[_Sample] = []
    for number, raw in enumerate(lines, start=1):
        line = raw.strip()
        where = f"{label}: line {number}"
        if not line:
            continue
        if line.startswith("#"):
            _comment(line, where, types, seen)
            continue
        sample = _sample(line, where, number, openmetrics)
        seen.add(_family(sample.name, types)[0])
        samples.append(sample)
    return samples, types


def _check_counts(label: str, samples: list[_Sample], types: dict[str, str]) -> None:
    """Counts are finite and non-negative, buckets have a numeric ``le``, no series repeats."""
    series: set[tuple[str, tuple[tuple[str, str], ...], float]] = set()
    for s in samples:
        where = f"{label}: line {s.line}"
        key = (s.name, tuple(sorted(s.labels.items())), s.timestamp)
        if key in series:
            raise MeasurementError(f"{where}: sample {s.name}{s.labels} repeats an earlier one")
        series.add(key)
        family, kind = _family(s.name, types)
        suffix = s.name[len(family) :]
        counted = (kind == "counter" and suffix == "") or (kind in _SUFFIXES and suffix in _COUNTS)
        if counted and not (math.isfinite(s.value) and s.value >= 0):
            raise MeasurementError(f"{where}: {s.name} is a count, got {s.value!r}")
        if suffix == "_bucket" and kind in ("histogram", "gaugehistogram"):
            le = ascii_float(s.labels.get("le", ""))
            if le is None or math.isnan(le):
                raise MeasurementError(
                    f"{where}: bucket needs a numeric 'le' label, got {s.labels.get('le')!r}"
                )
        if kind == "summary" and suffix == "" and "quantile" in s.labels:
            q = ascii_float(s.labels["quantile"])
            if q is None or not 0 <= q <= 1:
                raise MeasurementError(f"{where}: quantile label {s.labels['quantile']!r} is not in [0, 1]")


def _check_shapes(label: str, samples: list[_Sample], types: dict[str, str]) -> None:
    """Cumulative buckets do not decrease and end at ``+Inf``; summary quantiles do not decrease."""
    groups: dict[tuple[str, tuple[tuple[str, str], ...], float], list[tuple[float, float, int]]] = {}
    for s in samples:
        family, kind = _family(s.name, types)
        if s.name == f"{family}_bucket" and kind in ("histogram", "gaugehistogram"):
            at = float(ascii_float(s.labels["le"]) or 0.0)
        elif s.name == family and kind == "summary" and "quantile" in s.labels:
            at = float(ascii_float(s.labels["quantile"]) or 0.0)
        else:
            continue
        rest = tuple(sorted((k, v) for k, v in s.labels.items() if k not in ("le", "quantile")))
        groups.setdefault((s.name, rest, s.timestamp), []).append((at, s.value, s.line))
    for (name, rest, _), points in groups.items():
        points.sort()
        if name.endswith("_bucket") and not math.isinf(points[-1][0]):
            raise MeasurementError(
                f"{label}: line {points[-1][2]}: histogram {name}{dict(rest)} has no +Inf bucket"
            )
        values = [(v, line) for _, v, line in points if not math.isnan(v)]
        for (low, _), (high, line) in itertools.pairwise(values):
            if high < low:
                what = "cumulative bucket counts" if name.endswith("_bucket") else "summary quantiles"
                raise MeasurementError(f"{label}: line {line}: {what} of {name}{dict(rest)} decrease")


def parse_selector(selector: str) -> tuple[str | None, list[Matcher]]:
    """``name{label="v",other!~"re"}`` as ``(name or None, [(label, op, value), ...])``."""
    text = selector.strip()
    m = _NAME.match(text)
    name = m.group(0) if m else None
    pos = m.end() if m else 0
    matchers: list[Matcher] = []
    if text.startswith("{", pos):
        try:
            matchers, pos = _labels(text, pos + 1, f"selector {selector!r}", ("=", "!=", "=~", "!~"))
        except MeasurementError as exc:
            raise ParameterError(str(exc)) from None
    if pos != len(text) or (name is None and not matchers):
        raise ParameterError(f'selector must look like name{{label="value"}}, got {selector!r}')
    for key, op, value in matchers:
        if op in ("=~", "!~"):
            try:
                re.compile(value)
            except re.error as exc:
                raise ParameterError(f"selector {selector!r}: label {key!r}: bad regex ({exc})") from None
    return name, matchers


def _matches(s: _Sample, family: str, name: str | None, matchers: Iterable[Matcher]) -> bool:
    if name is not None and name not in (s.name, family):
        return False
    for key, op, value in matchers:
        have = s.labels.get(key, "")
        hit = have == value if op in ("=", "!=") else re.fullmatch(value, have) is not None
        if hit != (op in ("=", "=~")):
            return False
    return True


def read_exposition(source: str | os.PathLike[str], selector: str | None = None) -> pd.DataFrame:
    """Read exposition text (a path, or the text itself) into a tidy sample frame.

    ``frame.attrs["types"]`` maps each family to its ``TYPE`` and ``frame.attrs["format"]`` says
    ``"text"`` or ``"openmetrics"``.

    Raises
    ------
    MeasurementError
        A malformed line (the message names the file and line), see the module notes.
    ParameterError
        A malformed ``selector``.
    """
    name, matchers = parse_selector(selector) if selector is not None else (None, [])
    label, text = read_measurement(source, caller="read_exposition", what="Prometheus exposition text")
    lines = text.splitlines()
    samples, types = _parse(label, lines)
    _check_counts(label, samples, types)
    _check_shapes(label, samples, types)
    rows = []
    for s in samples:
        if _matches(s, _family(s.name, types)[0], name, matchers):
            labels = {f"label_{k}" if k in _RESERVED else k: v for k, v in s.labels.items()}
            rows.append({"metric": s.name, **labels, "timestamp": s.timestamp, "value": s.value})
    if rows:
        frame = pd.DataFrame(rows)
        cols = sorted(c for c in frame.columns if c not in _RESERVED)
        frame = frame[["metric", *cols, "timestamp", "value"]]
        frame[cols] = frame[cols].fillna("")
    else:
        frame = pd.DataFrame({"metric": pd.Series(dtype=str), "timestamp": [], "value": []})
    frame = frame.astype({"timestamp": float, "value": float})
    frame.attrs["types"] = types
    frame.attrs["format"] = "openmetrics" if _is_openmetrics(lines) else "text"
    return frame


def series_quantiles(
    frame: pd.DataFrame, family: str, quantiles: Sequence[float] = (0.5, 0.9, 0.95, 0.99, 0.999)
) -> pd.DataFrame:
    """Quantiles of every series of a histogram or summary ``family`` in ``frame``.

    A histogram's come from its ``family_bucket`` samples by PromQL's ``histogram_quantile``
    (interpolated inside a bucket; ``lower``/``upper`` are that bucket's bounds); a summary's are
    its ``quantile`` samples for the levels it exposes among ``quantiles`` (``lower = upper =
    value``).  One row per series and level: the label columns, ``quantile``, ``value``,
    ``lower``, ``upper``.

    Raises
    ------
    MeasurementError
        ``frame`` has no buckets or quantile samples of ``family``.
    """
    kind = frame.attrs.get("types", {}).get(family)
    levels = [float(q) for q in quantiles]
    if kind == "histogram" or (kind is None and (frame["metric"] == f"{family}_bucket").any()):
        buckets = frame[frame["metric"] == f"{family}_bucket"]
        if buckets.empty:
            raise MeasurementError(f"no {family}_bucket samples")
        buckets = buckets.drop(columns=[c for c in buckets.columns if (buckets[c] == "").all()])
        out = histogram_quantile(levels, buckets, le="le", value="value")
        return out.drop(columns=["timestamp"]) if buckets["timestamp"].isna().all() else out
    rows = frame[
        (frame["metric"] == family) & (frame.get("quantile", pd.Series("", index=frame.index)) != "")
    ]
    if rows.empty:
        raise MeasurementError(f"no histogram buckets or summary quantiles of {family!r}")
    rows = rows.assign(quantile=[float(ascii_float(q) or 0.0) for q in rows["quantile"]])
    rows = rows[rows["quantile"].isin(levels)].drop(columns=["metric"])
    rows = rows.drop(columns=[c for c in rows.columns if c != "value" and (rows[c] == "").all()])
    if rows["timestamp"].isna().all():
        rows = rows.drop(columns=["timestamp"])
    keys = [c for c in rows.columns if c not in ("quantile", "value")]
    out = rows[[*keys, "quantile", "value"]].assign(lower=rows["value"], upper=rows["value"])
    return out.sort_values([*keys, "quantile"]).reset_index(drop=True)
