"""Size replicas (each with its own workers) for latency targets, utilization, redundancy and availability."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import pandas as pd
from numpy.typing import NDArray
from scipy import special

from capplan._validate import FloatArray, nonnegative, positive, probability, utilization_cap
from capplan.errors import InfeasibleError, ParameterError
from capplan.queueing import QueueModel, queue_model
from capplan.queueing.service import DistributionService
from capplan.sizing._frontier import LoadFrontier
from capplan.sizing._search import largest_passing_load, smallest_passing, smallest_satisfying
from capplan.sizing._service import describe_service
from capplan.sizing._verify import Verification, simulate_percentiles

__all__ = [
    "AvailabilitySizing",
    "ReplicaSizing",
    "replica_capacity",
    "replicas_for_availability",
    "size_replicas",
]

Balancing = Literal["random", "jsq"]


@dataclass(frozen=True)
class ReplicaSizing:
    """Result of :func:`size_replicas` (times in seconds, rates per second).

    ``predicted`` holds the response-time quantiles with every replica up; ``scenarios`` the worst
    case in each failure scenario checked (N+k, zone loss).  ``headroom`` is the largest arrival rate
    that still meets every constraint at ``replicas``, divided by the rate sized for.  ``method``
    names the queueing model that decided (exact or approximate); ``verification`` is the
    simulation check when ``verify=True`` was asked for.
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
    verification: Verification | None = None

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


class _Replicas:
    """The queue of one replica (or of the pooled fleet) for arrays of loads and replicas up.

    With a heavy-tailed service distribution (no exponential moments: the wait is computed on a
    grid) each load is costly to solve, so the latency targets are decided per queue family (servers
    and arrival SCV) by a :class:`~capplan.sizing._frontier.LoadFrontier`: a handful of solves
    decide every candidate of a search.
    """

    def __init__(
        self, workers: int, mu: float | None, scv: float, dist: Any, arrival_scv: float, balancing: Balancing
    ) -> None:
        self.c, self.mu, self.scv, self.dist = workers, mu, scv, dist
        self.arrival_scv, self.balancing = arrival_scv, balancing
        self.gridded = dist is not None and not np.any(DistributionService(dist).mgf_limit() > 0)
        self._frontiers: dict[tuple[float, float, tuple[tuple[float, float], ...]], LoadFrontier] = {}

    def model(self, rate: FloatArray, up: FloatArray) -> QueueModel:
        if self.balancing == "jsq":
            return queue_model(rate, self.mu, self.c * up, self.arrival_scv, self.scv, service=self.dist)
        # Random routing thins the stream: a replica's arrivals have SCV 1 + (c_a^2 - 1)/replicas
        # (exact for a renewal stream split by independent coin flips; Whitt 1983, QNA).
        thinned = 1.0 + (self.arrival_scv - 1.0) / up
        return queue_model(rate / up, self.mu, self.c, thinned, self.scv, service=self.dist)

    def _frontier(self, servers: float, arrival_scv: float, goals: Mapping[float, float]) -> LoadFrontier:
        levels = sorted(goals.items())
        key = (servers, arrival_scv, tuple(levels))
        if key not in self._frontiers:
            times = np.array([t for _, t in levels])

            def solve(x: float) -> FloatArray:
                m = queue_model(np.array([x]), self.mu, servers, arrival_scv, self.scv, service=self.dist)
                return np.reshape(m.response_cdf(times[:, None]), -1)

            self._frontiers[key] = LoadFrontier(solve, np.array([q for q, _ in levels]))
        return self._frontiers[key]

    def _families(
        self, m: QueueModel, live: NDArray[np.bool_]
    ) -> dict[tuple[float, float], NDArray[np.intp]]:
        """Indices of ``live`` elements of ``m`` by queue family (servers, arrival SCV)."""
        servers = np.broadcast_to(m.servers, np.shape(live))
        scv = np.broadcast_to(getattr(m, "arrival_scv", np.ones(np.shape(live))), np.shape(live))
        out: dict[tuple[float, float], list[int]] = {}
        for i in np.flatnonzero(live):
            out.setdefault((float(servers[i]), float(scv[i])), []).append(int(i))
        return {key: np.array(idx, dtype=np.intp) for key, idx in out.items()}

    def _utilization_reasons(self, m: QueueModel, cap: float) -> NDArray[np.object_]:
        util = np.atleast_1d(m.utilization)
        found = np.full(util.shape, "", dtype=object)
        found[util >= 1] = "stability (utilization < 1)"
        found[(found == "") & (util > cap * (1 + 1e-12))] = f"utilization <= {cap:.0%}"
        return found

    def passes(
        self, rate: FloatArray, up: FloatArray, goals: Mapping[float, float], cap: float
    ) -> NDArray[np.bool_]:
        """Per element, whether every constraint holds (``why_not(...) == ""``)."""
        if not self.gridded:
            return np.asarray(self.why_not(rate, up, goals, cap) == "", dtype=bool)
        ok = np.zeros(np.shape(up), dtype=bool)
        live = up >= 1
        if not live.any():
            return ok
        m = self.model(np.broadcast_to(rate, up.shape)[live], up[live])
        found = self._utilization_reasons(m, cap)
        rates = np.atleast_1d(m.arrival_rate)
        verdict = np.zeros(found.shape, dtype=bool)
        for (servers, scv), idx in self._families(m, found == "").items():
            verdict[idx] = self._frontier(servers, scv, goals).passes(rates[idx])
        ok[live] = verdict
        return ok

    def why_not(
        self, rate: FloatArray, up: FloatArray, goals: Mapping[float, float], cap: float
    ) -> NDArray[np.object_]:
        """Per element, the first constraint that fails ("" when all hold)."""
        reasons = np.full(np.shape(up), "", dtype=object)
        reasons[up < 1] = "replicas left after failures"
        live = up >= 1
        if not live.any():
            return reasons
        m = self.model(np.broadcast_to(rate, up.shape)[live], up[live])
        found = self._utilization_reasons(m, cap)
        # The q-quantile exceeds t exactly when P(T <= t) < q: one CDF evaluation per target and
        # element (all targets in one call, a row each) instead of a root search for the quantile.
        levels = sorted(goals.items())
        open_ = found == ""
        if open_.any():
            cdf = self._target_cdfs(m, open_, goals)
            for (q, t), row in zip(levels, cdf, strict=True):
                found[(found == "") & (row < q)] = f"{_label(q)} <= {t:g} s"
        reasons[live] = found
        return reasons

    def _target_cdfs(
        self, m: QueueModel, open_: NDArray[np.bool_], goals: Mapping[float, float]
    ) -> FloatArray:
        """``P(T <= t_q)`` (a row per target) for the elements of ``m``; when gridded only where
        ``open_`` and not already known to pass (NaN elsewhere: no target fails there), from the
        families' frontiers."""
        levels = sorted(goals.items())
        if not self.gridded:
            times = np.array([t for _, t in levels])[:, None]
            return np.reshape(m.response_cdf(times), (len(levels), open_.size))
        out = np.full((len(levels), open_.size), np.nan)
        rates = np.atleast_1d(m.arrival_rate)
        for (servers, scv), idx in self._families(m, open_).items():
            frontier = self._frontier(servers, scv, goals)
            for i in idx:
                if not frontier.passes_known(float(rates[i])):
                    out[:, i] = frontier.row(float(rates[i]))
        return out


