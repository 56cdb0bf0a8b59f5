"""Two-moment phase-type fits: the distributions the G/G/c solvers put behind a mean and an SCV.

A time described only by its mean and squared coefficient of variation (SCV) is given a
phase-type (PH) distribution with those two moments, from the classic families that make the
queue exactly solvable (Tijms, *A First Course in Stochastic Models* (2003), sec. 2.2 and
appendix B; Whitt (1982), "Approximating a point process by a renewal process", sec. 3):

* SCV 0: deterministic (not phase-type; the lattice solver handles it).
* ``1/k <= SCV <= 1/(k-1)``, ``k >= 2``: a mixture of Erlang-(k-1) and Erlang-k with a common rate
  ``beta``, Erlang-(k-1) with probability ``p = [k SCV - sqrt(k(1 + SCV) - k^2 SCV)]/(1 + SCV)`` and
  ``beta = (k - p)/mean`` (pure Erlang-k at ``SCV = 1/k``).
* SCV 1: exponential.
* SCV > 1: the balanced-means hyperexponential H2, ``p1 = (1 + sqrt((SCV - 1)/(SCV + 1)))/2`` and
  rates ``2 p1/mean``, ``2 (1 - p1)/mean``.

Every fit is a mixture of at most two gamma components with integer shapes.  The family is
continuous in the SCV (at ``1/k`` both neighbouring mixtures are the pure Erlang-k, and both sides
of 1 tend to the exponential), which keeps every queue metric built on it continuous.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import cached_property
from typing import Any

import numpy as np
from numpy.typing import ArrayLike

from capplan._numeric import newton_decreasing_array
from capplan._validate import FloatArray, nonnegative, positive

__all__ = [
    "DETERMINISTIC_SCV",
    "GammaMixture",
    "parts_laplace",
    "parts_log_laplace",
    "scv_with_skewness",
    "third_cumulant",
    "two_moment_fit",
    "two_moment_fits",
    "two_moment_parts",
]

#: SCVs below this are deterministic: an Erlang fit would need more than 1e10 phases.
DETERMINISTIC_SCV = 1e-10


def two_moment_parts(mean: ArrayLike, scv: ArrayLike) -> tuple[FloatArray, ...]:
    """Element-wise ``(w1, k1, r1, w2, k2, r2)``: the fit as ``w1 Gamma(k1, r1) + w2 Gamma(k2, r2)``.

    Shapes are integers stored as floats, rates per unit of ``mean``'s time.  Where
    ``scv < DETERMINISTIC_SCV`` the parts describe the constant ``mean`` as a single "component"
    of shape inf (callers test for it); the exponential has ``w2 = 0``.
    """
    m, s = np.broadcast_arrays(np.asarray(mean, dtype=np.float64), np.asarray(scv, dtype=np.float64))
    w1 = np.ones(m.shape)
    k1 = np.ones(m.shape)
    r1 = np.array(1.0 / m, dtype=np.float64)
    w2 = np.zeros(m.shape)
    k2 = np.ones(m.shape)
    r2 = r1.copy()
    det = s < DETERMINISTIC_SCV
    low = ~det & (s < 1.0)
    high = s > 1.0
    if low.any():
        sl = s[low]
        k = np.maximum(2.0, np.ceil(1.0 / sl - 1e-9))
        p = (k * sl - np.sqrt(np.maximum(k * (1 + sl) - k * k * sl, 0.0))) / (1 + sl)
        p = np.clip(p, 0.0, 1.0)
        beta = (k - p) / m[low]
        w1[low], k1[low], r1[low] = p, k - 1, beta
        w2[low], k2[low], r2[low] = 1 - p, k, beta
    if high.any():
        sh = s[high]
        p1 = 0.5 * (1 + np.sqrt((sh - 1) / (sh + 1)))
        w1[high], r1[high] = p1, 2 * p1 / m[high]
        w2[high], r2[high] = 1 - p1, 2 * (1 - p1) / m[high]
    k1 = np.where(det, np.inf, k1)
    return w1, k1, r1, w2, k2, r2


def third_cumulant(mean: ArrayLike, scv: ArrayLike) -> FloatArray:
    """``E[(X - mean)^3]`` of the fit (element-wise), in closed form without cancellation: the
    Erlang mixture ``p E(k-1) + (1-p) E(k)`` of rate ``beta`` has variance ``(k - p^2)/beta^2`` and
    third cumulant ``2 (k - p^3)/beta^3``; the balanced H2 (and the exponential) ``mean^3 (3 SCV^2 - 1)``
    (its third moment is ``3 SCV (1 + SCV) mean^3``); the constant 0."""
    m, s = np.broadcast_arrays(np.asarray(mean, dtype=np.float64), np.asarray(scv, dtype=np.float64))
    w1, k1, r1, _, k2, _ = two_moment_parts(m, s)
    erlang = ~np.isinf(k1) & (s < 1.0)
    with np.errstate(divide="ignore", invalid="ignore"):
        mixed = 2.0 * (k2 - w1**3) / r1**3
    out = np.where(erlang, mixed, m**3 * (3.0 * s * s - 1.0))
    return np.asarray(np.where(np.isinf(k1), 0.0, out))


def scv_with_skewness(skewness: ArrayLike) -> FloatArray:
    """The SCV at which the fit's skewness ``E[(X - mean)^3] / sd^3`` is ``skewness`` (element-wise).

    The skewness rises with the SCV: 0 for the constant, ``2/sqrt(k)`` for the Erlang-k, 2 for
    the exponential, ``3 u - u^-3`` with ``u = sqrt(SCV)`` for the balanced H2.  Between Erlang-k
    and Erlang-(k-1) the mixture's is ``2 (k - p^3) / (k - p^2)^1.5``, rising in ``p`` with slope
    ``6 p k (1 - p) / (k - p^2)^2.5``; its SCV is ``(k - p^2) / (k - p)^2``.  Each is solved for by
    safeguarded Newton steps (:func:`~capplan._numeric.newton_decreasing_array`).
    """
    g = np.atleast_1d(np.asarray(skewness, dtype=np.float64))
    out = np.zeros(g.shape)
    high = g >= 2.0
    if high.any():
        gh = g[high]

        def h2(u: FloatArray, mask: np.ndarray) -> tuple[FloatArray, FloatArray]:
            return gh[mask] - 3.0 * u + u**-3, -3.0 - 3.0 * u**-4

        lo = np.maximum(1.0, gh / 3.0)  # convex and decreasing: Newton from below stays below
        out[high] = newton_decreasing_array(h2, lo, gh / 3.0 + 0.5, lo, rtol=1e-14) ** 2
    low = (g > 0.0) & ~high
    if low.any():
        gl = g[low]
        k = np.maximum(2.0, np.ceil(4.0 / (gl * gl) * (1.0 - 1e-12)))
        ends = 2.0 / np.sqrt(k), 2.0 / np.sqrt(k - 1.0)

        def erlangs(p: FloatArray, mask: np.ndarray) -> tuple[FloatArray, FloatArray]:
            kk, rest = k[mask], k[mask] - p * p
            return gl[mask] - 2.0 * (kk - p**3) / rest**1.5, -6.0 * p * kk * (1.0 - p) / rest**2.5

        start = (gl - ends[0]) / (ends[1] - ends[0])
        p = newton_decreasing_array(erlangs, np.zeros(gl.shape), np.ones(gl.shape), start, rtol=1e-14)
        out[low] = (k - p * p) / (k - p) ** 2
    return out.reshape(np.shape(skewness))


def parts_laplace(parts: tuple[Any, ...], s: ArrayLike) -> np.ndarray:
    """``E[exp(-s X)]`` of the fit given by :func:`two_moment_parts`'s ``parts`` (broadcast; real
    or complex ``s``): ``w1 (r1/(r1+s))^k1 + w2 (r2/(r2+s))^k2``, and ``exp(-s/r1)`` for the
    constant (shape inf, ``r1 = 1/mean``)."""
    w1, k1, r1, w2, k2, r2 = parts
    ss = np.asarray(s)
    rest = w2 * (r2 / (r2 + ss)) ** k2
    if np.ndim(k1) == 0:  # one fit: no masks (the lattice's root searches call this per step)
        first = np.exp(-ss / r1) if math.isinf(float(k1)) else (r1 / (r1 + ss)) ** k1
        return np.asarray(w1 * first + rest)
    constant = np.isinf(k1)
    first = np.where(constant, np.exp(-ss / r1), (r1 / (r1 + ss)) ** np.where(constant, 1.0, k1))
    return np.asarray(w1 * first + rest)


def parts_log_laplace(parts: tuple[Any, ...], s: FloatArray) -> tuple[FloatArray, FloatArray]:
    """``log E[exp(-s X)]`` and its derivative in ``s`` for the fits given by
    :func:`two_moment_parts`'s ``parts`` (element-wise, real ``s`` above ``-min(r1, r2)``; a part
    of weight 0 is ignored).

    Each part's logarithm is ``-k log1p(s / r)``, and the mixture's is taken without overflow
    (largest logarithm first) or, where every part is near 1, by ``log1p`` of their ``expm1``'s so
    that it keeps its relative precision there (a decay rate near saturation is a root of a sum of
    two such logarithms, each much larger than their sum).
    """
    w1, k1, r1, w2, k2, r2 = parts
    constant = np.isinf(k1)
    k1 = np.where(constant, 1.0, k1)
    weights, shapes, rates = (w1, w2), (k1, k2), (r1, r2)
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        logs = [
            np.where(w > 0, -k * np.log1p(s / r), -np.inf)
            for w, k, r in zip(weights, shapes, rates, strict=True)
        ]
        top = np.maximum(*logs)
        scaled = [np.where(w > 0, w * np.exp(lg - top), 0.0) for w, lg in zip(weights, logs, strict=True)]
        total = scaled[0] + scaled[1]
        near_one = (
            np.maximum(*(np.where(w > 0, np.abs(lg), 0.0) for w, lg in zip(weights, logs, strict=True))) < 0.5
        )
        less = sum(np.where(w > 0, w * np.expm1(lg), 0.0) for w, lg in zip(weights, logs, strict=True))
        value = np.where(near_one, np.log1p(less), top + np.log(total))
        slope = -sum(a * k / (r + s) for a, k, r in zip(scaled, shapes, rates, strict=True)) / total
    return np.asarray(np.where(constant, -s / r1, value)), np.asarray(np.where(constant, -1.0 / r1, slope))


@dataclass(frozen=True)
class GammaMixture:
    """``sum_i w_i Gamma(shape k_i, rate r_i)`` with integer shapes: a phase-type distribution.

    Scalar parameters (one distribution).  :meth:`phase_type` gives its PH representation
    ``(alpha, T)`` — Erlang components with a common rate as one chain of phases entered part-way,
    otherwise the components side by side.
    """

    weights: tuple[float, ...]
    shapes: tuple[int, ...]
    rates: tuple[float, ...]

    @cached_property
    def mean(self) -> float:
        return sum(w * k / r for w, k, r in zip(self.weights, self.shapes, self.rates, strict=True))

    @cached_property
    def second_moment(self) -> float:
        return sum(
            w * k * (k + 1) / r**2 for w, k, r in zip(self.weights, self.shapes, self.rates, strict=True)
        )

    @property
    def scv(self) -> float:
        return self.second_moment / self.mean**2 - 1.0

    def laplace(self, s: ArrayLike) -> np.ndarray:
        """``E[exp(-s X)]`` for real or complex ``s`` (``Re s > -min rate``)."""
        ss = np.asarray(s)
        out = np.zeros(ss.shape, dtype=np.result_type(ss, np.float64))
        for w, k, r in zip(self.weights, self.shapes, self.rates, strict=True):
            if w > 0:
                out = out + w * (r / (r + ss)) ** k
        return out

    def phase_type(self) -> tuple[FloatArray, FloatArray]:
        """``(alpha, T)``: initial probabilities and sub-generator of a PH representation (built once
        per distribution; each call returns fresh copies)."""
        alpha, gen = self._phase_type
        return alpha.copy(), gen.copy()

    @property
    def phases(self) -> int:
        """The order of :meth:`phase_type`'s representation."""
        return int(self._phase_type[0].size)

    @cached_property
    def _phase_type(self) -> tuple[FloatArray, FloatArray]:
        parts = [(w, k, r) for w, k, r in zip(self.weights, self.shapes, self.rates, strict=True) if w > 0]
        if len({r for _, _, r in parts}) == 1:
            rate = parts[0][2]
            order = max(k for _, k, _ in parts)
            alpha = np.zeros(order)
            for w, k, _ in parts:
                alpha[order - k] += w
            gen = np.diag(np.full(order, -rate)) + np.diag(np.full(order - 1, rate), 1)
            return alpha, gen
        if any(k != 1 for _, k, _ in parts):
            raise ValueError("phase_type: components with different rates must be exponential")
        return np.array([w for w, _, _ in parts]), np.diag([-r for _, _, r in parts])


def two_moment_fit(mean: float, scv: float) -> GammaMixture | None:
    """The phase-type fit of a time with this mean and SCV (module docstring); None if deterministic."""
    return two_moment_fits([float(positive("mean", mean))], [float(nonnegative("scv", scv))])[0]


def two_moment_fits(means: ArrayLike, scvs: ArrayLike) -> list[GammaMixture | None]:
    """:func:`two_moment_fit` of each ``(mean, scv)`` pair, the parts found in one vectorised call."""
    m = np.atleast_1d(positive("mean", means))
    s = np.atleast_1d(nonnegative("scv", scvs))
    return [_mixture(*row) for row in zip(*(p.tolist() for p in two_moment_parts(m, s)), strict=True)]


def _mixture(w1: float, k1: float, r1: float, w2: float, k2: float, r2: float) -> GammaMixture | None:
    if math.isinf(k1):
        return None
    if w2 == 0.0:
        return GammaMixture((w1,), (int(k1),), (r1,))
    if w1 == 0.0:
        return GammaMixture((w2,), (int(k2),), (r2,))
    return GammaMixture((w1, w2), (int(k1), int(k2)), (r1, r2))
