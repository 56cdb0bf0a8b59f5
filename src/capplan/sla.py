"""Load and validate SLA documents: latency percentiles, throughput, utilization, availability, budgets.

The input is the YAML of a performance-standards document: a ``performance_requirements`` mapping
(response-time targets per group and operation class, throughput targets, resource utilization
thresholds, availability targets) and/or a ``performance_budgets`` mapping (frontend and backend
budgets such as ``cache_performance.hit_ratio``).  :func:`load_sla` reads one or more such documents
(paths or YAML text), checks every value, and returns an :class:`SLA` holding plain SI numbers.

Every problem raises :class:`~capplan.errors.SLAError` (a ``ValueError``) naming the source and the
key path, e.g. ``performance-sla.yaml: performance_requirements.response_time_targets.api_endpoints
.critical_operations.p99: '500x' is not a duration``.  Files are parsed with ``yaml.safe_load``.
"""

from __future__ import annotations

import html
import math
import os
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from itertools import pairwise
from pathlib import Path
from typing import Any

import pandas as pd
import yaml

from capplan.errors import SLAError, UnitError
from capplan.units import parse_bound, parse_duration, parse_quantity, parse_size

__all__ = [
    "SLA",
    "AvailabilityTarget",
    "Budget",
    "LatencyTarget",
    "ThroughputTarget",
    "UtilizationThresholds",
    "load_sla",
]

_PERCENTILE_KEY = re.compile(r"^p(\d+(?:\.\d+)?)$")
_RATE_SUFFIXES = ("_rps", "_qps", "_per_second")
_REQUIREMENT_SECTIONS = (
    "response_time_targets",
    "throughput_targets",
    "resource_utilization",
    "availability_targets",
)
_UTILIZATION_LEVELS = ("target", "warning_threshold", "critical_threshold")
_LOWER_BOUND_WORDS = ("uptime", "availability", "ratio")


def _is_lower_bound(name: str) -> bool:
    """A plain percentage is a minimum for uptime/availability/hit ratios, a maximum otherwise."""
    return any(word in name for word in _LOWER_BOUND_WORDS)


@dataclass(frozen=True)
class LatencyTarget:
    """``quantile`` of the response time of ``group``/``op_class`` must be <= ``target_s`` seconds."""

    group: str
    op_class: str
    quantile: float
    target_s: float


@dataclass(frozen=True)
class ThroughputTarget:
    """A rate the system must sustain, per second (``kind`` e.g. ``peak``, ``sustained``, ``burst``)."""

    name: str
    kind: str
    per_second: float


@dataclass(frozen=True)
class UtilizationThresholds:
    """Utilization target and alert thresholds of a resource, as fractions in (0, 1]."""

    resource: str
    target: float
    warning: float | None
    critical: float | None


@dataclass(frozen=True)
class AvailabilityTarget:
    """``value`` is a lower bound (``bound == "min"``, e.g. uptime) or an upper bound (``"max"``)."""

    name: str
    value: float
    bound: str


@dataclass(frozen=True)
class Budget:
    """One performance-budget item in SI units (``unit``: s, bytes, fraction, count or number)."""

    area: str
    category: str
    name: str
    value: float
    unit: str
    bound: str = "max"


