"""Uncertain inputs: a point value, a lognormal or a uniform, each drawn with an explicit generator.

A planner states what is known about a number in one of four ways:

* a point value (``8000``): no uncertainty;
* an interval ``{low, high}``: lognormal with ``low`` and ``high`` its 5th and 95th percentiles,
  or with ``dist: uniform`` uniform on ``[low, high]``;
* ``{median, p90}``: the lognormal through those two quantiles;
* ``{mean, sd}``: the lognormal with that mean and standard deviation (moment matching).

A lognormal ``exp(mu + sigma Z)`` (``Z`` standard normal) has the quantile ``exp(mu + sigma z_p)``
(Johnson, Kotz & Balakrishnan, *Continuous Univariate Distributions* vol. 1, 2nd ed. (1994),
ch. 14), so two quantiles fix ``mu`` and ``sigma``; its mean is ``exp(mu + sigma^2 / 2)`` and its
variance ``(exp(sigma^2) - 1) exp(2 mu + sigma^2)``, which give ``sigma^2 = ln(1 + sd^2 / mean^2)``
and ``mu = ln(mean) - sigma^2 / 2``.  Pure maths: no I/O, arrays in and out.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from statistics import NormalDist
from typing import Protocol

import numpy as np

from capplan._validate import FloatArray
from capplan.errors import ParameterError

__all__ = ["Lognormal", "Point", "Uncertain", "Uniform", "lognormal_from_moments", "lognormal_through"]

#: The 95th percentile of the standard normal: an interval's ends are its 5th and 95th percentiles.
Z95 = NormalDist().inv_cdf(0.95)


class Uncertain(Protocol):
    """What the propagation needs of an uncertain input."""

    def draw(self, rng: np.random.Generator, size: int) -> FloatArray:
        """``size`` independent draws."""
        ...

    def quantile(self, p: float) -> float:
        """The ``p``-quantile (0 < p < 1)."""
        ...

    def describe(self) -> str:
        """How the input was stated, for tables."""
        ...


@dataclass(frozen=True)
class Point:
    """A value known exactly: every draw and every quantile is ``value``."""

    value: float

    def draw(self, rng: np.random.Generator, size: int) -> FloatArray:
        return np.full(size, float(self.value))

    def quantile(self, p: float) -> float:
        return float(self.value)

    def describe(self) -> str:
        return f"{self.value:g}"


@dataclass(frozen=True)
class Lognormal:
    """``exp(mu + sigma Z)``: ``mu`` and ``sigma`` of the log of the value; ``stated`` is how it was
    given (for tables)."""

    mu: float
    sigma: float
    stated: str = ""

    def draw(self, rng: np.random.Generator, size: int) -> FloatArray:
        return np.exp(self.mu + self.sigma * rng.standard_normal(size))

    def quantile(self, p: float) -> float:
        return math.exp(self.mu + self.sigma * NormalDist().inv_cdf(p))

    def describe(self) -> str:
        return self.stated or f"lognormal(median {math.exp(self.mu):.4g}, sigma {self.sigma:.4g})"


@dataclass(frozen=True)
class Uniform:
    """Uniform on ``[low, high]``."""

    low: float
    high: float

    def draw(self, rng: np.random.Generator, size: int) -> FloatArray:
        return rng.uniform(self.low, self.high, size)

    def quantile(self, p: float) -> float:
        return self.low + p * (self.high - self.low)

    def describe(self) -> str:
        return f"uniform {self.low:g} to {self.high:g}"


def _positive(name: str, value: float) -> float:
    if not (math.isfinite(value) and value > 0):
        raise ParameterError(f"{name} must be a finite number > 0, got {value!r}")
    return float(value)


def lognormal_through(p_low: float, low: float, p_high: float, high: float, *, stated: str = "") -> Lognormal:
    """The lognormal whose ``p_low``-quantile is ``low`` and ``p_high``-quantile is ``high``.

    ``sigma = (ln high - ln low) / (z_high - z_low)`` and ``mu = ln low - sigma z_low``, with
    ``z_p`` the standard normal quantiles.
    """
    lo, hi = _positive("low", low), _positive("high", high)
    if not 0 < p_low < p_high < 1:
        raise ParameterError(f"quantile levels must satisfy 0 < {p_low!r} < {p_high!r} < 1")
    if hi <= lo:
        raise ParameterError(f"the upper quantile {hi:g} must exceed the lower {lo:g}")
    z_lo, z_hi = NormalDist().inv_cdf(p_low), NormalDist().inv_cdf(p_high)
    sigma = (math.log(hi) - math.log(lo)) / (z_hi - z_lo)
    return Lognormal(math.log(lo) - sigma * z_lo, sigma, stated)


def lognormal_from_moments(mean: float, sd: float, *, stated: str = "") -> Lognormal:
    """The lognormal with this mean and standard deviation (``sd > 0``)."""
    m = _positive("mean", mean)
    s = _positive("sd", sd)
    sigma2 = math.log1p((s / m) ** 2)
    return Lognormal(math.log(m) - sigma2 / 2, math.sqrt(sigma2), stated)
