"""Size an application-side connection pool so that acquiring a connection meets a wait budget."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from capplan._validate import positive, probability, utilization_cap
from capplan.queueing import QueueModel, queue_model
from capplan.sizing._search import capacity_floor, smallest_passing
from capplan.sizing._service import describe_service

__all__ = ["PoolSizing", "hikaricp_rule", "size_pool"]


def hikaricp_rule(cores: int, spindles: int = 0) -> int:
    """The HikariCP / PostgreSQL wiki rule of thumb for the database side: ``cores * 2 + spindles``."""
    return int(cores) * 2 + int(spindles)


@dataclass(frozen=True)
class PoolSizing:
    """Result of :func:`size_pool`; times in seconds."""

    pool_size: int
    binding: str
    quantile: float
    acquisition_wait: float  # predicted ``quantile`` of the wait for a connection at pool_size
    budget: float
    prob_wait: float
    utilization: float
    mean_wait: float
    deadlock_minimum: int
    hikaricp_rule: int | None
    method: str

    def to_frame(self) -> pd.DataFrame:
        """One row per reported quantity, with units."""
        rows = [
            ("pool_size", self.pool_size, "connections"),
            ("binding", self.binding, ""),
            (f"p{self.quantile * 100:g} acquisition wait", self.acquisition_wait, "s"),
            ("acquisition budget", self.budget, "s"),
            ("P(wait for a connection)", self.prob_wait, "fraction"),
            ("mean acquisition wait", self.mean_wait, "s"),
            ("connection utilization", self.utilization, "fraction"),
            ("deadlock-free minimum", self.deadlock_minimum, "connections"),
            ("HikariCP rule (cores*2 + spindles)", self.hikaricp_rule, "connections"),
            ("method", self.method, ""),
        ]
        return pd.DataFrame(rows, columns=["quantity", "value", "unit"]).set_index("quantity")


def size_pool(
    request_rate: float,
    hold_time: float | None = None,
    *,
    budget: float = 0.010,
    quantile: float = 0.99,
    hold_scv: float = 1.0,
    hold: Any = None,
    max_utilization: float = 1.0,
    threads: int | None = None,
    connections_per_request: int = 1,
    cores: int | None = None,
    spindles: int = 0,
) -> PoolSizing:
    """Smallest pool whose connection-acquisition wait meets ``budget`` at ``quantile``.

    Requests that need the database arrive at ``request_rate`` per second and hold a connection for
    ``hold_time`` seconds (mean; ``hold_scv`` its variability, or ``hold`` a distribution or samples).
    The pool is a ``c``-server queue: the acquisition wait is the queue's waiting time, exact
    (Erlang C) for Poisson requests and exponential holds, G/G/c otherwise
    (:class:`capplan.queueing.GGc`).  The default budget is the seed SLA's
    ``database_performance.connection_acquisition: 10ms`` at p99.

    ``connections_per_request > 1`` (connections held at once by one request) can deadlock a pool
    of fewer than ``threads * (connections_per_request - 1) + 1`` connections (HikariCP's pool-sizing
    guidance); that minimum is enforced when ``threads`` is given.  ``cores``/``spindles`` report the
    database-side rule of thumb ``cores * 2 + spindles`` beside the answer for comparison.

    The queue of waiting requests is taken as unbounded; with a small thread count (fewer threads
    than connections waiting) real waits are shorter, so the answer is conservative.  The acquisition
    wait falls as connections are added, and the search returns the smallest pool from which every
    larger pool it tried meets the budget, so more load never gets a smaller pool.

    Returns
    -------
    PoolSizing
    """
    lam = float(positive("request_rate", request_rate))
    q = float(probability("quantile", quantile))
    limit = float(positive("budget", budget))
    cap = utilization_cap("max_utilization", max_utilization)
    held = int(positive("connections_per_request", connections_per_request))
    rate, scv, dist = describe_service(hold_time, hold_scv, hold, names=("hold_time", "hold_scv", "hold"))

    def model(c: Any) -> QueueModel:
        return queue_model(lam, rate, c, 1.0, scv, service=dist)

    probe = model(1)
    offered = lam / float(probe.service_rate)
    deadlock_min = int(threads) * (held - 1) + 1 if threads is not None and held > 1 else 1
    floor, binding = capacity_floor(offered, cap, label="connection utilization")
    start = max(floor, deadlock_min)
    if deadlock_min >= floor and held > 1 and threads is not None:
        binding = f"deadlock-free minimum: threads x (connections per request - 1) + 1 = {deadlock_min}"
    pool = smallest_passing(
        lambda cs: np.atleast_1d(model(cs.astype(float)).wait_quantile(q)) <= limit, start, what="connections"
    )
    if pool > start:
        binding = f"p{q * 100:g} acquisition wait <= {limit * 1e3:g} ms"
    final = model(pool)
    return PoolSizing(
        pool_size=pool,
        binding=binding,
        quantile=q,
        acquisition_wait=float(final.wait_quantile(q)),
        budget=limit,
        prob_wait=float(final.prob_wait),
        utilization=float(final.utilization),
        mean_wait=float(final.mean_wait),
        deadlock_minimum=deadlock_min,
        hikaricp_rule=hikaricp_rule(cores, spindles) if cores is not None else None,
        method=final.method,
    )
