"""M/G/1 and G/G/c: exact means where they exist, and the stated approximations elsewhere."""

from __future__ import annotations

import math
import warnings
from typing import Any

import mpmath as mp
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import integrate, stats

from capplan import ParameterError
from capplan.distributions import gamma, hyperexponential, lognormal
from capplan.queueing import MG1, GGc, MMc
from capplan.queueing._grid import grid_wait
from capplan.queueing.phasetype import two_moment_parts
from capplan.queueing.service import DETERMINISTIC_SCV, DistributionService, _gamma_tail_integral
from capplan.sim import simulate_queue


def test_md1_textbook_mean() -> None:
    # M/D/1 (Kleinrock vol. 1, eq. 5.76 with C_b^2 = 0): W_q = rho / (2 mu (1 - rho)).
    rho, mu = 0.5, 1.0
    assert MG1(rho * mu, mu, 0.0).mean_wait == pytest.approx(rho / (2 * mu * (1 - rho)), rel=1e-14)


def test_pollaczek_khinchine_mean() -> None:
    # Kleinrock vol. 1, eq. (5.76): W = rho (1 + C_b^2) / (2 (1 - rho)) E[S].
    lam, mu, cs2 = 0.7, 1.25, 3.0
    rho = lam / mu
    assert MG1(lam, mu, cs2).mean_wait == pytest.approx(rho * (1 + cs2) / (2 * (1 - rho)) / mu, rel=1e-14)


