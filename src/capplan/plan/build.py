"""Build a :class:`~capplan.plan.model.CapacityPlan` from an SLA and service-time evidence."""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Iterable, Mapping
from typing import Any, TypeVar

from capplan._validate import integer_count, positive
from capplan.autoscale import HPA, Traffic
from capplan.dbconfig import PgBouncerConfig, PostgresConfig
from capplan.errors import InfeasibleError, ParameterError
from capplan.plan.components import AutoscalingCheck, autoscaling_check, cache_recommendations
from capplan.plan.evidence import ServiceEvidence, stated
from capplan.plan.memory import PodMemory
from capplan.plan.model import CapacityPlan
from capplan.plan.overload import overload_check
from capplan.plan.overload_settings import OverloadSettings
from capplan.plan.recommendation import Recommendation
from capplan.plan.service import ServiceLayers, size_layers
from capplan.sizing import (
    check_database_pools,
    replica_capacity,
    replicas_for_availability,
    size_pool,
    size_replicas,
)
from capplan.sizing.caches import CacheSizing
from capplan.sizing.database import DatabasePoolCheck
from capplan.sizing.pools import PoolSizing
from capplan.sizing.replicas import AvailabilitySizing, Balancing, ReplicaSizing
from capplan.sla import SLA

__all__ = ["plan"]

T = TypeVar("T")

#: Budget items of the SLA the plan reads when present.
ACQUISITION_BUDGET = ("database_performance", "connection_acquisition")


