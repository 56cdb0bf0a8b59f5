"""The search behind :func:`capplan.sizing.size_cache`: the sized tier's characteristic time and its
whole capacity, with the same answer as evaluating every step of the search, in fewer evaluations.

Each exact evaluation of the chain is a pass over the whole catalog (an ``expm1`` per object:
arithmetic, not call overhead, sets its cost), so the search saves passes rather than vectorising
them.  Two facts make that possible without changing any answer:

- Missing a target only gets less likely as the sized tier's characteristic time grows, and so does
  its occupancy (both are sums of per-object terms that do not decrease with the time).  One exact
  evaluation that fails (meets) therefore decides every smaller (larger) time, and bounds the
  occupancy of every time beyond it.
- The threshold time is pinned first by secant steps on how far the targets are missed, taken in
  the hit share a cheap binned model of the tier predicts (for one tier the targets depend on the
  hit ratio alone, and the model's hit share is nearly the true one): two or three passes.

The geometric search of the threshold is then replayed step for step, each decision taken from
those bounds when they settle it and from an exact evaluation when they do not, so its brackets are
the same floats as the plain search's; and a whole capacity is known to miss the targets, without
solving for its characteristic time, when that time lies below a failing one.
"""

from __future__ import annotations

import bisect
import math
from typing import Any

import numpy as np

from capplan._validate import FloatArray
from capplan.caches import _ttl_kernel as tk
from capplan.caches.che import TIME_RTOL, Workload, policy_code
from capplan.caches.tiers import CacheTier, MultiTierResult, evaluate_chain

_BINS = 4096  # log-rate bins of :class:`_BinnedTier`'s occupancy bounds ...
_SHARE_BINS = 512  # ... and of its hit share (``_BINS`` a multiple of it)
_PIN_STEPS = 8  # secant steps on the threshold time at most
_PIN_RTOL = 1e-5  # ... until its bracket is this narrow (relative)
# |d occupancy / d log T| <= this x the catalog's weight: how far the occupancy at a solved
# characteristic time can stray from the capacity asked for.  d h / d log T <= 1/e for LRU (x e^-x),
# 1/4 for FIFO and RANDOM, and 0.368 over a grid of rates, times and TTLs for LRU with a TTL from
# insertion (measured, not proven: hence 1, not 1/e).
_SLOPE_BOUND = 1.0


def statistic(result: MultiTierResult, quantile: float | None) -> float:
    """The constrained latency: the mean, or ``quantile`` of the mixture."""
    return result.latency_mean if quantile is None else float(result.latency_quantile(quantile))


class _BinnedTier:
    """The sized tier with its objects binned by log request rate: the share of its arriving
    requests it hits at characteristic time ``t`` about (each bin taken as objects of its mean
    rate: a guide for the search), and its occupancy for certain (each bin's objects between those
    of the bin's edge rates: hit probabilities grow with the rate for every policy)."""

    def __init__(self, rates: FloatArray, sizes: FloatArray | None, tier: CacheTier) -> None:
        live = rates > 0
        every = bool(live.all())
        lam = rates / tier.copies if every else rates[live] / tier.copies
        self.ttl = math.inf if tier.ttl is None else float(tier.ttl)
        self.code = policy_code(tier.policy, self.ttl, tier.reset_on_hit)
        logs = np.log(lam)
        low, span = float(logs.min()), max(float(logs.max() - logs.min()), 1e-12)
        index = np.minimum(((logs - low) * (_BINS / span)).astype(np.intp), _BINS - 1)
        count = np.bincount(index, minlength=_BINS)
        mass = np.bincount(index, weights=lam, minlength=_BINS)
        keep = count > 0
        held = count if sizes is None else np.bincount(index, sizes if every else sizes[live], _BINS)
        self.weight = np.asarray(held[keep], dtype=np.float64)
        self.slack = 1e-9 * float(self.weight.sum())
        edges = np.exp(low + span * np.arange(_BINS + 1) / _BINS)
        self.low_rates = np.ascontiguousarray(edges[:-1][keep] * (1 - 1e-9))  # rounding of ``index``
        self.high_rates = np.ascontiguousarray(edges[1:][keep] * (1 + 1e-9))
        count, mass = (a.reshape(_SHARE_BINS, -1).sum(axis=1) for a in (count, mass))
        self.rates = np.ascontiguousarray(mass[count > 0] / count[count > 0])
        self.share = mass[count > 0] / mass.sum()

    def occupancy_bounds(self, t: float) -> tuple[float, float]:
        """Occupancy at ``t`` at least and at most (with room for rounding)."""
        low = self.weight @ tk.hit_probabilities(self.low_rates, t, self.ttl, self.code)
        high = self.weight @ tk.hit_probabilities(self.high_rates, t, self.ttl, self.code)
        return float(low) - self.slack, float(high) + self.slack

    def at(self, t: float) -> float:
        return float(self.share @ tk.hit_probabilities(self.rates, t, self.ttl, self.code)) if t > 0 else 0.0

    def time_for(self, share: float, lo: float, hi: float) -> float:
        """A time strictly inside ``(lo, hi)`` where the share is about ``share`` (bisection in log t)."""
        a = max(lo, 1e-9 / float(self.rates.max()))
        b = min(hi, 1e9 / float(self.rates.min()))
        if not a < b:
            return math.sqrt(lo * hi) if lo > 0 and math.isfinite(hi) else a
        for _ in range(100):
            if b <= a * (1 + 1e-12):
                break
            mid = math.sqrt(a * b)
            if self.at(mid) < share:
                a = mid
            else:
                b = mid
        return math.sqrt(a * b)


