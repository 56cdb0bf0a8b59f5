"""Service-time distributions fitted to measured latencies or to histogram bucket counts.

Families: exponential, gamma, lognormal, two-phase hyperexponential (H2), and the empirical
distribution.  Each parametric family is fitted by maximum likelihood:

* from samples ``x_1..x_n``: maximise ``sum log f(x_i)``; the exponential and lognormal have the
  closed forms ``mean = x-bar`` and ``mu, sigma^2 = mean, variance of log x`` (Johnson, Kotz &
  Balakrishnan, *Continuous Univariate Distributions* vol. 1, 2nd ed., 1994, secs. 19.4, 14.5),
  the gamma is solved numerically (ibid., sec. 17.7), and the H2 by the EM algorithm for a
  mixture of exponentials (Dempster, Laird & Rubin 1977; the updates ``p = mean(r)``,
  ``m_k = sum(r_k x)/sum(r_k)`` with responsibilities ``r_k``);
* from cumulative bucket counts ``C(le_j)`` (a Prometheus histogram, an HdrHistogram spectrum):
  maximise the multinomial likelihood ``sum n_j log(F(le_j) - F(le_{j-1}))``, ``le_{-1} = 0``,
  ``F(+Inf) = 1`` - the observations are only known to lie in their bucket (interval censoring).

Goodness of fit: the Kolmogorov-Smirnov statistic for samples (its p-value assumes known
parameters, so with fitted ones it is optimistic - Lilliefors 1967) and Pearson's chi-square for
buckets (buckets merged until each expects at least 5 observations; degrees of freedom = buckets
- 1 - parameters); AIC = 2k - 2 log L for comparing families on the same data.

A fit hands the queueing models what they need: ``mean_``, ``scv_`` (for ``service_rate`` =
1/mean and ``service_scv``) or the distribution itself (``distribution_``, for ``service=``).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any, ClassVar, Self

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike
from scipy import optimize, special, stats

from capplan._validate import FloatArray, as_float_array
from capplan.distributions import HyperExponential
from capplan.errors import ParameterError

__all__ = [
    "FAMILIES",
    "EmpiricalServiceTime",
    "ExponentialServiceTime",
    "FittedServiceTime",
    "GammaServiceTime",
    "HyperExponentialServiceTime",
    "LognormalServiceTime",
    "compare_service_times",
    "fit_service_time",
    "fit_service_time_buckets",
]

_MIN_EXPECTED = 5.0
# on the log-likelihood per observation, in log-parameter space
_NELDER_MEAD = {"xatol": 1e-9, "fatol": 1e-12, "maxiter": 5_000}


def _check_samples(samples: ArrayLike) -> FloatArray:
    x = as_float_array("samples", samples).ravel()
    if x.size < 3:
        raise ParameterError(f"samples: need at least 3 latencies to fit a distribution, got {x.size}")
    bad = ~np.isfinite(x) | (x <= 0)
    if bad.any():
        raise ParameterError(
            f"samples must be positive and finite, got {float(x[bad][0])!r} "
            f"at index {int(np.flatnonzero(bad)[0])}"
        )
    return x


def _check_buckets(le: ArrayLike, counts: ArrayLike) -> tuple[FloatArray, FloatArray]:
    """Sorted finite-or-inf upper bounds and per-bucket (non-cumulative) counts."""
    b = as_float_array("le", le).ravel()
    c = as_float_array("counts", counts).ravel()
    if b.shape != c.shape:
        raise ParameterError(f"le and counts must have the same length, got {b.size} and {c.size}")
    order = np.argsort(b, kind="stable")
    b, c = b[order], c[order]
    if b.size < 2 or np.any(np.diff(b) <= 0):
        raise ParameterError("le: need at least 2 distinct bucket bounds, each once")
    if b[0] <= 0:
        raise ParameterError(f"le: bucket bounds must be positive for service times, got {float(b[0])!r}")
    if np.any(c < 0) or np.any(np.diff(c) < 0):
        raise ParameterError("counts must be cumulative: non-negative and non-decreasing with le")
    per = np.diff(np.concatenate([[0.0], c]))
    if per.sum() < 3:
        raise ParameterError(f"counts: need at least 3 observations to fit a distribution, got {per.sum():g}")
    return b, per


class FittedServiceTime:
    """A service-time distribution fitted by maximum likelihood (lifelines style).

    Subclasses declare :attr:`family`, :attr:`param_names`, :meth:`_dist` (parameters ->
    distribution) and :meth:`_start` (parameters matching a mean and SCV); they may override
    :meth:`_fit_samples` with a closed form or EM.  The base does the bucket likelihood, the
    goodness of fit, AIC and the hand-off to the queueing models.
    """

    family: ClassVar[str] = ""
    param_names: ClassVar[tuple[str, ...]] = ()

    params_: dict[str, float]
    distribution_: Any
    mean_: float
    scv_: float
    log_likelihood_: float
    aic_: float
    n_: float
    gof_: dict[str, float]
    source_: str

    # -- the maths a subclass provides -------------------------------------------------------
    def _dist(self, params: FloatArray) -> Any:
        raise NotImplementedError

    def _start(self, mean: float, scv: float) -> FloatArray:
        raise NotImplementedError

    def _to_unconstrained(self, params: FloatArray) -> FloatArray:
        return np.log(params)

    def _from_unconstrained(self, theta: FloatArray) -> FloatArray:
        return np.exp(theta)

    # -- fitting -------------------------------------------------------------------------------
    def _fit_samples(self, x: FloatArray) -> FloatArray:
        mean, scv = float(x.mean()), float(x.var() / x.mean() ** 2)

        def nll(theta: FloatArray) -> float:
            val = -float(np.mean(self._dist(self._from_unconstrained(theta)).logpdf(x)))
            return val if math.isfinite(val) else 1e300

        start = self._to_unconstrained(self._start(mean, max(scv, 1e-6)))
        res = optimize.minimize(
            nll, start, method="Nelder-Mead", options={"xatol": 1e-10, "fatol": 1e-12, "maxiter": 20_000}
        )
        return self._from_unconstrained(np.asarray(res.x))

    def fit(self, samples: ArrayLike) -> Self:
        """Fit to individual latencies (seconds); returns ``self``."""
        x = _check_samples(samples)
        params = self._fit_samples(x)
        dist = self._dist(params)
        loglik = float(np.sum(dist.logpdf(x)))
        ks = stats.kstest(x, dist.cdf)
        self._store(params, loglik, float(x.size), "samples")
        self.gof_ = {"ks_statistic": float(ks.statistic), "ks_pvalue": float(ks.pvalue)}
        return self

    def fit_buckets(self, le: ArrayLike, counts: ArrayLike) -> Self:
        """Fit to cumulative histogram buckets (``le`` upper bounds in seconds, ``+Inf`` allowed)."""
        bounds, per = _check_buckets(le, counts)
        edges = np.concatenate([[0.0], bounds])
        finite = np.isfinite(bounds)
        mids = np.where(finite, 0.5 * (edges[:-1] + edges[1:]), edges[:-1] * 1.5)
        mids = np.where(mids > 0, mids, bounds[finite][0] / 2)
        w = per / per.sum()
        mean = float(w @ mids)
        scv = float(max(w @ (mids - mean) ** 2 / mean**2, 0.05))

        def probabilities(params: FloatArray) -> FloatArray:
            cdf = np.asarray(self._dist(params).cdf(edges), dtype=np.float64)
            cdf[-1] = np.where(np.isinf(edges[-1]), 1.0, cdf[-1])
            return np.diff(cdf)

        def nll(theta: FloatArray) -> float:
            p = probabilities(self._from_unconstrained(theta))
            with np.errstate(divide="ignore"):
                val = -float(np.sum(w[per > 0] * np.log(p[per > 0])))
            return val if math.isfinite(val) else 1e300

        start = self._to_unconstrained(self._start(mean, scv))
        res = optimize.minimize(
            nll, start, method="Nelder-Mead", options={"xatol": 1e-10, "fatol": 1e-12, "maxiter": 20_000}
        )
        params = self._from_unconstrained(np.asarray(res.x))
        self._store(params, -float(res.fun) * float(per.sum()), float(per.sum()), "buckets")
        self.gof_ = _chi_square(per, probabilities(params), len(self.param_names))
        return self

    def _store(self, params: FloatArray, loglik: float, n: float, source: str) -> None:
        self.params_ = {k: float(v) for k, v in zip(self.param_names, params, strict=True)}
        self.distribution_ = self._dist(params)
        self.mean_ = float(self.distribution_.mean())
        self.scv_ = float(self.distribution_.var()) / self.mean_**2
        self.log_likelihood_ = loglik
        self.aic_ = 2 * len(self.param_names) - 2 * loglik
        self.n_ = n
        self.source_ = source

    # -- results -------------------------------------------------------------------------------
    @property
    def service_rate_(self) -> float:
        """``1 / mean``: what the queueing models take as ``service_rate``."""
        return 1.0 / self.mean_

    def queue_inputs(self) -> dict[str, float]:
        """``{"service_rate": 1/mean, "service_scv": scv}`` for ``MMc``/``MG1``/``GGc``/sizing."""
        return {"service_rate": self.service_rate_, "service_scv": self.scv_}

    def summary(self) -> pd.Series:
        """Family, parameters, mean, SCV, log-likelihood, AIC and goodness of fit in one row."""
        return pd.Series(
            {
                "family": self.family,
                "source": self.source_,
                "n": self.n_,
                **{f"param_{k}": v for k, v in self.params_.items()},
                "mean": self.mean_,
                "scv": self.scv_,
                "log_likelihood": self.log_likelihood_,
                "aic": self.aic_,
                **self.gof_,
            }
        )

    def __repr__(self) -> str:
        if not hasattr(self, "params_"):
            return f"{type(self).__name__}(unfitted)"
        inner = "".join(f"{k}={v:.4g}, " for k, v in self.params_.items() if k != "mean")
        return f"{type(self).__name__}({inner}mean={self.mean_:.4g}, scv={self.scv_:.3g})"


def _chi_square(per: FloatArray, prob: FloatArray, n_params: int) -> dict[str, float]:
    """Pearson's chi-square with adjacent buckets merged until each expects >= 5 observations."""
    total = per.sum()
    obs: list[float] = []
    exp: list[float] = []
    o_acc = e_acc = 0.0
    for o, p in zip(per, prob, strict=True):
        o_acc += float(o)
        e_acc += float(p) * total
        if e_acc >= _MIN_EXPECTED:
            obs.append(o_acc)
            exp.append(e_acc)
            o_acc = e_acc = 0.0
    if e_acc > 0 or o_acc > 0:
        if exp:
            obs[-1] += o_acc
            exp[-1] += e_acc
        else:
            obs.append(o_acc)
            exp.append(e_acc)
    o_arr, e_arr = np.asarray(obs), np.asarray(exp)
    dof = len(obs) - 1 - n_params
    with np.errstate(divide="ignore", invalid="ignore"):
        chi2 = float(np.sum((o_arr - e_arr) ** 2 / e_arr))
    pvalue = float(stats.chi2.sf(chi2, dof)) if dof > 0 else math.nan
    return {"chi2_statistic": chi2, "chi2_dof": float(dof), "chi2_pvalue": pvalue}


