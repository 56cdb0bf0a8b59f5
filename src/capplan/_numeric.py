"""Small vectorised numerical helpers shared by the models (no model knowledge here)."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from numpy.typing import NDArray

FloatArray = NDArray[np.float64]

__all__ = ["bisect_decreasing"]


def bisect_decreasing(
    fn: Callable[[FloatArray, NDArray[np.bool_]], FloatArray],
    target: FloatArray,
    lo: FloatArray,
    hi: FloatArray,
    *,
    iterations: int = 64,
    rtol: float = 4e-16,
) -> FloatArray:
    """Solve ``fn(t) = target`` for a non-increasing ``fn``, element-wise, by bisection.

    ``fn(t, mask)`` is called with the sub-array of points still being refined (``mask`` selects
    them from the full shape), so per-element parameters can be indexed consistently.  The root
    must be bracketed: ``fn(lo) >= target >= fn(hi)``.  An element stops once its bracket is within
    ``rtol`` of its upper end; sixty-four halvings take any bracket whose ends are within a factor
    2^10 of each other to full double precision.
    """
    lo = np.array(lo, dtype=np.float64, copy=True)
    hi = np.array(hi, dtype=np.float64, copy=True)
    active = np.isfinite(lo) & np.isfinite(hi) & (hi > lo)
    for _ in range(iterations):
        if not active.any():
            break
        mid = 0.5 * (lo[active] + hi[active])
        above = fn(mid, active) > target[active]
        lo_a = lo[active]
        hi_a = hi[active]
        lo_a[above] = mid[above]
        hi_a[~above] = mid[~above]
        lo[active] = lo_a
        hi[active] = hi_a
        done = hi_a - lo_a <= rtol * hi_a
        active[np.flatnonzero(active)[done]] = False
    return 0.5 * (lo + hi)
