"""The searches every sizing decision uses: the smallest integer that passes a test, and the largest
load that still does."""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
from numpy.typing import NDArray

from capplan.errors import ParameterError

__all__ = ["capacity_floor", "largest_passing_load", "smallest_passing", "smallest_satisfying"]

Test = Callable[[NDArray[np.int64]], NDArray[np.bool_]]


def smallest_satisfying(
    ok: Callable[[int], bool], start: int, *, limit: int = 10_000_000, what: str = ""
) -> int:
    """Smallest ``n >= start`` with ``ok(n)``, for a scalar ``ok`` false then true as ``n`` grows.

    Gallops (start, start+1, start+3, start+7, ...) then bisects: O(log n) evaluations.
    """
    return smallest_passing(
        lambda ns: np.array([ok(int(n)) for n in ns]), start, limit=limit, what=what, block=1
    )


def _settled(tried: dict[int, bool]) -> int | None:
    """The smallest tried ``n`` that passes with every larger tried count passing too."""
    best = None
    for n in sorted(tried, reverse=True):
        if not tried[n]:
            break
        best = n
    return best


def smallest_passing(
    ok: Test, start: int, *, limit: int = 10_000_000, what: str = "", block: int = 16
) -> int:
    """Smallest ``n >= start`` that passes, ``ok`` vectorised over arrays of candidates.

    Candidates go ``block`` at a time: galloping (start, start+1, start+2, start+4, ...) until one
    passes, then evenly spaced inside the bracket until its width is 1.  The answer is the smallest
    tried count from which every larger tried count passes, so a test that is not monotone (it
    should be) cannot make a larger load get fewer resources through a lucky probe.
    """
    tried: dict[int, bool] = {}
    gallop = [start + d for d in (0, *(2**k for k in range(64))) if start + d <= limit]
    while _settled(tried) is None:
        cands, gallop = gallop[:block], gallop[block:]
        if not cands:
            raise ParameterError(f"more than {limit} {what or 'units'} would be needed")
        tried.update(zip(cands, (bool(v) for v in ok(np.asarray(cands, dtype=np.int64))), strict=True))
    while True:
        hi = _settled(tried)
        assert hi is not None
        lo = max((n for n in tried if n < hi), default=start - 1)
        if hi - lo <= 1:
            return hi
        inside = np.unique(np.linspace(lo + 1, hi - 1, min(block, hi - lo - 1)).round().astype(np.int64))
        tried.update(zip(inside.tolist(), (bool(v) for v in ok(inside)), strict=True))


def largest_passing_load(
    ok: Callable[[NDArray[np.float64]], NDArray[np.bool_]], lo: float, hi: float, *, rtol: float = 1e-4
) -> float:
    """Largest load in ``[lo, hi]`` that passes (``lo`` assumed to), to ``rtol``, trying a grid of
    loads at once and narrowing to the cell where passing stops."""
    while hi - lo > rtol * lo:
        grid = np.linspace(lo, hi, 33)
        passing = np.asarray(ok(grid), dtype=bool)
        if passing.all():
            return float(hi)
        first_fail = int(np.argmin(passing))
        if first_fail == 0:
            return float(lo)
        lo, hi = float(grid[first_fail - 1]), float(grid[first_fail])
    return float(lo)


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