class ExponentialServiceTime(FittedServiceTime):
    """Exponential service: ``f(x) = exp(-x/m)/m``; MLE ``m = x-bar`` (SCV 1)."""

    family: ClassVar[str] = "exponential"
    param_names: ClassVar[tuple[str, ...]] = ("mean",)

    def _dist(self, params: FloatArray) -> Any:
        return stats.expon(scale=float(params[0]))

    def _start(self, mean: float, scv: float) -> FloatArray:
        return np.array([mean])

    def _fit_samples(self, x: FloatArray) -> FloatArray:
        return np.array([float(x.mean())])


class GammaServiceTime(FittedServiceTime):
    """Gamma service, shape ``k`` and scale ``theta`` (mean ``k theta``, SCV ``1/k``)."""

    family: ClassVar[str] = "gamma"
    param_names: ClassVar[tuple[str, ...]] = ("shape", "scale")

    def _dist(self, params: FloatArray) -> Any:
        return stats.gamma(float(params[0]), scale=float(params[1]))

    def _start(self, mean: float, scv: float) -> FloatArray:
        return np.array([1.0 / scv, mean * scv])

    def _fit_samples(self, x: FloatArray) -> FloatArray:
        # profile likelihood: theta = x-bar / k, and log k - digamma(k) = log x-bar - mean(log x)
        s = math.log(float(x.mean())) - float(np.mean(np.log(x)))
        if s <= 0:  # all samples equal: the limit is deterministic; cap the shape
            k = 1e8
        else:
            k = optimize.brentq(lambda kk: math.log(kk) - float(special.digamma(kk)) - s, 1e-8, 1e12)
        return np.array([k, float(x.mean()) / k])


