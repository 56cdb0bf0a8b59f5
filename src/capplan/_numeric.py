"""Small vectorised numerical helpers shared by the models (no model knowledge here)."""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
from numpy.typing import NDArray

FloatArray = NDArray[np.float64]

__all__ = ["bisect_decreasing", "narrow_decreasing", "newton_decreasing", "newton_decreasing_array"]


def bisect_decreasing(
    fn: Callable[[FloatArray, NDArray[np.bool_]], FloatArray],
    target: FloatArray,
    lo: FloatArray,
    hi: FloatArray,
    *,
    iterations: int = 64,
    rtol: float = 4e-16,
) -> FloatArray:
    """Solve ``fn(t) = target`` for a non-increasing ``fn``, element-wise, inside a bracket.

    ``fn(t, mask)`` is called with the sub-array of points still being refined (``mask`` selects
    them from the full shape), so per-element parameters can be indexed consistently.  The root
    must be bracketed: ``fn(lo) >= target >= fn(hi)``.  Each step is the Illinois variant of
    regula falsi (Dowell & Jarratt 1971, BIT 11), which converges superlinearly on smooth
    functions; every third step is a bisection, so a flat or jumping ``fn`` (an atom in a
    distribution) still halves the bracket at least once in three steps.  Where ``fn`` equals the
    target on an interval the left end is found, as by bisection.  An element stops once its
    bracket is within ``rtol`` of its upper end; ``iterations`` bounds the steps.
    """
    lo = np.array(lo, dtype=np.float64, copy=True)
    hi = np.array(hi, dtype=np.float64, copy=True)
    if lo.ndim == 0:  # one point: solve it as an array of one, masks passed back 0-d

        def fn_one(t: FloatArray, mask: NDArray[np.bool_]) -> FloatArray:
            return fn(t, mask.reshape(()))

        one = bisect_decreasing(
            fn_one, np.reshape(target, 1), lo.reshape(1), hi.reshape(1), iterations=iterations, rtol=rtol
        )
        return one.reshape(())
    target = np.broadcast_to(np.asarray(target, dtype=np.float64), lo.shape)
    active = np.isfinite(lo) & np.isfinite(hi) & (hi > lo)
    f_lo = np.zeros(lo.shape)
    f_hi = np.zeros(lo.shape)
    if active.any():
        f_lo[active] = fn(lo[active], active) - target[active]
        f_hi[active] = fn(hi[active], active) - target[active]
    side = np.zeros(lo.shape, dtype=np.int8)  # which end moved last: +1 lo, -1 hi
    flat = np.zeros(lo.shape, dtype=bool)  # the target is met exactly on a stretch below hi
    for step in range(iterations):
        if not active.any():
            break
        a, b, fa, fb = lo[active], hi[active], f_lo[active], f_hi[active]
        with np.errstate(divide="ignore", invalid="ignore"):
            x = b - fb * (b - a) / (fb - fa)
        mid = 0.5 * (a + b)
        margin = 1e-9 * (b - a)
        # A secant within the margin of an end steps just inside that end (at least one ulp): the
        # root is most likely there, and the step either collapses the bracket onto it or moves
        # that end by a hair (a secant pinned to an end would otherwise leave only the bisection
        # steps, ~50 of them, to close the bracket).  Where the upper end sits exactly on the
        # target, that is tried once: an exact hit again means a flat stretch, which bisects.
        near_b = (x >= b - margin) & ((fb != 0.0) | ~flat[active])
        near_a = (x <= a + margin) & (fa != 0.0)
        inside = (x > a + margin) & (x < b - margin)
        x = np.where(near_b, np.minimum(b - margin, np.nextafter(b, a)), x)
        x = np.where(near_a & ~near_b, np.maximum(a + margin, np.nextafter(a, b)), x)
        bisect = (step % 3 == 2) | ~(inside | near_a | near_b)
        x = np.where(bisect, mid, x)
        fx = fn(x, active) - target[active]
        flat[np.flatnonzero(active)[near_b & ~bisect & (fb == 0.0) & (fx == 0.0)]] = True
        above = fx > 0
        moved = np.where(above, 1, -1).astype(np.int8)
        repeat = moved == side[active]
        # Illinois: an end kept twice in a row has its value halved, so the next secant moves it.
        fa = np.where(~above & repeat, 0.5 * fa, fa)
        fb = np.where(above & repeat, 0.5 * fb, fb)
        a, fa = np.where(above, x, a), np.where(above, fx, fa)
        b, fb = np.where(above, b, x), np.where(above, fb, fx)
        lo[active], hi[active], f_lo[active], f_hi[active] = a, b, fa, fb
        side[active] = moved
        done = b - a <= rtol * np.abs(b)
        active[np.flatnonzero(active)[done]] = False
    return 0.5 * (lo + hi)