@pytest.mark.parametrize("rho", [0.1, 0.5, 0.8, 0.97])
def test_mg1_with_exponential_service_is_mm1(rho: float) -> None:
    g, m = MG1(rho, 1.0, 1.0), MMc(rho, 1.0, 1)
    assert g.mean_wait == pytest.approx(m.mean_wait, rel=1e-13)
    assert g.prob_wait == pytest.approx(m.prob_wait, rel=1e-13)
    p = np.array([0.5, 0.9, 0.99, 0.999])
    # At p = 1 - rho the two round to either side of the atom: compare with an absolute floor.
    np.testing.assert_allclose(g.wait_quantile(p), m.wait_quantile(p), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(g.response_quantile(p), m.response_quantile(p), rtol=1e-10)


@settings(max_examples=50, deadline=None)
@given(rho=st.floats(0.01, 0.99), cs2=st.floats(0.0, 10.0), mu=st.floats(0.1, 10.0))
def test_ggc_single_server_poisson_is_pk_mean(rho: float, cs2: float, mu: float) -> None:
    # Exact at every service SCV: the matrix-geometric PH/PH/1 (to ~1e-12) from SCV 1/2 up, the
    # lattice GI/D/1 (to ~1e-5 after Richardson) at 0, and between them the interpolation, which is
    # linear in the SCV like the Pollaczek-Khinchine mean itself.
    assert GGc(rho * mu, mu, 1, 1.0, cs2).mean_wait == pytest.approx(
        MG1(rho * mu, mu, cs2).mean_wait, rel=1e-4
    )


@settings(max_examples=50, deadline=None)
@given(rho=st.floats(0.01, 0.99), c=st.integers(1, 100))
def test_ggc_with_unit_scvs_is_mmc(rho: float, c: int) -> None:
    # PH/M/c by level reduction over c levels against the closed-form Erlang C.
    g, m = GGc(rho * c, 1.0, c), MMc(rho * c, 1.0, c)
    assert g.mean_wait == pytest.approx(m.mean_wait, rel=1e-10)
    assert g.response_quantile(0.99) == pytest.approx(m.response_quantile(0.99), rel=1e-9)


def test_heavy_traffic_limit_is_allen_cunneen() -> None:
    # Köllerström (1974), "Heavy traffic theory for queues with several servers. I", J. Appl. Prob.
    # 11; Allen (1990) eq. (6.33): W_q ~ C(c, a) / (c mu - lambda) * (ca2 + cs2) / 2 as rho -> 1.
    for rho, tol in ((0.999, 0.01), (0.9999, 1e-3)):
        m, g = MMc(rho * 10, 1.0, 10), GGc(rho * 10, 1.0, 10, 0.5, 2.0)
        assert g.mean_wait == pytest.approx(m.mean_wait * 1.25, rel=tol)
    assert GGc(8.0, 1.0, 10, 0.5, 2.0).method == "PH/PH/c matrix-geometric (exact for the phase-type fits)"


@pytest.mark.parametrize("c", [2, 4, 64])
def test_light_traffic_limit_for_deterministic_service(c: int) -> None:
    # In light traffic an arrival that finds all c busy waits for the first of c residual service
    # times; for deterministic service those are uniform on [0, D], so E[min] = D/(c + 1) against
    # D/c for exponential service: the conditional mean wait tends to c/(c + 1) of M/M/c's.
    rho = 1e-3
    m, g = MMc(rho * c, 1.0, c), GGc(rho * c, 1.0, c, 1.0, 0.0)
    ratio = (g.mean_wait / g.prob_wait) / (m.mean_wait / m.prob_wait)
    assert ratio == pytest.approx(c / (c + 1), rel=0.02)


class _PhaseTypeFit:
    """Density of the two-moment phase-type fit, from its gamma components (scipy.stats.gamma)."""

    def __init__(self, mean: float, scv: float) -> None:
        w1, k1, r1, w2, k2, r2 = (float(a) for a in two_moment_parts(mean, scv))
        self.parts = [(w, stats.gamma(a=k, scale=1 / r)) for w, k, r in ((w1, k1, r1), (w2, k2, r2)) if w > 0]

    def pdf(self, x: float) -> float:
        return float(sum(w * g.pdf(x) for w, g in self.parts))


def _response_cdf_by_quadrature(model: MG1 | GGc, t: float, dist: Any = None) -> float:
    """P(W + S <= t) = E[F_W(t - S)], integrating the model's own wait CDF against the service
    density (the phase-type two-moment fit, a point mass, or ``dist``) — independent of the closed
    forms."""
    mean = float(model.mean_service)
    cs2 = float(model.service_scv)
    if dist is None and cs2 < DETERMINISTIC_SCV:
        return float(model.wait_cdf(t - mean)) if t >= mean else 0.0
    s = dist if dist is not None else _PhaseTypeFit(mean, cs2)
    # The wait CDF has a kink where a shifted tail component starts: tell quad where.
    kinks = [t - float(v) for v in np.ravel(model._wait_law.shift) if 0 < t - float(v) < t]
    with warnings.catch_warnings():
        # A gridded wait CDF is piecewise linear: quad may warn about round-off; the assertion decides.
        warnings.simplefilter("ignore", integrate.IntegrationWarning)
        value, _ = integrate.quad(
            lambda x: s.pdf(x) * model.wait_cdf(t - x), 0, t, epsabs=1e-13, limit=400, points=kinks or None
        )
    return float(value)


@pytest.mark.parametrize(
    "model",
    [
        MG1(0.8, 1.0, 0.25),  # Erlang-4 service, delta > 0
        MG1(0.8, 1.0, 0.3),  # a mixture of Erlang-3 and Erlang-4
        MG1(0.8, 1.0, 4.0),  # balanced H2
        MG1(0.3, 1.0, 0.05),  # shape 20, fast wait decay (delta < 0)
        MG1(0.9, 2.0, 0.0),  # deterministic
        GGc(45.0, 1.0, 50, 1.0, 0.5),
        GGc(9.5, 1.0, 10, 2.0, 3.0),
    ],
    ids=repr,
)
@pytest.mark.parametrize("t", [0.05, 0.7, 2.0, 9.0, 30.0])
def test_phase_type_response_cdf_closed_form_matches_quadrature(model: MG1 | GGc, t: float) -> None:
    assert model.response_cdf(t) == pytest.approx(_response_cdf_by_quadrature(model, t), abs=1e-9)


@pytest.mark.parametrize(
    "model",
    [MG1(0.8, 1.0, 0.25), MG1(0.8, 1.0, 4.0), MG1(0.5, 1.0, 0.0), GGc(9.0, 1.0, 10, 1.5, 2.5)],
    ids=repr,
)
def test_means_implied_by_cdfs(model: MG1 | GGc) -> None:
    wait_mean, _ = integrate.quad(lambda t: 1 - model.wait_cdf(t), 0, np.inf, epsabs=1e-12)
    resp_mean, _ = integrate.quad(lambda t: 1 - model.response_cdf(t), 0, np.inf, epsabs=1e-12, limit=200)
    assert wait_mean == pytest.approx(model.mean_wait, rel=1e-7)
    assert resp_mean == pytest.approx(model.mean_response, rel=1e-6)


@settings(max_examples=40, deadline=None)
@given(rho=st.floats(0.05, 0.98), cs2=st.floats(0.0, 8.0), p=st.floats(0.05, 0.999))
def test_response_quantile_inverts_cdf(rho: float, cs2: float, p: float) -> None:
    m = MG1(rho, 1.0, cs2)
    q = m.response_quantile(p)
    cdf = m.response_cdf(q)
    # The deterministic case has an atom: the CDF jumps past p at the quantile.
    assert cdf == pytest.approx(p, abs=1e-8) or (cs2 < DETERMINISTIC_SCV and cdf >= p)


def test_unstable_approximations() -> None:
    for m in (MG1(1.0, 1.0, 2.0), GGc(12.0, 1.0, 10, 1.0, 0.5)):
        assert m.prob_wait == 1.0
        assert math.isinf(m.mean_wait)
        assert math.isinf(m.response_quantile(0.99))


def test_deterministic_arrivals_and_service_never_wait() -> None:
    g = GGc(9.0, 1.0, 10, 0.0, 0.0)
    assert g.mean_wait == 0.0
    assert g.response_quantile(0.99) == pytest.approx(1.0)


@pytest.mark.parametrize(
    ("cls", "kwargs", "name"),
    [
        (MG1, {"arrival_rate": 1.0, "service_rate": 2.0, "service_scv": -1.0}, "service_scv"),
        (GGc, {"arrival_rate": 1.0, "service_rate": 2.0, "servers": 3, "arrival_scv": -0.5}, "arrival_scv"),
        (GGc, {"arrival_rate": 1.0, "service_rate": 2.0, "servers": 0}, "servers"),
    ],
)
def test_invalid_parameters(cls: type, kwargs: dict[str, float], name: str) -> None:
    with pytest.raises(ParameterError, match=name):
        cls(**kwargs)


# -- service distributions given by shape -----------------------------------------------------


@pytest.mark.parametrize("t", [0.05, 0.5, 2.0, 8.0, 40.0])
@pytest.mark.parametrize("theta", [0.05, 0.7, 3.0, 60.0])
@pytest.mark.parametrize(("k", "scale"), [(0.25, 4.0), (1.0, 1.0), (4.0, 0.25), (30.0, 0.02)])
def test_quadrature_tail_integral_matches_gamma_closed_form(
    t: float, theta: float, k: float, scale: float
) -> None:
    closed = _gamma_tail_integral(np.array([t]), np.array([k]), np.array([scale]), np.array([theta]))
    quad = DistributionService(stats.gamma(a=k, scale=scale))._quadrature(np.array([t]), np.array([theta]))
    # Absolute 1e-10: response-time quantiles up to p99.99 need I(t) to far better than 1e-4.
    assert quad[0] == pytest.approx(closed[0], rel=1e-7, abs=1e-10)


def test_hyperexponential_tail_integral_matches_quadrature() -> None:
    h = hyperexponential(1.0, 4.0)
    t = np.array([0.1, 1.0, 5.0, 20.0])
    theta = np.array([0.3, 0.3, 2.0, 0.05])
    shape = DistributionService(h)
    np.testing.assert_allclose(
        shape.tail_integral(t, theta), shape._quadrature(t, theta), rtol=1e-8, atol=1e-14
    )


def test_exponential_distribution_gives_mm1() -> None:
    g, m = MG1(0.8, service=stats.expon(scale=1.0)), MMc(0.8, 1.0, 1)
    p = np.array([0.5, 0.95, 0.99, 0.999])
    np.testing.assert_allclose(g.response_quantile(p), m.response_quantile(p), rtol=1e-8)
    assert g.mean_wait == pytest.approx(m.mean_wait, rel=1e-12)


@pytest.mark.parametrize(
    "model",
    [
        GGc(7.0, None, 8, 1.0, service=stats.lognorm(1.2686, scale=math.exp(-0.8047))),
        MG1(0.6, service=hyperexponential(1.0, 4.0)),
        GGc(3.0, None, 4, 0.5, service=stats.weibull_min(0.7, scale=0.8)),
    ],
    ids=["lognormal", "H2", "weibull"],
)
@pytest.mark.parametrize("t", [0.2, 1.5, 6.0, 25.0])
def test_distribution_response_cdf_matches_direct_convolution(model: MG1 | GGc, t: float) -> None:
    expected = _response_cdf_by_quadrature(model, t, model.service)
    # Heavy tails (lognormal, Weibull) use the gridded wait: Simpson's rule per cell, ~1e-7.
    tol = 1e-6 if model._grid is not None else 1e-8
    assert model.response_cdf(t) == pytest.approx(expected, abs=tol)


def test_lognormal_tail_is_heavier_than_the_phase_type_fit() -> None:
    # Same mean (1 s) and SCV (4) but the lognormal's p99.99 is far above the H2 fit's: the shape
    # matters once the wait is small, which is why a measured distribution can be passed in.
    sigma = math.sqrt(math.log(5.0))
    dist = stats.lognorm(sigma, scale=math.exp(-(sigma**2) / 2))
    logn = GGc(1.0, None, 16, service=dist)
    fit = GGc(1.0, 1.0, 16, 1.0, 4.0)
    assert logn.service_scv == pytest.approx(4.0)
    # At utilization 1/16 nobody waits: p99.99 of the response is that of the service time.
    assert logn.response_quantile(0.9999) == pytest.approx(dist.ppf(0.9999), rel=1e-6)
    h2 = hyperexponential(1.0, 4.0)
    assert fit.response_quantile(0.9999) == pytest.approx(float(h2.ppf(0.9999)), rel=1e-6)
    assert logn.response_quantile(0.9999) > 1.25 * fit.response_quantile(0.9999)


def test_service_and_rate_together_are_rejected() -> None:
    with pytest.raises(ParameterError, match="not both"):
        MG1(0.5, 1.0, service=stats.expon())
    with pytest.raises(ParameterError, match="negative support"):
        MG1(0.5, service=stats.norm(1.0, 0.1))


def _md1_wait_cdf(t: float, rho: float) -> float:
    """Exact M/D/1 waiting-time CDF, service time 1 (Erlang 1909; Gross, Shortle, Thompson & Harris,
    *Fundamentals of Queueing Theory* 4th ed., sec. 6.1.7): (1 - rho) sum_{k<=t} [rho(k - t)]^k/k!
    e^{-rho(k - t)}, evaluated at 60 digits because the terms alternate in sign."""
    with mp.workdps(60):
        lam, tt = mp.mpf(rho), mp.mpf(t)
        total = mp.fsum(
            (lam * (k - tt)) ** k / mp.factorial(k) * mp.exp(-lam * (k - tt))
            for k in range(int(mp.floor(tt)) + 1)
        )
        return float((1 - lam) * total)


@pytest.mark.parametrize("rho", [0.3, 0.5, 0.8, 0.95])
def test_md1_tail_matches_erlang_exact_distribution(rho: float) -> None:
    # The exact decay rate (Cramér-Lundberg) with the P-K mean puts M/D/1 response-time p95-p99.9
    # within 1.5% of the exact distribution (the exponential tail with the P-K mean was 18% off at rho 0.3).
    m = MG1(rho, 1.0, 0.0)
    assert m.mean_wait == pytest.approx(rho / (2 * (1 - rho)), rel=1e-12)
    for p in (0.95, 0.99, 0.999):
        if p <= 1 - rho:
            continue
        q = float(m.response_quantile(p))
        exact_cdf_at_q = _md1_wait_cdf(q - 1.0, rho)
        lo, hi = q / 1.015 - 1.0, q * 1.015 - 1.0
        assert _md1_wait_cdf(lo, rho) <= p <= _md1_wait_cdf(hi, rho), (p, q, exact_cdf_at_q)


# -- heavy-tailed service: waits on a grid ------------------------------------------------------


@pytest.mark.parametrize("rho", [0.3, 0.8, 0.95])
def test_grid_wait_reproduces_mm1(rho: float) -> None:
    # The FFT of the Pollaczek-Khinchine geometric sum, fed exponential service, must give M/M/1.
    grid = grid_wait(rho, rho, 1.0, 1.0, DistributionService(stats.expon()))
    exact = MMc(rho, 1.0, 1)
    for p in (0.9, 0.99, 0.999):
        assert float(grid.quantile(np.asarray(p))) == pytest.approx(exact.wait_quantile(p), rel=2e-3)
    assert float((grid.points * grid.pmf).sum()) == pytest.approx(exact.mean_wait, rel=1e-3)
    assert grid.response_quantile(0.99, stats.expon()) == pytest.approx(
        exact.response_quantile(0.99), rel=2e-3
    )


def _lognormal(scv: float) -> Any:
    sigma = math.sqrt(math.log(1 + scv))
    return stats.lognorm(sigma, scale=math.exp(-(sigma**2) / 2))


@pytest.mark.parametrize(("rho", "seed"), [(0.3, 21), (0.7, 22)])
def test_lognormal_mg1_agrees_with_simulation(rho: float, seed: int) -> None:
    # Lognormal service has no moment-generating function: the wait comes from the exact P-K
    # geometric sum on a grid, so the model must sit inside the simulator's 99% intervals.
    dist = _lognormal(4.0)
    model = MG1(rho, service=dist)
    assert model._grid is not None
    summary = simulate_queue(rho, dist, 1, 4_000_000, seed=seed, keep="stats").summary(confidence=0.99)
    for metric, value in (
        ("response_p95", model.response_quantile(0.95)),
        ("response_p99", model.response_quantile(0.99)),
        ("wait_mean", model.mean_wait),
    ):
        row = summary.loc[metric]
        assert row["ci_low"] <= value <= row["ci_high"], (metric, value, row.to_dict())


def test_grid_model_cdf_and_quantile_agree() -> None:
    model = GGc([1.6, 6.4], None, [2, 8], service=_lognormal(1.0))
    q = model.response_quantile(0.99)
    np.testing.assert_allclose(model.response_cdf(q), 0.99, atol=1e-6)
    w = model.wait_quantile(0.995)
    np.testing.assert_allclose(model.wait_cdf(w), 0.995, atol=1e-4)
    assert math.isinf(GGc(3.0, None, 2, service=_lognormal(1.0)).response_quantile(0.99))


@pytest.mark.parametrize("maker", [lognormal, gamma])
@pytest.mark.parametrize(("mean", "scv"), [(0.04, 0.25), (1.0, 1.0), (3.0, 4.0)])
def test_distributions_by_mean_and_scv(maker: Any, mean: float, scv: float) -> None:
    d = maker(mean, scv)
    assert d.mean() == pytest.approx(mean, rel=1e-12)
    assert d.var() / d.mean() ** 2 == pytest.approx(scv, rel=1e-12)
    with pytest.raises(ParameterError, match="scv"):
        maker(mean, 0.0)


@pytest.mark.parametrize("rho", [0.95, 0.99])
def test_grid_mean_matches_pk_at_high_load(rho: float) -> None:
    # Regression: a quadrature of the survival function on the coarse grid gave residual masses
    # summing past 1 for a density singular at 0 (Weibull shape 0.5), pushing rho * sum to the
    # transform's pole: at rho = 0.99 the grid's mean was 5 against P-K 297.
    model = MG1(rho, service=stats.weibull_min(0.5, scale=0.5))
    grid = model._grid.item()
    assert float((grid.points * grid.pmf).sum()) == pytest.approx(model.mean_wait, rel=0.01)