def _scenarios(k: int, zones: int | None) -> dict[str, Any]:
    """Failure scenarios: name -> replicas up as a function of the fleet size."""
    out: dict[str, Any] = {"all replicas up": lambda n: n}
    if k:
        out[f"N+{k}: {k} down"] = lambda n: n - k
    if zones is not None:
        out[f"one of {zones} zones lost"] = lambda n: n - np.ceil(n / zones)
    return out


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
    verify: bool = False,
    verify_customers: int | None = None,
    seed: int = 0,
) -> ReplicaSizing:
    """Smallest replica count meeting latency targets and a utilization cap, also after failures.

    Each replica runs ``workers`` servers (threads, processes or event-loop slots doing the work).

    * ``balancing="random"`` (round-robin or random routing): every replica is its own G/G/c queue
      fed ``arrival_rate / replicas_up``, its arrival SCV thinned to ``1 + (c_a^2 - 1)/replicas_up``
      — the conservative case.
    * ``balancing="jsq"`` (join-shortest-queue / least-connections): approximated by one pooled
      queue of ``workers * replicas_up`` servers, which JSQ approaches as load balancing improves;
      optimistic for few replicas.

    The queue per replica is M/M/c (exact) or G/G/c (:class:`capplan.queueing.GGc`, whose
    ``method`` names how it was solved); the service time is ``service_time`` (mean) with
    ``service_scv``, or ``service`` a distribution or samples.  Constraints checked: every
    percentile target and ``utilization <= max_utilization`` with all replicas up, with
    ``redundancy`` replicas down (N+k), and with the largest of ``zones`` zones lost (replicas
    spread evenly, ``ceil(N/zones)`` lost).

    The answer never falls as the load rises: the model's percentiles rise with utilization, and
    the search (:func:`capplan.sizing._search.smallest_passing`) returns the smallest count from
    which every larger count it tried passes.  ``verify=True`` simulates one replica at the answer
    (``verify_customers`` arrivals, ``seed``) and attaches the simulated percentiles with their
    confidence intervals (:attr:`ReplicaSizing.verification`).

    Raises
    ------
    InfeasibleError
        When a target is below the service time's own quantile: no replica count can meet it.
    """
    lam = float(positive("arrival_rate", arrival_rate))
    fleet, goals, cap, scenarios = _prepare(
        targets,
        workers,
        (service_time, service_scv, service),
        arrival_scv,
        max_utilization,
        (redundancy, zones, balancing),
        lam,
    )

    def reasons(rate: FloatArray, ns: FloatArray) -> dict[str, NDArray[np.object_]]:
        return {name: fleet.why_not(rate, up(ns).astype(float), goals, cap) for name, up in scenarios.items()}

    def passing(ns: NDArray[np.int64]) -> NDArray[np.bool_]:
        ups = np.stack([up(ns.astype(float)).astype(float) for up in scenarios.values()])
        return np.asarray(fleet.passes(np.array(lam), ups, goals, cap).all(axis=0), dtype=bool)

    replicas = smallest_passing(passing, 1, what="replicas")
    binding = "one replica suffices"
    if replicas > 1:
        below = reasons(np.array(lam), np.array([replicas - 1.0]))
        binding = next((f"{r[0]} ({name})" for name, r in below.items() if r[0]), "monotone envelope")
    return _replica_result(
        fleet, lam, replicas, goals, cap, scenarios, binding, verify, verify_customers, seed
    )


