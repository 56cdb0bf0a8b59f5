"""The exact solvers behind G/G/c: phase-type fits, PH/PH/c (matrix-geometric), PH/M/c and GI/D/c
(lattice), each against closed forms or high-precision arithmetic (mpmath)."""

from __future__ import annotations

import mpmath as mp
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from capplan.distributions import phase_type_fit
from capplan.queueing import MMc
from capplan.queueing._gigc import EXACT_SERVERS, wait_moments
from capplan.queueing._gimc import solve_phmc
from capplan.queueing._lattice import deterministic_service_wait
from capplan.queueing._qbd import solve_phphc
from capplan.queueing.phasetype import scv_with_skewness, third_cumulant, two_moment_fit, two_moment_parts
from capplan.sim import simulate_queue


def _fit(mean: float, scv: float):  # type: ignore[no-untyped-def]
    fit = two_moment_fit(mean, scv)
    assert fit is not None
    return fit


@settings(max_examples=200, deadline=None)
@given(mean=st.floats(1e-3, 1e3), scv=st.floats(1e-3, 50.0))
def test_fits_have_the_two_moments(mean: float, scv: float) -> None:
    fit = _fit(mean, scv)
    assert fit.mean == pytest.approx(mean, rel=1e-12)
    assert fit.scv == pytest.approx(scv, rel=1e-9, abs=1e-12)
    alpha, gen = fit.phase_type()
    inv = np.linalg.inv(-gen)
    ones = np.ones(alpha.size)
    assert alpha @ inv @ ones == pytest.approx(mean, rel=1e-10)  # PH mean: alpha (-T)^-1 1
    assert 2 * alpha @ inv @ inv @ ones == pytest.approx(fit.second_moment, rel=1e-10)


@settings(max_examples=200, deadline=None)
@given(mean=st.floats(1e-3, 1e3), scv=st.floats(1e-6, 50.0))
def test_third_cumulant_against_mpmath(mean: float, scv: float) -> None:
    # The fit's raw moments E[X^j] = sum_i w_i k_i (k_i + 1) ... (k_i + j - 1) / r_i^j at 60 digits,
    # then E[(X - m)^3] = m3 - 3 m1 m2 + 2 m1^3 (the cancellation is harmless at that precision;
    # the first weight is taken as given and the second as 1 less it).
    fit = _fit(mean, scv)
    with mp.workdps(60):
        weights = [mp.mpf(fit.weights[0]), 1 - mp.mpf(fit.weights[0])][: len(fit.weights)]
        parts = list(zip(weights, fit.shapes, fit.rates, strict=True))
        raw = [mp.fsum(w * mp.rf(k, j) / mp.mpf(r) ** j for w, k, r in parts) for j in (1, 2, 3)]
        expected = float(raw[2] - 3 * raw[0] * raw[1] + 2 * raw[0] ** 3)
    assert float(third_cumulant(mean, scv)) == pytest.approx(expected, rel=1e-11)


def test_third_cumulant_spot_values() -> None:
    # The constant: 0.  The exponential of mean m: 2 m^3.  The balanced H2 of mean m and SCV c:
    # raw moments m, (1 + c) m^2 and 3 c (1 + c) m^3, so (3 c^2 - 1) m^3 (47 m^3 at c = 4).
    np.testing.assert_allclose(third_cumulant([2.0, 2.0, 3.0], [0.0, 1.0, 4.0]), [0.0, 16.0, 27.0 * 47.0])


@pytest.mark.parametrize(
    "scv", [1e-4, 0.01, 0.1, 0.2, 0.25, 0.3, 0.5, 0.7, 0.999, 1.0, 1.001, 2.0, 9.0, 400.0]
)
def test_scv_with_skewness_inverts_the_fits_skewness(scv: float) -> None:
    # The skewness of the SCV found is the one asked for, to round-off.  The SCV itself is as close
    # as the skewness's conditioning allows: at the pure Erlang-k (SCV 1/k) the skewness is flat
    # in the mixture's weight, so a skewness 1e-16 off moves the SCV by about 1e-9.
    skewness = float(third_cumulant(1.0, scv)) / scv**1.5
    found = float(scv_with_skewness(skewness))
    assert float(third_cumulant(1.0, found)) / found**1.5 == pytest.approx(skewness, rel=1e-13)
    assert found == pytest.approx(scv, rel=1e-7)


def test_scv_with_skewness_at_the_families_ends() -> None:
    # Erlang-k: skewness 2 / sqrt(k) at SCV 1 / k; exponential 2 at 1; constant 0 at 0; shapes kept.
    got = scv_with_skewness(np.array([[0.0, 2.0 / np.sqrt(7.0), 2.0 / np.sqrt(2.0), 2.0]]))
    assert got.shape == (1, 4)
    np.testing.assert_allclose(got, [[0.0, 1 / 7, 0.5, 1.0]], rtol=1e-7)


