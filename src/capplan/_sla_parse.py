"""Records and section parsers behind :func:`capplan.sla.load_sla` (validation, key paths, units)."""

from __future__ import annotations

import math
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from itertools import pairwise
from typing import Any

from capplan._sources import read_text_source
from capplan._yaml_input import load_yaml
from capplan.errors import SLAError, UnitError
from capplan.units import parse_bound, parse_duration, parse_quantity, parse_size, percentile_quantile

__all__ = [
    "AvailabilityTarget",
    "Budget",
    "LatencyTarget",
    "ThroughputTarget",
    "UtilizationThresholds",
]

_PERCENTILE_KEY = re.compile(r"^p(\d+(?:\.\d+)?)$", re.ASCII)
_RATE_SUFFIXES = ("_rps", "_qps", "_per_second")
_UTILIZATION_LEVELS = ("target", "warning_threshold", "critical_threshold")
_LOWER_BOUND_WORDS = ("uptime", "availability", "ratio")
#: A budget is a duration when its name (or its category, unless the name says it is a score,
#: ratio, rate or count) holds one of these words; it must then carry a unit ("10ms").
_DURATION_WORDS = frozenset(
    {"time", "duration", "latency", "delay", "acquisition", "paint", "wait", "timeout"}
)
_DIMENSIONLESS_WORDS = frozenset({"shift", "score", "ratio", "rate", "count", "requests", "size"})


def is_duration_budget(category: str, name: str) -> bool:
    """``connection_acquisition``, ``response_time``, anything in ``page_load_time`` but a score."""
    words = set(name.lower().split("_"))
    if words & _DIMENSIONLESS_WORDS:
        return False
    return bool((words | set(category.lower().split("_"))) & _DURATION_WORDS)


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


# ---------------------------------------------------------------------------------------------
# Loading


def sla_duration(value: Any) -> float:
    """Seconds of an SLA duration (``"50ms"``); a bare number has no unit and is refused."""
    if (isinstance(value, (int, float)) and not isinstance(value, bool)) or _is_number_text(value):
        bare = str(value).strip()
        raise UnitError(f"{value!r} has no unit; write it as a duration such as '{bare}ms' or '{bare}s'")
    try:
        seconds = parse_duration(value)
    except UnitError:
        raise UnitError(f"{value!r} is not a duration") from None
    if seconds <= 0:
        raise UnitError(f"{value!r} must be a positive duration")
    return seconds


def sla_count(value: Any) -> float:
    """A throughput number: ``15000``, or text such as ``"10k"`` (a Kubernetes-style suffix)."""
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise UnitError(f"{value!r} is not a number")
    try:
        return parse_quantity(value)
    except UnitError:
        raise UnitError(f"{value!r} is not a number") from None


