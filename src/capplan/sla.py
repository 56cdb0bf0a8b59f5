"""Load and validate SLA documents: latency percentiles, throughput, utilization, availability, budgets.

The input is the YAML of a performance-standards document: a ``performance_requirements`` mapping
(response-time targets per group and operation class, throughput targets, resource utilization
thresholds, availability targets) and/or a ``performance_budgets`` mapping (frontend and backend
budgets such as ``cache_performance.hit_ratio``).  A budget whose name (or category, unless the
name is a score, ratio, rate or count) speaks of time - ``connection_acquisition``,
``response_time``, ``page_load_time.first_input_delay`` - is a duration and needs a unit
(``"10ms"``); a bare ``10`` there is an error, not ten seconds.  :func:`load_sla` reads one or
more such documents (paths or YAML text), checks every value, and returns an :class:`SLA` holding
plain SI numbers.

Every problem raises :class:`~capplan.errors.SLAError` (a ``ValueError``) naming the source and the
key path, e.g. ``performance-sla.yaml: performance_requirements.response_time_targets.api_endpoints
.critical_operations.p99: '500x' is not a duration``.  Files are parsed by
:func:`capplan._yaml_input.load_yaml` (safe loading; size, nesting and alias caps; duplicate keys
refused).
"""

from __future__ import annotations

import html
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from capplan._sla_parse import (
    AvailabilityTarget,
    Budget,
    LatencyTarget,
    SectionContext,
    ThroughputTarget,
    UtilizationThresholds,
    parse_availability,
    parse_budgets,
    parse_latency,
    parse_throughput,
    parse_utilization,
    parse_yaml,
    read_source,
    validate_document,
)
from capplan.errors import SLAError

__all__ = [
    "SLA",
    "AvailabilityTarget",
    "Budget",
    "LatencyTarget",
    "ThroughputTarget",
    "UtilizationThresholds",
    "load_sla",
]


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
        label, text = read_source(src)
        ctx = SectionContext(label)
        doc = parse_yaml(label, text)
        validate_document(doc, label)
        labels.append(label)
        for section in doc:
            if section in parts:
                raise SLAError(f"{label}: {section} is already defined in {parts[section]}")
            parts[section] = label
        req = doc.get("performance_requirements") or {}
        root = ("performance_requirements",)
        if req.get("response_time_targets") is not None:
            latency += parse_latency(ctx, req["response_time_targets"], (*root, "response_time_targets"))
        if req.get("throughput_targets") is not None:
            r, lim = parse_throughput(req["throughput_targets"])
            rates += r
            limits += lim
        if req.get("resource_utilization") is not None:
            utilization += parse_utilization(
                ctx, req["resource_utilization"], (*root, "resource_utilization")
            )
        if req.get("availability_targets") is not None:
            availability += parse_availability(
                ctx, req["availability_targets"], (*root, "availability_targets")
            )
        if doc.get("performance_budgets") is not None:
            budgets += parse_budgets(ctx, doc["performance_budgets"], ("performance_budgets",))
    return SLA(
        latency_targets=tuple(latency),
        throughput_targets=tuple(rates),
        throughput_limits=tuple(limits),
        utilization_thresholds=tuple(utilization),
        availability_targets=tuple(availability),
        budgets=tuple(budgets),
        sources=tuple(labels),
    )
