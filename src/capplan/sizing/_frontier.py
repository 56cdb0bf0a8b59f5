"""Where a queue stops meeting its latency targets as its arrival rate rises, with few model solves.

At a fixed number of servers and arrival SCV the response-time percentiles of the queue models rise
with the arrival rate (checked by the models' property tests), so the rates meeting every target
form an interval ``[0, x*]``.  A rate at or below one that passed passes; one at or above a rate
that failed fails.  Only queries between the highest known pass and the lowest known fail need a
model.  The gap between those two is narrowed by estimating where the margin of the target that
fails at the upper end, ``log(1 - q) - log(1 - P(T <= t_q))`` (nearly linear in the rate),
crosses zero (inverse quadratic interpolation through the two ends and the end they replaced,
Brent 1973, ch. 4; the secant of the ends at first), and solving just past the estimate, by a
quarter of its last change, towards the end that did not move last, so the gap closes from both
sides.  A gap not halved in three steps is split at its middle query instead; so is one no
estimate fits.

A search that asks about dozens of candidate rates (all replica counts of a block, every scenario,
33 loads per round of a capacity search) then costs a handful of solves, each one exact: every
answer is what solving that rate would have given, as long as the model is monotone.  Used for the
gridded waits of heavy-tailed service, whose solve is the expensive part of a sizing search.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
from numpy.typing import NDArray

from capplan._validate import FloatArray

__all__ = ["LoadFrontier"]

_OVERSHOOT = 0.25  # past the boundary's estimate by this many times the estimate's last change
_RESOLUTION = 1e-10  # ... and at least this fraction of it
_PATIENCE = 40  # estimated steps in one call before only middle queries are solved


class LoadFrontier:
    """Pass/fail of the latency targets of one queue family at arrival rates ``x``.

    ``solve(x)`` returns ``P(T <= t_q)`` for the targets (one value per level in ``levels``);
    ``x`` passes when no value is below its level.  Solutions are kept, so :meth:`row` of a rate
    already solved costs nothing.
    """

    def __init__(self, solve: Callable[[float], FloatArray], levels: FloatArray) -> None:
        self._solve = solve
        self.levels = np.asarray(levels, dtype=np.float64)
        self._rows: dict[float, FloatArray] = {}
        self.passed, self.failed = -math.inf, math.inf  # highest rate passing, lowest failing
        self._moved = 0  # which end moved last: +1 passed, -1 failed
        self._estimate = math.nan  # the last regula-falsi estimate of the boundary
        self._widths: list[float] = []  # the gap before each step between two known ends
        self._order: list[float] = []  # rates solved, in order

    def row(self, x: float) -> FloatArray:
        """``P(T <= t_q)`` per level at rate ``x`` (solved once)."""
        key = float(x)
        if key not in self._rows:
            self._rows[key] = np.asarray(self._solve(key), dtype=np.float64).reshape(-1)
        return self._rows[key]

    def passes_known(self, x: float) -> bool:
        """Whether ``x`` is already known to pass (at or below a rate that passed)."""
        return x <= self.passed

    def passes(self, xs: FloatArray) -> NDArray[np.bool_]:
        """Whether each rate meets every target (module docstring: monotone in the rate)."""
        x = np.asarray(xs, dtype=np.float64)
        for step in range(10_000):
            inside = np.unique(x[(x > self.passed) & (x < self.failed)])
            if inside.size == 0:
                break
            # Past _PATIENCE solves in one call only middle queries: a bisection that must end.
            self._learn(self._next(inside) if step < _PATIENCE else float(inside[inside.size // 2]))
        return np.asarray(x <= self.passed)

    def _next(self, inside: FloatArray) -> float:
        """The rate to solve next, given the queries still undecided (sorted)."""
        if math.isinf(self.failed):
            return float(inside[-1])  # most rates pass: the highest query usually settles them all
        if math.isinf(self.passed):
            return float(inside[inside.size // 2])  # then halve the queries until one passes
        lo, hi = self.passed, self.failed
        widths = self._widths
        stalled = len(widths) >= 3 and hi - lo > 0.5 * widths[-3]
        widths.append(hi - lo)
        root = math.nan if stalled else self._estimate_root()
        if not lo < root < hi:
            self._estimate = math.nan
            return float(inside[inside.size // 2])
        spread = abs(root - self._estimate) if math.isfinite(self._estimate) else 0.0
        spread = max(spread, _RESOLUTION * abs(root))
        self._estimate = root
        # Step past the estimate by its last change, towards the end that did not move last: this
        # lands the next rate on the other side of the boundary, closing the gap from both ends.
        x = root + _OVERSHOOT * spread * self._moved
        return float(x if lo < x < hi else root)

    def _estimate_root(self) -> float:
        """Where the worst target's margin crosses 0: inverse quadratic interpolation through the
        two ends and the latest rate solved besides them, else the secant of the ends.  The target
        failing worst at the upper end is the one interpolated (the minimum over targets kinks
        where the worst target changes)."""
        lo, hi = self.passed, self.failed
        gaps_hi = self._gaps(hi)
        if not np.isfinite(gaps_hi).any():
            return math.nan
        worst = int(np.nanargmin(gaps_hi))
        xs = [lo, hi, *[x for x in reversed(self._order) if x not in (lo, hi)][:1]]
        g = [float(self._gaps(x)[worst]) for x in xs]
        if not all(math.isfinite(v) for v in g) or not g[0] > g[1]:
            return math.nan
        secant = lo + g[0] * (hi - lo) / (g[0] - g[1])
        if len(xs) < 3 or len({*g}) < 3:
            return secant
        (x0, x1, x2), (g0, g1, g2) = xs, g
        quadratic = (
            x0 * g1 * g2 / ((g0 - g1) * (g0 - g2))
            + x1 * g0 * g2 / ((g1 - g0) * (g1 - g2))
            + x2 * g0 * g1 / ((g2 - g0) * (g2 - g1))
        )
        return quadratic if lo < quadratic < hi else secant

    def _gaps(self, x: float) -> FloatArray:
        """Per target, ``log(1 - q) - log(1 - P(T <= t_q))``: >= 0 where met, nearly linear in the
        rate near the boundary (a tail probability's logarithm)."""
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.asarray(np.log1p(-self.levels) - np.log1p(-np.minimum(self.row(x), 1.0)))

    def _learn(self, x: float) -> None:
        ok = not bool(np.any(self.row(x) < self.levels))
        self._order.append(x)
        if ok:
            self.passed = max(self.passed, x)
        else:
            self.failed = min(self.failed, x)
        self._moved = 1 if ok else -1
