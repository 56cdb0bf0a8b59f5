"""Size replicas (each with its own workers) for latency targets, utilization, redundancy and availability."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

import pandas as pd
from scipy import stats

from capplan._validate import nonnegative, positive, probability, utilization_cap
from capplan.errors import InfeasibleError, ParameterError
from capplan.queueing import QueueModel, queue_model
from capplan.sizing._search import smallest_satisfying
from capplan.sizing._service import describe_service

__all__ = ["AvailabilitySizing", "ReplicaSizing", "replicas_for_availability", "size_replicas"]

Balancing = Literal["random", "jsq"]


@dataclass(frozen=True)
class ReplicaSizing:
    """Result of :func:`size_replicas` (times in seconds, rates per second).

    ``predicted`` holds the response-time quantiles with every replica up; ``scenarios`` the worst
    case in each failure scenario checked (N+k, zone loss).  ``headroom`` is the largest arrival rate
    that still meets every constraint at ``replicas``, divided by the rate sized for.
    """

    replicas: int
    workers: int
    arrival_rate: float
    binding: str
    utilization: float
    predicted: dict[float, float]
    targets: dict[float, float]
    headroom: float
    balancing: str
    method: str
    scenarios: dict[str, dict[str, float]] = field(default_factory=dict)

    def to_frame(self) -> pd.DataFrame:
        """Predicted quantiles against targets, per scenario (all up, then each failure case)."""
        rows = []
        for name, values in {"all replicas up": self._all_up(), **self.scenarios}.items():
            for q, target in sorted(self.targets.items()):
                rows.append(
                    {
                        "scenario": name,
                        "replicas_up": int(values["replicas_up"]),
                        "quantile": q,
                        "predicted_s": values[f"p{q}"],
                        "target_s": target,
                        "utilization": values["utilization"],
                    }
                )
        return pd.DataFrame(rows)

    def _all_up(self) -> dict[str, float]:
        out = {f"p{q}": v for q, v in self.predicted.items()}
        out["replicas_up"] = float(self.replicas)
        out["utilization"] = self.utilization
        return out


def _label(q: float) -> str:
    return f"p{q * 100:g}"


def size_replicas(
    arrival_rate: float,
    targets: Mapping[float, float],
    *,
    workers: int = 1,
    service_time: float | None = None,
    service_scv: float = 1.0,
    service: Any = None,
    arrival_scv: float = 1.0,
    max_utilization: float = 1.0,
    redundancy: int = 0,
    zones: int | None = None,
    balancing: Balancing = "random",
) -> ReplicaSizing:
    """Smallest replica count meeting latency targets and a utilization cap, also after failures.

    Each replica runs ``workers`` servers (threads, processes or event-loop slots doing the work).

    * ``balancing="random"`` (round-robin or random routing): every replica is its own G/G/c queue
      fed ``arrival_rate / replicas_up`` — the conservative case.
    * ``balancing="jsq"`` (join-shortest-queue / least-connections): approximated by one pooled
      queue of ``workers * replicas_up`` servers, which JSQ approaches as load balancing improves;
      optimistic for few replicas.

    The queue per replica is M/M/c (exact) or G/G/c (:class:`capplan.queueing.GGc`); the service
    time is ``service_time`` (mean) with ``service_scv``, or ``service`` a distribution or samples.
    Constraints checked: every percentile target and ``utilization <= max_utilization`` with all
    replicas up, with ``redundancy`` replicas down (N+k), and with the largest of ``zones`` zones
    lost (replicas spread evenly, ``ceil(N/zones)`` lost).

    Raises
    ------
    InfeasibleError
        When a target is below the service time's own quantile: no replica count can meet it.
    """
    lam = float(positive("arrival_rate", arrival_rate))
    c = int(positive("workers", workers))
    cap = utilization_cap("max_utilization", max_utilization)
    k = int(nonnegative("redundancy", redundancy))
    if zones is not None and int(positive("zones", zones)) < 2:
        raise ParameterError(f"zones must be >= 2 to survive the loss of one, got {zones!r}")
    if balancing not in ("random", "jsq"):
        raise ParameterError(f"balancing must be 'random' or 'jsq', got {balancing!r}")
    goals = {float(probability("quantile", q)): float(positive("target", t)) for q, t in targets.items()}
    if not goals:
        raise ParameterError("targets is empty: give at least one {quantile: seconds}")
    mu, scv, dist = describe_service(
        service_time, service_scv, service, names=("service_time", "service_scv", "service")
    )

    def model(rate: float, up: int) -> QueueModel:
        per_rate, servers = (rate / up, c) if balancing == "random" else (rate, c * up)
        return queue_model(per_rate, mu, servers, arrival_scv, scv, service=dist)

    probe = model(lam, 1)
    floors = {q: float(probe.service_quantile(q)) for q in goals}
    missed = [q for q in sorted(goals) if floors[q] >= goals[q]]
    if missed:
        detail = "; ".join(f"{_label(q)} of the service time alone is {floors[q]:.4g} s" for q in missed)
        raise InfeasibleError(
            f"no replica count can meet the targets: {detail}, at or above the target "
            f"({', '.join(f'{_label(q)} <= {goals[q]:g} s' for q in missed)}); make the work faster"
        )

    def scenarios(n: int) -> dict[str, int]:
        out = {"all replicas up": n}
        if k:
            out[f"N+{k}: {k} down"] = n - k
        if zones is not None:
            out[f"one of {zones} zones lost"] = n - math.ceil(n / zones)
        return out

    def meets(rate: float, up: int) -> tuple[bool, str]:
        if up < 1:
            return False, "replicas left after failures"
        m = model(rate, up)
        if float(m.utilization) >= 1:
            return False, "stability (utilization < 1)"
        if float(m.utilization) > cap * (1 + 1e-12):
            return False, f"utilization <= {cap:.0%}"
        for q, t in sorted(goals.items()):
            if float(m.response_quantile(q)) > t:
                return False, f"{_label(q)} <= {t:g} s"
        return True, ""

    def ok(n: int) -> bool:
        return all(meets(lam, up)[0] for up in scenarios(n).values())

    replicas = smallest_satisfying(ok, 1, what="replicas")
    binding = "one replica suffices"
    if replicas > 1:
        for name, up in scenarios(replicas - 1).items():
            good, why = meets(lam, up)
            if not good:
                binding = f"{why} ({name})"
                break
    final = model(lam, replicas)
    predicted = {q: float(final.response_quantile(q)) for q in sorted(goals)}
    failure_cases: dict[str, dict[str, float]] = {}
    for name, up in scenarios(replicas).items():
        if name == "all replicas up":
            continue
        m = model(lam, up)
        values = {f"p{q}": float(m.response_quantile(q)) for q in sorted(goals)}
        values["replicas_up"] = float(up)
        values["utilization"] = float(m.utilization)
        failure_cases[name] = values

    def ok_rate(rate: float) -> bool:
        return all(meets(rate, up)[0] for up in scenarios(replicas).values())

    # Headroom: the utilization cap of the most degraded scenario bounds the rate from above,
    # so bisect between the sized rate and that bound to 0.01%.
    fewest = min(scenarios(replicas).values())
    lo = lam
    hi = min(cap, 1.0) * fewest * c * float(final.service_rate)
    if ok_rate(hi):
        lo = hi
    while hi - lo > 1e-4 * lo:
        mid = 0.5 * (lo + hi)
        lo, hi = (mid, hi) if ok_rate(mid) else (lo, mid)
    return ReplicaSizing(
        replicas=replicas,
        workers=c,
        arrival_rate=lam,
        binding=binding,
        utilization=float(final.utilization),
        predicted=predicted,
        targets=goals,
        headroom=lo / lam,
        balancing="random (independent replicas)"
        if balancing == "random"
        else "JSQ (pooled-queue approximation)",
        method=final.method,
        scenarios=failure_cases,
    )


@dataclass(frozen=True)
class AvailabilitySizing:
    """Result of :func:`replicas_for_availability`."""

    replicas: int
    required: int
    replica_availability: float
    availability: float
    target: float
    downtime_per_year_s: float


def replicas_for_availability(
    target: float, *, mtbf: float, mttr: float, required: int = 1, max_replicas: int = 10_000
) -> AvailabilitySizing:
    """Smallest N such that at least ``required`` of N independent replicas are up with probability
    >= ``target`` (e.g. the SLA's uptime 0.9999).

    Each replica is up a fraction ``A = MTBF / (MTBF + MTTR)`` of the time, independently, so the
    number up is Binomial(N, A) and the service availability is ``P(Bin(N, A) >= required)``
    (Trivedi, *Probability and Statistics with Reliability, Queuing, and Computer Science
    Applications* 2nd ed. (2016), sec. 3.8, k-out-of-n systems).  ``required`` is the count needed
    to carry the load (e.g. from :func:`size_replicas`).  Correlated failures (a zone, a bad deploy)
    are not covered: size those with ``size_replicas(..., zones=...)``.
    """
    goal = float(probability("target", target))
    up = float(positive("mtbf", mtbf))
    down = float(nonnegative("mttr", mttr))
    need = int(positive("required", required))
    a = up / (up + down)

    def availability(n: int) -> float:
        return float(stats.binom.sf(need - 1, n, a))

    n = smallest_satisfying(lambda m: availability(m) >= goal, need, limit=max_replicas, what="replicas")
    got = availability(n)
    return AvailabilitySizing(n, need, a, got, goal, (1 - got) * 365.25 * 86400)
