"""Service-time fitting.

References: the maximum-likelihood estimators of the exponential (mean = sample mean) and the
lognormal (mu, sigma^2 = mean and population variance of log x) are textbook closed forms
(Johnson, Kotz & Balakrishnan, *Continuous Univariate Distributions* vol. 1, 2nd ed., 1994,
secs. 19.4 and 14.5); the gamma MLE is checked against SciPy's independent implementation
(``scipy.stats.gamma.fit`` with ``floc=0``); the KS statistic against ``scipy.stats.kstest``.
Parameter recovery uses seeded samples from known distributions.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats

from capplan import ParameterError
from capplan.fitting import (
    compare_service_times,
    fit_service_time,
    fit_service_time_buckets,
)
from capplan.queueing import MG1

RNG_SEED = 20261128


def _rng() -> np.random.Generator:
    return np.random.default_rng(RNG_SEED)


def test_exponential_and_lognormal_closed_forms() -> None:
    x = _rng().lognormal(-4.0, 0.6, 5000)
    e = fit_service_time(x, "exponential")
    assert e.mean_ == pytest.approx(float(x.mean()), rel=1e-12)
    assert e.scv_ == pytest.approx(1.0)
    ln = fit_service_time(x, "lognormal")
    assert ln.params_["mu"] == pytest.approx(float(np.log(x).mean()), rel=1e-12)
    assert ln.params_["sigma"] == pytest.approx(float(np.log(x).std()), rel=1e-12)
    assert ln.log_likelihood_ == pytest.approx(
        float(np.sum(stats.lognorm.logpdf(x, ln.params_["sigma"], scale=math.exp(ln.params_["mu"]))))
    )
    ks = stats.kstest(x, ln.distribution_.cdf)
    assert ln.gof_["ks_statistic"] == pytest.approx(float(ks.statistic))
    assert ln.aic_ == pytest.approx(4 - 2 * ln.log_likelihood_)


def test_gamma_matches_scipy_fit() -> None:
    x = _rng().gamma(2.5, 0.004, 3000)
    g = fit_service_time(x, "gamma")
    shape, _, scale = stats.gamma.fit(x, floc=0)
    assert g.params_["shape"] == pytest.approx(shape, rel=1e-4)
    assert g.params_["scale"] == pytest.approx(scale, rel=1e-4)
    assert g.mean_ == pytest.approx(float(x.mean()), rel=1e-9)  # the gamma MLE keeps the mean


def test_hyperexponential_em_recovers_mixture() -> None:
    rng = _rng()
    n = 40_000
    first = rng.random(n) < 0.7
    x = np.where(first, rng.exponential(0.005, n), rng.exponential(0.05, n))
    h = fit_service_time(x, "hyperexponential")
    assert h.params_["p"] == pytest.approx(0.7, abs=0.02)
    assert h.params_["mean1"] == pytest.approx(0.005, rel=0.05)
    assert h.params_["mean2"] == pytest.approx(0.05, rel=0.03)
    # EM never does worse than its moment-matched starting point
    start = fit_service_time(x, "exponential")
    assert h.log_likelihood_ > start.log_likelihood_
    table, _ = compare_service_times(x)
    assert table["family"].iloc[0] == "hyperexponential"


def test_bucket_fit_recovers_gamma_and_chi_square() -> None:
    x = _rng().gamma(3.0, 0.005, 20_000)
    le = np.array([0.005, 0.01, 0.015, 0.02, 0.03, 0.05, 0.1, math.inf])
    counts = np.array([(x <= b).sum() for b in le], dtype=float)
    g = fit_service_time_buckets(le, counts, "gamma")
    assert g.params_["shape"] == pytest.approx(3.0, rel=0.05)
    assert g.mean_ == pytest.approx(0.015, rel=0.02)
    assert g.gof_["chi2_pvalue"] > 0.001
    e = fit_service_time_buckets(le, counts, "exponential")
    assert e.gof_["chi2_pvalue"] < 1e-10
    table, fits = compare_service_times(le=le, counts=counts)
    assert table["family"].iloc[0] == "gamma"
    assert set(fits) == {"exponential", "gamma", "lognormal", "hyperexponential"}


def test_empirical() -> None:
    x = _rng().gamma(2.0, 0.01, 10_000)
    emp = fit_service_time(x, "empirical")
    assert emp.mean_ == pytest.approx(float(x.mean()), rel=0.01)
    # piecewise uniform inside equal-probability bins: the widest (tail) bins move the SCV a little
    assert emp.scv_ == pytest.approx(float(x.var() / x.mean() ** 2), rel=0.1)
    assert math.isnan(emp.aic_)
    le = [0.01, 0.02, math.inf]
    eb = fit_service_time_buckets(le, [2, 6, 8], "empirical")
    # uniform in (0, 0.01], (0.01, 0.02], and the +Inf bucket placed in (0.02, 0.04]
    assert eb.mean_ == pytest.approx((2 * 0.005 + 4 * 0.015 + 2 * 0.03) / 8)


def test_hand_off_to_queueing() -> None:
    x = _rng().lognormal(-4.0, 0.8, 5000)
    fit = fit_service_time(x, "lognormal")
    inputs = fit.queue_inputs()
    assert inputs["service_rate"] == pytest.approx(1 / fit.mean_)
    rate = 0.6 * inputs["service_rate"]
    # the Pollaczek-Khinchine mean depends on mean and SCV only: both hand-offs agree
    by_moments = MG1(rate, inputs["service_rate"], inputs["service_scv"])
    by_distribution = MG1(rate, service=fit.distribution_)
    assert by_distribution.mean_wait == pytest.approx(by_moments.mean_wait, rel=1e-9)
    h = fit_service_time(x, "hyperexponential")
    assert MG1(rate, service=h.distribution_).mean_wait > 0


def test_bad_input() -> None:
    with pytest.raises(ParameterError, match="at least 3 latencies"):
        fit_service_time([0.1, 0.2])
    with pytest.raises(ParameterError, match=r"samples must be positive.*index 1"):
        fit_service_time([0.1, -0.2, 0.3])
    with pytest.raises(ParameterError, match="family must be one of"):
        fit_service_time([0.1, 0.2, 0.3], "weibull")
    with pytest.raises(ParameterError, match="cumulative"):
        fit_service_time_buckets([0.1, 0.2, math.inf], [5, 3, 9])
    with pytest.raises(ParameterError, match="give either samples"):
        compare_service_times()
    assert repr(fit_service_time([0.1, 0.2, 0.3], "exponential")).startswith(
        "ExponentialServiceTime(mean=0.2"
    )