def narrow_decreasing(
    fn_rows: Callable[[FloatArray, NDArray[np.bool_]], FloatArray],
    target: FloatArray,
    lo: FloatArray,
    hi: FloatArray,
    *,
    points: int = 64,
    rounds: int = 2,
) -> tuple[FloatArray, FloatArray]:
    """Brackets of ``fn(t) = target`` (``fn`` non-increasing, 1-d arrays) ``points**rounds`` times
    narrower, each round evaluating ``fn`` at ``points - 1`` evenly spaced points inside every
    bracket in one call.

    ``fn_rows(t, mask)`` takes a ``(m, points - 1)`` array of points, row ``i`` belonging to the
    ``i``-th element selected by ``mask``, and returns ``fn`` there.  A root search on a few
    elements spends each step on numpy's per-call overhead rather than on arithmetic, so one wide
    call buys about as many bits as ``log2(points)`` steps.  The new ``lo`` is the last point with
    ``fn > target`` (else the old ``lo``), the new ``hi`` the first point at or below the target
    (else the old ``hi``): the bracket keeps the leftmost ``t`` with ``fn(t) <= target``, the root
    :func:`bisect_decreasing` finds.  Brackets that are not finite and ordered are left alone.
    """
    lo = np.array(lo, dtype=np.float64, copy=True)
    hi = np.array(hi, dtype=np.float64, copy=True)
    target = np.broadcast_to(np.asarray(target, dtype=np.float64), lo.shape)
    fractions = np.arange(1, points) / points
    for _ in range(rounds):
        live = np.isfinite(lo) & np.isfinite(hi) & (hi > lo)
        if not live.any():
            break
        a, b = lo[live], hi[live]
        grid = a[:, None] + (b - a)[:, None] * fractions
        above = fn_rows(grid, live) > target[live][:, None]
        count = above.sum(axis=1)  # fn does not increase: the points above the target come first
        rows = np.arange(grid.shape[0])
        lo[live] = np.where(count > 0, grid[rows, np.maximum(count - 1, 0)], a)
        hi[live] = np.where(count < points - 1, grid[rows, np.minimum(count, points - 2)], b)
    return lo, hi


def newton_decreasing(
    fn: Callable[[float], tuple[float, float]], lo: float, hi: float, *, xtol: float = 1e-12
) -> float:
    """Root of a decreasing scalar ``fn`` with ``fn(lo) > 0 > fn(hi)``, by Newton steps kept
    inside the bracket (a step that would leave it, or a flat slope, bisects instead; Press et
    al., *Numerical Recipes*, 3rd ed., sec. 9.4, ``rtsafe``).

    ``fn(x)`` returns the value and the slope.  For a function whose every evaluation is a pass
    over a large array this takes a handful of evaluations where a derivative-free search takes
    two or three times as many.  Stops when a step is below ``xtol`` (relative to ``max(1, |x|)``).
    """
    x = 0.5 * (lo + hi)
    for _ in range(200):
        value, slope = fn(x)
        if value == 0.0:
            return x
        if value > 0.0:
            lo = x
        else:
            hi = x
        step = value / slope if slope < 0.0 else math.inf
        nxt = x - step
        if not lo < nxt < hi:
            nxt = 0.5 * (lo + hi)
        if abs(nxt - x) <= xtol * max(1.0, abs(x)) or hi - lo <= xtol * max(1.0, abs(x)):
            return nxt
        x = nxt
    return x


