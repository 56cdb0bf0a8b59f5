"""Sums over a truncated Zipf law in time independent of the catalog size.

The expected number of distinct keys among ``n`` requests to a catalog of ``N`` objects with
``p_i = i^-a / H(N, a)`` (independent reference model) is

.. math:: D(N) = \\sum_{i=1}^{N} 1 - (1 - p_i)^n .

:func:`capplan.caches.fit_zipf` searches ``N`` by bisection on ``D(N)``, over catalogs of
millions of objects, so each ``D(N)`` is computed in two parts:

* the head ``i <= m``, where ``n p_i`` may be large, term by term (``m`` is the rank from which
  ``n p_i <= 1`` for every catalog searched, and at least :data:`MIN_HEAD`);
* the tail ``i > m`` by the binomial identity ``1 - (1 - p)^n = sum_j (-1)^(j+1) C(n, j) p^j``
  truncated after :data:`TERMS` terms (the remainder is below ``(n p)^(K+1) / (K+1)! <= 1/(K+1)!``),
  so that it needs only the power sums ``S(s) = sum_{i=m+1}^{N} i^-s`` at ``s = a, 2a, ...``.

The power sums (and ``H(N, a) = H(m, a) + S(a)``) come from the Euler-Maclaurin formula
(Abramowitz & Stegun 23.1.30; Graham, Knuth & Patashnik, *Concrete Mathematics*, 2nd ed., §9.5),
whose first omitted correction is of relative order ``(s / m)^13`` — below rounding for
``m >= 1000``.  The head is summed as :func:`capplan.caches.zipf_popularity` would, so both
parts agree with the direct sum to rounding (the tests compare them).
"""

from __future__ import annotations

import math

import numpy as np

from capplan._validate import FloatArray

__all__ = ["MIN_HEAD", "TERMS", "ZipfCatalogs"]

#: Ranks summed term by term at least: the Euler-Maclaurin tail starts beyond them.
MIN_HEAD = 1000
#: Binomial terms in the tail: 1/(K+1)! < 1e-19 bounds the relative error of each tail term.
TERMS = 20
#: Bernoulli numbers B_2, B_4, ..., B_12 over (2j)!: the Euler-Maclaurin coefficients.
_EM = (1 / 12, -1 / 720, 1 / 30240, -1 / 1209600, 1 / 47900160, -691 / 1307674368000)


def power_sums(s: FloatArray, lo: int, hi: int) -> FloatArray:
    """``sum_{i=lo}^{hi} i^-s`` for each exponent in ``s`` (``lo >= MIN_HEAD``), by Euler-Maclaurin."""
    if hi < lo:
        return np.zeros_like(s)
    a, b = float(lo), float(hi)
    t = 1.0 - s
    span = math.log(b / a)
    x = t * span
    small = np.abs(x) < 1e-8  # (b^t - a^t) / t without cancellation near s = 1
    ratio = np.where(small, span * (1.0 + x / 2.0), np.expm1(x) / np.where(small, 1.0, t))
    total = a**t * ratio + (a**-s + b**-s) / 2.0
    rising = s.copy()  # s (s+1) ... (s+m-1) for the (m = 2j-1)-th derivative of x^-s
    for j, coefficient in enumerate(_EM):
        m = 2 * j + 1
        total += coefficient * rising * (a ** (-s - m) - b ** (-s - m))
        rising = rising * (s + m) * (s + m + 1)
    return np.asarray(total)


class ZipfCatalogs:
    """``D(N)`` for one skew ``alpha`` and ``requests``, for any catalog ``N >= smallest``."""

    def __init__(self, alpha: float, requests: int, smallest: int, largest: int) -> None:
        self.alpha, self.n = alpha, requests
        h_smallest = float(np.exp(-alpha * np.log(np.arange(1, smallest + 1, dtype=np.float64))).sum())
        # n p_i <= n i^-a / H(smallest) <= 1 from this rank on, for every N >= smallest
        tail_from = (requests / h_smallest) ** (1.0 / alpha)
        self.head = int(min(largest, max(MIN_HEAD, math.ceil(tail_from))))
        self._w = np.exp(-alpha * np.log(np.arange(1, self.head + 1, dtype=np.float64)))
        self._s = alpha * np.arange(1, TERMS + 1, dtype=np.float64)
        j = np.arange(1, TERMS + 1)
        # (-1)^(j+1) C(n, j), zero for j > n
        self._binomial = np.cumprod((requests - j + 1) / j) * np.where(j % 2 == 1, 1.0, -1.0)

    def expected_distinct(self, catalog: int) -> float:
        """``D(catalog)``: expected distinct keys among ``requests`` requests."""
        m = min(catalog, self.head)
        w = self._w[:m]
        tail = power_sums(self._s, self.head + 1, catalog) if catalog > self.head else None
        h = float(w.sum()) + (0.0 if tail is None else float(tail[0]))
        p = np.minimum(w / h, 1 - 1e-16)
        out = float(-np.expm1(self.n * np.log1p(-p)).sum())
        if tail is not None:
            out += float((self._binomial * tail / h ** np.arange(1, TERMS + 1)).sum())
        return out
