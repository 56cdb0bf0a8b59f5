"""Parts of a plan beyond replicas: the cache chain and the autoscaler.

Each function turns a result of the model or decision layer into :class:`Recommendation` rows and
misses, so :func:`capplan.plan.plan` only assembles.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

from capplan.autoscale import HPA, AutoscaleResult, Traffic, Workload, fixed_fleet, simulate
from capplan.plan.evidence import ServiceEvidence
from capplan.plan.recommendation import Recommendation
from capplan.sizing.caches import CacheSizing
from capplan.sizing.replicas import ReplicaSizing

__all__ = ["AutoscalingCheck", "autoscaling_check", "cache_misses", "cache_recommendations"]


def cache_recommendations(cache: CacheSizing) -> list[Recommendation]:
    """One row per tier capacity, the sized tier carrying the binding constraint; then the backend."""
    recs = []
    for tier, capacity in zip(cache.tiers, cache.capacities, strict=True):
        sized = tier == cache.sized_tier
        recs.append(
            Recommendation(
                "cache",
                tier,
                None if capacity is None else float(capacity),
                cache.unit if capacity is not None else "unbounded",
                cache.binding if sized else "given",
                cache.method,
            )
        )
    recs.append(
        Recommendation(
            "cache",
            "backend (misses)",
            cache.backend_rate,
            "requests/s",
            f"hit ratio {cache.hit_ratio:.4f} (target {cache.target_hit_ratio:g})",
            cache.method,
        )
    )
    if cache.pool is not None:
        recs.append(
            Recommendation(
                "connection pool",
                "cache misses",
                cache.pool.pool_size,
                "connections",
                cache.pool.binding,
                cache.pool.method,
            )
        )
    return recs


def cache_misses(cache: CacheSizing) -> list[str]:
    """Targets the cache plan misses (empty when it meets them)."""
    out = []
    if cache.hit_ratio < cache.target_hit_ratio:
        out.append(f"cache: hit ratio {cache.hit_ratio:.4f} < target {cache.target_hit_ratio:g}")
    if cache.latency > cache.response_budget:
        out.append(
            f"cache: {cache.latency_statistic} latency {cache.latency * 1e3:.4g} ms > budget "
            f"{cache.response_budget * 1e3:.4g} ms"
        )
    return out


@dataclass(frozen=True)
class AutoscalingCheck:
    """The HPA against the planned peak, and (with traffic) a simulated run beside a fixed fleet."""

    op_class: str
    hpa: HPA
    planned_replicas: int
    result: AutoscaleResult | None = None
    fixed_result: AutoscaleResult | None = None
    fixed_replicas: int | None = None
    #: The class's rate (requests/s) that ``maxReplicas`` replicas carry meeting every target
    #: (:func:`capplan.sizing.replica_capacity`): the most the autoscaler can scale out to.
    max_capacity: float | None = None

    @property
    def max_too_low(self) -> bool:
        """``maxReplicas`` below the replicas the plan needs at peak."""
        return self.hpa.max_replicas < self.planned_replicas

    def recommended_hpa(self) -> HPA:
        """The HPA to deploy: the plan's manifest with ``maxReplicas`` raised to the planned peak."""
        if not self.max_too_low:
            return self.hpa
        return self.hpa.replace(max_replicas=self.planned_replicas)

    def recommendations(self) -> list[Recommendation]:
        """``maxReplicas`` (raised to the planned peak when lower) and the simulated totals."""
        binding = (
            f"peak needs {self.planned_replicas} replicas; the manifest allows {self.hpa.max_replicas}"
            if self.max_too_low
            else f"manifest value covers the planned peak of {self.planned_replicas}"
        )
        recs = [
            Recommendation(
                "autoscaling",
                f"{self.hpa.name} maxReplicas",
                self.recommended_hpa().max_replicas,
                "replicas",
                binding,
                "plan: replicas sized for the peak",
            )
        ]
        if self.result is not None:
            totals = self.result.totals()
            recs.append(
                Recommendation(
                    "autoscaling",
                    f"{self.hpa.name} over the traffic",
                    totals["replica_hours"],
                    "replica-hours",
                    _violations(self.result),
                    self.result.method,
                )
            )
        if self.fixed_result is not None and self.fixed_replicas is not None:
            recs.append(
                Recommendation(
                    "autoscaling",
                    f"fixed fleet of {self.fixed_replicas}",
                    round(self.fixed_result.replica_hours, 2),
                    "replica-hours",
                    _violations(self.fixed_result),
                    self.fixed_result.method,
                )
            )
        return recs

    def totals(self) -> dict[str, object]:
        """The manifest's bounds, the planned peak, and each simulated run's totals (JSON-ready)."""
        out: dict[str, object] = {
            "hpa": self.hpa.name,
            "operation_class": self.op_class,
            "min_replicas": self.hpa.min_replicas,
            "max_replicas": self.hpa.max_replicas,
            "planned_peak_replicas": self.planned_replicas,
            "max_replicas_carry_per_s": self.max_capacity,
        }
        if self.result is not None:
            out["hpa_run"] = self.result.totals()
        if self.fixed_result is not None:
            out["fixed_fleet"] = {"replicas": self.fixed_replicas, **self.fixed_result.totals()}
        return out

    def misses(self) -> list[str]:
        """``maxReplicas`` too low, and minutes the simulated run spends over a target."""
        out = []
        if self.max_too_low:
            out.append(
                f"autoscaling: {self.hpa.name} maxReplicas {self.hpa.max_replicas} < "
                f"{self.planned_replicas} replicas needed at peak by {self.op_class}"
            )
        if self.result is not None:
            for name, minutes in self.result.sla_violation_minutes.items():
                if minutes > 0:
                    out.append(f"autoscaling: {name} missed for {minutes:.4g} min of the simulated traffic")
        return out


