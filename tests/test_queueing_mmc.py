"""M/M/c: exact means and distributions.

References are computed independently of the library: the stationary distribution summed in
50-digit mpmath (p_n proportional to a^n/n! for n <= c and p_c rho^(n-c) above; Gross, Shortle,
Thompson & Harris, *Fundamentals of Queueing Theory* 4th ed., sec. 2.3), and the sojourn-time
distribution by numerical convolution (scipy.integrate.quad) of the waiting time with Exp(mu).
"""

from __future__ import annotations

import math

import mpmath as mp
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import integrate

from capplan import ParameterError
from capplan.queueing import MMc

mp.mp.dps = 50


def mmc_reference(lam: float, mu: float, c: int) -> dict[str, float]:
    """Erlang C, W_q, L (number in system) from the stationary distribution, at 50 digits."""
    a = mp.mpf(lam) / mu
    rho = a / c
    head = [a**n / mp.factorial(n) for n in range(c)]
    pc = a**c / mp.factorial(c)
    tail_mass = pc / (1 - rho)  # sum_{n >= c} a^c/c! rho^(n-c)
    norm = mp.fsum(head) + tail_mass
    prob_wait = tail_mass / norm
    lq = pc * rho / (1 - rho) ** 2 / norm  # sum_j j rho^j = rho/(1-rho)^2
    l_busy = (mp.fsum(n * h for n, h in enumerate(head)) + c * tail_mass) / norm
    return {
        "prob_wait": float(prob_wait),
        "mean_wait": float(lq / lam),
        "number_in_system": float(lq + l_busy),
    }


@pytest.mark.parametrize(
    ("lam", "mu", "c"),
    [(0.8, 1.0, 1), (1.0, 1.0, 2), (8.0, 1.0, 10), (95.0, 1.0, 100), (3.0, 0.5, 7), (49.9, 0.1, 500)],
)
def test_means_match_stationary_distribution(lam: float, mu: float, c: int) -> None:
    ref = mmc_reference(lam, mu, c)
    m = MMc(lam, mu, c)
    assert m.prob_wait == pytest.approx(ref["prob_wait"], rel=1e-11)
    assert m.mean_wait == pytest.approx(ref["mean_wait"], rel=1e-11)
    # Little's law against the distribution: L = lambda * T.
    assert m.mean_number_in_system == pytest.approx(ref["number_in_system"], rel=1e-11)


def test_mm1_textbook_values() -> None:
    # Kleinrock, Queueing Systems vol. 1, sec. 3.2: M/M/1 with rho = 0.8, mu = 1:
    # W_q = rho/(mu - lambda) = 4, T = 1/(mu - lambda) = 5, L_q = rho^2/(1 - rho) = 3.2, L = 4;
    # the sojourn time is Exp(mu - lambda), so its p99 is ln(100)/0.2.
    m = MMc(0.8, 1.0, 1)
    assert m.mean_wait == pytest.approx(4.0, rel=1e-13)
    assert m.mean_response == pytest.approx(5.0, rel=1e-13)
    assert m.mean_queue_length == pytest.approx(3.2, rel=1e-13)
    assert m.mean_number_in_system == pytest.approx(4.0, rel=1e-13)
    assert m.response_quantile(0.99) == pytest.approx(math.log(100) / 0.2, rel=1e-12)
    assert m.method == "exact"


def test_mm2_textbook_values() -> None:
    # M/M/2 with a = 1 (rho = 0.5): C(2, 1) = 1/3, W_q = C/(2 mu - lambda) = 1/3
    # (Gross et al. 4th ed., eq. 2.36 with c = 2).
    m = MMc(1.0, 1.0, 2)
    assert m.prob_wait == pytest.approx(1 / 3, rel=1e-13)
    assert m.mean_wait == pytest.approx(1 / 3, rel=1e-13)


def _response_cdf_by_quadrature(lam: float, mu: float, c: int, t: float) -> float:
    m = MMc(lam, mu, c)
    pw, theta = float(m.prob_wait), c * mu - lam
    conv, _ = integrate.quad(
        lambda w: theta * math.exp(-theta * w) * (1 - math.exp(-mu * (t - w))), 0, t, epsabs=1e-14
    )
    return float((1 - pw) * (1 - math.exp(-mu * t)) + pw * conv)


@pytest.mark.parametrize(
    ("lam", "mu", "c"),
    [(8.0, 1.0, 10), (1.0, 1.0, 2), (1.0 + 1e-9, 1.0, 2), (0.3, 1.0, 1), (60.0, 2.0, 40), (9.9, 1.0, 10)],
)
@pytest.mark.parametrize("t", [0.01, 0.5, 2.0, 7.0])
def test_response_cdf_matches_convolution(lam: float, mu: float, c: int, t: float) -> None:
    # (1.0, 1.0, 2) has theta = c mu - lambda = mu exactly: the hypoexponential degenerates to Erlang-2.
    got = MMc(lam, mu, c).response_cdf(t)
    assert got == pytest.approx(_response_cdf_by_quadrature(lam, mu, c, t), abs=1e-12)