def sla_bound(value: Any) -> tuple[str, float]:
    """``("<", 0.001)`` for ``"<0.1%"``: a percentage in 0%..100%, with its comparison if any."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        raise UnitError(f"{value!r} has no unit; write percentages with a '%' sign, e.g. '{value}%'")
    try:
        op, frac = parse_bound(value)
    except UnitError:
        raise UnitError(f"{value!r} is not a percentage") from None
    if not 0.0 <= frac <= 1.0:
        raise UnitError(f"{value!r} is outside 0%..100%")
    return op, frac


def sla_fraction(value: Any) -> float:
    """The fraction of an SLA percentage (``"70%"`` is 0.7), its comparison dropped."""
    return sla_bound(value)[1]


def percentile_key(key: Any) -> float:
    """The quantile of a percentile key, ``p99.9`` -> 0.999."""
    m = _PERCENTILE_KEY.match(key) if isinstance(key, str) else None
    try:
        return percentile_quantile(float(m.group(1)) if m else math.nan)
    except UnitError as exc:
        detail = f" ({exc})" if m else ""
        raise UnitError(
            "unknown percentile key; expected p<number> with 0 < number < 100, e.g. p50, p99.9" + detail
        ) from None


class SectionContext:
    """Where we are in a document, for error messages."""

    def __init__(self, source: str) -> None:
        self.source = source

    def error(self, path: tuple[str, ...], message: str) -> SLAError:
        where = ".".join(path)
        return SLAError(f"{self.source}: {where}: {message}" if where else f"{self.source}: {message}")

    def duration(self, value: Any, path: tuple[str, ...]) -> float:
        try:
            return sla_duration(value)
        except UnitError as exc:
            raise self.error(path, str(exc)) from None

    def fraction(self, value: Any, path: tuple[str, ...]) -> tuple[str, float]:
        try:
            return sla_bound(value)
        except UnitError as exc:
            raise self.error(path, str(exc)) from None


def _is_number_text(value: Any) -> bool:
    if not isinstance(value, str):
        return False
    try:
        float(value)
    except ValueError:
        return False
    return True


def _looks_like_yaml_text(source: str) -> bool:
    """A string is YAML text (not a path) if it spans lines, is blank, or holds a mapping."""
    stripped = source.strip()
    return "\n" in source or not stripped or ": " in source or stripped.startswith("{")


def read_source(source: str | os.PathLike[str]) -> tuple[str, str]:
    """Return (label, text) for a path or literal YAML text."""
    return read_text_source(
        source,
        is_text=_looks_like_yaml_text,
        caller="load_sla",
        text_label="<text>",
        expects="a path or YAML text",
        what="an SLA file",
        error=SLAError,
    )


def parse_yaml(label: str, text: str) -> Mapping[str, Any]:
    doc = load_yaml(text, label=label, error=SLAError, what="an SLA file (one YAML mapping)")
    if doc is None:
        raise SLAError(f"{label}: the document is empty")
    if not isinstance(doc, Mapping):
        raise SLAError(f"{label}: expected a mapping at the top level, got {type(doc).__name__}")
    return doc


def validate_document(doc: Mapping[str, Any], label: str) -> None:
    """Check ``doc`` against :class:`capplan.schema.sla.SLADocument` (keys, types, units, ranges)."""
    from capplan.schema.sla import SLADocument  # noqa: PLC0415 - pydantic loads only to read a file
    from capplan.schema.validation import validate  # noqa: PLC0415

    validate(SLADocument, doc, label=label, error=SLAError)


def parse_latency(ctx: SectionContext, node: Any, path: tuple[str, ...]) -> list[LatencyTarget]:
    out: list[LatencyTarget] = []
    for group, classes in node.items():
        for op_class, targets in classes.items():
            here = (*path, group, op_class)
            rows: list[tuple[float, float, str]] = []
            for key, value in targets.items():
                quantile = percentile_key(key)
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


def parse_throughput(node: Any) -> tuple[list[ThroughputTarget], list[tuple[str, str, float]]]:
    rates: list[ThroughputTarget] = []
    limits: list[tuple[str, str, float]] = []
    for name, items in node.items():
        for key, value in items.items():
            number = parse_quantity(value)
            kind = next((key[: -len(s)] for s in _RATE_SUFFIXES if key.endswith(s)), None)
            if kind is None and key.startswith("burst"):
                kind = "burst"
            if kind is not None:
                rates.append(ThroughputTarget(name, kind, number))
            else:
                limits.append((name, key, number))
    return rates, limits


def parse_utilization(ctx: SectionContext, node: Any, path: tuple[str, ...]) -> list[UtilizationThresholds]:
    out: list[UtilizationThresholds] = []
    for name, levels in node.items():
        here = (*path, name)
        present = [(k, sla_fraction(levels[k])) for k in _UTILIZATION_LEVELS if levels.get(k) is not None]
        for (lo_key, lo), (hi_key, hi) in pairwise(present):
            if hi < lo:
                raise ctx.error(here, f"thresholds out of order: {hi_key} ({hi:.4g}) < {lo_key} ({lo:.4g})")
        values = dict(present)
        out.append(
            UtilizationThresholds(
                name.removesuffix("_utilization"),
                values["target"],
                values.get("warning_threshold"),
                values.get("critical_threshold"),
            )
        )
    return out


def parse_availability(ctx: SectionContext, node: Any, path: tuple[str, ...]) -> list[AvailabilityTarget]:
    out: list[AvailabilityTarget] = []
    for name, value in node.items():
        op, frac = sla_bound(value)
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


def _budget_value(ctx: SectionContext, value: Any, path: tuple[str, ...]) -> tuple[float, str, str]:
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise ctx.error(path, f"{value!r} is not a budget value")
    if is_duration_budget(path[-2], path[-1]):
        return ctx.duration(value, path), "s", "max"
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


def parse_budgets(ctx: SectionContext, node: Any, path: tuple[str, ...]) -> list[Budget]:
    out: list[Budget] = []
    for area, categories in node.items():
        for category, items in categories.items():
            for name, value in items.items():
                number, unit, bound = _budget_value(ctx, value, (*path, area, category, name))
                out.append(Budget(area, category, name, number, unit, bound))
    return out