def plan(
    sla: SLA,
    *evidence: ServiceEvidence | Iterable[ServiceEvidence],
    service_time: Mapping[str, float] | None = None,
    group: str = "api_endpoints",
    throughput: str = "api_gateway",
    load: str = "peak",
    mix: Mapping[str, float] | None = None,
    workers: int = 8,
    resource: str = "cpu",
    redundancy: int = 1,
    zones: int | None = 3,
    balancing: Balancing = "random",
    replica_mtbf: float | None = None,
    replica_mttr: float | None = None,
    query_time: float | None = None,
    pgbouncer: PgBouncerConfig | None = None,
    postgres: PostgresConfig | None = None,
    pgbouncer_instances: int = 1,
    price_per_replica_hour: float | None = None,
    cache: CacheSizing | None = None,
    hpa: HPA | None = None,
    traffic: Traffic | None = None,
    hpa_class: str | None = None,
    memory: PodMemory | None = None,
    overload: OverloadSettings | None = None,
    service: ServiceLayers | None = None,
) -> CapacityPlan:
    """Size a service for an SLA from evidence of its service times; say what binds and why.

    For each operation class with evidence, the class's share of the named throughput
    (``sla.rates(throughput)[load] * mix[class]``) is served by a deployment of replicas with
    ``workers`` servers each; :func:`capplan.sizing.size_replicas` finds the fewest replicas that
    meet every percentile target of the class and keep utilization at or under the SLA's target for
    ``resource`` — with all replicas up, with ``redundancy`` down (N+k) and with one of ``zones``
    zones lost.  Optional parts, each added when its inputs are given:

    * availability: with ``replica_mtbf``/``replica_mttr``, at least the k-out-of-n replica count
      for the SLA's ``uptime`` target (:func:`capplan.sizing.replicas_for_availability`), where k is
      the fewest replicas up in any failure scenario the latency sizing passed;
    * connection pool: with ``query_time`` and the SLA's database read/write throughput, the pool
      per replica meeting the SLA's connection-acquisition budget at p99
      (:func:`capplan.sizing.size_pool`);
    * database: with ``pgbouncer`` and ``postgres`` configurations, the connection limits and
      PgBouncer's queue at the planned replica count (:func:`capplan.sizing.check_database_pools`);
    * cache: a :func:`capplan.sizing.size_cache` result, reported per tier with the backend load;
    * autoscaling: an HPA (:func:`capplan.autoscale.load_hpa`) scaling the deployment of
      ``hpa_class`` (default the first class): its ``maxReplicas`` against the planned peak, and
      with ``traffic`` a simulated run of it beside a fixed fleet sized for the traffic's peak
      (:func:`capplan.autoscale.simulate`, :func:`~capplan.autoscale.fixed_fleet`).

    Parameters
    ----------
    sla : SLA
        From :func:`capplan.load_sla`.
    *evidence : ServiceEvidence or iterables of them
        Service time per operation class (see :mod:`capplan.plan.evidence`).
    service_time : mapping of str to float, optional
        Stated mean service times ``{class: seconds}`` (SCV 1), added to ``evidence``.
    group, throughput, load, resource : str
        The SLA's latency group, throughput target and its level, and the utilization threshold.
    mix : mapping of str to float, optional
        Share of the throughput per class.  Without it each class is sized for the whole
        throughput — conservative; the assumptions say so.
    workers : int, default 8
        Servers (threads, processes) per replica.
    redundancy, zones, balancing
        Passed to :func:`capplan.sizing.size_replicas`.
    replica_mtbf, replica_mttr : float, optional
        Mean time between failures and to repair of one replica, seconds.
    query_time : float, optional
        Mean time a database query holds a connection, seconds.
    pgbouncer, postgres : optional
        From :func:`capplan.dbconfig.load_pgbouncer` / :func:`~capplan.dbconfig.load_postgresql_conf`.
    pgbouncer_instances : int, default 1
        PgBouncer processes behind one address.
    price_per_replica_hour : float, optional
        For the monthly cost (and the autoscaling run's cost).
    cache : CacheSizing, optional
        The cache chain sized by :func:`capplan.sizing.size_cache`.
    hpa, traffic, hpa_class : optional
        The HorizontalPodAutoscaler, a day (or any span) of traffic for it, and the operation class
        whose deployment it scales.
    memory : PodMemory, optional
        Memory of one replica, carried for the exports' memory requests and limits (not modelled).
    overload : OverloadSettings, optional
        Client timeouts and retries (and a breaker, shedding, a spike): per class, goodput and
        failures at the planned load, the safe maximum load, the spike survived, the settings that
        restore recovery, and the SLA's error_rate / timeout_rate / uptime as checks
        (:mod:`capplan.plan.overload`).
    service : ServiceLayers, optional
        How one replica runs (cores, lock-free CPU share, each class's steps): the plan also sizes
        one deployment serving every class as layers, replicas x processes x threads x pool per
        process in one search, with the binding layer per class and, with ``memory``, the pod's
        memory request and limit (:mod:`capplan.plan.service`).

    Returns
    -------
    CapacityPlan
    """
    items = _evidence(evidence, service_time)
    _check_parts(price_per_replica_hour, traffic, hpa, pgbouncer, postgres, query_time)
    rates = _from_sla(sla.rates, throughput)
    if load not in rates:
        raise ParameterError(f"load: {throughput!r} has levels {', '.join(rates)}, got {load!r}")
    rate = rates[load]
    shares = _mix(mix, [e.op_class for e in items])
    cap = _from_sla(sla.utilization_target, resource)
    c = int(integer_count("workers", workers))
    assumptions = _assumptions(c, resource, cap, len(items) > 1 and mix is None)
    classes = _ClassSizing(
        sla, group, c, cap, {"redundancy": redundancy, "zones": zones, "balancing": balancing}
    )
    classes.size_all(
        items,
        {k: rate * share for k, share in shares.items()},
        _uptime_target(sla, replica_mtbf, replica_mttr),
        (replica_mtbf, replica_mttr),
    )
    recs = classes.recs
    pool = _pool(sla, query_time, classes.total(), c, recs, assumptions)
    database = None
    if pgbouncer is not None and postgres is not None and pool is not None and not classes.infeasible:
        database = _database(sla, pgbouncer, postgres, classes.total(), pool, query_time, pgbouncer_instances)
        recs.append(_database_recommendation(database))
    layered = None
    if service is not None:
        limit = None if pgbouncer is None else pgbouncer.max_client_conn * pgbouncer_instances
        failures = {"redundancy": redundancy, "zones": zones}
        rates_by_class = {k: rate * share for k, share in shares.items()}
        layered = size_layers(service, sla, group, items, rates_by_class, failures, cap, memory, limit)
        recs.extend(layered.recommendations())
    if cache is not None:
        recs.extend(cache_recommendations(cache))
    scaling = None
    if hpa is not None:
        scaling = _autoscaling(
            hpa,
            traffic,
            hpa_class,
            items,
            classes,
            price_per_replica_hour,
            overload,
        )
        if scaling is not None:
            recs.extend(scaling.recommendations())
    overload_result = None
    if overload is not None:
        by_class = {e.op_class: e for e in items}
        overload_result = overload_check(overload, sla, rates, load, shares, by_class, classes.sized, scaling)
        assumptions.extend(overload_result.assumptions)
    return CapacityPlan(
        sla_sources=sla.sources,
        throughput=throughput,
        load=load,
        arrival_rate=rate,
        workers=c,
        max_utilization=cap,
        evidence=tuple(items),
        replicas=classes.sized,
        infeasible=classes.infeasible,
        recommendations=tuple(recs),
        assumptions=tuple(assumptions),
        availability=classes.availability,
        pool=pool,
        database=database,
        price_per_replica_hour=price_per_replica_hour,
        mix=dict(shares),
        cache=cache,
        autoscaling=scaling,
        sla=sla,
        memory=memory,
        overload=overload_result,
        service=layered,
    )


