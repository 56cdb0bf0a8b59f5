"""TTL caches under Poisson requests per object, with and without a TTL reset on every hit.

For object ``i`` requested as a Poisson process of rate ``lambda_i`` and a TTL ``T``
(Jung, Berger, Balakrishnan, "Modeling TTL-based Internet caches", INFOCOM 2003, §3; Fofack,
Nain, Neglia, Towsley, "Performance evaluation of hierarchical TTL-based cache networks",
Computer Networks 65, 2014, §3):

- TTL reset on each hit (an idle timeout): a request hits iff the previous one came less than
  ``T`` ago, ``h_i = 1 - exp(-lambda_i T)``.
- TTL counted from insertion (a miss fetches the object and sets its expiry; Redis ``SET ... EX``
  followed by ``GET`` s): each miss starts a cycle of ``T`` during which the ``lambda_i T``
  expected requests all hit, then one more request misses, so ``h_i = lambda_i T / (1 + lambda_i T)``.

Both are exact for Poisson requests.  The fraction of time an object is cached equals ``h_i``
(PASTA), so ``sum_i s_i h_i`` is the memory the TTL cache needs.  With a capacity as well, the
object leaves at the TTL or at the capacity's characteristic time ``T_C``, whichever is first:
exact within the characteristic-time approximation for LRU with a reset TTL (idle timeout
``min(T_C, T)``), FIFO (``min``) and RANDOM (``E[min(T, Exp(T_C))] = T_C (1 - exp(-T / T_C))``);
for LRU with a TTL from insertion the time until an idle gap of ``T_C`` completes, of mean
``(exp(lambda T_C) - 1) / lambda``, is taken as exponential, which is exact at both limits
(``T -> inf``, ``T_C -> inf``) and an approximation between (error measured in the tests).
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike

from capplan._validate import nonnegative, positive
from capplan.caches.che import HitRatio, _sweep, policy_code, workload

__all__ = ["ttl_hit_ratio"]


def ttl_hit_ratio(
    popularity: ArrayLike,
    ttl: ArrayLike,
    *,
    request_rate: float,
    reset_on_hit: bool = False,
    sizes: ArrayLike | None = None,
    cache_size: ArrayLike | None = None,
    policy: str = "lru",
) -> HitRatio:
    """Hit ratio of a TTL cache (optionally also capacity-limited) for Poisson requests.

    Parameters
    ----------
    popularity : array-like
        Per-object request probabilities or relative rates.
    ttl : float or array
        Time-to-live in seconds (an array gives a sweep).
    request_rate : float
        Total requests per second; object ``i`` is requested at ``request_rate * p_i``.
    reset_on_hit : bool
        ``True``: ``h_i = 1 - exp(-lambda_i T)``; ``False`` (expiry from insertion):
        ``h_i = lambda_i T / (1 + lambda_i T)`` (Jung, Berger, Balakrishnan, INFOCOM 2003, §3).
    sizes : float or array, optional
        Object sizes in bytes: ``occupancy`` is then the mean bytes held and ``byte_hit_ratio`` is set.
    cache_size : float or array, optional
        A capacity as well (objects, or bytes with ``sizes``); ``None`` means unbounded.
    policy : {"lru", "fifo", "random"}
        Eviction policy when ``cache_size`` is given.

    Returns
    -------
    HitRatio
        ``method`` says whether the number is exact (TTL only) or a characteristic-time approximation.
    """
    load = workload(popularity, request_rate, sizes)
    ttls = positive("ttl", ttl)
    caps = None if cache_size is None else nonnegative("cache_size", cache_size)
    if caps is None:
        caps_arr = None
        code_of = lambda t: policy_code("lru", t, reset_on_hit)  # noqa: E731
    else:
        caps_arr = np.asarray(caps)
        code_of = lambda t: policy_code(policy, t, reset_on_hit)  # noqa: E731
    return _sweep(load, caps_arr, ttls, code_of, policy if caps is not None else "ttl")
