"""USL and Amdahl fits.

Reference values are from the R package ``usl`` (S. Moeding, version 2.x, CRAN; repository
smoeding/usl), whose saved test outputs print them for its two published example data sets:

* ``specsdm91`` (``man/specsdm91.Rd``: SPEC SDM91 on a Sun SPARCcenter 2000, from Gunther,
  *Guerrilla Capacity Planning*, 2007): ``tests/summary.Rout.save`` (coefficients, standard errors,
  residual standard error 82.85 on 4 df, R^2 0.9896), ``tests/fitted.Rout.save``,
  ``tests/efficiency.Rout.save`` and ``tests/peak-scalability.Rout.save`` (97, to 2 digits).
* ``raytracer`` (``man/raytracer.Rd``: BRL-CAD ray tracer on an SGI Origin 2000, from Gunther
  2007, Table 5.1): ``tests/confint.Rout.save`` (alpha 0.0578, beta 0, gamma 21.8488 and their
  intervals).  ``usl``'s ``confint`` forms ``estimate +- se * qt(level, n - 1)`` (``R/confint.R``),
  so its intervals are reproduced from our standard errors with that quantile; our own
  :meth:`confidence_intervals` is the two-sided ``t_{n-p}`` interval.
* ``tests/coef.Rout.save``: a six-point normalised data set whose fit is alpha = beta = 0.02,
  gamma = 1 (to 3 significant digits).
"""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats

from capplan import ParameterError
from capplan.scaling import USL, FitWarning, fit_amdahl, fit_usl, quantile_ratio

SPEC_LOAD = [1, 18, 36, 72, 108, 144, 216]
SPEC_TPUT = [64.9, 995.9, 1652.4, 1853.2, 1828.9, 1775.0, 1702.2]
RAY_CPUS = [1, 4, 8, 12, 16, 20, 24, 28, 32, 48, 64]
RAY_TPUT = [20, 78, 130, 170, 190, 200, 210, 230, 260, 280, 310]


def test_specsdm91_matches_r_usl_summary() -> None:
    u = fit_usl(SPEC_LOAD, SPEC_TPUT)
    # summary.Rout.save: alpha 2.773e-02 (9.122e-03), beta 1.044e-04 (1.988e-05), gamma 9.000e+01 (1.421e+01)
    assert u.alpha == pytest.approx(2.773e-02, rel=5e-4)
    assert u.beta == pytest.approx(1.044e-04, rel=5e-4)
    assert u.gamma == pytest.approx(90.00, rel=5e-4)
    se = u.standard_errors_
    assert se["alpha"] == pytest.approx(9.122e-03, rel=5e-4)
    assert se["beta"] == pytest.approx(1.988e-05, rel=5e-4)
    assert se["gamma"] == pytest.approx(14.21, rel=5e-4)
    assert u.sigma_ == pytest.approx(82.85, abs=0.005)
    assert u.dof_ == 4
    assert u.r_squared_ == pytest.approx(0.9896, abs=5e-5)
    tv = u.summary()["t_value"]
    assert tv.to_numpy() == pytest.approx([3.040, 5.251, 6.332], abs=5e-4)
    assert u.at_bound_ == ()


def test_specsdm91_fitted_efficiency_and_peak_match_r() -> None:
    u = fit_usl(SPEC_LOAD, SPEC_TPUT)
    # fitted.Rout.save (digits = 3)
    assert np.round(u(SPEC_LOAD)) == pytest.approx([90, 1078, 1541, 1850, 1879, 1822, 1646])
    # efficiency.Rout.save: X(N) / (gamma N)
    eff = np.asarray(SPEC_TPUT) / (u.gamma * np.asarray(SPEC_LOAD))
    assert eff == pytest.approx([0.7211, 0.6148, 0.5100, 0.2860, 0.1882, 0.1370, 0.0876], abs=6e-5)
    # peak-scalability.Rout.save: signif(peak.scalability(u), 2) == 97
    assert float(f"{u.peak_concurrency:.2g}") == 97
    assert u.peak_concurrency == pytest.approx(math.sqrt((1 - u.alpha) / u.beta))
    assert u.max_throughput == pytest.approx(float(u(u.peak_concurrency)))
    # the maximum is a maximum
    grid = np.linspace(1, 400, 4000)
    assert u.max_throughput >= float(np.max(u(grid))) - 1e-9


def test_raytracer_matches_r_usl_confint() -> None:
    with pytest.warns(FitWarning, match="beta"):
        u = fit_usl(RAY_CPUS, RAY_TPUT)
    assert u.alpha == pytest.approx(0.0578, abs=5e-5)
    assert u.beta == pytest.approx(0.0, abs=1e-12)
    assert u.gamma == pytest.approx(21.8488, abs=5e-5)
    assert u.at_bound_ == ("beta",)
    assert math.isinf(u.peak_concurrency)
    assert u.max_throughput == pytest.approx(u.gamma / u.alpha)
    # R usl: estimate +- se * qt(0.95, n - 1)
    q = stats.t.ppf(0.95, len(RAY_CPUS) - 1)
    half_alpha, half_beta, half_gamma = (float(s) * q for s in u.standard_errors_.to_numpy())
    assert u.alpha - half_alpha == pytest.approx(0.033677, abs=5e-6)
    assert u.alpha + half_alpha == pytest.approx(0.081864, abs=5e-6)
    assert half_beta == pytest.approx(0.000214, abs=5e-7)
    assert u.gamma - half_gamma == pytest.approx(17.868380, abs=5e-6)
    assert u.gamma + half_gamma == pytest.approx(25.829306, abs=5e-6)