class LognormalServiceTime(FittedServiceTime):
    """Lognormal service: ``log X ~ N(mu, sigma^2)``; MLE ``mu, sigma^2`` = mean, variance of ``log x``."""

    family: ClassVar[str] = "lognormal"
    param_names: ClassVar[tuple[str, ...]] = ("mu", "sigma")

    def _dist(self, params: FloatArray) -> Any:
        return stats.lognorm(float(params[1]), scale=math.exp(float(params[0])))

    def _start(self, mean: float, scv: float) -> FloatArray:
        s2 = math.log1p(scv)
        return np.array([math.log(mean) - s2 / 2, math.sqrt(s2)])

    def _to_unconstrained(self, params: FloatArray) -> FloatArray:
        return np.array([params[0], math.log(params[1])])

    def _from_unconstrained(self, theta: FloatArray) -> FloatArray:
        return np.array([theta[0], math.exp(theta[1])])

    def _fit_samples(self, x: FloatArray) -> FloatArray:
        logs = np.log(x)
        return np.array([float(logs.mean()), float(logs.std())])


class _H2(HyperExponential):
    """:class:`HyperExponential` with the log-density the likelihood needs."""

    def logpdf(self, x: ArrayLike) -> FloatArray:
        xx = np.asarray(x, dtype=np.float64)
        a = math.log(self.p) - math.log(self.mean1) - xx / self.mean1
        b = math.log1p(-self.p) - math.log(self.mean2) - xx / self.mean2
        return np.asarray(np.logaddexp(a, b))