@pytest.mark.parametrize("scv", [1 / 4, 1 / 3, 1 / 2, 1.0])
def test_fits_are_continuous_where_the_family_changes(scv: float) -> None:
    # At 1/k the mixture of Erlang-(k-1) and Erlang-k is the pure Erlang-k from both sides, and at 1
    # the Erlang mixture and the H2 both become the exponential: compare the laws (Laplace
    # transforms), not the component lists, which name the components differently.
    s = np.array([0.1, 1.0, 5.0])
    below, above = (_fit(1.0, scv * (1 + d)).laplace(s) for d in (-1e-9, 1e-9))
    np.testing.assert_allclose(below, above, rtol=1e-7)


def test_simulator_draws_the_fits() -> None:
    for scv in (0.3, 0.7, 4.0):
        dist = phase_type_fit(2.0, scv)
        assert dist.mean() == pytest.approx(2.0)
        assert dist.var() / 4.0 == pytest.approx(scv)
        draws = np.asarray(dist.rvs(size=400_000, random_state=np.random.default_rng(3)))
        assert draws.mean() == pytest.approx(2.0, rel=0.01)
    assert phase_type_fit(2.0, 0.0) == 2.0


@pytest.mark.parametrize("c", [1, 2, 8, 32])
@pytest.mark.parametrize("rho", [0.2, 0.7, 0.95])
def test_matrix_geometric_reproduces_mmc(c: int, rho: float) -> None:
    # Erlang C and the M/M/c wait: P(W > t) = C exp(-(c mu - lam) t), so E[W^2] = 2 C/(c mu - lam)^2
    # (Kleinrock vol. 1, sec. 3.5).
    lam = rho * c
    w = solve_phphc(_fit(1 / lam, 1.0), _fit(1.0, 1.0), c)
    m = MMc(lam, 1.0, c)
    assert w.prob_wait == pytest.approx(m.prob_wait, rel=1e-11)
    assert w.mean == pytest.approx(m.mean_wait, rel=1e-10)
    assert w.second_moment == pytest.approx(2 * m.prob_wait / (c - lam) ** 2, rel=1e-9)


@pytest.mark.parametrize("rho", [0.3, 0.8, 0.95])
def test_m_h2_1_against_pollaczek_khinchine(rho: float) -> None:
    # M/G/1 (Kleinrock vol. 1, eq. 5.76 and 5.109): E[W] = lam E[S^2]/(2(1 - rho)),
    # E[W^2] = 2 E[W]^2 + lam E[S^3]/(3(1 - rho)); balanced H2 of SCV 4 (its moments are exact sums).
    svc = _fit(1.0, 4.0)
    m2 = svc.second_moment
    m3 = sum(w * 6 / r**3 for w, r in zip(svc.weights, svc.rates, strict=True))
    w = solve_phphc(_fit(1 / rho, 1.0), svc, 1)
    mean = rho * m2 / (2 * (1 - rho))
    assert w.prob_wait == pytest.approx(rho, rel=1e-12)
    assert w.mean == pytest.approx(mean, rel=1e-10)
    assert w.second_moment == pytest.approx(2 * mean**2 + rho * m3 / (3 * (1 - rho)), rel=1e-9)


@pytest.mark.parametrize("rho", [0.3, 0.8])
def test_e2_m_1_against_the_gi_m_1_root(rho: float) -> None:
    # GI/M/1: arrivals see a geometric queue of ratio sigma = A*(mu (1 - sigma)); P(W > 0) = sigma,
    # E[W] = sigma/(mu (1 - sigma)) (Gross et al. 4th ed., sec. 5.3).  Erlang-2 arrivals at rate
    # lam: A*(s) = (2 lam/(2 lam + s))^2; the root at 40 digits.
    with mp.workdps(40):
        lam = mp.mpf(rho)
        sigma = mp.findroot(lambda x: (2 * lam / (2 * lam + (1 - x))) ** 2 - x, mp.mpf("0.5"))
        mean = float(sigma / (1 - sigma))
    for w in (solve_phphc(_fit(1 / rho, 0.5), _fit(1.0, 1.0), 1), solve_phmc(_fit(1 / rho, 0.5), 1.0, 1)):
        assert w.prob_wait == pytest.approx(float(sigma), rel=1e-12)
        assert w.mean == pytest.approx(mean, rel=1e-10)


@pytest.mark.parametrize(("ca2", "c"), [(2.0, 3), (0.25, 12), (9.0, 30)])
def test_two_exact_methods_agree_on_ph_m_c(ca2: float, c: int) -> None:
    lam = 0.85 * c
    qbd = solve_phphc(_fit(1 / lam, ca2), _fit(1.0, 1.0), c)
    phm = solve_phmc(_fit(1 / lam, ca2), 1.0, c)
    assert phm.prob_wait == pytest.approx(qbd.prob_wait, rel=1e-10)
    assert phm.second_moment == pytest.approx(qbd.second_moment, rel=1e-9)


def test_ph_m_c_for_ten_thousand_servers() -> None:
    # Level masses are carried in log scale: Erlang C for c = 1e4 (log space, capplan.queueing.erlang_c).
    c, rho = 10_000, 0.995
    w = solve_phmc(_fit(1 / (rho * c), 1.0), 1.0, c)
    assert w.prob_wait == pytest.approx(MMc(rho * c, 1.0, c).prob_wait, rel=1e-9)


