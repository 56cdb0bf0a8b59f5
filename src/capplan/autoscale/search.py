"""Search HPA settings for the cost/SLA frontier, and the fixed fleet sized for the peak to beat.

:func:`search_hpa` simulates every combination of a grid of settings (CPU target, min replicas,
stabilization windows, policy rates, ...) against the same traffic and keeps, for each, the
replica-hours (cost) and the minutes the SLA percentiles were missed.  A setting is on the
*frontier* (Pareto-optimal) when no other setting is at least as cheap and at least as good on
SLA minutes, and strictly better on one.  :func:`fixed_fleet` sizes a constant replica count for
the traffic's peak with :func:`capplan.sizing.size_replicas` and simulates it, as the baseline.
"""

from __future__ import annotations

import dataclasses
import itertools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from capplan.autoscale.fluid import Workload
from capplan.autoscale.manifest import (
    DEFAULT_SCALE_DOWN,
    DEFAULT_SCALE_UP,
    HPA,
    Behavior,
    MetricSpec,
    ScalingPolicy,
    ScalingRules,
)
from capplan.autoscale.policies import Schedule
from capplan.autoscale.simulate import AutoscaleResult, simulate
from capplan.autoscale.traffic import Traffic
from capplan.errors import ParameterError
from capplan.sizing import ReplicaSizing, size_replicas

__all__ = ["SETTINGS", "FixedFleet", "SearchResult", "fixed_fleet", "search_hpa", "with_settings"]

SETTINGS = (
    "cpu_target",
    "min_replicas",
    "max_replicas",
    "scale_up_window",
    "scale_down_window",
    "scale_up_percent",
    "scale_up_pods",
    "scale_down_percent",
    "scale_down_pods",
    "scale_down_select",
)


def with_settings(hpa: HPA, **settings: Any) -> HPA:
    """A copy of ``hpa`` with some settings changed (names in :data:`SETTINGS`).

    ``cpu_target`` is a fraction (0.6 sets CPU ``averageUtilization: 60``); windows are seconds;
    ``*_percent`` / ``*_pods`` set the value of that policy type in the direction (adding the
    policy, with a 60 s period, if absent); ``scale_down_select`` is Max/Min/Disabled.
    """
    unknown = sorted(set(settings) - set(SETTINGS))
    if unknown:
        raise ParameterError(f"unknown HPA setting(s) {unknown}; known: {list(SETTINGS)}")
    out = hpa
    if "cpu_target" in settings:
        pct = float(round(float(settings["cpu_target"]) * 100))

        def is_cpu(m: MetricSpec) -> bool:
            return (
                m.type in ("Resource", "ContainerResource")
                and m.name == "cpu"
                and m.target_type == "Utilization"
            )

        if not any(is_cpu(m) for m in out.metrics):
            raise ParameterError("cpu_target: the HPA has no CPU Utilization metric")
        metrics = tuple(dataclasses.replace(m, target=pct) if is_cpu(m) else m for m in out.metrics)
        out = out.replace(metrics=metrics)
    if "min_replicas" in settings:
        out = out.replace(min_replicas=int(settings["min_replicas"]))
    if "max_replicas" in settings:
        out = out.replace(max_replicas=int(settings["max_replicas"]))
    behavior = out.behavior or Behavior()
    up, down = behavior.scale_up, behavior.scale_down
    if "scale_up_window" in settings:
        up = dataclasses.replace(up, stabilization_window_seconds=int(settings["scale_up_window"]))
    if "scale_down_window" in settings:
        down = dataclasses.replace(down, stabilization_window_seconds=int(settings["scale_down_window"]))
    for key, kind in (("scale_up_percent", "Percent"), ("scale_up_pods", "Pods")):
        if key in settings:
            up = _set_policy(up, kind, int(settings[key]))
    for key, kind in (("scale_down_percent", "Percent"), ("scale_down_pods", "Pods")):
        if key in settings:
            down = _set_policy(down, kind, int(settings[key]))
    if "scale_down_select" in settings:
        down = dataclasses.replace(down, select_policy=str(settings["scale_down_select"]))
    if (up, down) != (DEFAULT_SCALE_UP, DEFAULT_SCALE_DOWN) or out.behavior is not None:
        out = out.replace(behavior=Behavior(up, down))
    return out


def _set_policy(rules: ScalingRules, kind: str, value: int) -> ScalingRules:
    policies = [dataclasses.replace(p, value=value) if p.type == kind else p for p in rules.policies]
    if not any(p.type == kind for p in rules.policies):
        policies.append(ScalingPolicy(kind, value, 60))
    return dataclasses.replace(rules, policies=tuple(policies))