def _check_parts(
    price: float | None,
    traffic: Traffic | None,
    hpa: HPA | None,
    pgbouncer: PgBouncerConfig | None,
    postgres: PostgresConfig | None,
    query_time: float | None,
) -> None:
    """The optional parts' inputs come in the combinations the plan can use."""
    if price is not None:
        positive("price_per_replica_hour", price)
    if traffic is not None and hpa is None:
        raise ParameterError("traffic: give the hpa to simulate it against")
    if (pgbouncer is None) != (postgres is None):
        raise ParameterError("pgbouncer and postgres: give both configurations to check the database")
    if pgbouncer is not None and query_time is None:
        raise ParameterError("query_time: needed with pgbouncer/postgres, to size the pool and the queue")


def _assumptions(workers: int, resource: str, cap: float, no_mix: bool) -> list[str]:
    out = [
        f"each operation class is its own deployment of replicas with {workers} workers each",
        "requests arrive as a Poisson stream; load is spread evenly over replicas",
        f"utilization of {resource} <= {cap:.0%} (the SLA's target), checked after failures too",
    ]
    if no_mix:
        out.append("no traffic mix given: every class is sized for the whole throughput")
    return out


class _ClassSizing:
    """Replicas per operation class: latency targets and failures, then availability."""

    def __init__(self, sla: SLA, group: str, workers: int, cap: float, failures: Mapping[str, Any]) -> None:
        self.sla, self.group, self.workers, self.cap = sla, group, workers, cap
        self.failures = failures
        self.sized: dict[str, ReplicaSizing] = {}
        self.availability: dict[str, AvailabilitySizing] = {}
        self.infeasible: dict[str, str] = {}
        self.recs: list[Recommendation] = []

    def size_all(
        self,
        items: list[ServiceEvidence],
        rates: Mapping[str, float],
        uptime: float | None,
        repair: tuple[float | None, float | None],
    ) -> None:
        """Size every class at its rate; add a ``replicas`` recommendation per class."""
        for ev in items:
            try:
                result = size_replicas(rates[ev.op_class], **self._inputs(ev))
            except InfeasibleError as exc:
                self.infeasible[ev.op_class] = str(exc)
                self.recs.append(Recommendation("replicas", ev.op_class, None, "replicas", str(exc), "-"))
                continue
            self.sized[ev.op_class] = result
            count, binding = result.replicas, result.binding
            if uptime is not None:
                avail = _availability(uptime, *repair, result)
                self.availability[ev.op_class] = avail
                if avail.replicas > count:
                    count = avail.replicas
                    binding = (
                        f"uptime >= {uptime:.4%}: {avail.required} of N replicas up (k-out-of-n, "
                        f"availability {avail.availability:.6f})"
                    )
            self.recs.append(
                Recommendation("replicas", ev.op_class, count, "replicas", binding, result.method)
            )

    def _inputs(self, ev: ServiceEvidence) -> dict[str, Any]:
        """What :func:`size_replicas` and :func:`replica_capacity` take for this class but the load."""
        return {
            "targets": self.targets(ev.op_class),
            "workers": self.workers,
            "service_time": ev.mean_s if ev.distribution is None else None,
            "service_scv": ev.scv,
            "service": ev.distribution,
            "max_utilization": self.cap,
            **self.failures,
        }

    def targets(self, op_class: str) -> dict[float, float]:
        """The class's latency targets from the SLA."""
        return dict(_from_sla(self.sla.latency_targets_for, self.group, op_class))

    def capacity(self, ev: ServiceEvidence, replicas: int) -> float:
        """The class's rate (requests/s) ``replicas`` replicas carry meeting every target."""
        return replica_capacity(replicas, **self._inputs(ev))

    def total(self) -> int:
        """Replicas over the sized classes, availability included."""
        return sum(
            max(s.replicas, self.availability[k].replicas if k in self.availability else 0)
            for k, s in self.sized.items()
        )