class HyperExponentialServiceTime(FittedServiceTime):
    """Two-phase hyperexponential: ``Exp(mean1)`` with probability ``p``, else ``Exp(mean2)``.

    From samples by EM (at most ``max_iter`` iterations, stopping when the log-likelihood gains
    less than ``tol`` relative); from buckets by direct likelihood maximisation.  Phases are
    ordered ``mean1 <= mean2``.
    """

    family: ClassVar[str] = "hyperexponential"
    param_names: ClassVar[tuple[str, ...]] = ("p", "mean1", "mean2")
    max_iter: ClassVar[int] = 5000
    tol: ClassVar[float] = 1e-12

    def _dist(self, params: FloatArray) -> Any:
        p, m1, m2 = (float(v) for v in params)
        if m1 > m2:
            p, m1, m2 = 1.0 - p, m2, m1
        return _H2(p, m1, m2)

    def _start(self, mean: float, scv: float) -> FloatArray:
        c2 = max(scv, 1.05)
        p = 0.5 * (1 + math.sqrt((c2 - 1) / (c2 + 1)))
        return np.array([p, mean / (2 * p), mean / (2 * (1 - p))])

    def _to_unconstrained(self, params: FloatArray) -> FloatArray:
        p = min(max(float(params[0]), 1e-12), 1 - 1e-12)
        return np.array([math.log(p / (1 - p)), math.log(params[1]), math.log(params[2])])

    def _from_unconstrained(self, theta: FloatArray) -> FloatArray:
        return np.array([float(special.expit(theta[0])), math.exp(theta[1]), math.exp(theta[2])])

    def _fit_samples(self, x: FloatArray) -> FloatArray:
        mean = float(x.mean())
        p, m1, m2 = self._start(mean, float(x.var()) / mean**2)
        previous = -math.inf
        for _ in range(self.max_iter):
            a = math.log(p) - math.log(m1) - x / m1
            b = math.log1p(-p) - math.log(m2) - x / m2
            total = np.logaddexp(a, b)
            loglik = float(total.sum())
            r1 = np.exp(a - total)
            s1 = float(r1.sum())
            s2 = x.size - s1
            if s1 <= 0 or s2 <= 0:
                break
            p = min(max(s1 / x.size, 1e-12), 1 - 1e-12)
            m1 = float(r1 @ x) / s1
            m2 = (float(x.sum()) - float(r1 @ x)) / s2
            if loglik - previous <= self.tol * abs(loglik):
                break
            previous = loglik
        if m1 > m2:
            p, m1, m2 = 1.0 - p, m2, m1
        return np.array([p, m1, m2])