@dataclass(frozen=True, eq=False)
class SearchResult:
    """Every setting tried, with its cost and SLA minutes; ``frontier`` keeps the Pareto-optimal ones."""

    table: pd.DataFrame
    cost_column: str
    sla_column: str

    @property
    def frontier(self) -> pd.DataFrame:
        """Rows on the cost/SLA frontier, cheapest first."""
        return self.table[self.table["on_frontier"]].sort_values([self.cost_column, self.sla_column])

    def best(self, max_sla_minutes: float = 0.0) -> pd.Series:
        """The cheapest setting missing the SLA for at most ``max_sla_minutes``."""
        ok = self.table[self.table[self.sla_column] <= max_sla_minutes]
        if ok.empty:
            raise ParameterError(
                f"no setting keeps {self.sla_column} <= {max_sla_minutes:g}; the best is "
                f"{float(self.table[self.sla_column].min()):g}"
            )
        return ok.sort_values([self.cost_column, self.sla_column]).iloc[0]

    def __repr__(self) -> str:
        on = int(self.table["on_frontier"].sum())
        return f"SearchResult({len(self.table)} settings, {on} on the frontier)"


def pareto_mask(cost: np.ndarray, bad: np.ndarray) -> np.ndarray:
    """True where no other point has ``cost <=`` and ``bad <=`` with one strictly smaller."""
    c = np.asarray(cost, dtype=float)[:, None]
    b = np.asarray(bad, dtype=float)[:, None]
    dominated = ((c >= c.T) & (b >= b.T) & ((c > c.T) | (b > b.T))).any(axis=1)
    return np.asarray(~dominated)


def search_hpa(
    hpa: HPA,
    traffic: Traffic,
    workload: Workload,
    grid: Mapping[str, Sequence[Any]],
    *,
    sla: Mapping[float, float],
    price_per_replica_hour: float = 1.0,
    **simulate_options: Any,
) -> SearchResult:
    """Simulate ``hpa`` with every combination of ``grid`` values; cost and SLA minutes for each.

    Parameters
    ----------
    grid : mapping
        ``{setting: values}`` with settings from :data:`SETTINGS`, e.g.
        ``{"cpu_target": [0.5, 0.6, 0.7], "scale_down_window": [60, 300]}``.
    sla : mapping
        ``{quantile: seconds}``; the SLA column is the sum of the minutes each target was missed.
    simulate_options
        Passed to :func:`simulate` (pod start-up, metric lag, ...).

    Returns
    -------
    SearchResult
        ``table`` has one row per combination: the settings, ``replica_hours``, ``cost``, one
        ``minutes over ...`` column per target, ``sla_minutes`` (their sum), ``dropped_requests``,
        ``peak_replicas`` and ``on_frontier``.
    """
    if not grid:
        raise ParameterError("grid is empty: give at least one setting and its values")
    keys = list(grid)
    rows = []
    for values in itertools.product(*(grid[k] for k in keys)):
        settings = dict(zip(keys, values, strict=True))
        candidate = with_settings(hpa, **settings)
        result = simulate(
            traffic,
            candidate,
            workload,
            sla=sla,
            price_per_replica_hour=price_per_replica_hour,
            **simulate_options,
        )
        row: dict[str, Any] = dict(settings)
        row.update(result.totals())
        row["sla_minutes"] = round(sum(result.sla_violation_minutes.values()), 2)
        rows.append(row)
    table = pd.DataFrame(rows)
    table["on_frontier"] = pareto_mask(table["cost"].to_numpy(), table["sla_minutes"].to_numpy())
    return SearchResult(table, "cost", "sla_minutes")


@dataclass(frozen=True, eq=False)
class FixedFleet:
    """A constant replica count sized for the traffic's peak, and how it fares over the trace."""

    sizing: ReplicaSizing
    result: AutoscaleResult

    @property
    def replicas(self) -> int:
        """The fleet size."""
        return self.sizing.replicas

    def __repr__(self) -> str:
        return f"FixedFleet({self.replicas} replicas, binding {self.sizing.binding!r}; {self.result!r})"


def fixed_fleet(
    traffic: Traffic,
    workload: Workload,
    targets: Mapping[float, float],
    *,
    max_utilization: float = 1.0,
    redundancy: int = 0,
    sla: Mapping[float, float] | None = None,
    price_per_replica_hour: float = 1.0,
    **simulate_options: Any,
) -> FixedFleet:
    """Size a fixed fleet for ``traffic.peak`` with :func:`capplan.sizing.size_replicas`, then simulate it.

    ``targets`` are the response-time percentiles it must meet at the peak, ``max_utilization``
    the CPU cap; ``sla`` (default ``targets``) is what the simulation counts.
    """
    sizing = size_replicas(
        traffic.peak,
        targets,
        workers=workload.workers,
        service_time=workload.service_time,
        service_scv=workload.service_scv,
        arrival_scv=workload.arrival_scv,
        max_utilization=max_utilization,
        redundancy=redundancy,
    )
    schedule = Schedule(np.full(traffic.rate.size, sizing.replicas), name=f"fixed {sizing.replicas} replicas")
    result = simulate(
        traffic,
        schedule,
        workload,
        sla=targets if sla is None else sla,
        price_per_replica_hour=price_per_replica_hour,
        **simulate_options,
    )
    return FixedFleet(sizing, result)