def _database(
    sla: SLA,
    pgbouncer: PgBouncerConfig,
    postgres: PostgresConfig,
    replicas: int,
    pool: PoolSizing,
    query_time: float | None,
    instances: int,
) -> DatabasePoolCheck:
    read, write = _database_rates(sla)
    return check_database_pools(
        pgbouncer,
        postgres,
        replicas=replicas,
        pool_per_replica=pool.pool_size,
        read_qps=read,
        write_qps=write,
        query_time=float(query_time or 0.0),
        pgbouncer_instances=instances,
    )


def _database_recommendation(database: DatabasePoolCheck) -> Recommendation:
    return Recommendation(
        "database",
        database.database,
        database.max_safe_replicas,
        "max safe replicas",
        database.binding,
        database.method,
    )


def _from_sla(lookup: Callable[..., T], *args: str) -> T:
    """An SLA lookup whose missing key becomes a ParameterError naming what is there."""
    try:
        return lookup(*args)
    except KeyError as exc:
        raise ParameterError(f"sla: {exc.args[0] if exc.args else exc}") from None


def _autoscaling(
    hpa: HPA,
    traffic: Traffic | None,
    hpa_class: str | None,
    items: list[ServiceEvidence],
    classes: _ClassSizing,
    price: float | None,
    overload: OverloadSettings | None = None,
) -> AutoscalingCheck | None:
    op_class = hpa_class or items[0].op_class
    evidence = {e.op_class: e for e in items}
    if op_class not in evidence:
        raise ParameterError(f"hpa_class: no service-time evidence for {op_class!r}")
    if op_class not in classes.sized:  # no replica count meets its targets: nothing to compare with
        return None
    check = autoscaling_check(
        hpa,
        evidence[op_class],
        classes.sized[op_class],
        classes.targets(op_class),
        workers=classes.workers,
        max_utilization=classes.cap,
        traffic=traffic,
        price_per_replica_hour=price,
        timeout=math.inf if overload is None else overload.client_for(op_class).timeout,
    )
    return dataclasses.replace(check, max_capacity=classes.capacity(evidence[op_class], hpa.max_replicas))


