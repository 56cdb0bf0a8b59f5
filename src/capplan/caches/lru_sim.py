"""Replay a trace through one cache of one size: the reference the models and curves are checked on."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
from numpy.typing import ArrayLike, NDArray

from capplan._validate import nonnegative, positive
from capplan.caches import _sim_kernel as sk
from capplan.caches._keys import dense_ids, trace_sizes
from capplan.errors import ParameterError

__all__ = ["SimulatedCache", "simulate_cache"]

_POLICIES = {"lru": sk.LRU, "fifo": sk.FIFO, "random": sk.RANDOM}


@dataclass(frozen=True)
class SimulatedCache:
    """Counts from :func:`simulate_cache` (requests after the warm-up only)."""

    hits: int
    requests: int
    hit_bytes: float
    requested_bytes: float
    policy: str
    hit_mask: NDArray[np.bool_] | None = field(default=None, repr=False, compare=False)

    @property
    def hit_ratio(self) -> float:
        return self.hits / self.requests if self.requests else 0.0

    @property
    def byte_hit_ratio(self) -> float:
        return self.hit_bytes / self.requested_bytes if self.requested_bytes else 0.0

    def __repr__(self) -> str:
        return (
            f"SimulatedCache(policy={self.policy!r}, hit_ratio={self.hit_ratio:.6f}, "
            f"hits={self.hits}, requests={self.requests})"
        )


def simulate_cache(
    keys: ArrayLike,
    cache_size: float,
    *,
    policy: str = "lru",
    sizes: ArrayLike | None = None,
    timestamps: ArrayLike | None = None,
    ttl: float | None = None,
    reset_on_hit: bool = False,
    warmup: int = 0,
    rng: np.random.Generator | int | None = None,
    record: bool = False,
) -> SimulatedCache:
    """Simulate a cache of ``cache_size`` objects (bytes with ``sizes``) on a request trace.

    Exact replay (no model): LRU moves a hit object to the front, FIFO does not, RANDOM evicts a
    uniformly chosen object (``rng``: a generator or a seed).  With ``sizes`` objects are evicted
    until the new one fits; an object larger than the cache is never stored.  With ``ttl`` (needs
    ``timestamps``) an object expires ``ttl`` seconds after insertion, or after its last hit with
    ``reset_on_hit``.  The first ``warmup`` requests fill the cache without being counted, so the
    result can be compared with the stationary hit ratios of :mod:`capplan.caches.che`.  With
    ``record`` the outcome of every request is kept in ``hit_mask`` (``keys[~hit_mask]`` is the miss
    stream a next tier would see).
    """
    if policy not in _POLICIES:
        raise ParameterError(f"policy must be one of {sorted(_POLICIES)}, got {policy!r}")
    ids, n_keys = dense_ids(keys)
    cap = float(nonnegative("cache_size", cache_size, allow_inf=True))
    sz = trace_sizes(sizes, ids.size)
    if ttl is not None:
        life = float(positive("ttl", ttl))
        if timestamps is None:
            raise ParameterError("ttl needs timestamps (seconds) for every request")
    else:
        life = math.inf
    times = np.empty(0)
    if timestamps is not None:
        times = np.ascontiguousarray(nonnegative("timestamps", timestamps)).ravel()
        if times.size != ids.size:
            raise ParameterError(f"timestamps must have one entry per request ({ids.size}), got {times.size}")
    w = int(nonnegative("warmup", warmup))
    if w >= ids.size:
        raise ParameterError(f"warmup must be smaller than the number of requests ({ids.size}), got {w}")
    mask = np.zeros(ids.size if record else 0, dtype=np.bool_)
    gen = rng if isinstance(rng, np.random.Generator) else np.random.default_rng(rng)
    hits, counted, hb, cb = sk.simulate(
        ids, sz, times, n_keys, cap, _POLICIES[policy], life, bool(reset_on_hit), w, gen, mask
    )
    return SimulatedCache(int(hits), int(counted), float(hb), float(cb), policy, mask if record else None)
