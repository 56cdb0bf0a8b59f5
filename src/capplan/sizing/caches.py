"""Size a cache tier for the SLA's hit-ratio target and cache response-time budget, and say what
the remaining misses do to the database."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike

from capplan._validate import positive, probability
from capplan.caches.che import workload
from capplan.caches.inverse import warn_if_most_of_catalog
from capplan.caches.tiers import CacheTier, MultiTierResult, as_latency
from capplan.errors import InfeasibleError, ParameterError
from capplan.sizing._cache_search import TierSearch, statistic
from capplan.sizing.pools import PoolSizing, size_pool

__all__ = ["CacheSizing", "size_cache"]


@dataclass(frozen=True)
class CacheSizing:
    """Result of :func:`size_cache`: capacities per tier (objects, or bytes with sizes), the constraint
    that sets the sized tier, and the load left for the backend."""

    tiers: tuple[str, ...]
    capacities: tuple[float | None, ...]
    sized_tier: str
    unit: str
    binding: str
    target_hit_ratio: float
    hit_ratio: float
    response_budget: float
    latency_statistic: str
    latency: float
    latency_p95: float
    latency_p99: float
    backend_rate: float
    catalog_fraction: float
    pool: PoolSizing | None
    model: MultiTierResult
    method: str

    @property
    def capacity(self) -> float:
        """Capacity of the sized tier (per copy)."""
        return float(self.capacities[self.tiers.index(self.sized_tier)] or 0.0)

    def to_frame(self) -> pd.DataFrame:
        """One row per reported quantity, with units."""
        rows: list[tuple[str, Any, str]] = [
            (f"{name} capacity{' (sized)' if name == self.sized_tier else ''}", cap, self.unit)
            for name, cap in zip(self.tiers, self.capacities, strict=True)
        ]
        rows += [
            ("binding", self.binding, ""),
            ("hit ratio (all tiers)", self.hit_ratio, "fraction"),
            ("hit-ratio target", self.target_hit_ratio, "fraction"),
            (f"{self.latency_statistic} latency", self.latency, "s"),
            ("response-time budget", self.response_budget, "s"),
            ("p95 latency", self.latency_p95, "s"),
            ("p99 latency", self.latency_p99, "s"),
            ("backend request rate", self.backend_rate, "1/s"),
            (f"{self.sized_tier} share of catalog", self.catalog_fraction, "fraction"),
        ]
        if self.pool is not None:
            rows += [
                ("database pool size", self.pool.pool_size, "connections"),
                ("database pool binding", self.pool.binding, ""),
            ]
        rows.append(("method", self.method, ""))
        return pd.DataFrame(rows, columns=["quantity", "value", "unit"]).set_index("quantity")

    def __repr__(self) -> str:
        caps = ", ".join(
            f"{n}={c:.6g}" if c is not None else f"{n}=unbounded"
            for n, c in zip(self.tiers, self.capacities, strict=True)
        )
        return (
            f"CacheSizing({caps} {self.unit}; binding={self.binding!r}, hit_ratio={self.hit_ratio:.4f}, "
            f"backend_rate={self.backend_rate:.6g})"
        )


def size_cache(
    popularity: ArrayLike,
    request_rate: float,
    *,
    backend_latency: Any,
    tiers: Sequence[CacheTier] | None = None,
    size_tier: str | None = None,
    hit_latency: Any = 0.001,
    sizes: ArrayLike | None = None,
    target_hit_ratio: float | None = None,
    response_budget: float | None = None,
    latency_quantile: float | None = None,
    sla: Any = None,
    db_hold_time: float | None = None,
    db_hold_scv: float = 1.0,
    db_budget: float | None = None,
    cores: int | None = None,
) -> CacheSizing:
    """Smallest capacity of one cache tier meeting the hit-ratio target and the latency budget.

    The tiers are evaluated with :func:`capplan.caches.multi_tier` (Che/TTL characteristic-time
    models on each tier's miss stream).  Two constraints, both improving as the sized tier grows:

    - hit ratio of the whole chain (share of requests not reaching the backend) ``>= target``
      (the seed's ``cache_performance.hit_ratio: 95%``);
    - latency of the read path — hits at their tier's latency, misses at the backend's — with its
      mean (or ``latency_quantile``) ``<= response_budget`` (``cache_performance.response_time: 5ms``).

    The capacity is found by bisection (to one object, or 0.01% of the bytes).  The backend
    request rate left over is handed to :func:`capplan.sizing.size_pool` when ``db_hold_time`` (mean
    time a query holds a connection) is given, with the ``database_performance.connection_acquisition``
    budget (10 ms) by default.

    Parameters
    ----------
    popularity : array-like
        Per-object request probabilities (e.g. :func:`capplan.caches.zipf_popularity` or a fitted
        :class:`capplan.caches.ZipfFit`'s ``popularity()``).
    request_rate : float
        Read requests per second arriving at the first tier.
    backend_latency : float or distribution
        Time the backend takes on a miss (seconds, or a distribution with cdf/ppf/mean).
    tiers : sequence of CacheTier, optional
        The cache chain; default one LRU tier named ``"cache"`` with ``hit_latency``.
    size_tier : str, optional
        Which tier to size (its own capacity is ignored); default the last tier.
    sizes : float or array, optional
        Object sizes in bytes: capacities are then bytes (memory) instead of objects.
    target_hit_ratio, response_budget : float, optional
        Default from ``sla`` (``cache_performance``), else 0.95 and 5 ms.
    latency_quantile : float, optional
        Constrain this quantile of the latency instead of the mean.
    sla : capplan.SLA, optional
        Source of the defaults above and of ``db_budget``.
    db_hold_time, db_hold_scv, db_budget, cores
        Database pool sizing for the backend rate (see :func:`capplan.sizing.size_pool`).

    Raises
    ------
    InfeasibleError
        When even a tier holding the whole catalog misses a target (e.g. a TTL caps the hit ratio,
        or the tier latencies alone exceed the budget).
    """

    def from_sla(value: float | None, category: str, name: str, default: float) -> float:
        if value is not None:
            return float(value)
        if sla is not None:
            try:
                return float(sla.budget_value(category, name))
            except KeyError:
                pass
        return default

    target = float(
        probability("target_hit_ratio", from_sla(target_hit_ratio, "cache_performance", "hit_ratio", 0.95))
    )
    budget = float(
        positive("response_budget", from_sla(response_budget, "cache_performance", "response_time", 0.005))
    )
    q = None if latency_quantile is None else float(probability("latency_quantile", latency_quantile))
    chain = list(tiers) if tiers is not None else [CacheTier("cache", 0.0, hit_latency)]
    if not chain:
        raise ParameterError("tiers must name at least one CacheTier")
    names = [t.name for t in chain]
    sized = names[-1] if size_tier is None else size_tier
    if sized not in names:
        raise ParameterError(f"size_tier must be one of {names}, got {sized!r}")
    k = names.index(sized)
    load = workload(popularity, request_rate, sizes)
    catalog = load.catalog
    search = TierSearch(load, chain, as_latency("backend_latency", backend_latency), k, target, budget, q)
    top = search.at_time(math.inf)
    if search.failing(top):
        raise InfeasibleError(
            f"{sized} holding the whole catalog ({catalog:g} {'bytes' if load.has_sizes else 'objects'}) "
            f"still misses {' and '.join(search.failing(top))}: hit ratio {top.hit_ratio:.6g}, "
            f"latency {statistic(top, q) * 1e3:.4g} ms (TTLs, tier latencies or the backend set this floor)"
        )
    binding = "none: the other tiers already meet both targets"
    cap = 0.0
    bracket = (0.0, math.inf)  # characteristic times of the sized tier below and at the answer
    if search.failing(search.at_time(0.0)):
        lo, hi, lo_occ, hi_res = search.threshold()
        cap = hi_res.occupancy[k] * (1 + 1e-12)
        if not load.has_sizes:
            bracket = (lo, 2.0 * hi)  # occupancy at 2 hi exceeds hi's by far more than one object
            cap = search.smallest_whole(lo_occ, hi_res, bracket)
        binding = " and ".join(search.failing(search.at_time(lo))) or "hit ratio and latency"

    final = search.evaluate(cap, bracket)
    warn_if_most_of_catalog(cap / catalog, 0.5, target)
    backend_rate = final.backend_rate
    pool = None
    if db_hold_time is not None and backend_rate > 0:
        acquisition = db_budget
        if acquisition is None:
            acquisition = from_sla(None, "database_performance", "connection_acquisition", 0.010)
        pool = size_pool(backend_rate, db_hold_time, budget=acquisition, hold_scv=db_hold_scv, cores=cores)
    caps = tuple(cap if i == k else t.capacity for i, t in enumerate(chain))
    tails = final.latency_quantile(np.array([0.95, 0.99]))  # one search for both (element-wise the same)
    return CacheSizing(
        tiers=tuple(names),
        capacities=caps,
        sized_tier=sized,
        unit="bytes" if load.has_sizes else "objects",
        binding=binding,
        target_hit_ratio=target,
        hit_ratio=final.hit_ratio,
        response_budget=budget,
        latency_statistic="mean" if q is None else f"p{q * 100:g}",
        latency=search.statistic(final),
        latency_p95=float(tails[0]),
        latency_p99=float(tails[1]),
        backend_rate=backend_rate,
        catalog_fraction=cap / catalog,
        pool=pool,
        model=final,
        method=final.method,
    )