class EmpiricalServiceTime(FittedServiceTime):
    """The empirical distribution: a piecewise-uniform histogram of the data (no parameters).

    From samples: ``bins`` equal-probability bins between the smallest and largest sample
    (``scipy.stats.rv_histogram``); its mean and SCV are those of the histogram, within a bin
    width of the samples'.  From buckets: the bucket counts themselves, uniform inside each
    bucket; observations in the ``+Inf`` bucket are placed in ``[le_max, 2 le_max]`` - an
    assumption, since the histogram says nothing about how far they go.  No likelihood or AIC.
    """

    family: ClassVar[str] = "empirical"
    param_names: ClassVar[tuple[str, ...]] = ()

    def __init__(self, bins: int = 200) -> None:
        self.bins = bins

    def fit(self, samples: ArrayLike) -> Self:
        x = _check_samples(samples)
        edges = np.unique(np.quantile(x, np.linspace(0.0, 1.0, self.bins + 1)))
        counts, _ = np.histogram(x, bins=edges)
        dist = stats.rv_histogram((counts, edges), density=False)
        ks = stats.kstest(x, dist.cdf)
        self._set(dist, float(x.size), "samples")
        self.gof_ = {"ks_statistic": float(ks.statistic), "ks_pvalue": float(ks.pvalue)}
        return self

    def fit_buckets(self, le: ArrayLike, counts: ArrayLike) -> Self:
        bounds, per = _check_buckets(le, counts)
        if np.isinf(bounds[-1]):
            top = bounds[-2] if bounds.size > 1 else 1.0
            bounds = np.concatenate([bounds[:-1], [2 * top]])
        edges = np.concatenate([[0.0], bounds])
        dist = stats.rv_histogram((per, edges), density=False)
        self._set(dist, float(per.sum()), "buckets")
        self.gof_ = {}
        return self

    def _set(self, dist: Any, n: float, source: str) -> None:
        self.params_ = {}
        self.distribution_ = dist
        self.mean_ = float(dist.mean())
        self.scv_ = float(dist.var()) / self.mean_**2
        self.log_likelihood_ = math.nan
        self.aic_ = math.nan
        self.n_ = n
        self.source_ = source


#: Family name -> class.
FAMILIES: dict[str, type[FittedServiceTime]] = {
    "exponential": ExponentialServiceTime,
    "gamma": GammaServiceTime,
    "lognormal": LognormalServiceTime,
    "hyperexponential": HyperExponentialServiceTime,
    "empirical": EmpiricalServiceTime,
}


def _family(name: str) -> FittedServiceTime:
    if name not in FAMILIES:
        raise ParameterError(f"family must be one of {sorted(FAMILIES)}, got {name!r}")
    return FAMILIES[name]()


def fit_service_time(samples: ArrayLike, family: str = "gamma") -> FittedServiceTime:
    """Fit one family (see :data:`FAMILIES`) to latency samples in seconds."""
    return _family(family).fit(samples)


def fit_service_time_buckets(le: ArrayLike, counts: ArrayLike, family: str = "gamma") -> FittedServiceTime:
    """Fit one family to cumulative histogram buckets (``le`` in seconds, ``+Inf`` allowed)."""
    return _family(family).fit_buckets(le, counts)


def compare_service_times(
    samples: ArrayLike | None = None,
    *,
    le: ArrayLike | None = None,
    counts: ArrayLike | None = None,
    families: Sequence[str] = ("exponential", "gamma", "lognormal", "hyperexponential"),
) -> tuple[pd.DataFrame, dict[str, FittedServiceTime]]:
    """Fit several families to the same data; a table sorted by AIC (best first) and the fits.

    Give either ``samples`` or ``le`` and ``counts``.
    """
    if (samples is None) == (le is None or counts is None):
        raise ParameterError("give either samples, or le and counts (bucket bounds and cumulative counts)")
    fits: dict[str, FittedServiceTime] = {}
    for name in families:
        model = _family(name)
        fits[name] = model.fit(samples) if samples is not None else model.fit_buckets(le, counts)  # type: ignore[arg-type]
    table = pd.DataFrame(
        [
            {
                "family": f.family,
                "source": f.source_,
                "n": f.n_,
                "mean": f.mean_,
                "scv": f.scv_,
                "log_likelihood": f.log_likelihood_,
                "aic": f.aic_,
                **f.gof_,
            }
            for f in fits.values()
        ]
    )
    table = table.sort_values("aic", na_position="last").reset_index(drop=True)
    return table, fits