def newton_decreasing_array(
    fn: Callable[[FloatArray, NDArray[np.bool_]], tuple[FloatArray, FloatArray]],
    lo: FloatArray,
    hi: FloatArray,
    start: FloatArray,
    *,
    iterations: int = 100,
    rtol: float = 4e-16,
) -> FloatArray:
    """Roots of decreasing functions, element-wise, by :func:`newton_decreasing`'s safeguarded
    Newton steps (*Numerical Recipes* ``rtsafe``) inside the brackets ``fn(lo) >= 0 > fn(hi)``.

    ``fn(t, mask)`` returns the values and slopes at the points still being refined (``mask``
    selects them from the full shape, as in :func:`bisect_decreasing`).  The search starts at
    ``start`` (the bracket's middle where that is outside it); a step that would leave the bracket,
    meets a slope that is not negative, or is not under half the step before last bisects instead.
    An element stops when the function is exactly 0, when a step is within ``rtol`` of the root,
    or one step after a Newton step within ``sqrt(rtol)``: Newton's convergence is quadratic, so
    that last step leaves an error of order ``rtol`` times the function's relative curvature, where
    waiting for a step under ``rtol`` could wait forever on the function's round-off (if that last
    step is refused, the function's round-off rules, and the point before it is kept).  Elements
    whose bracket is not finite and ordered are returned as ``lo``.
    """
    lo = np.array(lo, dtype=np.float64, copy=True)
    hi = np.array(hi, dtype=np.float64, copy=True)
    if lo.ndim == 0:  # one point: solve it as an array of one, masks passed back 0-d

        def fn_one(t: FloatArray, mask: NDArray[np.bool_]) -> tuple[FloatArray, FloatArray]:
            return fn(t, mask.reshape(()))

        one = newton_decreasing_array(
            fn_one, lo.reshape(1), hi.reshape(1), np.reshape(start, 1), iterations=iterations, rtol=rtol
        )
        return one.reshape(())
    active = np.isfinite(lo) & np.isfinite(hi) & (hi > lo)
    x = np.where(active & (start > lo) & (start < hi), start, 0.5 * (lo + hi))
    x = np.where(active, x, lo)
    last = hi - lo  # the last step taken
    before = hi - lo  # the step before it
    settling = np.zeros(lo.shape, dtype=bool)  # the last step was a Newton step within sqrt(rtol)
    for _ in range(iterations):
        if not active.any():
            break
        idx = np.flatnonzero(active)
        xa = x[idx]
        value, slope = fn(xa, active)
        above = value > 0.0
        a = np.where(above, xa, lo[idx])
        b = np.where(above, hi[idx], xa)
        lo[idx], hi[idx] = a, b
        with np.errstate(divide="ignore", invalid="ignore"):
            step = np.where(slope < 0.0, value / slope, np.inf)
        nxt = xa - step
        bisect = ~((nxt >= a) & (nxt <= b)) | (2.0 * np.abs(step) > np.abs(before[idx]))
        nxt = np.where(bisect, 0.5 * (a + b), nxt)
        before[idx], last[idx] = last[idx], np.abs(nxt - xa)
        # At 0, or in the function's round-off after a converging step (the step was refused):
        # this point is the root.
        stay = (value == 0.0) | (settling[idx] & bisect)
        x[idx] = np.where(stay, xa, nxt)
        close = last[idx] <= rtol * np.abs(nxt)
        done = stay | close | settling[idx] | (b - a <= rtol * np.abs(b))
        settling[idx] = ~bisect & (last[idx] <= math.sqrt(rtol) * np.abs(nxt))
        active[idx[done]] = False
    return x