@dataclass(frozen=True)
class SLA:
    """Validated SLA targets, in SI units; tidy DataFrame views for analysis and display.

    Build it with :func:`load_sla`.  Times are seconds, rates per second, utilizations and
    probabilities fractions.
    """

    latency_targets: tuple[LatencyTarget, ...] = ()
    throughput_targets: tuple[ThroughputTarget, ...] = ()
    throughput_limits: tuple[tuple[str, str, float], ...] = ()
    utilization_thresholds: tuple[UtilizationThresholds, ...] = ()
    availability_targets: tuple[AvailabilityTarget, ...] = ()
    budgets: tuple[Budget, ...] = ()
    sources: tuple[str, ...] = field(default=())

    # -- tidy views -------------------------------------------------------------------------
    @property
    def latency(self) -> pd.DataFrame:
        """Columns ``group, class, quantile, target_s`` — one row per percentile target."""
        return pd.DataFrame(
            [(t.group, t.op_class, t.quantile, t.target_s) for t in self.latency_targets],
            columns=["group", "class", "quantile", "target_s"],
        )

    @property
    def throughput(self) -> pd.DataFrame:
        """Columns ``name, kind, per_second`` — one row per rate target."""
        return pd.DataFrame(
            [(t.name, t.kind, t.per_second) for t in self.throughput_targets],
            columns=["name", "kind", "per_second"],
        )

    @property
    def limits(self) -> pd.DataFrame:
        """Non-rate throughput settings (batch sizes, pool sizes): ``name, key, value``."""
        return pd.DataFrame(list(self.throughput_limits), columns=["name", "key", "value"])

    @property
    def utilization(self) -> pd.DataFrame:
        """Columns ``resource, target, warning, critical`` (fractions)."""
        return pd.DataFrame(
            [(u.resource, u.target, u.warning, u.critical) for u in self.utilization_thresholds],
            columns=["resource", "target", "warning", "critical"],
        )

    @property
    def availability(self) -> pd.DataFrame:
        """Columns ``name, value, bound`` (``bound`` is ``min`` or ``max``)."""
        return pd.DataFrame(
            [(a.name, a.value, a.bound) for a in self.availability_targets],
            columns=["name", "value", "bound"],
        )

    @property
    def budget(self) -> pd.DataFrame:
        """Columns ``area, category, name, value, unit, bound``."""
        return pd.DataFrame(
            [(b.area, b.category, b.name, b.value, b.unit, b.bound) for b in self.budgets],
            columns=["area", "category", "name", "value", "unit", "bound"],
        )

    # -- look-ups -----------------------------------------------------------------------------
    def latency_targets_for(self, group: str, op_class: str) -> dict[float, float]:
        """``{quantile: target_s}`` for one operation class; raises ``KeyError`` naming it if absent."""
        found = {
            t.quantile: t.target_s
            for t in self.latency_targets
            if t.group == group and t.op_class == op_class
        }
        if not found:
            known = sorted({f"{t.group}.{t.op_class}" for t in self.latency_targets})
            raise KeyError(f"no latency targets for {group}.{op_class}; known: {', '.join(known)}")
        return found

    def operation_classes(self, group: str | None = None) -> list[tuple[str, str]]:
        """``(group, class)`` pairs in document order, optionally for one group."""
        seen: dict[tuple[str, str], None] = {}
        for t in self.latency_targets:
            if group is None or t.group == group:
                seen[(t.group, t.op_class)] = None
        return list(seen)

    def rates(self, name: str) -> dict[str, float]:
        """``{kind: per_second}`` for one throughput target, e.g. ``rates("api_gateway")``."""
        found = {t.kind: t.per_second for t in self.throughput_targets if t.name == name}
        if not found:
            known = sorted({t.name for t in self.throughput_targets})
            raise KeyError(f"no throughput targets named {name!r}; known: {', '.join(known)}")
        return found

    def utilization_target(self, resource: str = "cpu") -> float:
        """Target utilization of ``resource`` (e.g. 0.7 for CPU)."""
        for u in self.utilization_thresholds:
            if u.resource == resource:
                return u.target
        known = ", ".join(u.resource for u in self.utilization_thresholds) or "none"
        raise KeyError(f"no utilization thresholds for {resource!r}; known: {known}")

    def budget_value(self, category: str, name: str) -> float:
        """The value of budget item ``category.name`` (e.g. ``("cache_performance", "hit_ratio")``)."""
        for b in self.budgets:
            if b.category == category and b.name == name:
                return b.value
        raise KeyError(f"no budget item {category}.{name}")

    # -- display ------------------------------------------------------------------------------
    def _sections(self) -> Iterator[tuple[str, pd.DataFrame]]:
        for title, frame in (
            ("Latency targets (seconds)", self.latency),
            ("Throughput targets (per second)", self.throughput),
            ("Throughput limits", self.limits),
            ("Utilization thresholds (fraction)", self.utilization),
            ("Availability targets (fraction)", self.availability),
            ("Budgets (SI units)", self.budget),
        ):
            if len(frame):
                yield title, frame

    def to_text(self) -> str:
        """A plain-text rendering of every section (what the command line prints)."""
        parts = [f"SLA from {', '.join(self.sources) or '<text>'}"]
        for title, frame in self._sections():
            parts.append(f"\n{title}\n{frame.to_string(index=False)}")
        return "\n".join(parts)

    def __repr__(self) -> str:
        return (
            f"SLA({len(self.latency_targets)} latency targets, {len(self.throughput_targets)} throughput "
            f"targets, {len(self.utilization_thresholds)} utilization thresholds, "
            f"{len(self.availability_targets)} availability targets, {len(self.budgets)} budget items)"
        )

    def _repr_html_(self) -> str:
        body = "".join(
            f"<h4>{html.escape(title)}</h4>{frame.to_html(index=False)}" for title, frame in self._sections()
        )
        return f"<div><b>{html.escape(repr(self))}</b>{body}</div>"