def _evidence(
    given: tuple[ServiceEvidence | Iterable[ServiceEvidence], ...], service_time: Mapping[str, float] | None
) -> list[ServiceEvidence]:
    items: list[ServiceEvidence] = []
    for entry in given:
        if isinstance(entry, ServiceEvidence):
            items.append(entry)
        else:
            for ev in entry:
                if not isinstance(ev, ServiceEvidence):
                    raise ParameterError(f"evidence: expected ServiceEvidence, got {type(ev).__name__}")
                items.append(ev)
    if service_time:
        items.extend(stated(service_time))
    if not items:
        raise ParameterError(
            "evidence: the plan needs a service time per operation class — give ServiceEvidence "
            "(from a profile, a load test, Prometheus) or service_time={class: seconds}"
        )
    seen: set[str] = set()
    for ev in items:
        if ev.op_class in seen:
            raise ParameterError(f"evidence: two service times for class {ev.op_class!r}; give one")
        seen.add(ev.op_class)
    return items


def _mix(mix: Mapping[str, float] | None, classes: list[str]) -> dict[str, float]:
    if mix is None:
        return dict.fromkeys(classes, 1.0)
    unknown = sorted(set(mix) - set(classes))
    if unknown:
        raise ParameterError(f"mix: classes {unknown} have no service-time evidence")
    missing = sorted(set(classes) - set(mix))
    if missing:
        raise ParameterError(f"mix: no share given for {missing}")
    shares = {k: float(positive(f"mix[{k!r}]", v)) for k, v in mix.items()}
    if sum(shares.values()) > 1 + 1e-9:
        raise ParameterError(f"mix: shares add up to {sum(shares.values()):g} > 1")
    return shares


def _uptime_target(sla: SLA, mtbf: float | None, mttr: float | None) -> float | None:
    if mtbf is None and mttr is None:
        return None
    if mtbf is None or mttr is None:
        raise ParameterError("replica_mtbf and replica_mttr: give both or neither")
    uptime = {a.name: a.value for a in sla.availability_targets}.get("uptime")
    if uptime is None:
        raise ParameterError("replica_mtbf: the SLA sets no availability 'uptime' target to size for")
    return float(uptime)


def _availability(
    uptime: float, mtbf: float | None, mttr: float | None, sized: ReplicaSizing
) -> AvailabilitySizing:
    """Replicas so that enough stay up with probability >= uptime (independent failures).

    "Enough" is the fewest replicas up in any failure scenario the sizing checked and passed (e.g.
    the count left after losing a zone): the targets hold with that many.
    """
    required = min([sized.replicas, *(int(v["replicas_up"]) for v in sized.scenarios.values())])
    return replicas_for_availability(
        uptime, mtbf=float(mtbf or 0.0), mttr=float(mttr or 0.0), required=required
    )


def _database_rates(sla: SLA) -> tuple[float, float]:
    try:
        rates = sla.rates("database")
    except KeyError:
        return 0.0, 0.0
    return float(rates.get("read", 0.0)), float(rates.get("write", 0.0))


def _pool(
    sla: SLA,
    query_time: float | None,
    replicas: int,
    workers: int,
    recs: list[Recommendation],
    assumptions: list[str],
) -> PoolSizing | None:
    if query_time is None or replicas < 1:
        return None
    read, write = _database_rates(sla)
    if read + write <= 0:
        raise ParameterError("query_time: the SLA has no database read/write throughput to size a pool for")
    try:
        budget = sla.budget_value(*ACQUISITION_BUDGET)
    except KeyError:
        budget = 0.010
        assumptions.append("no connection-acquisition budget in the SLA: 10 ms assumed")
    result = size_pool((read + write) / replicas, query_time, budget=budget, threads=workers)
    assumptions.append(
        f"database queries ({read + write:g}/s from the SLA) spread evenly over {replicas} replicas"
    )
    recs.append(
        Recommendation(
            "connection pool", "per replica", result.pool_size, "connections", result.binding, result.method
        )
    )
    return result
