"""The plan file's ``sources:`` section: which live system to read, with which queries, over when.

::

    sources:
      prometheus:
        url: http://localhost:9090
        auth_header_env: PROM_AUTH     # optional: env var holding the Authorization header value
        range: {last: 7d, step: 1m}    # or {start: 2026-12-01T00:00:00Z, end: ..., step: 1m}
        timeout: 30s                   # optional, per query (default 30 s)
      rate_statistic: peak             # or mean, or a percentile of the range such as p95
      classes:
        critical_operations:
          request_rate: 'sum(rate(http_requests_total{class="critical"}[5m]))'
          latency_histogram: 'sum by (le) (rate(http_request_duration_seconds_bucket{class="critical"}[5m]))'
          cpu_seconds_per_request: '...'   # optional
          memory_per_pod: '...'            # optional, bytes

This module only parses and validates the section into :class:`Sources` (every error names the
plan file and the key path); :mod:`capplan.plan.sources_pull` runs the queries.  The section is
self-contained: it reads nothing else of the plan file.

Rules checked here: the URL is ``http(s)://host[:port][/path]`` without credentials (those go in
the environment variable ``auth_header_env`` names; its value is never stored, only read when the
queries run); a range is either ``last`` or ``start`` and ``end`` (Unix seconds or ISO 8601
timestamps; a timestamp without a zone is UTC), with ``step`` positive and at most 11,000 steps
(Prometheus refuses more points per series); each class names at least one query.
"""

from __future__ import annotations

import datetime as dt
import math
import time
import urllib.parse
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from capplan.errors import CapplanError, ParameterError
from capplan.units import parse_duration, percentile_quantile

__all__ = [
    "QUERIES",
    "ClassQueries",
    "PrometheusSource",
    "QueryRange",
    "RateStatistic",
    "Sources",
    "SourcesError",
    "parse_sources",
]

#: The queries a class may name, in the order they run.
QUERIES = ("request_rate", "latency_histogram", "cpu_seconds_per_request", "memory_per_pod")
#: Prometheus's limit on the points of one series in a range query.
MAX_POINTS = 11_000
_DEFAULT_TIMEOUT = 30.0


class SourcesError(ParameterError):
    """The ``sources`` section is malformed, or a query over it failed; names file, key and query."""


@dataclass(frozen=True)
class QueryRange:
    """``start`` .. ``end`` (Unix seconds) every ``step`` seconds."""

    start: float
    end: float
    step: float

    def describe(self) -> str:
        """e.g. ``2026-12-05T10:00:00Z .. 2026-12-05T12:00:00Z, step 60 s``."""
        return f"{_iso(self.start)} .. {_iso(self.end)}, step {self.step:g} s"


@dataclass(frozen=True)
class PrometheusSource:
    """A Prometheus server: URL (no credentials), the env var of its auth header, range, timeout."""

    url: str
    range: QueryRange
    auth_header_env: str | None = None
    timeout: float = _DEFAULT_TIMEOUT


@dataclass(frozen=True)
class RateStatistic:
    """How a rate's range becomes one number: ``peak``, ``mean`` or the ``quantile`` of the steps."""

    name: str
    quantile: float | None = None


@dataclass(frozen=True)
class ClassQueries:
    """The PromQL expressions of one operation class (None where not given)."""

    op_class: str
    request_rate: str | None = None
    latency_histogram: str | None = None
    cpu_seconds_per_request: str | None = None
    memory_per_pod: str | None = None

    def given(self) -> list[tuple[str, str]]:
        """``(quantity, query)`` for each query named, in :data:`QUERIES` order."""
        return [(k, q) for k in QUERIES if (q := getattr(self, k)) is not None]


@dataclass(frozen=True)
class Sources:
    """The parsed section; ``label`` (the plan file) and ``path`` (its key path) name it in errors."""

    label: str
    path: str
    prometheus: PrometheusSource
    rate_statistic: RateStatistic
    classes: tuple[ClassQueries, ...]

    def fail(self, key: str, message: str) -> SourcesError:
        """An error naming the plan file and ``sources.<key>``."""
        return SourcesError(f"{self.label}: {self.path}.{key}: {message}")


def _iso(seconds: float) -> str:
    stamp = dt.datetime.fromtimestamp(seconds, dt.UTC)
    return stamp.isoformat(timespec="milliseconds" if seconds % 1 else "seconds").replace("+00:00", "Z")


