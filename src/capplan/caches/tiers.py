"""Multi-tier caches (L1 in-process, L2 Redis, CDN, ...): each tier sees the previous tier's misses.

Object ``i`` reaches tier 1 at ``lambda_i``; tier ``k`` hits it with probability ``h_k,i`` from its
characteristic-time model (capacity, TTL, policy; :mod:`capplan.caches.che`) evaluated on the
*filtered* rates ``lambda_k,i = lambda_i prod_{j<k} (1 - h_j,i)`` — the miss stream of the tier
above, not an independent roll of the dice (Che, Tung, Wang, IEEE JSAC 2002, §III; Fofack, Nain,
Neglia, Towsley, Computer Networks 65, 2014, §4).  Treating each miss stream as Poisson again is
the approximation (exact for TTL tiers fed by Poisson requests only at tier 1).  ``copies``
models a tier that is one independent cache per replica (in-process caches): each copy sees
``1/copies`` of the requests.

End-to-end latency is a mixture: a request served by tier ``k`` takes ``X_k`` plus the miss
lookups of tiers ``1..k-1`` (their mean ``miss_latency``, a shift), a request reaching the backend
``X_backend`` plus all the miss lookups.  So ``F(t) = sum_k w_k F_k(t - s_k)`` with ``w_k`` the share
of requests served at ``k``; quantiles solve ``F(t) = q`` by bisection between the smallest and
largest component quantiles.  Replacing the miss lookups by their means is an approximation
(exact for fixed lookup times).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike

from capplan._numeric import bisect_decreasing
from capplan._validate import FloatArray, integer_count, nonnegative, positive, probability
from capplan.caches import _ttl_kernel as tk
from capplan.caches.che import Workload, characteristic_time, method_for, policy_code, workload
from capplan.errors import ParameterError

__all__ = ["CacheTier", "MultiTierResult", "as_latency", "evaluate_chain", "multi_tier"]


class _Fixed:
    """A deterministic latency with the frozen-distribution methods the mixture uses."""

    def __init__(self, value: float) -> None:
        self.value = value

    def mean(self) -> float:
        return self.value

    def cdf(self, t: FloatArray) -> FloatArray:
        return np.asarray(np.asarray(t) >= self.value, dtype=np.float64)

    def ppf(self, q: FloatArray) -> FloatArray:
        return np.full(np.shape(q), self.value)


def as_latency(name: str, value: Any) -> Any:
    """A latency given as seconds (fixed) or as a distribution with ``cdf``/``ppf``/``mean``."""
    if isinstance(value, (int, float, np.integer, np.floating)):
        return _Fixed(float(nonnegative(name, value)))
    if all(hasattr(value, attr) for attr in ("cdf", "ppf", "mean")):
        return value
    raise ParameterError(
        f"{name} must be seconds (a number) or a distribution with cdf/ppf/mean, got {value!r}"
    )


@dataclass(frozen=True)
class CacheTier:
    """One cache layer.

    ``capacity`` is in objects, or bytes when object sizes are given (per copy; ``None``: no limit,
    e.g. a CDN bounded by TTL only).  ``latency`` is the time to answer a hit (seconds, or a
    distribution with ``cdf``/``ppf``/``mean``, e.g. :func:`capplan.distributions.lognormal`);
    ``miss_latency`` what a miss adds before the next tier (default: the mean hit latency).
    """

    name: str
    capacity: float | None
    latency: Any
    ttl: float | None = None
    reset_on_hit: bool = False
    policy: str = "lru"
    copies: int = 1
    miss_latency: float | None = None

    def __post_init__(self) -> None:
        if self.capacity is not None:
            nonnegative(f"{self.name}.capacity", self.capacity)
        if self.ttl is not None:
            positive(f"{self.name}.ttl", self.ttl)
        integer_count(f"{self.name}.copies", self.copies)
        as_latency(f"{self.name}.latency", self.latency)
        if self.miss_latency is not None:
            nonnegative(f"{self.name}.miss_latency", self.miss_latency)
        policy_code(self.policy, math.inf if self.ttl is None else self.ttl, self.reset_on_hit)

    def with_capacity(self, capacity: float | None) -> CacheTier:
        """The same tier with another capacity."""
        return CacheTier(
            self.name,
            capacity,
            self.latency,
            self.ttl,
            self.reset_on_hit,
            self.policy,
            self.copies,
            self.miss_latency,
        )


@dataclass(frozen=True)
class MultiTierResult:
    """Per-tier and end-to-end figures of :func:`multi_tier` (rates per second, times in seconds)."""

    tiers: tuple[str, ...]
    request_rate: float
    local_hit_ratio: tuple[float, ...]  # of the requests reaching each tier
    served: tuple[float, ...]  # share of all requests answered by each tier
    byte_served: tuple[float, ...] | None
    occupancy: tuple[float, ...]  # objects or bytes held per copy
    characteristic_time: tuple[float, ...]
    backend_share: float
    backend_byte_share: float | None
    latency_mean: float
    method: str
    _components: tuple[tuple[float, float, Any], ...] = field(repr=False, compare=False, default=())

    @property
    def hit_ratio(self) -> float:
        """Share of requests answered by some tier."""
        return 1.0 - self.backend_share

    @property
    def backend_rate(self) -> float:
        """Requests per second that reach the backend (database)."""
        return self.request_rate * self.backend_share

    def latency_cdf(self, t: ArrayLike) -> FloatArray:
        """``P(latency <= t)`` of the mixture."""
        tt = np.asarray(t, dtype=np.float64)
        out = np.zeros_like(tt)
        for weight, shift, dist in self._components:
            out = out + weight * np.asarray(dist.cdf(tt - shift), dtype=np.float64)
        return np.asarray(np.clip(out, 0.0, 1.0))

    def latency_quantile(self, q: ArrayLike) -> Any:
        """End-to-end latency quantile(s), by bisection on the mixture CDF."""
        qq = probability("q", q)
        flat = np.atleast_1d(qq).astype(np.float64)
        comps = [(w, s, d) for w, s, d in self._components if w > 0]
        ends = np.array([[s + float(np.asarray(d.ppf(x))) for x in flat] for _, s, d in comps])
        lo, hi = ends.min(axis=0), ends.max(axis=0)

        def survival(t: FloatArray, mask: Any) -> FloatArray:
            return 1.0 - self.latency_cdf(t)

        res = bisect_decreasing(survival, 1.0 - flat, lo * (1 - 1e-12), hi, rtol=1e-12)
        res = np.where(hi <= lo, hi, res)
        return float(res[0]) if np.ndim(qq) == 0 else res.reshape(np.shape(qq))

    def to_frame(self) -> pd.DataFrame:
        """One row per tier plus the backend."""
        rows = {
            "local_hit_ratio": [*self.local_hit_ratio, np.nan],
            "served_share": [*self.served, self.backend_share],
            "request_rate": [self.request_rate * s for s in (*self.served, self.backend_share)],
            "occupancy": [*self.occupancy, np.nan],
            "characteristic_time_s": [*self.characteristic_time, np.nan],
        }
        if self.byte_served is not None and self.backend_byte_share is not None:
            rows["byte_served_share"] = [*self.byte_served, self.backend_byte_share]
        return pd.DataFrame(rows, index=pd.Index([*self.tiers, "backend"], name="tier"))

    def __repr__(self) -> str:
        return (
            f"MultiTierResult(tiers={self.tiers}, hit_ratio={self.hit_ratio:.6f}, "
            f"backend_rate={self.backend_rate:.6g}, latency_mean={self.latency_mean:.6g})"
        )


def multi_tier(
    popularity: ArrayLike,
    request_rate: float,
    tiers: Sequence[CacheTier],
    backend_latency: Any,
    *,
    sizes: ArrayLike | None = None,
) -> MultiTierResult:
    """Hit ratios, backend load and the latency mixture of a chain of caches (see module doc).

    Parameters
    ----------
    popularity : array-like
        Per-object request probabilities (or relative rates).
    request_rate : float
        Requests per second arriving at the first tier.
    tiers : sequence of CacheTier
        In the order a request meets them.
    backend_latency : float or distribution
        Time the backend (database) takes to answer a request that missed every tier.
    sizes : array-like, optional
        Object sizes in bytes; then tier capacities are bytes and byte shares are reported.
    """
    if not tiers:
        raise ParameterError("tiers must name at least one CacheTier")
    load = workload(popularity, request_rate, sizes)
    return evaluate_chain(load, tiers, as_latency("backend_latency", backend_latency))


def evaluate_chain(
    load: Workload,
    tiers: Sequence[CacheTier],
    backend: Any,
    *,
    times: dict[int, float] | None = None,
    memo: dict[int, tuple[FloatArray, float, float]] | None = None,
    memo_below: int | None = None,
    brackets: dict[int, tuple[float, float]] | None = None,
) -> MultiTierResult:
    """:func:`multi_tier` on a validated workload.

    ``times`` fixes the characteristic time of some tiers (by index) instead of solving it from
    their capacity (a search over one tier's size then needs one pass per step); ``memo`` keeps
    the per-object hit probabilities of the tiers above the first fixed one (or above index
    ``memo_below``) between calls: only valid while those tiers and the workload stay the same.
    ``brackets`` gives, by index, characteristic times known to lie below and at or above the one a
    tier's capacity sets (the solver then starts from them).
    """
    limit = memo_below if memo_below is not None else (min(times) if times else 0)
    rates = load.rates
    total, total_bytes = load.total_rate, load.total_bytes
    local: list[float] = []
    served: list[float] = []
    bserved: list[float] = []
    occ: list[float] = []
    char_times: list[float] = []
    methods: list[str] = []
    comps: list[tuple[float, float, Any]] = []
    shift = 0.0
    for tier in tiers:
        life = math.inf if tier.ttl is None else float(tier.ttl)
        code = policy_code(tier.policy, life, tier.reset_on_hit)
        reaching = total if rates is load.rates else float(rates.sum())
        index = len(local)
        misses = np.empty_like(rates)
        if memo is not None and index < limit and index in memo:
            h, t, o = memo[index]
            hit_rate, byte_rate = tk.serve(rates, load.weights, h, misses)
        elif reaching <= 0:
            h, t, o = np.zeros_like(rates), math.nan, 0.0
            hit_rate, byte_rate = tk.serve(rates, load.weights, h, misses)
        elif times is not None and index in times:
            t, h = times[index], np.empty_like(rates)
            o, hit_rate, byte_rate = tk.tier_pass(rates, load.weights, tier.copies, t, life, code, h, misses)
        else:
            copy_load = Workload(rates / tier.copies, load.weights, load.has_sizes)
            bracket = (brackets or {}).get(index, (0.0, math.inf))
            t, h = characteristic_time(copy_load, tier.capacity, life, code, bracket), np.empty_like(rates)
            o, hit_rate, byte_rate = tk.tier_pass(rates, load.weights, tier.copies, t, life, code, h, misses)
        if memo is not None and index < limit:
            memo[index] = (h, t, o)
        local.append(hit_rate / reaching if reaching > 0 else 0.0)
        served.append(hit_rate / total)
        bserved.append(byte_rate / total_bytes)
        occ.append(o)
        char_times.append(t)
        limited = tier.capacity is not None or (times is not None and index in times)
        methods.append(f"{tier.name}: " + method_for(code, limited, not math.isinf(life)))
        dist = as_latency(f"{tier.name}.latency", tier.latency)
        comps.append((served[-1], shift, dist))
        shift += float(dist.mean()) if tier.miss_latency is None else float(tier.miss_latency)
        rates = misses
    back = float(rates.sum()) / total
    comps.append((back, shift, backend))
    mean = sum(w * (s + float(d.mean())) for w, s, d in comps)
    method = "; ".join(methods) + "; each tier fed the filtered miss stream as IRM requests (approximation)"
    return MultiTierResult(
        tiers=tuple(t.name for t in tiers),
        request_rate=total,
        local_hit_ratio=tuple(local),
        served=tuple(served),
        byte_served=tuple(bserved) if load.has_sizes else None,
        occupancy=tuple(occ),
        characteristic_time=tuple(char_times),
        backend_share=back,
        backend_byte_share=float(np.sum(rates * load.weights)) / total_bytes if load.has_sizes else None,
        latency_mean=float(mean),
        method=method,
        _components=tuple(comps),
    )
