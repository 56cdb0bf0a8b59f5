"""The one search every sizing decision uses: the smallest integer that satisfies a monotone test."""

from __future__ import annotations

import math
from collections.abc import Callable

from capplan.errors import ParameterError

__all__ = ["capacity_floor", "smallest_satisfying"]


def smallest_satisfying(
    ok: Callable[[int], bool], start: int, *, limit: int = 10_000_000, what: str = ""
) -> int:
    """Smallest ``n >= start`` with ``ok(n)``, for ``ok`` false then true as ``n`` grows.

    Gallops (start, start+1, start+3, start+7, ...) then bisects: O(log n) evaluations.
    """
    if ok(start):
        return start
    lo, hi = start, start + 1
    while not ok(hi):
        lo, hi = hi, hi + 2 * (hi - lo)
        if hi > limit:
            raise ParameterError(f"more than {limit} {what or 'units'} would be needed")
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if ok(mid):
            hi = mid
        else:
            lo = mid
    return hi


def capacity_floor(offered: float, cap: float, *, label: str = "utilization") -> tuple[int, str]:
    """Fewest servers for ``offered`` Erlangs: stable (rho < 1) and ``rho <= cap``; and which binds.

    Returns ``(servers, "stability")`` or ``(servers, f"{label} <= {cap:.0%}")``; on a tie the
    queue's own stability is named.  The cap's quotient is nudged down by 1e-12 so that a cap met
    exactly (e.g. 0.7 * 10 Erlangs) is not rounded up a server by floating point.
    """
    by_cap = max(1, math.ceil(offered / cap * (1 - 1e-12)))
    stable = math.floor(offered) + 1
    if stable >= by_cap:
        return stable, "stability"
    return by_cap, f"{label} <= {cap:.0%}"
