"""Cache size for a target hit ratio: from a popularity model (inverse Che/TTL) or a measured curve."""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike

from capplan._validate import positive, probability
from capplan.caches import _ttl_kernel as tk
from capplan.caches.che import evaluate, method_for, policy_code, workload
from capplan.errors import InfeasibleError, ParameterError

__all__ = ["CacheSize", "CatalogFractionWarning", "cache_size_for_hit_ratio", "cache_size_from_mrc"]


class CatalogFractionWarning(UserWarning):
    """The cache would have to hold most of the catalog: caching buys little beyond that point."""


@dataclass(frozen=True)
class CacheSize:
    """Result of :func:`cache_size_for_hit_ratio`: capacity in objects (bytes with sizes)."""

    cache_size: float
    target: float
    hit_ratio: float
    byte_hit_ratio: float | None
    characteristic_time: float
    catalog_fraction: float
    method: str

    def __repr__(self) -> str:
        return (
            f"CacheSize(cache_size={self.cache_size:.6g}, target={self.target:g}, "
            f"catalog_fraction={self.catalog_fraction:.4f}, method={self.method!r})"
        )


def warn_if_most_of_catalog(fraction: float, limit: float, target: float) -> None:
    """Emit :class:`CatalogFractionWarning` when ``fraction`` of the catalog exceeds ``limit``."""
    if fraction > limit:
        warnings.warn(
            CatalogFractionWarning(
                f"a hit ratio of {target:g} needs {fraction:.0%} of the catalog in the cache; "
                "beyond about half, each extra point of hit ratio costs a large share of the data set"
            ),
            stacklevel=3,
        )


def cache_size_for_hit_ratio(
    popularity: ArrayLike,
    target: float,
    *,
    request_rate: float = 1.0,
    sizes: ArrayLike | None = None,
    byte_weighted: bool = False,
    policy: str = "lru",
    ttl: float | None = None,
    reset_on_hit: bool = False,
    warn_fraction: float = 0.5,
) -> CacheSize:
    """Smallest capacity whose predicted hit ratio reaches ``target``.

    The hit ratio increases with the characteristic time ``T`` (see :mod:`capplan.caches.che`), so
    ``sum_i lambda_i h_i(T) = target * sum_i lambda_i`` is solved for ``T`` (bisection) and the
    capacity is the occupancy ``C = sum_i w_i h_i(T)``: the inverse of the Che approximation (LRU)
    or of its FIFO/RANDOM/TTL counterparts, and approximate like them.

    Parameters
    ----------
    popularity, request_rate, sizes, policy, ttl, reset_on_hit
        As for :func:`capplan.caches.che_hit_ratio`.
    target : float
        Hit ratio in (0, 1) (of requests, or of bytes with ``byte_weighted``).
    warn_fraction : float
        Emit :class:`CatalogFractionWarning` when the capacity exceeds this fraction of the catalog.

    Raises
    ------
    InfeasibleError
        When a TTL caps the hit ratio below ``target`` whatever the capacity.
    """
    goal = float(probability("target", target))
    limit = float(positive("warn_fraction", warn_fraction))
    load = workload(popularity, request_rate, sizes)
    if byte_weighted and not load.has_sizes:
        raise ParameterError("byte_weighted=True needs sizes")
    life = math.inf if ttl is None else float(positive("ttl", ttl))
    code = policy_code(policy, life, reset_on_hit)
    what = 2 if byte_weighted else 1
    total = float(np.sum(load.rates * load.weights)) if byte_weighted else load.total_rate
    t = float(tk.solve_time(load.rates, load.weights, goal * total, life, code, what, 1e-12))
    if math.isinf(t):
        best = evaluate(load, None, life, code)[1 if byte_weighted else 0]
        raise InfeasibleError(
            f"target {goal:g} is above the highest hit ratio the TTL allows ({best:.6g} with ttl={life:g} s "
            "and an unbounded cache)"
        )
    occupancy = float(tk.weighted_sums(load.rates, load.weights, t, life, code)[0])
    capacity = occupancy if load.has_sizes else math.ceil(occupancy - 1e-9)
    hit, byte, _, _, _ = evaluate(load, capacity, life, code)
    fraction = capacity / load.catalog
    warn_if_most_of_catalog(fraction, limit, goal)
    return CacheSize(
        cache_size=float(capacity),
        target=goal,
        hit_ratio=hit,
        byte_hit_ratio=byte if load.has_sizes else None,
        characteristic_time=t,
        catalog_fraction=fraction,
        method="inverse of the " + method_for(code, True, not math.isinf(life)),
    )


def cache_size_from_mrc(
    mrc: pd.DataFrame, target: float, *, column: str = "miss_ratio", warn_fraction: float = 0.5
) -> float:
    """Smallest ``cache_size`` of a miss-ratio curve with ``1 - miss_ratio >= target``.

    ``mrc`` is a frame from :func:`capplan.caches.miss_ratio_curve` (``column="byte_miss_ratio"``
    for a byte target).  The catalog is taken as the curve's ``attrs["distinct_keys"]`` for object
    curves.  Raises :class:`InfeasibleError` when the trace's compulsory misses (first requests)
    leave the target out of reach at every size.
    """
    goal = float(probability("target", target))
    if column not in mrc.columns or "cache_size" not in mrc.columns:
        raise ParameterError(f"mrc must have columns 'cache_size' and {column!r}, got {list(mrc.columns)}")
    ok = np.flatnonzero(1.0 - mrc[column].to_numpy() >= goal - 1e-12)
    if ok.size == 0:
        best = 1.0 - float(mrc[column].min())
        raise InfeasibleError(
            f"target {goal:g} is out of reach: the trace's best hit ratio is {best:.6g} "
            "(first requests to each key always miss)"
        )
    size = float(mrc["cache_size"].to_numpy()[ok[0]])
    keys = mrc.attrs.get("distinct_keys")
    if keys and column == "miss_ratio" and "byte_miss_ratio" not in mrc.columns:
        warn_if_most_of_catalog(size / float(keys), float(positive("warn_fraction", warn_fraction)), goal)
    return size