# ---------------------------------------------------------------------------------------------
# Loading


class _Ctx:
    """Where we are in a document, for error messages."""

    def __init__(self, source: str) -> None:
        self.source = source

    def error(self, path: tuple[str, ...], message: str) -> SLAError:
        where = ".".join(path)
        return SLAError(f"{self.source}: {where}: {message}" if where else f"{self.source}: {message}")

    def mapping(self, value: Any, path: tuple[str, ...]) -> Mapping[str, Any]:
        if not isinstance(value, Mapping):
            raise self.error(
                path, f"expected a mapping of keys to values, got {type(value).__name__} {value!r}"
            )
        for key in value:
            if not isinstance(key, str):
                raise self.error(path, f"key {key!r} must be a string")
        return value

    def duration(self, value: Any, path: tuple[str, ...]) -> float:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            raise self.error(
                path, f"{value!r} has no unit; write it as a duration such as '{value}ms' or '{value}s'"
            )
        try:
            seconds = parse_duration(value)
        except UnitError:
            raise self.error(path, f"{value!r} is not a duration") from None
        if seconds <= 0:
            raise self.error(path, f"{value!r} must be a positive duration")
        return seconds

    def fraction(self, value: Any, path: tuple[str, ...]) -> tuple[str, float]:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            raise self.error(
                path, f"{value!r} has no unit; write percentages with a '%' sign, e.g. '{value}%'"
            )
        try:
            op, frac = parse_bound(value)
        except UnitError:
            raise self.error(path, f"{value!r} is not a percentage") from None
        if not 0.0 <= frac <= 1.0:
            raise self.error(path, f"{value!r} is outside 0%..100%")
        return op, frac

    def count(self, value: Any, path: tuple[str, ...]) -> float:
        if isinstance(value, bool) or not isinstance(value, (int, float, str)):
            raise self.error(path, f"{value!r} is not a number")
        try:
            number = parse_quantity(value)
        except UnitError:
            raise self.error(path, f"{value!r} is not a number") from None
        if number <= 0:
            raise self.error(path, f"{value!r} must be positive")
        return number


def _looks_like_yaml_text(source: str) -> bool:
    """A string is YAML text (not a path) if it spans lines, is blank, or holds a mapping."""
    stripped = source.strip()
    return "\n" in source or not stripped or ": " in source or stripped.startswith("{")