def test_r_usl_coef_example() -> None:
    # coef.Rout.save: six normalised points, alpha = beta = 0.02, gamma = 1.00
    u = fit_usl([1, 2, 4, 6, 8, 10], [1, 1.8868, 3.0769, 3.5294, 3.5398, 3.3557])
    assert float(f"{u.alpha:.3g}") == 0.02
    assert float(f"{u.beta:.3g}") == 0.02
    assert float(f"{u.gamma:.3g}") == 1.0


def test_intervals_are_two_sided_t() -> None:
    u = fit_usl(SPEC_LOAD, SPEC_TPUT)
    ci = u.confidence_intervals(0.9)
    t = stats.t.ppf(0.95, 4)
    se = u.standard_errors_.to_numpy()
    assert float(ci["upper"].to_numpy()[1]) - u.beta == pytest.approx(t * float(se[1]))
    band = u.predict([1.0, 50.0], level=0.95)
    # at N = 1 the law is gamma, so its band is gamma's interval
    upper = band["upper"].to_numpy()
    fit = band["throughput"].to_numpy()
    assert float(upper[0] - fit[0]) == pytest.approx(stats.t.ppf(0.975, 4) * float(se[2]), rel=1e-9)
    assert (band["lower"] < band["throughput"]).all()
    assert (band["throughput"] < band["upper"]).all()
    assert "lower" not in u.predict([3.0], level=None).columns


def test_amdahl_recovers_exact_law_and_is_usl_with_beta_zero() -> None:
    n = np.array([1, 2, 4, 8, 16, 32, 64], dtype=float)
    x = 50 * n / (1 + 0.05 * (n - 1))
    a = fit_amdahl(n, x)
    assert a.alpha == pytest.approx(0.05, rel=1e-9)
    assert a.gamma == pytest.approx(50, rel=1e-9)
    assert a.beta == 0.0
    assert math.isinf(a.peak_concurrency)
    assert a.max_throughput == pytest.approx(1000.0, rel=1e-9)


@settings(max_examples=25, deadline=None)
@given(
    alpha=st.floats(0.001, 0.3),
    beta=st.floats(1e-5, 1e-2),
    gamma=st.floats(1.0, 1e4),
)
def test_usl_recovers_noise_free_parameters(alpha: float, beta: float, gamma: float) -> None:
    n = np.array([1, 2, 4, 8, 16, 32, 64, 128], dtype=float)
    x = gamma * n / (1 + alpha * (n - 1) + beta * n * (n - 1))
    u = fit_usl(n, x)
    assert u.alpha == pytest.approx(alpha, rel=1e-5, abs=1e-8)
    assert u.beta == pytest.approx(beta, rel=1e-5)
    assert u.gamma == pytest.approx(gamma, rel=1e-6)


def test_littles_law_latency_and_knee() -> None:
    u = fit_usl(SPEC_LOAD, SPEC_TPUT)
    n = np.array([1.0, 10.0, 50.0])
    assert u.latency(n) == pytest.approx(n / u(n))
    assert u.latency(10.0, think_time=0.01) == pytest.approx(10 / float(u(10.0)) - 0.01)
    target = float(u.latency(40.0))
    knee = u.latency_knee(target)
    assert knee.concurrency == pytest.approx(40.0, rel=1e-9)
    assert knee.max_concurrency == 40
    assert float(u.latency(knee.max_concurrency)) <= target
    assert float(u.latency(knee.max_concurrency + 1)) > target
    assert not knee.past_peak
    # a p95 target with p95 = 2 x mean breaks where the mean reaches target / 2
    k2 = u.latency_knee(2 * target, quantile_ratio=2.0)
    assert k2.concurrency == pytest.approx(40.0, rel=1e-9)
    assert "approximate" in k2.method
    # below one user's latency nothing meets the target
    assert u.latency_knee(float(u.latency(1.0)) / 2).max_concurrency == 0
    assert u.latency_knee(float(u.latency(200.0))).past_peak
    # a law that never saturates never breaks the target
    with pytest.warns(FitWarning, match="alpha"):
        flat = fit_amdahl([1, 2, 4, 8, 16, 32], [10, 20, 40, 80, 160, 320])
    assert flat.alpha == 0.0
    never = flat.latency_knee(0.2)
    assert math.isinf(never.concurrency)
    assert math.isinf(never.max_concurrency)


def test_quantile_ratio() -> None:
    assert quantile_ratio([0.2, 0.3, 0.5], [0.1, 0.1, 0.1]) == pytest.approx(3.0)
    with pytest.raises(ParameterError, match="same length"):
        quantile_ratio([0.2], [0.1, 0.1])


def test_bad_input() -> None:
    with pytest.raises(ParameterError, match="at least 3 points"):
        fit_usl([1, 2], [10, 19])
    with pytest.raises(ParameterError, match="same length"):
        fit_usl([1, 2, 3], [10, 19])
    with pytest.raises(ParameterError, match=r"throughput must be positive.*index 1"):
        fit_usl([1, 2, 3, 4], [10, -1, 25, 30])
    with pytest.raises(ParameterError, match="concurrency must not be NaN"):
        fit_usl([1, float("nan"), 3], [10, 19, 25])
    with pytest.raises(ParameterError, match="not been fitted"):
        USL().predict([1.0])
    with pytest.warns(FitWarning, match="only 4 points"):
        fit_usl([1, 2, 4, 8], [10, 18, 30, 40])


def test_no_warning_for_clean_fit() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        u = fit_usl(SPEC_LOAD, SPEC_TPUT)
    assert "USL(alpha=0.0277" in repr(u)
    assert repr(USL()) == "USL(unfitted)"


def test_plot_returns_axes() -> None:
    u = fit_usl(SPEC_LOAD, SPEC_TPUT)
    ax = u.plot()
    assert ax.get_xlabel() == "concurrency"
    assert len(ax.lines) == 2