@pytest.mark.parametrize("rho", [0.001, 0.05, 0.5, 0.9, 0.99])
def test_lattice_md1_against_pollaczek_khinchine(rho: float) -> None:
    parts = tuple(float(a) for a in two_moment_parts(1 / rho, 1.0))
    w = deterministic_service_wait(parts, 1.0, 1, 1.0)
    mean = rho / (2 * (1 - rho))
    # Two lattices and Richardson extrapolation: ~1e-5 relative (module docstring of _lattice).
    assert w.prob_wait == pytest.approx(rho, rel=1e-4)
    assert w.mean == pytest.approx(mean, rel=1e-4)
    assert w.second_moment == pytest.approx(2 * mean**2 + rho / (3 * (1 - rho)), rel=1e-4)


def test_lattice_m_d_4_against_simulation() -> None:
    rho, c = 0.85, 4
    parts = tuple(float(a) for a in two_moment_parts(1 / (rho * c), 1.0))
    w = deterministic_service_wait(parts, 1.0, c, 1.0)
    summary = simulate_queue(rho * c, 1.0, c, 2_000_000, seed=7, keep="stats").summary(confidence=0.99)
    for metric, value in (("wait_mean", w.mean), ("prob_wait", w.prob_wait)):
        row = summary.loc[metric]
        assert row["ci_low"] <= value <= row["ci_high"], (metric, value, row.to_dict())


def test_anchored_model_against_the_exact_one_at_64_servers() -> None:
    # Beyond 32 servers PH/M/c is scaled by the 32-server ratio at the same (1 - rho) sqrt(c); at 64
    # servers the exact matrix-geometric solution is still affordable for two-phase arrivals.
    lam = 0.9 * 64
    exact = solve_phphc(_fit(1 / lam, 2.0), _fit(1.0, 4.0), 64)
    anchored = wait_moments(0.9, 64, 2.0, 4.0)
    assert anchored.methods == {"PH/M/c x PH/PH/32 ratio at equal (1 - rho) sqrt(c) (approx)"}
    assert anchored.prob_wait == pytest.approx(exact.prob_wait, rel=0.02)
    assert anchored.mean == pytest.approx(exact.mean, rel=0.02)
    assert wait_moments(0.9, EXACT_SERVERS, 2.0, 4.0).methods == {
        "PH/PH/c matrix-geometric (exact for the phase-type fits)"
    }


def _mp_laplace(parts: tuple[np.ndarray, ...], s: mp.mpf) -> mp.mpf:
    """E[exp(-s X)] of a two-moment fit in 60-digit arithmetic."""
    w1, k1, r1, w2, k2, r2 = (mp.mpf(float(v)) for v in parts)
    if mp.isinf(k1):
        return mp.exp(-s / r1)
    return w1 * (r1 / (r1 + s)) ** k1 + (w2 * (r2 / (r2 + s)) ** k2 if w2 > 0 else 0)


@pytest.mark.parametrize("service_scv", [0.0, 0.1, 1.0, 25.0])
@pytest.mark.parametrize("arrival_scv", [0.25, 1.0, 4.0])
def test_tail_decay_rate_against_mpmath_up_to_saturation(service_scv: float, arrival_scv: float) -> None:
    # eta solves log E[exp(-eta A)] + log E[exp(eta S / c)] = 0 (Asmussen, Applied Probability and
    # Queues, sec. XIII.5); the reference is mpmath's root of the same equation at 60 digits.  Near
    # saturation the two logarithms are each ~1e4 times their sum: the solve keeps them in relative
    # precision, to within ~eps / (1 - rho) of the root.
    from capplan.queueing._tails import decay_rate  # noqa: PLC0415
    from capplan.queueing.service import TwoMomentService  # noqa: PLC0415

    mp.mp.dps = 60
    mean, servers = 0.04, 8
    rho = np.array([0.05, 0.3, 0.9, 0.999, 0.9999])
    lam = rho * servers / mean
    eta, _ = decay_rate(lam, TwoMomentService(np.full(rho.shape, mean), service_scv), servers, arrival_scv)
    service = two_moment_parts(np.array(mean), np.array(service_scv))
    for i, rate in enumerate(lam):
        arrivals = two_moment_parts(np.array(1.0 / rate), np.array(arrival_scv))

        def equation(e: mp.mpf, arrivals: tuple[np.ndarray, ...] = arrivals) -> mp.mpf:
            return mp.log(_mp_laplace(arrivals, e)) + mp.log(_mp_laplace(service, -e / servers))

        guess = mp.mpf(float(eta[i]))
        root = mp.findroot(
            equation, (guess * (1 - mp.mpf(1e-6)), guess * (1 + mp.mpf(1e-6))), solver="anderson"
        )
        assert float(abs(eta[i] - root) / root) <= 1e-15 / (1.0 - rho[i]), (rho[i], eta[i], root)
