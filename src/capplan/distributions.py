"""Service-time distributions by mean and SCV, and the hyperexponential SciPy lacks; used by both
the models and the simulator."""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from capplan._numeric import bisect_decreasing
from capplan.errors import ParameterError

__all__ = ["HyperExponential", "gamma", "hyperexponential", "lognormal", "phase_type_fit"]


@dataclass(frozen=True)
class HyperExponential:
    """Two-phase hyperexponential distribution: Exp(mean1) with probability ``p``, else Exp(mean2).

    Offers the part of SciPy's frozen-distribution interface capplan uses (``mean``, ``var``,
    ``std``, ``pdf``, ``cdf``, ``sf``, ``ppf``, ``rvs``, ``support``).  Build it from a mean and SCV with
    :func:`hyperexponential`.
    """

    p: float
    mean1: float
    mean2: float

    def mean(self) -> float:
        return self.p * self.mean1 + (1 - self.p) * self.mean2

    def var(self) -> float:
        second = 2 * (self.p * self.mean1**2 + (1 - self.p) * self.mean2**2)
        return second - self.mean() ** 2

    def std(self) -> float:
        return math.sqrt(self.var())

    def sf(self, x: ArrayLike) -> NDArray[np.float64]:
        xx = np.maximum(np.asarray(x, dtype=np.float64), 0.0)
        return np.asarray(self.p * np.exp(-xx / self.mean1) + (1 - self.p) * np.exp(-xx / self.mean2))

    def cdf(self, x: ArrayLike) -> NDArray[np.float64]:
        return 1.0 - self.sf(x)

    def pdf(self, x: ArrayLike) -> NDArray[np.float64]:
        xx = np.asarray(x, dtype=np.float64)
        dens = self.p / self.mean1 * np.exp(-xx / self.mean1) + (1 - self.p) / self.mean2 * np.exp(
            -xx / self.mean2
        )
        return np.asarray(np.where(xx >= 0, dens, 0.0))

    def ppf(self, q: ArrayLike) -> NDArray[np.float64]:
        """Quantiles by bisection between the two phases' quantiles (which bracket the mixture's)."""
        qq = np.asarray(q, dtype=np.float64)
        tail = -np.log1p(-qq)
        lo = np.atleast_1d(tail * min(self.mean1, self.mean2))
        hi = np.atleast_1d(tail * max(self.mean1, self.mean2))
        target = -np.atleast_1d(qq)

        def minus_cdf(t: NDArray[np.float64], mask: np.ndarray) -> NDArray[np.float64]:
            return -self.cdf(t)

        root = bisect_decreasing(minus_cdf, target, lo, hi, iterations=200, rtol=1e-15)
        return np.asarray(root.reshape(qq.shape))

    def support(self) -> tuple[float, float]:
        return 0.0, math.inf

    def rvs(self, size: int, random_state: np.random.Generator) -> NDArray[np.float64]:
        first = random_state.random(size) < self.p
        scale = np.where(first, self.mean1, self.mean2)
        return np.asarray(random_state.standard_exponential(size) * scale)


def _check(mean: float, scv: float, *, scv_min: float = 0.0) -> None:
    if not (math.isfinite(mean) and mean > 0):
        raise ParameterError(f"mean must be positive and finite, got {mean!r}")
    if not (math.isfinite(scv) and scv > scv_min):
        raise ParameterError(f"scv must be finite and > {scv_min:g}, got {scv!r}")


def lognormal(mean: float, scv: float) -> Any:
    """SciPy lognormal with the given mean and squared coefficient of variation.

    ``sigma^2 = ln(1 + scv)`` and ``scale = mean exp(-sigma^2/2)`` (the moments of the lognormal).
    """
    from scipy import stats  # noqa: PLC0415 - SciPy's distributions are slow to import; load on use

    _check(mean, scv)
    sigma = math.sqrt(math.log1p(scv))
    return stats.lognorm(sigma, scale=mean * math.exp(-(sigma**2) / 2))