def _prepare(
    targets: Mapping[float, float],
    workers: int,
    service: tuple[float | None, float, Any],
    arrival_scv: float,
    max_utilization: float,
    failures: tuple[int, int | None, Balancing],
    probe_rate: float,
) -> tuple[_Replicas, dict[float, float], float, dict[str, Any]]:
    """Checked inputs of :func:`size_replicas` and :func:`replica_capacity`: the per-replica queue,
    the targets, the utilization cap and the failure scenarios (a target the service time alone
    misses raises :class:`InfeasibleError`)."""
    c = int(positive("workers", workers))
    cap = utilization_cap("max_utilization", max_utilization)
    redundancy, zones, balancing = failures
    k = int(nonnegative("redundancy", redundancy))
    if zones is not None and int(positive("zones", zones)) < 2:
        raise ParameterError(f"zones must be >= 2 to survive the loss of one, got {zones!r}")
    if balancing not in ("random", "jsq"):
        raise ParameterError(f"balancing must be 'random' or 'jsq', got {balancing!r}")
    goals = {float(probability("quantile", q)): float(positive("target", t)) for q, t in targets.items()}
    if not goals:
        raise ParameterError("targets is empty: give at least one {quantile: seconds}")
    ca2 = float(nonnegative("arrival_scv", arrival_scv))
    mu, scv, dist = describe_service(*service, names=("service_time", "service_scv", "service"))
    fleet = _Replicas(c, mu, scv, dist, ca2, balancing)
    _check_floors(fleet.model(np.array([probe_rate]), np.array([1.0])), goals)
    return fleet, goals, cap, _scenarios(k, zones)


def replica_capacity(
    replicas: int,
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
) -> float:
    """The largest arrival rate (requests/s) that ``replicas`` replicas carry while meeting every
    target and the utilization cap with all up and in every failure scenario, as
    :func:`size_replicas` checks them (same parameters); 0.0 when a failure leaves no replica up.

    The inverse of :func:`size_replicas`: a fleet of ``size_replicas(r, ...).replicas`` carries at
    least ``r``.  Found to a relative 1e-4 by a vectorised search over rates.
    """
    n = int(positive("replicas", replicas))
    fleet, goals, cap, scenarios = _prepare(
        targets,
        workers,
        (service_time, service_scv, service),
        arrival_scv,
        max_utilization,
        (redundancy, zones, balancing),
        1e-9,
    )
    ups = [float(up(np.array([float(n)]))[0]) for up in scenarios.values()]
    if min(ups) < 1:
        return 0.0
    top = _rate_ceiling(fleet.model(np.array([1.0]), np.array([1.0])), fleet.c, ups, cap)
    return _carried(fleet, ups, goals, cap, 1e-9 * top, top)


def _rate_ceiling(model: QueueModel, workers: int, ups: list[float], cap: float) -> float:
    """No rate above this meets the utilization cap in the most degraded scenario (``model``: a
    replica's queue, for its service rate)."""
    mu = float(np.atleast_1d(model.service_rate)[0])
    return min(cap, 1.0) * min(ups) * workers * mu