def _violations(result: AutoscaleResult) -> str:
    over = {k: v for k, v in result.sla_violation_minutes.items() if v > 0}
    if not over:
        return "every target met in every interval"
    return "; ".join(f"{name} missed {minutes:.4g} min" for name, minutes in over.items())


def autoscaling_check(
    hpa: HPA,
    evidence: ServiceEvidence,
    sizing: ReplicaSizing,
    targets: Mapping[float, float],
    *,
    workers: int,
    max_utilization: float,
    traffic: Traffic | None = None,
    price_per_replica_hour: float | None = None,
    timeout: float = math.inf,
) -> AutoscalingCheck:
    """Compare ``hpa`` with the planned replicas of one class; simulate it over ``traffic`` if given.

    The pods are the class's: ``workers`` servers each with the evidence's service time and SCV
    (:class:`capplan.autoscale.Workload`), whose clients give up after ``timeout`` seconds (the
    backlog that would wait longer is dropped); the fixed fleet beside it is sized for the
    traffic's peak with the same targets and utilization cap.
    """
    planned = sizing.replicas
    if traffic is None:
        return AutoscalingCheck(evidence.op_class, hpa, planned)
    workload = Workload(
        service_time=evidence.mean_s, workers=workers, service_scv=evidence.scv, timeout=timeout
    )
    price = 0.0 if price_per_replica_hour is None else float(price_per_replica_hour)
    result = simulate(traffic, hpa, workload, sla=dict(targets), price_per_replica_hour=price)
    fleet = fixed_fleet(
        traffic,
        workload,
        targets,
        max_utilization=max_utilization,
        price_per_replica_hour=price if price > 0 else 1.0,
    )
    if not math.isfinite(fleet.result.replica_hours):  # pragma: no cover - defensive
        return AutoscalingCheck(evidence.op_class, hpa, planned, result)
    return AutoscalingCheck(evidence.op_class, hpa, planned, result, fleet.result, fleet.replicas)
