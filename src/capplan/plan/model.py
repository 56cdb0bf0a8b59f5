"""The capacity plan: recommendations, predictions against targets, evidence and assumptions.

The plan holds numbers and tables (and their JSON); :mod:`capplan.plan.render` turns a plan into
Markdown, HTML and figures, and this module knows nothing of it.
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from capplan.plan.components import AutoscalingCheck, cache_misses
from capplan.plan.evidence import ServiceEvidence
from capplan.plan.memory import PodMemory
from capplan.plan.overload import OverloadCheck
from capplan.plan.provenance import Provenance, provenance_frame
from capplan.plan.recommendation import Recommendation
from capplan.plan.service import ServiceCheck
from capplan.sizing.caches import CacheSizing
from capplan.sizing.database import DatabasePoolCheck
from capplan.sizing.pools import PoolSizing
from capplan.sizing.replicas import AvailabilitySizing, ReplicaSizing
from capplan.sla import SLA

if TYPE_CHECKING:
    from capplan.export import ExportResult
    from capplan.forecast.runways import PlanRunway
    from capplan.uncertainty.result import UncertainSizing

__all__ = ["HOURS_PER_MONTH", "CapacityPlan"]

#: Hours in an average month (365.25 * 24 / 12), used for monthly cost.
HOURS_PER_MONTH = 730.5


@dataclass(frozen=True)
class CapacityPlan:
    """Result of :func:`capplan.plan.plan`.  Times in seconds, rates per second.

    ``recommendations`` are the settings to deploy; ``predictions()`` compares the predicted
    response-time percentiles with the SLA's targets, per class and failure scenario; ``ok`` is true
    when every target and limit holds.
    """

    sla_sources: tuple[str, ...]
    throughput: str
    load: str
    arrival_rate: float
    workers: int
    max_utilization: float
    evidence: tuple[ServiceEvidence, ...]
    replicas: dict[str, ReplicaSizing]
    infeasible: dict[str, str]
    recommendations: tuple[Recommendation, ...]
    assumptions: tuple[str, ...]
    availability: dict[str, AvailabilitySizing] = field(default_factory=dict)
    pool: PoolSizing | None = None
    database: DatabasePoolCheck | None = None
    price_per_replica_hour: float | None = None
    mix: dict[str, float] = field(default_factory=dict)
    cache: CacheSizing | None = None
    autoscaling: AutoscalingCheck | None = None
    #: The SLA the plan was built for (its availability targets and throughput levels feed the exports).
    sla: SLA | None = field(default=None, repr=False, compare=False)
    #: Memory of one replica, when stated (the plan does not model memory; exports need it).
    memory: PodMemory | None = None
    overload: OverloadCheck | None = None
    #: The one-deployment sizing on the layered service model, when the plan was given a service.
    service: ServiceCheck | None = None
    #: When the forecast load outgrows the fleet (``capplan plan --horizon``; :mod:`capplan.forecast`).
    runway: PlanRunway | None = field(default=None, compare=False)
    #: Where each measured number came from (a plan file's ``sources:``; :mod:`capplan.plan.sources`).
    provenance: tuple[Provenance, ...] = ()
    #: Replicas under uncertain inputs (``capplan plan --confidence``; :mod:`capplan.uncertainty`).
    uncertainty: UncertainSizing | None = field(default=None, compare=False)

    # -- the numbers ---------------------------------------------------------------------------
    @property
    def total_replicas(self) -> int | None:
        """Replicas over all operation classes, or None when some class cannot be sized."""
        if self.infeasible:
            return None
        return sum(self._final_replicas(c) for c in self.replicas)

    @property
    def monthly_cost(self) -> float | None:
        """``total_replicas x price_per_replica_hour x`` :data:`HOURS_PER_MONTH`, when priced.

        The cost of running the fleet sized for the peak all month; an autoscaled class costs less
        (its simulated run reports replica-hours and cost in :attr:`autoscaling`).
        """
        total = self.total_replicas
        if self.price_per_replica_hour is None or total is None:
            return None
        return total * self.price_per_replica_hour * HOURS_PER_MONTH

    def _final_replicas(self, op_class: str) -> int:
        sized = self.replicas[op_class].replicas
        if op_class in self.availability:
            return max(sized, self.availability[op_class].replicas)
        return sized

    def predictions(self) -> pd.DataFrame:
        """Predicted response-time quantiles against targets, per class and scenario.

        Columns ``class, scenario, replicas_up, quantile, predicted_s, target_s, met, utilization``.
        """
        frames = []
        for op_class, sizing in self.replicas.items():
            frame = sizing.to_frame()
            frame.insert(0, "class", op_class)
            frames.append(frame)
        if not frames:
            return pd.DataFrame(
                columns=["class", "scenario", "replicas_up", "quantile", "predicted_s", "target_s", "met"]
            )
        out = pd.concat(frames, ignore_index=True)
        out["met"] = out["predicted_s"] <= out["target_s"]
        return out[
            ["class", "scenario", "replicas_up", "quantile", "predicted_s", "target_s", "met", "utilization"]
        ]

    def misses(self) -> list[str]:
        """Why the plan does not meet the SLA (empty when it does)."""
        out = [f"{c}: {why}" for c, why in self.infeasible.items()]
        bad = self.predictions()
        for row in bad[~bad["met"]].to_dict(orient="records"):
            q, predicted, target = (float(row[k]) for k in ("quantile", "predicted_s", "target_s"))
            out.append(
                f"{row['class']}: p{q * 100:g} {predicted * 1e3:.4g} ms > target "
                f"{target * 1e3:.4g} ms ({row['scenario']})"
            )
        if self.pool is not None and self.pool.acquisition_wait > self.pool.budget:
            out.append(
                f"connection pool: p{self.pool.quantile * 100:g} acquisition wait "
                f"{self.pool.acquisition_wait * 1e3:.4g} ms > budget {self.pool.budget * 1e3:.4g} ms"
            )
        if self.database is not None and not self.database.ok:
            limits = ", ".join(self.database.refused) or "queue unstable"
            out.append(f"database: {limits}")
        if self.cache is not None:
            out.extend(cache_misses(self.cache))
        if self.autoscaling is not None:
            out.extend(self.autoscaling.misses())
        if self.overload is not None:
            out.extend(self.overload.misses())
        if self.service is not None:
            out.extend(self.service.misses())
        return out

    @property
    def ok(self) -> bool:
        """True when every target, budget and limit holds."""
        return not self.misses()

    # -- tables --------------------------------------------------------------------------------
    def to_frame(self) -> pd.DataFrame:
        """The recommendations: ``component, item, value, unit, binding, model``."""
        return pd.DataFrame(
            [vars(r) for r in self.recommendations],
            columns=["component", "item", "value", "unit", "binding", "model"],
        )

    def summary(self) -> pd.DataFrame:
        """Per class: replicas, binding constraint, headroom, utilization, service time, source."""
        rows = []
        for ev in self.evidence:
            sized = self.replicas.get(ev.op_class)
            rows.append(
                {
                    "class": ev.op_class,
                    "arrival_rate": self.arrival_rate * self.mix.get(ev.op_class, 1.0),
                    "service_time_s": ev.mean_s,
                    "replicas": self._final_replicas(ev.op_class) if sized else None,
                    "workers_per_replica": self.workers,
                    "binding": sized.binding if sized else self.infeasible.get(ev.op_class, ""),
                    "utilization": sized.utilization if sized else math.nan,
                    "headroom": sized.headroom if sized else math.nan,
                    "evidence": ev.source,
                }
            )
        frame = pd.DataFrame(rows)
        frame["replicas"] = frame["replicas"].astype("Int64")
        return frame

    def to_dict(self) -> dict[str, Any]:
        """Plain-JSON-ready content: inputs, recommendations, predictions, misses, assumptions."""
        return {
            "sla": list(self.sla_sources),
            "throughput": {"name": self.throughput, "load": self.load, "per_second": self.arrival_rate},
            "mix": self.mix,
            "workers_per_replica": self.workers,
            "max_utilization": self.max_utilization,
            "evidence": [vars(e) | {"distribution": _dist_name(e.distribution)} for e in self.evidence],
            "ok": self.ok,
            "misses": self.misses(),
            "total_replicas": self.total_replicas,
            "monthly_cost": self.monthly_cost,
            "price_per_replica_hour": self.price_per_replica_hour,
            "recommendations": _records(self.to_frame()),
            "summary": _records(self.summary()),
            "predictions": _records(self.predictions()),
            "assumptions": list(self.assumptions),
            "cache": None if self.cache is None else _records(self.cache.to_frame().reset_index()),
            "autoscaling": None if self.autoscaling is None else self.autoscaling.totals(),
            "overload": None if self.overload is None else _json_tree(self.overload.totals()),
            "runway": None if self.runway is None else _json_tree(self.runway.to_dict()),
            "service": None if self.service is None else _json_tree(self.service.to_dict()),
            "provenance": _records(provenance_frame(self.provenance)),
            "uncertainty": None if self.uncertainty is None else _json_tree(self.uncertainty.to_dict()),
        }

    def to_json(self, indent: int | None = 2) -> str:
        """The plan as JSON (NaN and infinity become null)."""
        return json.dumps(self.to_dict(), indent=indent, allow_nan=False)

    def export(self, directory: str | os.PathLike[str], **options: Any) -> ExportResult:
        """Write the deployment files of this plan into a new ``directory`` (see :mod:`capplan.export`)."""
        from capplan.export import export_plan  # noqa: PLC0415 - export reads this module

        return export_plan(self, directory, **options)

    def __repr__(self) -> str:
        status = "meets the SLA" if self.ok else f"misses the SLA ({len(self.misses())} misses)"
        total = self.total_replicas
        return (
            f"CapacityPlan({self.throughput} {self.load} {self.arrival_rate:g}/s, "
            f"{len(self.evidence)} classes, {total if total is not None else 'no'} replicas of "
            f"{self.workers} workers, {status})"
        )


def _dist_name(dist: Any) -> str | None:
    if dist is None:
        return None
    if isinstance(dist, np.ndarray):
        return f"empirical ({dist.size} samples)"
    inner = getattr(dist, "dist", None)
    return str(getattr(inner, "name", None) or type(dist).__name__)


def _json_value(value: Any) -> Any:
    """numpy scalars -> Python; NaN, infinity, None and pd.NA -> None."""
    if value is pd.NA or value is None:
        return None
    if hasattr(value, "item"):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def _json_tree(value: Any) -> Any:
    """Nested dicts and lists with JSON-safe leaves (see :func:`_json_value`)."""
    if isinstance(value, dict):
        return {str(k): _json_tree(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_json_tree(v) for v in value]
    return _json_value(value)


def _records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    """DataFrame rows as JSON-safe dicts."""
    return [{str(k): _json_value(v) for k, v in row.items()} for row in frame.to_dict(orient="records")]
