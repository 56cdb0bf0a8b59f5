"""A capacity plan under uncertainty: the plan's classes, targets and failures, with uncertain inputs.

:func:`plan_under_uncertainty` takes a :class:`~capplan.plan.model.CapacityPlan` (sized at point
values) and the :class:`~capplan.uncertainty.section.UncertainInputs` of a plan file's
``uncertainty:`` section, and sizes every class the plan sized with the same targets, workers,
utilization cap, failure scenarios and uptime, drawing the inputs the section makes uncertain.
"""

from __future__ import annotations

import dataclasses
import inspect
import math
from collections.abc import Mapping
from typing import Any

from capplan.errors import ParameterError
from capplan.plan.build import _database_rates
from capplan.plan.build import plan as build_plan
from capplan.plan.model import CapacityPlan
from capplan.sizing import size_pool
from capplan.uncertainty.propagate import ClassModel
from capplan.uncertainty.quantities import Point, Uncertain
from capplan.uncertainty.result import CacheAtConfidence, UncertainSizing
from capplan.uncertainty.section import UncertainInputs
from capplan.uncertainty.sizing import ClassInputs, size_under_uncertainty

__all__ = ["plan_under_uncertainty", "with_uncertainty"]

_FAILURES = ("redundancy", "zones", "balancing")


def _failures(options: Mapping[str, Any]) -> dict[str, Any]:
    """``redundancy``, ``zones``, ``balancing`` as the plan used them (its defaults when not given)."""
    defaults = inspect.signature(build_plan).parameters
    return {k: options.get(k, defaults[k].default) for k in _FAILURES}


def _class_inputs(
    plan: CapacityPlan, uncertain: UncertainInputs, failures: Mapping[str, Any]
) -> dict[str, ClassInputs]:
    evidence = {e.op_class: e for e in plan.evidence}
    for kind in ("mix", "service_time", "scv"):
        unknown = sorted(set(getattr(uncertain, kind)) - set(evidence))
        if unknown:
            raise ParameterError(f"uncertainty.{kind}: no operation class {unknown} in the plan")
    out = {}
    for name, sized in plan.replicas.items():
        ev = evidence[name]
        avail = plan.availability.get(name)
        time: Uncertain | None = uncertain.service_time.get(name)
        scv: Uncertain | None = uncertain.scv.get(name)
        if time is None and (ev.distribution is None or scv is not None):
            time = Point(ev.mean_s)
        out[name] = ClassInputs(
            ClassModel(
                sized.targets,
                plan.workers,
                plan.max_utilization,
                service=ev.distribution,
                **failures,
            ),
            share=uncertain.mix.get(name, Point(plan.mix.get(name, 1.0))),
            service_time=time,
            scv=scv if scv is not None else Point(ev.scv),
            availability=None if avail is None else (avail.target, avail.replica_availability),
        )
    return out


def plan_under_uncertainty(
    plan: CapacityPlan,
    uncertain: UncertainInputs,
    *,
    confidence: float = 0.9,
    options: Mapping[str, Any] | None = None,
) -> UncertainSizing:
    """Replicas per class and in total at ``confidence`` for ``plan`` with ``uncertain`` inputs.

    ``options`` are the keyword arguments the plan was built with (for ``redundancy``, ``zones``
    and ``balancing``; :func:`capplan.plan.plan`'s defaults otherwise).  Classes the plan could
    not size (no replica count meets their targets) are left out.
    """
    if not plan.replicas:
        raise ParameterError("plan: no class was sized, nothing to size under uncertainty")
    classes = _class_inputs(plan, uncertain, _failures(options or {}))
    rate = uncertain.rate if uncertain.rate is not None else Point(plan.arrival_rate)
    result = size_under_uncertainty(
        rate, classes, confidence=confidence, draws=uncertain.draws, rng=uncertain.seed
    )
    query_time = (options or {}).get("query_time")
    pool = _pool_per_replica(plan, query_time, result.total)
    load = rate.quantile(confidence) / plan.arrival_rate
    return dataclasses.replace(result, pool_per_replica=pool, cache=_cache_at(plan, query_time, load))


def _cache_at(plan: CapacityPlan, query_time: float | None, load: float) -> CacheAtConfidence | None:
    """The plan's cache with its reads scaled by ``load`` (the throughput at the confidence over
    the plan's): the capacity stays (an LRU's hit ratio under independent references depends on
    its capacity and the popularity, not on the rate: Che, Tung & Wang 2002), the misses scale,
    and their connection pool is sized again as :func:`capplan.sizing.size_cache` sizes it."""
    cache = plan.cache
    if cache is None:
        return None
    backend = cache.backend_rate * load
    pool = None
    if cache.pool is not None and query_time is not None and backend > 0:
        pool = size_pool(
            backend, query_time, budget=cache.pool.budget, quantile=cache.pool.quantile
        ).pool_size
    return CacheAtConfidence(load, cache.backend_rate, backend, pool)


def _pool_per_replica(plan: CapacityPlan, query_time: float | None, replicas: float) -> int | None:
    """The plan's connection pool sizing (:func:`capplan.sizing.size_pool`, its budget and
    quantile) for ``replicas`` replicas sharing the SLA's database queries."""
    if plan.pool is None or plan.sla is None or query_time is None or not math.isfinite(replicas):
        return None
    read, write = _database_rates(plan.sla)
    pool = plan.pool
    sized = size_pool(
        (read + write) / replicas,
        query_time,
        budget=pool.budget,
        quantile=pool.quantile,
        threads=plan.workers,
    )
    return sized.pool_size


def with_uncertainty(
    plan: CapacityPlan, uncertain: UncertainInputs, confidence: float, options: Mapping[str, Any]
) -> CapacityPlan:
    """``plan`` carrying its :func:`plan_under_uncertainty` result (the report's section)."""
    result = plan_under_uncertainty(plan, uncertain, confidence=confidence, options=options)
    return dataclasses.replace(plan, uncertainty=result)