def _carried(
    fleet: _Replicas, ups: list[float], goals: Mapping[float, float], cap: float, lo: float, hi: float
) -> float:
    """Largest rate in ``[lo, hi]`` (``lo`` passing) at which every scenario's ``ups`` pass."""

    def rates_pass(rates: FloatArray) -> NDArray[np.bool_]:
        up = np.broadcast_to(np.array(ups, dtype=np.float64)[:, None], (len(ups), rates.size))
        return np.asarray(fleet.passes(rates[None, :], np.array(up), goals, cap).all(axis=0), dtype=bool)

    return largest_passing_load(rates_pass, lo, max(hi, lo))


def _check_floors(probe: QueueModel, goals: Mapping[float, float]) -> None:
    floors = {q: float(np.atleast_1d(probe.service_quantile(q))[0]) for q in goals}
    missed = [q for q in sorted(goals) if floors[q] >= goals[q]]
    if missed:
        detail = "; ".join(f"{_label(q)} of the service time alone is {floors[q]:.4g} s" for q in missed)
        raise InfeasibleError(
            f"no replica count can meet the targets: {detail}, at or above the target "
            f"({', '.join(f'{_label(q)} <= {goals[q]:g} s' for q in missed)}); make the work faster"
        )


def _replica_result(
    fleet: _Replicas,
    lam: float,
    replicas: int,
    goals: Mapping[float, float],
    cap: float,
    scenarios: dict[str, Any],
    binding: str,
    verify: bool,
    verify_customers: int | None,
    seed: int,
) -> ReplicaSizing:
    ups = {name: float(up(replicas)) for name, up in scenarios.items()}
    names = list(ups)
    models = fleet.model(np.full(len(names), lam), np.array([ups[n] for n in names]))
    util = np.atleast_1d(models.utilization)
    levels = sorted(goals)  # every quantile of every scenario in one root search: rows are levels
    table = np.reshape(models.response_quantile(np.array(levels)[:, None]), (len(levels), len(names)))
    quantiles = {q: table[i] for i, q in enumerate(levels)}
    cases = {
        name: {
            **{f"p{q}": float(v[i]) for q, v in quantiles.items()},
            "replicas_up": ups[name],
            "utilization": float(util[i]),
        }
        for i, name in enumerate(names)
    }
    predicted = {q: float(v[0]) for q, v in quantiles.items()}

    # Headroom: the utilization cap of the most degraded scenario bounds the rate from above.
    up_counts = list(ups.values())
    headroom = (
        _carried(fleet, up_counts, goals, cap, lam, _rate_ceiling(models, fleet.c, up_counts, cap)) / lam
    )
    verification = None
    if verify:
        verification = _verify_replica(fleet, lam, replicas, goals, predicted, verify_customers, seed)
    return ReplicaSizing(
        replicas=replicas,
        workers=fleet.c,
        arrival_rate=lam,
        binding=binding,
        utilization=float(util[0]),
        predicted=predicted,
        targets=dict(goals),
        headroom=headroom,
        balancing="random (independent replicas)"
        if fleet.balancing == "random"
        else "JSQ (pooled-queue approximation)",
        method=models.method,
        scenarios={name: v for name, v in cases.items() if name != "all replicas up"},
        verification=verification,
    )


def _verify_replica(
    fleet: _Replicas,
    lam: float,
    replicas: int,
    goals: Mapping[float, float],
    predicted: Mapping[float, float],
    customers: int | None,
    seed: int,
) -> Verification:
    pooled = fleet.balancing == "jsq"
    rate = lam if pooled else lam / replicas
    ca2 = fleet.arrival_scv if pooled else 1.0 + (fleet.arrival_scv - 1.0) / replicas
    servers = fleet.c * replicas if pooled else fleet.c
    mean = None if fleet.mu is None else 1.0 / fleet.mu
    what = f"{'the pooled queue' if pooled else 'one replica'} at {replicas} replicas, all up"
    return simulate_percentiles(
        rate,
        servers,
        goals,
        predicted,
        arrival_scv=ca2,
        service_mean=mean if mean is not None else math.nan,
        service_scv=fleet.scv,
        service=fleet.dist,
        customers=customers,
        seed=seed,
        what=what,
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
        # P(Bin(n, a) >= need) = I_a(need, n - need + 1), the regularized incomplete beta function
        # (Abramowitz & Stegun 26.5.24), as scipy.stats.binom.sf computes it, without loading
        # scipy.stats.
        return float(special.betainc(need, n - need + 1, a))

    n = smallest_satisfying(lambda m: availability(m) >= goal, need, limit=max_replicas, what="replicas")
    got = availability(n)
    return AvailabilitySizing(n, need, a, got, goal, (1 - got) * 365.25 * 86400)