def gamma(mean: float, scv: float) -> Any:
    """SciPy gamma distribution with the given mean and SCV (shape ``1/scv``; Erlang-k for ``scv = 1/k``)."""
    from scipy import stats  # noqa: PLC0415 - see lognormal

    _check(mean, scv)
    return stats.gamma(1.0 / scv, scale=mean * scv)


def hyperexponential(mean: float, scv: float) -> HyperExponential:
    """Balanced-means H2 distribution with the given mean and squared coefficient of variation >= 1.

    ``p = (1 + sqrt((scv - 1)/(scv + 1)))/2``, ``mean1 = mean/(2p)``, ``mean2 = mean/(2(1 - p))``
    (Whitt 1982, "Approximating a point process by a renewal process", sec. 3).
    """
    if not (math.isfinite(mean) and mean > 0):
        raise ParameterError(f"mean must be positive and finite, got {mean!r}")
    if not (math.isfinite(scv) and scv >= 1):
        raise ParameterError(f"scv must be >= 1 for a hyperexponential, got {scv!r}")
    p = 0.5 * (1 + math.sqrt((scv - 1) / (scv + 1)))
    return HyperExponential(p, mean / (2 * p), mean / (2 * (1 - p)))


@functools.cache
def _erlang_mixture() -> Any:
    """SciPy's generator of Erlang-(k-1) with probability ``p``, else Erlang-k, rate 1 (``scale`` =
    1/rate); built on first use so that importing capplan does not load scipy.stats."""
    from scipy import stats  # noqa: PLC0415 - see lognormal

    class ErlangMixture(stats.rv_continuous):  # type: ignore[misc]
        def _argcheck(self, p: Any, k: Any) -> Any:
            return (p >= 0) & (p <= 1) & (k >= 2)

        def _pdf(self, x: Any, p: Any, k: Any) -> Any:
            return p * stats.gamma.pdf(x, k - 1) + (1 - p) * stats.gamma.pdf(x, k)

        def _cdf(self, x: Any, p: Any, k: Any) -> Any:
            return p * stats.gamma.cdf(x, k - 1) + (1 - p) * stats.gamma.cdf(x, k)

        def _sf(self, x: Any, p: Any, k: Any) -> Any:
            return p * stats.gamma.sf(x, k - 1) + (1 - p) * stats.gamma.sf(x, k)

        def _stats(self, p: Any, k: Any) -> tuple[Any, Any, None, None]:
            mean = k - p
            second = p * (k - 1) * k + (1 - p) * k * (k + 1)
            return mean, second - mean**2, None, None

        def _rvs(self, p: Any, k: Any, size: Any = None, random_state: Any = None) -> Any:
            shorter = random_state.random(size) < p
            return random_state.gamma(np.where(shorter, k - 1, k), size=size)

    return ErlangMixture(a=0.0, name="erlang_mixture", shapes="p, k")


def phase_type_fit(mean: float, scv: float) -> Any:
    """The two-moment phase-type fit of :mod:`capplan.queueing.phasetype` as a distribution to
    draw from (for the simulator): the constant ``mean`` for SCV 0, ``scipy.stats`` exponential or
    Erlang (gamma with integer shape), a mixture of Erlang-(k-1) and Erlang-k (a SciPy frozen
    distribution), or the balanced :class:`HyperExponential`."""
    # Imported here: the queueing package imports this module (HyperExponential) when it loads.
    from capplan.queueing.phasetype import two_moment_parts  # noqa: PLC0415

    _check(mean, scv, scv_min=-1.0)
    w1, k1, r1, w2, k2, r2 = (float(a) for a in two_moment_parts(mean, scv))
    if math.isinf(k1):
        return float(mean)
    if r1 != r2:
        return HyperExponential(w1, 1.0 / r1, 1.0 / r2)
    from scipy import stats  # noqa: PLC0415 - see lognormal

    if w2 == 0.0 or w1 == 0.0:
        k, r = (k1, r1) if w2 == 0.0 else (k2, r2)
        return stats.expon(scale=1.0 / r) if k == 1 else stats.gamma(k, scale=1.0 / r)
    return _erlang_mixture()(w1, k2, scale=1.0 / r1)