class TierSearch:
    """The sized tier's results by characteristic time and by capacity (each computed once), and
    what they prove about the times and capacities not evaluated."""

    def __init__(
        self,
        load: Workload,
        chain: list[CacheTier],
        backend: Any,
        k: int,
        target: float,
        budget: float,
        quantile: float | None,
    ) -> None:
        self.load, self.chain, self.backend, self.k = load, chain, backend, k
        self.target, self.budget, self.quantile = target, budget, quantile
        self.memo: dict[int, Any] = {}  # hit probabilities of the tiers above the sized one
        self._by_time: dict[float, MultiTierResult] = {}
        self._by_capacity: dict[float, MultiTierResult] = {}
        # by id of a result, kept with it (so the id stays its own)
        self._failing: dict[int, tuple[MultiTierResult, list[str]]] = {}
        self._statistic: dict[int, tuple[MultiTierResult, float]] = {}
        self.failed, self.met = -math.inf, math.inf  # largest failing, smallest meeting time evaluated
        self.binned: _BinnedTier | None = None
        self._catalog = load.catalog
        self._rounding = 2.0 * load.rates.size * float(np.finfo(np.float64).eps) * self._catalog
        tier = chain[k]
        life = math.inf if tier.ttl is None else float(tier.ttl)
        self.concave = policy_code(tier.policy, life, tier.reset_on_hit) != tk.LRU_TTL_FROM_INSERT

    def at_time(self, t: float) -> MultiTierResult:
        """The chain with the sized tier held at characteristic time ``t``."""
        if t not in self._by_time:
            res = evaluate_chain(self.load, self.chain, self.backend, times={self.k: t}, memo=self.memo)
            self._by_time[t] = res
            if self.failing(res):
                self.failed = max(self.failed, t)
            else:
                self.met = min(self.met, t)
        return self._by_time[t]

    def evaluate(self, capacity: float, bracket: tuple[float, float] = (0.0, math.inf)) -> MultiTierResult:
        """The chain with the sized tier holding ``capacity`` (its time solved within ``bracket``)."""
        if capacity not in self._by_capacity:
            k = self.k
            tiers = [t.with_capacity(capacity) if i == k else t for i, t in enumerate(self.chain)]
            self._by_capacity[capacity] = evaluate_chain(
                self.load, tiers, self.backend, memo=self.memo, memo_below=k, brackets={k: bracket}
            )
        return self._by_capacity[capacity]

    def statistic(self, res: MultiTierResult) -> float:
        """:func:`statistic` of ``res`` (computed once: a quantile is a search of its own)."""
        if id(res) not in self._statistic:
            self._statistic[id(res)] = (res, statistic(res, self.quantile))
        return self._statistic[id(res)][1]

    def failing(self, res: MultiTierResult) -> list[str]:
        """The targets ``res`` misses (empty when it meets both)."""
        if id(res) not in self._failing:
            out = []
            if res.hit_ratio < self.target - 1e-12:
                out.append(f"hit ratio >= {self.target:g}")
            if self.statistic(res) > self.budget * (1 + 1e-12):
                q = self.quantile
                out.append(f"{'mean' if q is None else f'p{q * 100:g}'} latency <= {self.budget * 1e3:g} ms")
            self._failing[id(res)] = (res, out)
        return self._failing[id(res)][1]

    def fails_at(self, t: float) -> bool:
        """Whether the chain misses a target at time ``t``: from the times evaluated when they
        decide it, else by evaluating ``t``."""
        if t <= self.failed:
            return True
        if t >= self.met:
            return False
        return bool(self.failing(self.at_time(t)))

    def occupancy_bounds(self, t: float, binned: bool = True) -> tuple[float, float]:
        """Occupancy of the sized tier at time ``t``, bounded by the times evaluated either side
        (it grows with the time, and is concave in it for most policies) and by the binned tier."""
        if t in self._by_time:
            occ = self._by_time[t].occupancy[self.k]
            return occ, occ
        below = [r.occupancy[self.k] for s, r in self._by_time.items() if s < t]
        above = [r.occupancy[self.k] for s, r in self._by_time.items() if s > t]
        low, high = max(below, default=0.0), min(above, default=math.inf)
        if self.concave:
            chord_low, chord_high = self._chord_bounds(t)
            low, high = max(low, chord_low), min(high, chord_high)
        if binned and self.binned is not None:
            binned_low, binned_high = self.binned.occupancy_bounds(t)
            low, high = max(low, binned_low), min(high, binned_high)
        return low, high

    def _chord_bounds(self, t: float) -> tuple[float, float]:
        """Occupancy at ``t`` above the chord of the nearest times evaluated either side, and below
        the extension of each chord from the nearest one on a side to another on that side (a
        concave function's chords).

        The occupancies evaluated are sums of ``n`` terms, each off by at most ``n`` units in the
        last place of the catalog's weight; the bounds leave that room, scaled by the extension.
        """
        points = sorted((s, r.occupancy[self.k]) for s, r in self._by_time.items() if math.isfinite(s))
        i = bisect.bisect_left(points, (t,))
        below, above = points[:i], points[i:]
        err = self._rounding
        low, high = -math.inf, math.inf
        if below and above:
            (p, op), (q, oq) = below[-1], above[0]
            low = op + (oq - op) * ((t - p) / (q - p)) - 2.0 * err
        pairs = [(other, below[-1]) for other in below[:-1]] + [(above[0], other) for other in above[1:]]
        for (p, op), (q, oq) in pairs:
            reach = max(abs(t - p), abs(t - q)) / (q - p)
            high = min(high, op + (oq - op) * ((t - p) / (q - p)) + err * (2.0 + 2.0 * reach))
        return low, high

    def threshold(self) -> tuple[float, float, float, MultiTierResult]:
        """``lo, hi, occupancy at lo, result at hi``: characteristic times either side of the
        smallest that meets the targets (occupancy and hit ratio grow with it), by quadrupling and
        then geometric bisection until their occupancies are within 1/10,000 (or one object).

        The steps are those of evaluating the chain at every one of them; after :meth:`pin` most
        are decided without evaluating it.
        """
        self.pin()
        lo, hi = 0.0, 1.0 / float(self.load.rates.max())
        for _ in range(200):
            if not self.fails_at(hi):
                break
            lo, hi = hi, 4.0 * hi
        else:
            hi = math.inf
        step = 0.0 if self.load.has_sizes else 1.0
        while math.isfinite(hi) and self._apart(lo, hi, step):
            mid = math.sqrt(lo * hi) if lo > 0 else hi / 4.0
            if self.fails_at(mid):
                lo = mid
            else:
                hi = mid
        lo_occ = self.at_time(lo).occupancy[self.k] if lo > 0 else 0.0
        return lo, hi, lo_occ, self.at_time(hi)

    def _apart(self, lo: float, hi: float, step: float) -> bool:
        """``occupancy(hi) - occupancy(lo) > max(step, 1e-4 occupancy(hi))``, from bounds when
        they settle it, else after evaluating the less certain end (exact once both are)."""
        for binned in (False, True, True, True):  # the binned tier's bounds only when needed
            lo_min, lo_max = (0.0, 0.0) if lo == 0 else self.occupancy_bounds(lo, binned)
            hi_min, hi_max = self.occupancy_bounds(hi, binned)
            if hi_min - lo_max > max(step, 1e-4 * hi_max):
                return True
            if hi_max - lo_min <= max(step, 1e-4 * hi_min):
                return False
            if binned:
                self.at_time(hi if hi_max > hi_min else lo)  # a lower end is bounded more tightly
        raise AssertionError("unreachable: both ends are exact by now")

    def margin(self, res: MultiTierResult, spread: float) -> float:
        """How far ``res`` misses the targets (positive when it misses one): the hit-ratio shortfall,
        or the latency excess over ``spread`` (the latency range), whichever is larger."""
        latency = (self.statistic(res) - self.budget * (1 + 1e-12)) / spread
        return max(self.target - 1e-12 - res.hit_ratio, latency)

    def pin(self) -> None:
        """Narrow the evaluated bracket ``failed < threshold <= met`` to a relative width of
        ``_PIN_RTOL`` by Illinois steps on :meth:`margin` in the hit share :class:`_BinnedTier` predicts."""
        arriving = self._arriving()
        if not (arriving > 0).any():
            return
        sizes = self.load.weights if self.load.has_sizes else None
        share = self.binned = _BinnedTier(arriving, sizes, self.chain[self.k])
        a, b = self.failed, self.met
        spread = self.statistic(self.at_time(a)) - self.statistic(self.at_time(b))
        spread = spread if spread > 0 else self.budget
        ga, gb = self.margin(self.at_time(a), spread), self.margin(self.at_time(b), spread)
        side, last = 0, math.nan
        for _ in range(_PIN_STEPS):
            a, b = self.failed, self.met
            if a > 0 and b - a <= _PIN_RTOL * b:
                return
            va, vb = share.at(a), share.at(b)
            goal = va + ga * (vb - va) / (ga - gb) if ga > 0 >= gb and vb > va else 0.5 * (va + vb)
            t = share.time_for(goal, a, b)
            # aim a little past the estimate, away from the last time evaluated: the step then
            # most likely lands on the other side, closing the bracket from both ends
            past = t * math.exp(-side * 1e-3 * abs(math.log(t / last))) if side else t
            t = past if a < past < b else t
            if not a < t < b:
                return
            last = t
            g = self.margin(self.at_time(t), spread)
            if t <= self.failed:  # it failed: the lower end moves
                ga, gb, side = g, (0.5 * gb if side == -1 else gb), -1
            else:
                ga, gb, side = (0.5 * ga if side == 1 else ga), g, 1

    def _arriving(self) -> FloatArray:
        """Request rates reaching the sized tier (the misses of the tiers above it)."""
        self.at_time(0.0)  # fills the memo of the tiers above
        rates = self.load.rates
        for i in range(self.k):
            misses = np.empty_like(rates)
            tk.serve(rates, self.load.weights, self.memo[i][0], misses)
            rates = misses
        return rates

    def smallest_whole(self, lo_occ: float, hi_res: MultiTierResult, bracket: tuple[float, float]) -> float:
        """The fewest whole objects meeting the targets, between the threshold's occupancies (at
        least ``lo_occ - 1`` and 1, at most the occupancy of ``hi_res`` rounded up).

        Meeting them only gets easier with capacity.  A capacity whose characteristic time is below
        a failing time evaluated misses a target, so the capacities are solved for (within
        ``bracket``) from the first one not known to miss, upwards: the count that stepping down
        from the top one object at a time finds.
        """
        top = float(math.ceil(hi_res.occupancy[self.k] - 1e-9))
        cap = float(max(math.ceil(max(lo_occ - 1.0, 1.0)), self._first_undecided()))
        while cap < top and self.failing(self.evaluate(cap, bracket)):
            cap += 1.0
        return min(cap, top)

    def _first_undecided(self) -> int:
        """The smallest whole capacity not known to miss a target.

        Solving for a capacity ``c`` ends (``tk.solve_time``) with its occupancy within
        ``1e-13 c`` of ``c``, or with a bracket ``TIME_RTOL`` wide in log time whose lower end holds
        less than ``c``.  Either way its time is below the failing time ``t`` if
        ``c (1 + 1e-13)`` plus the occupancy gained over ``TIME_RTOL`` in log time (at most
        ``TIME_RTOL x _SLOPE_BOUND x catalog``) is below the occupancy at ``t``; twice that, for rounding.
        """
        if self.failed <= 0:
            return 0
        occ = self._by_time[self.failed].occupancy[self.k]
        slack = 2.0 * TIME_RTOL * _SLOPE_BOUND * self._catalog
        return math.ceil((occ - slack) / (1.0 + 2e-13))