def _read_source(source: str | os.PathLike[str]) -> tuple[str, str]:
    """Return (label, text) for a path or literal YAML text."""
    if isinstance(source, os.PathLike):
        path = Path(source)
    elif not isinstance(source, str):
        raise SLAError(f"load_sla expects a path or YAML text, got {type(source).__name__}")
    elif _looks_like_yaml_text(source):
        return "<text>", source
    else:
        path = Path(source)
    try:
        return str(path), path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise SLAError(f"{path}: file not found") from None
    except IsADirectoryError:
        raise SLAError(f"{path}: is a directory, not an SLA file") from None
    except UnicodeDecodeError as exc:
        raise SLAError(f"{path}: not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    except OSError as exc:
        raise SLAError(f"{path}: cannot be read ({exc.strerror})") from None


def _parse_yaml(label: str, text: str) -> Mapping[str, Any]:
    try:
        doc = yaml.safe_load(text)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark
        where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark is not None else ""
        raise SLAError(f"{label}: {where}YAML syntax error: {exc.problem}") from None
    except yaml.YAMLError as exc:
        raise SLAError(f"{label}: YAML error: {exc}") from None
    if doc is None:
        raise SLAError(f"{label}: the document is empty")
    if not isinstance(doc, Mapping):
        raise SLAError(f"{label}: expected a mapping at the top level, got {type(doc).__name__}")
    known = ("performance_requirements", "performance_budgets")
    unknown = [str(k) for k in doc if k not in known]
    if unknown:
        raise SLAError(
            f"{label}: unknown top-level key(s) {', '.join(unknown)}; expected {' and/or '.join(known)}"
        )
    return doc


def _latency(ctx: _Ctx, node: Any, path: tuple[str, ...]) -> list[LatencyTarget]:
    out: list[LatencyTarget] = []
    for group, classes in ctx.mapping(node, path).items():
        for op_class, targets in ctx.mapping(classes, (*path, group)).items():
            here = (*path, group, op_class)
            rows: list[tuple[float, float, str]] = []
            for key, value in ctx.mapping(targets, here).items():
                m = _PERCENTILE_KEY.match(key)
                q = float(m.group(1)) if m else math.nan
                if not (0.0 < q < 100.0):
                    raise ctx.error(
                        (*here, key),
                        "unknown percentile key; expected p<number> with 0 < number < 100, e.g. p50, p99.9",
                    )
                quantile = round(q / 100.0, 12)
                twin = next((k for qq, _, k in rows if qq == quantile), None)
                if twin is not None:
                    raise ctx.error((*here, key), f"the same percentile as {twin}")
                rows.append((quantile, ctx.duration(value, (*here, key)), key))
            if not rows:
                raise ctx.error(here, "no percentile targets")
            rows.sort()
            for (_, lo, lo_key), (_, hi, hi_key) in pairwise(rows):
                if hi < lo:
                    raise ctx.error(
                        here,
                        f"percentile targets must be non-decreasing, "
                        f"but {hi_key} ({hi:g} s) < {lo_key} ({lo:g} s)",
                    )
            out.extend(LatencyTarget(group, op_class, q, s) for q, s, _ in rows)
    return out


def _throughput(
    ctx: _Ctx, node: Any, path: tuple[str, ...]
) -> tuple[list[ThroughputTarget], list[tuple[str, str, float]]]:
    rates: list[ThroughputTarget] = []
    limits: list[tuple[str, str, float]] = []
    for name, items in ctx.mapping(node, path).items():
        for key, value in ctx.mapping(items, (*path, name)).items():
            number = ctx.count(value, (*path, name, key))
            kind = next((key[: -len(s)] for s in _RATE_SUFFIXES if key.endswith(s)), None)
            if kind is None and key.startswith("burst"):
                kind = "burst"
            if kind is not None:
                rates.append(ThroughputTarget(name, kind, number))
            else:
                limits.append((name, key, number))
    return rates, limits


def _utilization(ctx: _Ctx, node: Any, path: tuple[str, ...]) -> list[UtilizationThresholds]:
    out: list[UtilizationThresholds] = []
    for name, levels in ctx.mapping(node, path).items():
        here = (*path, name)
        values: dict[str, float] = {}
        for key, value in ctx.mapping(levels, here).items():
            if key not in _UTILIZATION_LEVELS:
                raise ctx.error((*here, key), f"unknown key; expected {', '.join(_UTILIZATION_LEVELS)}")
            _, frac = ctx.fraction(value, (*here, key))
            if frac <= 0:
                raise ctx.error((*here, key), f"{value!r} must be above 0%")
            values[key] = frac
        if "target" not in values:
            raise ctx.error(here, "missing 'target'")
        present = [(k, values[k]) for k in _UTILIZATION_LEVELS if k in values]
        for (lo_key, lo), (hi_key, hi) in pairwise(present):
            if hi < lo:
                raise ctx.error(here, f"thresholds out of order: {hi_key} ({hi:.4g}) < {lo_key} ({lo:.4g})")
        resource = name.removesuffix("_utilization")
        out.append(
            UtilizationThresholds(
                resource, values["target"], values.get("warning_threshold"), values.get("critical_threshold")
            )
        )
    return out


def _availability(ctx: _Ctx, node: Any, path: tuple[str, ...]) -> list[AvailabilityTarget]:
    out: list[AvailabilityTarget] = []
    for name, value in ctx.mapping(node, path).items():
        op, frac = ctx.fraction(value, (*path, name))
        if op in ("<", "<="):
            bound = "max"
        elif op in (">", ">="):
            bound = "min"
        else:
            bound = "min" if _is_lower_bound(name) else "max"
        if bound == "min" and frac <= 0:
            raise ctx.error((*path, name), f"{value!r} must be above 0%")
        out.append(AvailabilityTarget(name, frac, bound))
    return out


def _budget_value(ctx: _Ctx, value: Any, path: tuple[str, ...]) -> tuple[float, str, str]:
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise ctx.error(path, f"{value!r} is not a budget value")
    if isinstance(value, (int, float)):
        try:
            number = float(value)
        except OverflowError:
            number = math.inf
        if number < 0 or not math.isfinite(number):
            raise ctx.error(path, f"{value!r} must be a non-negative number")
        return number, "count", "max"
    text = value.strip()
    if "%" in text:
        op, frac = ctx.fraction(text, path)
        if op:
            return frac, "fraction", "max" if op in ("<", "<=") else "min"
        return frac, "fraction", "min" if _is_lower_bound(path[-1]) else "max"
    try:
        number = float(text)
    except ValueError:
        pass
    else:
        if number < 0 or not math.isfinite(number):
            raise ctx.error(path, f"{value!r} must be a non-negative number")
        return number, "number", "max"
    for parser, unit in ((parse_duration, "s"), (parse_size, "bytes")):
        try:
            number = parser(text)
        except UnitError:
            continue
        if number <= 0:
            raise ctx.error(path, f"{value!r} must be positive")
        return number, unit, "max"
    raise ctx.error(path, f"{value!r} is not a duration, size, percentage or number")


def _budgets(ctx: _Ctx, node: Any, path: tuple[str, ...]) -> list[Budget]:
    out: list[Budget] = []
    for area, categories in ctx.mapping(node, path).items():
        for category, items in ctx.mapping(categories, (*path, area)).items():
            for name, value in ctx.mapping(items, (*path, area, category)).items():
                number, unit, bound = _budget_value(ctx, value, (*path, area, category, name))
                out.append(Budget(area, category, name, number, unit, bound))
    return out


def load_sla(source: str | os.PathLike[str], *more: str | os.PathLike[str]) -> SLA:
    """Read and validate one or more SLA documents (paths or YAML text) into an :class:`SLA`.

    Parameters
    ----------
    source, *more : str or path-like
        Each is a path to a YAML file or the YAML text itself.  Each document holds
        ``performance_requirements`` and/or ``performance_budgets``; a section may appear in only one
        of them.

    Returns
    -------
    SLA

    Raises
    ------
    SLAError
        Naming the source and the key path (or line, for YAML syntax errors).

    Examples
    --------
    >>> sla = load_sla("data/performance-sla.yaml", "data/performance-budget.yaml")  # doctest: +SKIP
    >>> sla.latency_targets_for("api_endpoints", "critical_operations")[0.99]  # doctest: +SKIP
    0.5
    """
    parts: dict[str, Any] = {}
    labels: list[str] = []
    latency: list[LatencyTarget] = []
    rates: list[ThroughputTarget] = []
    limits: list[tuple[str, str, float]] = []
    utilization: list[UtilizationThresholds] = []
    availability: list[AvailabilityTarget] = []
    budgets: list[Budget] = []
    for src in (source, *more):
        label, text = _read_source(src)
        ctx = _Ctx(label)
        doc = _parse_yaml(label, text)
        labels.append(label)
        for section in doc:
            if section in parts:
                raise SLAError(f"{label}: {section} is already defined in {parts[section]}")
            parts[section] = label
        if "performance_requirements" in doc:
            root = ("performance_requirements",)
            req = ctx.mapping(doc["performance_requirements"], root)
            unknown = [k for k in req if k not in _REQUIREMENT_SECTIONS]
            if unknown:
                raise ctx.error(
                    (*root, unknown[0]), f"unknown section; expected {', '.join(_REQUIREMENT_SECTIONS)}"
                )
            if "response_time_targets" in req:
                latency += _latency(ctx, req["response_time_targets"], (*root, "response_time_targets"))
            if "throughput_targets" in req:
                r, lim = _throughput(ctx, req["throughput_targets"], (*root, "throughput_targets"))
                rates += r
                limits += lim
            if "resource_utilization" in req:
                utilization += _utilization(ctx, req["resource_utilization"], (*root, "resource_utilization"))
            if "availability_targets" in req:
                availability += _availability(
                    ctx, req["availability_targets"], (*root, "availability_targets")
                )
        if "performance_budgets" in doc:
            budgets += _budgets(ctx, doc["performance_budgets"], ("performance_budgets",))
    return SLA(
        latency_targets=tuple(latency),
        throughput_targets=tuple(rates),
        throughput_limits=tuple(limits),
        utilization_thresholds=tuple(utilization),
        availability_targets=tuple(availability),
        budgets=tuple(budgets),
        sources=tuple(labels),
    )
