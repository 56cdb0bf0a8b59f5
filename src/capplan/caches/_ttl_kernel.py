"""Compiled per-object hit probabilities of the characteristic-time (TTL) cache models, and the
solver for the characteristic time that fills a given capacity.

Policy codes: 0 LRU (optionally with a TTL reset on every hit), 1 LRU with a TTL counted from
insertion, 2 FIFO (TTL from insertion), 3 RANDOM (TTL from insertion).
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit
from numpy.typing import NDArray

LRU, LRU_TTL_FROM_INSERT, FIFO, RANDOM = 0, 1, 2, 3


@njit(cache=True, inline="always")
def _hit(lam: float, t: float, ttl: float, kind: int) -> float:  # pragma: no cover - compiled
    if lam <= 0.0 or t <= 0.0:
        return 0.0
    if kind == LRU:
        horizon = min(t, ttl)
        if math.isinf(horizon):
            return 1.0
        return -math.expm1(-lam * horizon)
    if kind == LRU_TTL_FROM_INSERT:
        # mean sojourn after insertion: min(ttl, S), S = time until an idle gap of t completes,
        # E[S] = (e^{lam t} - 1) / lam, approximated as exponential beyond its mean.
        if math.isinf(ttl):
            if math.isinf(t):
                return 1.0
            return -math.expm1(-lam * t)
        x = lam * t
        if x > 700.0:
            stay = ttl
        else:
            m = math.expm1(x) / lam
            stay = -m * math.expm1(-ttl / m) if m > 0 else 0.0
        return lam * stay / (1.0 + lam * stay)
    if kind == FIFO:
        stay = min(t, ttl)
    # RANDOM: exponential residence of mean t, truncated at ttl
    elif math.isinf(t):
        stay = ttl
    elif math.isinf(ttl):
        stay = t
    else:
        stay = -t * math.expm1(-ttl / t)
    if math.isinf(stay):
        return 1.0
    return lam * stay / (1.0 + lam * stay)


@njit(cache=True)
def hit_probabilities(
    rates: NDArray[np.float64], t: float, ttl: float, kind: int
) -> NDArray[np.float64]:  # pragma: no cover - compiled
    out = np.empty(rates.size)
    for i in range(rates.size):
        out[i] = _hit(rates[i], t, ttl, kind)
    return out


@njit(cache=True)
def weighted_sums(
    rates: NDArray[np.float64], weights: NDArray[np.float64], t: float, ttl: float, kind: int
) -> tuple[float, float, float]:  # pragma: no cover - compiled
    """(occupancy sum w_i h_i, request hit rate sum lam_i h_i, byte hit rate sum lam_i w_i h_i)."""
    occ = 0.0
    req = 0.0
    byt = 0.0
    for i in range(rates.size):
        h = _hit(rates[i], t, ttl, kind)
        occ += weights[i] * h
        req += rates[i] * h
        byt += rates[i] * weights[i] * h
    return occ, req, byt


@njit(cache=True)
def sums_of(
    rates: NDArray[np.float64], weights: NDArray[np.float64], h: NDArray[np.float64]
) -> tuple[float, float, float, float]:  # pragma: no cover - compiled
    """(sum w_i h_i, sum lam_i h_i, sum lam_i w_i h_i, sum lam_i w_i) in one pass."""
    occ = 0.0
    req = 0.0
    byt = 0.0
    total_bytes = 0.0
    for i in range(rates.size):
        occ += weights[i] * h[i]
        req += rates[i] * h[i]
        byt += rates[i] * weights[i] * h[i]
        total_bytes += rates[i] * weights[i]
    return occ, req, byt, total_bytes


@njit(cache=True)
def serve(
    rates: NDArray[np.float64],
    weights: NDArray[np.float64],
    h: NDArray[np.float64],
    misses: NDArray[np.float64],
) -> tuple[float, float]:  # pragma: no cover - compiled
    """Requests hitting with probability ``h``: fills ``misses`` (``rates (1 - h)``) and returns
    (hit rate ``sum lam_i h_i``, byte hit rate ``sum lam_i w_i h_i``)."""
    req = 0.0
    byt = 0.0
    for i in range(rates.size):
        hits = rates[i] * h[i]
        misses[i] = rates[i] - hits
        req += hits
        byt += hits * weights[i]
    return req, byt


@njit(cache=True)
def tier_pass(
    rates: NDArray[np.float64],
    weights: NDArray[np.float64],
    copies: float,
    t: float,
    ttl: float,
    kind: int,
    h: NDArray[np.float64],
    misses: NDArray[np.float64],
) -> tuple[float, float, float]:  # pragma: no cover - compiled
    """A tier of ``copies`` caches held at characteristic time ``t``, in one pass over the objects.

    Fills ``h`` (hit probability per object, each copy seeing ``rates / copies``) and ``misses``
    (``rates (1 - h)``, the stream the next tier sees); returns (occupancy of one copy
    ``sum w_i h_i``, hit rate ``sum lam_i h_i``, byte hit rate ``sum lam_i w_i h_i``).
    """
    occ = 0.0
    req = 0.0
    byt = 0.0
    for i in range(rates.size):
        hi = _hit(rates[i] / copies, t, ttl, kind)
        h[i] = hi
        hits = rates[i] * hi
        misses[i] = rates[i] - hits
        occ += weights[i] * hi
        req += hits
        byt += hits * weights[i]
    return occ, req, byt


@njit(cache=True)
def solve_time(
    rates: NDArray[np.float64],
    weights: NDArray[np.float64],
    target: float,
    ttl: float,
    kind: int,
    what: int,
    rtol: float,
    lo_hint: float = 0.0,
    hi_hint: float = math.inf,
) -> float:  # pragma: no cover - compiled
    """Characteristic time ``t`` with ``sum_i f_i h_i(t) = target``; ``inf`` if never reached.

    ``what``: 0 occupancy (``f = weights``), 1 request hits (``f = rates``), 2 byte hits
    (``f = rates * weights``).  The sum increases with ``t``; bracket by doubling, then Illinois steps in
    log ``t`` until the bracket is ``rtol`` wide or the sum is within 1e-13 of the target.  A bracket
    ``lo_hint < t <= hi_hint`` known from elsewhere (a search over nearby targets) replaces the
    doubling when it holds.
    """
    if 0.0 < lo_hint < hi_hint < math.inf and target > 0.0:
        fa = weighted_sums(rates, weights, lo_hint, ttl, kind)[what] - target
        fb = weighted_sums(rates, weights, hi_hint, ttl, kind)[what] - target
        if fa < 0.0 <= fb:  # reached at a finite time, inside the bracket
            return _illinois(rates, weights, target, ttl, kind, what, rtol, lo_hint, hi_hint, fa, fb)
    full = weighted_sums(rates, weights, math.inf, ttl, kind)[what]
    if target >= full * (1.0 - 1e-15):
        return math.inf
    if target <= 0.0:
        return 0.0
    lam_max = rates.max()
    t = 1.0 / lam_max
    lo = 0.0
    hi = math.inf
    for _ in range(4000):
        if weighted_sums(rates, weights, t, ttl, kind)[what] < target:
            lo = t
            t = t * 4.0
        else:
            hi = t
            break
    if math.isinf(hi):
        return math.inf
    if lo == 0.0:
        lo = hi
        for _ in range(4000):
            lo = lo / 4.0
            if weighted_sums(rates, weights, lo, ttl, kind)[what] < target:
                break
    fa = weighted_sums(rates, weights, lo, ttl, kind)[what] - target
    fb = weighted_sums(rates, weights, hi, ttl, kind)[what] - target
    return _illinois(rates, weights, target, ttl, kind, what, rtol, lo, hi, fa, fb)


@njit(cache=True)
def _illinois(
    rates: NDArray[np.float64],
    weights: NDArray[np.float64],
    target: float,
    ttl: float,
    kind: int,
    what: int,
    rtol: float,
    lo: float,
    hi: float,
    fa: float,
    fb: float,
) -> float:  # pragma: no cover - compiled
    """Illinois (modified regula falsi) steps in ``u = log t`` from the bracket ``lo < t <= hi``
    (sums minus target ``fa < 0 <= fb``): superlinear, keeps the bracket."""
    a = math.log(lo)
    b = math.log(hi)
    side = 0
    for _ in range(200):
        if b - a <= rtol:
            break
        c = b - fb * (b - a) / (fb - fa) if fb != fa else 0.5 * (a + b)
        if not a < c < b:
            c = 0.5 * (a + b)
        fc = weighted_sums(rates, weights, math.exp(c), ttl, kind)[what] - target
        if fc == 0.0:
            return math.exp(c)
        if fc < 0.0:
            a, fa = c, fc
            if side == -1:
                fb *= 0.5
            side = -1
        else:
            b, fb = c, fc
            if side == 1:
                fa *= 0.5
            side = 1
        if abs(fc) <= 1e-13 * target:
            return math.exp(c)
    return math.exp(0.5 * (a + b))
