"""The one search every sizing decision uses: the smallest integer that satisfies a monotone test."""

from __future__ import annotations

from collections.abc import Callable

from capplan.errors import ParameterError

__all__ = ["smallest_satisfying"]


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