def test_response_cdf_continuous_where_rates_coincide() -> None:
    t = np.array([0.5, 1.0, 3.0])
    exact = MMc(1.0, 1.0, 2).response_cdf(t)
    for eps in (1e-12, 1e-8, 1e-5):
        for sign in (-1, 1):
            near = MMc(1.0 + sign * eps, 1.0, 2).response_cdf(t)
            assert np.all(np.abs(near - exact) < 10 * eps + 1e-14)


@pytest.mark.parametrize(("lam", "mu", "c"), [(8.0, 1.0, 10), (0.5, 1.0, 1), (90.0, 1.0, 100)])
def test_means_implied_by_cdfs(lam: float, mu: float, c: int) -> None:
    m = MMc(lam, mu, c)
    wait_mean, _ = integrate.quad(lambda t: 1 - m.wait_cdf(t), 0, np.inf, epsabs=1e-13)
    resp_mean, _ = integrate.quad(lambda t: 1 - m.response_cdf(t), 0, np.inf, epsabs=1e-13)
    assert wait_mean == pytest.approx(m.mean_wait, rel=1e-8, abs=1e-12)
    assert resp_mean == pytest.approx(m.mean_response, rel=1e-8)


@settings(max_examples=60, deadline=None)
@given(
    rho=st.floats(0.01, 0.99),
    c=st.integers(1, 200),
    mu=st.floats(0.01, 100.0),
    p=st.floats(0.01, 0.9999),
)
def test_quantiles_invert_cdfs(rho: float, c: int, mu: float, p: float) -> None:
    m = MMc(rho * c * mu, mu, c)
    q = m.response_quantile(p)
    assert m.response_cdf(q) == pytest.approx(p, abs=1e-9)
    w = m.wait_quantile(p)
    if p > 1 - m.prob_wait:
        assert m.wait_cdf(w) == pytest.approx(p, abs=1e-12)
    else:
        assert w == 0.0


@settings(max_examples=60, deadline=None)
@given(lam=st.floats(0.1, 500.0), mu=st.floats(0.5, 5.0), c=st.integers(1, 300))
def test_more_servers_never_increase_wait(lam: float, mu: float, c: int) -> None:
    a, b = MMc(lam, mu, c), MMc(lam, mu, c + 1)
    assert b.mean_wait <= a.mean_wait
    assert b.prob_wait <= a.prob_wait
    assert b.response_quantile(0.99) <= a.response_quantile(0.99) * (1 + 1e-12)


def test_broadcasting_matches_scalar_calls() -> None:
    lam = np.array([[1.0], [5.0], [9.0]])
    c = np.array([2, 8, 12])
    m = MMc(lam, 1.0, c)
    assert m.mean_wait.shape == (3, 3)
    for i in range(3):
        for j in range(3):
            s = MMc(float(lam[i, 0]), 1.0, int(c[j]))
            assert m.mean_wait[i, j] == s.mean_wait
            assert m.response_quantile(0.99)[i, j] == pytest.approx(s.response_quantile(0.99), rel=1e-14)


def test_unstable_gives_infinite_waits_not_nan() -> None:
    m = MMc([10.0, 12.0], 1.0, 10)
    assert np.all(m.prob_wait == 1.0)
    assert np.all(np.isinf(m.mean_wait))
    assert np.all(np.isinf(m.response_quantile(0.5)))
    assert np.all(m.wait_cdf(100.0) == 0.0)
    assert np.all(m.response_cdf(1e6) == 0.0)
    assert np.all(m.throughput == 10.0)
    assert not np.isnan(m.mean_queue_length).any()


def test_no_load() -> None:
    m = MMc(0.0, 2.0, 3)
    assert m.prob_wait == 0.0
    assert m.mean_wait == 0.0
    assert m.response_quantile(0.5) == pytest.approx(math.log(2) / 2.0, rel=1e-13)


def test_huge_system_has_no_overflow() -> None:
    m = MMc(0.999e6, 1.0, 1_000_000)
    assert 0 < m.prob_wait < 1
    assert np.isfinite(m.response_quantile(0.999))


@pytest.mark.parametrize(
    ("kwargs", "name"),
    [
        ({"arrival_rate": -1.0, "service_rate": 1.0, "servers": 1}, "arrival_rate"),
        ({"arrival_rate": 1.0, "service_rate": 0.0, "servers": 1}, "service_rate"),
        ({"arrival_rate": 1.0, "service_rate": 1.0, "servers": 0}, "servers"),
        ({"arrival_rate": 1.0, "service_rate": 1.0, "servers": 1.5}, "servers"),
        ({"arrival_rate": float("nan"), "service_rate": 1.0, "servers": 1}, "arrival_rate"),
        ({"arrival_rate": 1.0, "service_rate": "fast", "servers": 1}, "service_rate"),
    ],
)
def test_invalid_parameters_name_the_parameter(kwargs: dict[str, object], name: str) -> None:
    with pytest.raises(ParameterError, match=name):
        MMc(**kwargs)  # type: ignore[arg-type]


@pytest.mark.parametrize("p", [0.0, 1.0, -0.1, 1.5, float("nan")])
def test_quantile_level_outside_unit_interval(p: float) -> None:
    with pytest.raises(ValueError, match="p must"):
        MMc(1.0, 2.0, 1).response_quantile(p)


def test_repr_is_stable() -> None:
    assert repr(MMc(8, 1, 10)) == "MMc(arrival_rate=8, service_rate=1, servers=10)"
