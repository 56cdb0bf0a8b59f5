"""Smallest number of servers that meets response-time percentile targets and a utilization cap."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from capplan._validate import nonnegative, positive, probability, utilization_cap
from capplan.queueing import QueueModel, queue_model
from capplan.sizing._search import capacity_floor, smallest_passing
from capplan.sizing._verify import Verification, simulate_percentiles

__all__ = ["ServerSizing", "size_servers"]

_MAX_SERVERS = 10_000_000


@dataclass(frozen=True)
class ServerSizing:
    """Result of :func:`size_servers`.

    Attributes
    ----------
    servers : int or None
        The smallest server count meeting every constraint; ``None`` when no count can.
    binding : str
        The constraint that sets ``servers`` (e.g. ``"p99 <= 0.5 s"``, ``"utilization <= 70%"``,
        ``"stability"``), or why the targets are infeasible.
    utilization : float
        Utilization at ``servers`` (nan if infeasible).
    predicted : dict
        ``{quantile: response time in seconds}`` predicted at ``servers``.
    targets : dict
        The ``{quantile: seconds}`` targets that were asked for.
    method : str
        The queueing model used and whether it is exact.
    verification : Verification or None
        The simulation check asked for with ``verify=True``.
    """

    servers: int | None
    binding: str
    utilization: float
    predicted: dict[float, float]
    targets: dict[float, float]
    method: str
    verification: Verification | None = None

    @property
    def feasible(self) -> bool:
        """True when some finite server count meets every target."""
        return self.servers is not None


def _label(quantile: float) -> str:
    return f"p{quantile * 100:g}"


def size_servers(
    arrival_rate: float,
    service_rate: float | None,
    targets: Mapping[float, float],
    *,
    max_utilization: float = 1.0,
    arrival_scv: float = 1.0,
    service_scv: float = 1.0,
    service: Any = None,
    verify: bool = False,
    verify_customers: int | None = None,
    seed: int = 0,
) -> ServerSizing:
    """Smallest ``c`` such that every response-time percentile target holds and rho <= cap.

    The queue is M/M/c (exact) for Poisson arrivals and exponential service given by rate, otherwise
    G/G/c (:class:`capplan.queueing.GGc`; ``method`` says how it was solved).  Response-time
    quantiles fall as servers are added and tend to the service-time quantile, so a target below
    the service-time quantile can never be met: the result then has ``servers=None`` and says
    which targets are infeasible.  The search (:func:`capplan.sizing._search.smallest_passing`)
    returns the smallest count from which every larger count it tried passes.

    Parameters
    ----------
    arrival_rate : float
        Requests per second.
    service_rate : float or None
        Completions per second per server (1 / mean service time); None when ``service`` is given.
    targets : mapping of float to float
        ``{quantile: seconds}``, e.g. ``{0.99: 0.5}``.
    max_utilization : float, default 1
        Cap on rho = lambda / (c mu), e.g. the SLA's CPU target 0.7.
    arrival_scv, service_scv : float, default 1
        Squared coefficients of variation of inter-arrival and service times.
    service : distribution, optional
        The service-time distribution itself (SciPy frozen or hyperexponential), instead of
        ``service_rate`` and ``service_scv``; its shape is used for the response-time percentiles.
    verify : bool, default False
        Simulate the answer (``verify_customers`` arrivals, ``seed``) and attach the simulated
        percentiles with their confidence intervals (:attr:`ServerSizing.verification`).

    Returns
    -------
    ServerSizing
    """
    lam = float(nonnegative("arrival_rate", arrival_rate))
    cap = utilization_cap("max_utilization", max_utilization)
    goals = {float(probability("quantile", q)): float(positive("target", t)) for q, t in targets.items()}

    def model(c: Any) -> QueueModel:
        return queue_model(lam, service_rate, c, arrival_scv, service_scv, service=service)

    probe = model(1)
    mu = float(probe.service_rate)
    floors = {q: float(probe.service_quantile(q)) for q in goals}
    missed = [q for q in sorted(goals) if floors[q] >= goals[q]]
    if missed:
        detail = "; ".join(f"{_label(q)} {floors[q]:.4g} s >= target {goals[q]:g} s" for q in missed)
        return ServerSizing(
            None, f"infeasible: the service time alone misses {detail}", math.nan, {}, goals, probe.method
        )
    servers, binding = capacity_floor(lam / mu, cap)

    def slow(cs: Any) -> dict[float, Any]:
        m = model(cs.astype(float))
        return {q: np.atleast_1d(m.response_quantile(q)) > t for q, t in sorted(goals.items())}

    found = smallest_passing(
        lambda cs: ~np.logical_or.reduce(list(slow(cs).values())), servers, limit=_MAX_SERVERS, what="servers"
    )
    if found > servers:
        misses = slow(np.array([found - 1]))
        binding = next(f"{_label(q)} <= {goals[q]:g} s" for q, miss in misses.items() if miss[0])
    final = model(found)
    predicted = {q: float(final.response_quantile(q)) for q in sorted(goals)}
    check = None
    if verify:
        check = simulate_percentiles(
            lam, found, goals, predicted, arrival_scv=arrival_scv, service_mean=1.0 / mu,
            service_scv=service_scv, service=service,
            customers=verify_customers, seed=seed, what=f"{found} servers",
        )  # fmt: skip
    return ServerSizing(found, binding, float(final.utilization), predicted, goals, final.method, check)