class _Section:
    """A mapping of the section with its key path, for error messages."""

    def __init__(self, label: str, path: str, data: Any) -> None:
        if not isinstance(data, Mapping):
            raise SourcesError(f"{label}: {path}: must be a mapping, got {type(data).__name__}")
        self.label, self.path, self.data = label, path, data

    def fail(self, key: str | None, message: str) -> SourcesError:
        return SourcesError(f"{self.label}: {self.path}{f'.{key}' if key else ''}: {message}")

    def only(self, *allowed: str) -> None:
        unknown = sorted(str(k) for k in set(self.data) - set(allowed))
        if unknown:
            raise self.fail(None, f"unknown keys {unknown}; allowed: {', '.join(allowed)}")

    def child(self, key: str) -> _Section:
        if self.data.get(key) is None:
            raise self.fail(key, "is required")
        return _Section(self.label, f"{self.path}.{key}", self.data[key])

    def text(self, key: str, *, required: bool = False) -> str | None:
        value = self.data.get(key)
        if value is None and not required:
            return None
        if not isinstance(value, str) or not value.strip():
            raise self.fail(key, f"must be a non-empty string, got {value!r}")
        return value

    def seconds(self, key: str) -> float | None:
        value = self.data.get(key)
        if value is None:
            return None
        try:
            number = parse_duration(value) if isinstance(value, str) else float(value)
        except (CapplanError, ValueError, TypeError) as exc:
            raise self.fail(key, str(exc)) from None
        if not (math.isfinite(number) and number > 0) or isinstance(value, bool):
            raise self.fail(key, f"must be a positive duration such as 1m or 30s, got {value!r}")
        return number


def parse_sources(
    data: Any, label: str, path: str = "capacity_plan.sources", *, now: float | None = None
) -> Sources:
    """The ``sources`` mapping ``data`` of the plan file ``label`` (``now``: the end of a ``last``
    range, Unix seconds; the clock when omitted)."""
    section = _Section(label, path, data)
    section.only("prometheus", "rate_statistic", "classes")
    prometheus = _prometheus(section.child("prometheus"), time.time() if now is None else now)
    statistic = _statistic(section, section.data.get("rate_statistic", "peak"))
    classes = section.child("classes")
    if not classes.data:
        raise classes.fail(None, "name at least one operation class and its queries")
    parsed = tuple(_class(classes, str(name)) for name in classes.data)
    return Sources(label, path, prometheus, statistic, parsed)


def _prometheus(node: _Section, now: float) -> PrometheusSource:
    node.only("url", "auth_header_env", "range", "timeout")
    url = str(node.text("url", required=True)).rstrip("/")
    parts = urllib.parse.urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise node.fail("url", f"must be http(s)://host:port, got {url!r}")
    if parts.username is not None or parts.password is not None:
        raise node.fail("url", "must not hold credentials; name an environment variable in auth_header_env")
    if parts.query or parts.fragment:
        raise node.fail("url", f"must not have a query or fragment, got {url!r}")
    env = node.text("auth_header_env")
    if env is not None and not env.replace("_", "").isalnum():
        raise node.fail("auth_header_env", f"must be an environment variable name, got {env!r}")
    timeout = node.seconds("timeout") or _DEFAULT_TIMEOUT
    return PrometheusSource(url, _range(node.child("range"), now), env, timeout)


def _range(node: _Section, now: float) -> QueryRange:
    node.only("last", "start", "end", "step")
    step = node.seconds("step")
    if step is None:
        raise node.fail("step", "is required (the resolution of the range, e.g. 1m)")
    last = node.seconds("last")
    if last is not None:
        if "start" in node.data or "end" in node.data:
            raise node.fail(None, "give either last, or start and end")
        start, end = now - last, now
    else:
        if node.data.get("start") is None or node.data.get("end") is None:
            raise node.fail(None, "give last (e.g. 7d), or start and end")
        start, end = _timestamp(node, "start"), _timestamp(node, "end")
        if not end > start:
            raise node.fail("end", f"must be after start ({_iso(start)}), got {_iso(end)}")
    points = (end - start) / step + 1
    if points > MAX_POINTS:
        raise node.fail(
            "step", f"{step:g} s gives {points:.0f} points over the range; Prometheus allows {MAX_POINTS}"
        )
    return QueryRange(start, end, step)


def _timestamp(node: _Section, key: str) -> float:
    value = node.data[key]
    if isinstance(value, dt.datetime):
        stamp = value
    elif isinstance(value, int | float) and not isinstance(value, bool):
        if not math.isfinite(value) or value < 0:
            raise node.fail(key, f"must be Unix seconds or an ISO 8601 timestamp, got {value!r}")
        return float(value)
    elif isinstance(value, str):
        try:
            stamp = dt.datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
        except ValueError:
            raise node.fail(key, f"must be Unix seconds or an ISO 8601 timestamp, got {value!r}") from None
    else:
        raise node.fail(key, f"must be Unix seconds or an ISO 8601 timestamp, got {value!r}")
    if stamp.tzinfo is None:
        stamp = stamp.replace(tzinfo=dt.UTC)
    return stamp.timestamp()


def _statistic(section: _Section, value: Any) -> RateStatistic:
    if value in ("peak", "mean"):
        return RateStatistic(str(value))
    if isinstance(value, str) and value.lower().startswith("p"):
        try:
            q = percentile_quantile(float(value[1:]))
        except (CapplanError, ValueError):
            q = None
        if q is not None:
            return RateStatistic(value.lower(), q)
    raise section.fail("rate_statistic", f"must be peak, mean or a percentile such as p95, got {value!r}")


def _class(classes: _Section, name: str) -> ClassQueries:
    node = classes.child(name)
    node.only(*QUERIES)
    queries = {key: node.text(key) for key in QUERIES}
    if not any(queries.values()):
        raise node.fail(None, f"name at least one of {', '.join(QUERIES)}")
    return ClassQueries(name, **queries)
