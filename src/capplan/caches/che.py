"""Hit ratios of capacity-limited caches under the independent reference model: LRU by the Che
approximation, FIFO and RANDOM by their characteristic-time counterparts, all optionally with TTLs.

Every policy here is a *characteristic-time* model: a cache of capacity ``C`` behaves as if each
object stayed for a time set by one constant ``T`` (the characteristic time), chosen so that the
expected occupancy equals the capacity, ``sum_i w_i h_i(T) = C`` (``w_i = 1`` to count objects,
the object's size in bytes for a byte capacity).

- LRU (Che, Tung, Wang, "Hierarchical Web caching systems: modeling, design and experimental
  results", IEEE JSAC 20(7), 2002, §II): an object is evicted after ``T`` without a request,
  ``h_i = 1 - exp(-lambda_i T)``.  Fricker, Robert, Roberts ("A versatile and accurate
  approximation for LRU cache performance", ITC 24, 2012, §3) explain why it is accurate for
  caches that are not tiny; the tests measure the error against the LRU simulator.
- FIFO and RANDOM: an object stays ``T`` after insertion (FIFO) or an exponential time of mean
  ``T`` (RANDOM), ``h_i = lambda_i T / (1 + lambda_i T)`` (Martina, Garetto, Leonardi, "A unified
  approach to the performance analysis of caching systems", INFOCOM 2014, §III-B); under IRM
  FIFO and RANDOM have the same hit ratio (Gelenbe, "A unified approach to the evaluation of a
  class of replacement algorithms", IEEE Trans. Computers C-22(6), 1973).
- With a TTL as well, an object leaves at whichever comes first; see :mod:`capplan.caches.ttl`.

Overall hit ratio ``sum_i lambda_i h_i / sum_i lambda_i``; byte hit ratio weights each request by
its object's size.  Compulsory (first-request) misses are not counted: these are stationary hit
ratios.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import cached_property
from typing import Any

import numpy as np
from numpy.typing import ArrayLike

from capplan._validate import FloatArray, as_float_array, nonnegative, positive, scalar_or_array
from capplan.caches import _ttl_kernel as tk
from capplan.caches.popularity import as_popularity
from capplan.errors import ParameterError

__all__ = ["HitRatio", "che_hit_ratio", "fifo_hit_ratio", "random_hit_ratio"]

#: Relative width in the characteristic time at which its solver stops (shared with the cache
#: sizing search, whose proofs about times it has not evaluated rest on it).
TIME_RTOL = 1e-10
POLICIES = {"lru": tk.LRU, "fifo": tk.FIFO, "random": tk.RANDOM}


@dataclass(frozen=True)
class HitRatio:
    """Hit ratios predicted by a characteristic-time model (arrays when the input was an array).

    ``occupancy`` is the mean number of objects (or bytes, when sizes were given) held;
    ``object_hit_probability`` is given for a scalar capacity/TTL only.
    """

    hit_ratio: Any
    byte_hit_ratio: Any
    characteristic_time: Any
    occupancy: Any
    object_hit_probability: FloatArray | None
    policy: str
    method: str

    def __repr__(self) -> str:
        def fmt(x: Any) -> str:
            return f"{x:.6g}" if isinstance(x, float) else f"array(shape={np.shape(x)})"

        byte = "" if self.byte_hit_ratio is None else f", byte_hit_ratio={fmt(self.byte_hit_ratio)}"
        return (
            f"HitRatio(policy={self.policy!r}, hit_ratio={fmt(self.hit_ratio)}{byte}, "
            f"characteristic_time={fmt(self.characteristic_time)}, method={self.method!r})"
        )


@dataclass(frozen=True)
class Workload:
    """Validated per-object request rates and sizes (``weights`` are ones without sizes); the arrays
    are not changed once wrapped (the sums below are computed once)."""

    rates: FloatArray
    weights: FloatArray
    has_sizes: bool

    @cached_property
    def total_rate(self) -> float:
        return float(self.rates.sum())

    @cached_property
    def total_bytes(self) -> float:
        """Bytes requested per second (requests per second without sizes)."""
        return float(np.sum(self.rates * self.weights))

    @property
    def catalog(self) -> float:
        """Objects in the catalog, or their total bytes when sizes are known."""
        return float(self.weights.sum())


def workload(popularity: ArrayLike, request_rate: float, sizes: ArrayLike | None) -> Workload:
    """Validate ``popularity`` (probabilities or relative rates), the total rate and object sizes."""
    p = as_popularity(popularity)
    rate = float(positive("request_rate", request_rate))
    if sizes is None:
        return Workload(p * rate, np.ones_like(p), False)
    s = as_float_array("sizes", sizes)
    if (s <= 0).any() or not np.isfinite(s).all():
        bad = s[(s <= 0) | ~np.isfinite(s)].flat[0]
        raise ParameterError(f"sizes must be positive and finite, got {float(bad)!r}")
    try:
        s = np.broadcast_to(s, p.shape).astype(np.float64)
    except ValueError:
        raise ParameterError(
            f"sizes must be a scalar or one size per object ({p.size}), got shape {s.shape}"
        ) from None
    return Workload(p * rate, np.ascontiguousarray(s), True)


def policy_code(policy: str, ttl: float, reset_on_hit: bool) -> int:
    """Kernel code for a policy and TTL semantics; FIFO/RANDOM cannot reset a TTL on a hit."""
    if policy not in POLICIES:
        raise ParameterError(f"policy must be one of {sorted(POLICIES)}, got {policy!r}")
    code = POLICIES[policy]
    if code == tk.LRU:
        return tk.LRU if (reset_on_hit or math.isinf(ttl)) else tk.LRU_TTL_FROM_INSERT
    if reset_on_hit and not math.isinf(ttl):
        raise ParameterError(
            f"reset_on_hit=True needs policy='lru' (a TTL refreshed on hits), got {policy!r}"
        )
    return code


def method_for(code: int, capacity_limited: bool, has_ttl: bool) -> str:
    """Say which model (and whether it is an approximation) produced a number."""
    if not capacity_limited:
        if not has_ttl:
            return "no eviction: every object stays (hit ratio 1)"
        if code == tk.LRU:
            return "TTL reset on hit, Poisson requests: h = 1 - exp(-lambda TTL) (exact)"
        return "TTL from insertion, Poisson requests: h = lambda TTL / (1 + lambda TTL) (exact)"
    names = {
        tk.LRU: "Che approximation (LRU, characteristic time)",
        tk.LRU_TTL_FROM_INSERT: "Che approximation (LRU) with a TTL from insertion; approximate",
        tk.FIFO: "characteristic-time approximation (FIFO): h = lambda T / (1 + lambda T)",
        tk.RANDOM: "characteristic-time approximation (RANDOM): h = lambda T / (1 + lambda T)",
    }
    text = names[code]
    if has_ttl and code in (tk.LRU, tk.FIFO, tk.RANDOM):
        text += ", eviction at min(T, TTL)"
    return text


def characteristic_time(
    load: Workload,
    capacity: float | None,
    ttl: float,
    code: int,
    bracket: tuple[float, float] = (0.0, math.inf),
) -> float:
    """The characteristic time at which the cache holds ``capacity`` (``inf`` when unbounded)."""
    if capacity is None:
        return math.inf
    return float(tk.solve_time(load.rates, load.weights, capacity, ttl, code, 0, TIME_RTOL, *bracket))


def evaluate(
    load: Workload,
    capacity: float | None,
    ttl: float,
    code: int,
    bracket: tuple[float, float] = (0.0, math.inf),
) -> tuple[float, float, float, float, FloatArray]:
    """(hit ratio, byte hit ratio, characteristic time, occupancy, per-object hit probability).

    ``bracket``: characteristic times known to lie below and at or above the answer, if any.
    """
    t = characteristic_time(load, capacity, ttl, code, bracket)
    h = tk.hit_probabilities(load.rates, t, ttl, code)
    occ, hits, byte_hits, bytes_requested = tk.sums_of(load.rates, load.weights, h)
    return min(hits / load.total_rate, 1.0), min(byte_hits / bytes_requested, 1.0), t, occ, h


def _sweep(
    load: Workload, capacities: FloatArray | None, ttls: FloatArray, code_of: Any, policy: str
) -> HitRatio:
    shape = np.broadcast_shapes(() if capacities is None else capacities.shape, ttls.shape)
    caps = None if capacities is None else np.broadcast_to(capacities, shape)
    tt = np.broadcast_to(ttls, shape)
    out = np.empty((4, *shape))
    per_obj = None
    methods = set()
    for idx in np.ndindex(*shape):
        cap = None if caps is None else float(caps[idx])
        code = code_of(float(tt[idx]))
        hit, byte, t, occ, h = evaluate(load, cap, float(tt[idx]), code)
        out[(slice(None), *idx)] = (hit, byte, t, occ)
        methods.add(method_for(code, cap is not None, not math.isinf(float(tt[idx]))))
        per_obj = h
    return HitRatio(
        hit_ratio=scalar_or_array(out[0]),
        byte_hit_ratio=scalar_or_array(out[1]) if load.has_sizes else None,
        characteristic_time=scalar_or_array(out[2]),
        occupancy=scalar_or_array(out[3]),
        object_hit_probability=per_obj if len(shape) == 0 else None,
        policy=policy,
        method="; ".join(sorted(methods)),
    )


def che_hit_ratio(
    popularity: ArrayLike,
    cache_size: ArrayLike,
    *,
    request_rate: float = 1.0,
    sizes: ArrayLike | None = None,
    policy: str = "lru",
    ttl: ArrayLike | None = None,
    reset_on_hit: bool = False,
) -> HitRatio:
    """Hit ratio of an LRU (or FIFO/RANDOM) cache of ``cache_size`` under IRM requests.

    Solves ``sum_i w_i h_i(T) = C`` for the characteristic time ``T`` and reports
    ``sum_i lambda_i h_i(T) / sum_i lambda_i`` with ``h_i = 1 - exp(-lambda_i T)`` for LRU (Che,
    Tung, Wang, IEEE JSAC 2002, §II) or ``lambda_i T / (1 + lambda_i T)`` for FIFO/RANDOM (Martina,
    Garetto, Leonardi, INFOCOM 2014, §III-B).  An approximation: see :mod:`capplan.caches.che`.

    Parameters
    ----------
    popularity : array-like
        Per-object request probabilities (or relative rates), e.g. :func:`zipf_popularity`.
    cache_size : float or array
        Capacity in objects, or in bytes when ``sizes`` is given; an array gives a sweep.
    request_rate : float
        Total requests per second (sets the unit of ``characteristic_time``; needed with ``ttl``).
    sizes : float or array, optional
        Object sizes in bytes; then ``byte_hit_ratio`` is reported too.
    policy : {"lru", "fifo", "random"}
    ttl : float or array, optional
        Time-to-live in seconds as well as the capacity; see :func:`ttl_hit_ratio`.
    reset_on_hit : bool
        Whether a hit renews the TTL (LRU only).

    Returns
    -------
    HitRatio
    """
    load = workload(popularity, request_rate, sizes)
    caps = nonnegative("cache_size", cache_size)
    ttls = np.full((), math.inf) if ttl is None else positive("ttl", ttl, allow_inf=True)
    return _sweep(load, caps, ttls, lambda t: policy_code(policy, t, reset_on_hit), policy)


def fifo_hit_ratio(popularity: ArrayLike, cache_size: ArrayLike, **kwargs: Any) -> HitRatio:
    """:func:`che_hit_ratio` with ``policy="fifo"`` (Martina et al., INFOCOM 2014, §III-B)."""
    return che_hit_ratio(popularity, cache_size, policy="fifo", **kwargs)


def random_hit_ratio(popularity: ArrayLike, cache_size: ArrayLike, **kwargs: Any) -> HitRatio:
    """:func:`che_hit_ratio` with ``policy="random"`` (Gelenbe 1973: same as FIFO under IRM)."""
    return che_hit_ratio(popularity, cache_size, policy="random", **kwargs)
