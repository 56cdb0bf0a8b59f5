"""GI/D/c where the lattice cannot reach: heavy traffic and bursty arrivals.

The lattice of :mod:`capplan.queueing._lattice` has to span the wait's tail, ``34/eta`` with
``eta ~ 2 (1 - rho)/(c_a^2 + c_s^2)`` per service time, so towards saturation it would need more
points than the FFT takes (before: a MemoryError in ``size_replicas`` for constant service times
and arrival SCV 4).  There the rule of :func:`capplan.queueing._gigc._heavy_deterministic` takes
over; these tests hold it to closed forms and to the lattice itself on a larger FFT.
"""

from __future__ import annotations

import math

import pytest

from capplan.queueing import _lattice
from capplan.queueing._gigc import (
    EXACT_LATTICE,
    HEAVY_DETERMINISTIC,
    _arrival_parts,
    _lattice_limit,
    wait_moments,
)
from capplan.queueing.phasetype import parts_laplace
from capplan.sizing.replicas import ReplicaSizing, size_replicas


@pytest.mark.parametrize("rho", [0.9995, 0.99999])
def test_md1_beyond_the_lattice_against_pollaczek_khinchine(rho: float) -> None:
    # M/D/1: E[W] = rho/(2(1 - rho)), E[W^2] = 2 E[W]^2 + rho/(3(1 - rho)), P(W > 0) = rho
    # (Pollaczek-Khinchine; Kleinrock, Queueing Systems vol. 1 (1975), sec. 5.7), service time 1.
    star = _lattice_limit(1, 1.0)
    assert star is not None and star < rho
    w = wait_moments(rho, 1, 1.0, 0.0)
    assert w.methods == {HEAVY_DETERMINISTIC}
    mean = rho / (2 * (1 - rho))
    assert w.prob_wait == pytest.approx(rho, rel=1e-5)
    assert w.mean == pytest.approx(mean, rel=1e-5)
    assert w.second_moment == pytest.approx(2 * mean**2 + rho / (3 * (1 - rho)), rel=1e-4)


@pytest.mark.parametrize(("servers", "ca2"), [(1, 4.0), (4, 9.0)])
def test_heavy_rule_against_the_lattice_on_a_larger_fft(
    servers: int, ca2: float, monkeypatch: pytest.MonkeyPatch
) -> None:
    star = _lattice_limit(servers, ca2)
    assert star is not None
    rho = 1.0 - (1.0 - star) / 4.0
    approx = wait_moments(rho, servers, ca2, 0.0)
    assert approx.methods == {HEAVY_DETERMINISTIC}
    # The exact method itself, given an FFT 16 times longer (seconds instead of milliseconds).
    monkeypatch.setattr(_lattice, "_MAX_FFT", 1 << 22)
    exact = _lattice.deterministic_service_wait(_arrival_parts(rho, servers, ca2), ca2, servers, 1.0)
    assert approx.prob_wait == pytest.approx(exact.prob_wait, rel=1e-4)
    assert approx.mean == pytest.approx(exact.mean, rel=1e-4)
    assert approx.second_moment == pytest.approx(exact.second_moment, rel=1e-4)


@pytest.mark.parametrize(("servers", "ca2"), [(1, 4.0), (8, 0.25)])
def test_the_rules_meet_at_the_lattice_limit(servers: int, ca2: float) -> None:
    star = _lattice_limit(servers, ca2)
    assert star is not None
    below = wait_moments(1.0 - (1.0 - star) * (1 + 1e-7), servers, ca2, 0.0)
    above = wait_moments(1.0 - (1.0 - star) * (1 - 1e-7), servers, ca2, 0.0)
    assert below.methods == {EXACT_LATTICE}
    assert above.methods == {HEAVY_DETERMINISTIC}
    # Equal to the lattice's own resolution at 4 points per service time (its values move by ~1e-5
    # between utilizations 1e-7 apart; M/D/1 at that resolution: within 1e-5 of the closed form).
    for name in ("prob_wait", "mean", "second_moment"):
        assert getattr(above, name) == pytest.approx(getattr(below, name), rel=3e-5), name


def test_very_bursty_arrivals_take_the_heavy_traffic_ratio() -> None:
    # Arrival SCV 100: the lattice cannot reach even utilization 1/2, so the ratio to PH/M/c is the
    # heavy-traffic one, c_a^2/(c_a^2 + 1) for the mean (the exponential service adds 1 to 100).
    assert _lattice_limit(1, 100.0) is None
    det, exp = wait_moments(0.9, 1, 100.0, 0.0), wait_moments(0.9, 1, 100.0, 1.0)
    assert det.mean == pytest.approx(exp.mean * 100 / 101, rel=1e-12)
    assert det.methods == {HEAVY_DETERMINISTIC}


def test_decay_rate_near_saturation_with_many_servers() -> None:
    # Before: brentq's bracket started at 1e-12, where the equation is round-off, and failed.
    # eta solves eta D + c log A*(eta) = 0, and the diffusion approximation
    # 2 (c E[A] - D)/(c Var(A)) (Kingman 1962) is exact to first order in 1 - rho: its relative
    # error shrinks tenfold as 1 - rho does.
    servers, ca2 = 64, 1.0
    errors = []
    for rho in (0.999, 0.9999):
        parts = _arrival_parts(rho, servers, ca2)
        eta = _lattice._decay(parts, servers, 1.0)
        residual = eta + servers * math.log(parts_laplace(parts, eta))
        assert abs(residual) <= 1e-9 * eta
        mean_a = 1.0 / (rho * servers)
        diffusion = 2 * (servers * mean_a - 1.0) / (servers * ca2 * mean_a**2)
        errors.append(abs(eta / diffusion - 1))
        assert wait_moments(rho, servers, ca2, 0.0).mean > 0
    assert errors[0] < 2e-3
    assert errors[1] < errors[0] / 5


@pytest.mark.parametrize("ca2", [4.0, 9.0])
def test_size_replicas_constant_service_bursty_arrivals(ca2: float) -> None:
    # Before: MemoryError (a lattice of 4e5 x 1.6e4 cells) on the way to the answer.
    def size(target: float) -> ReplicaSizing:
        return size_replicas(200.0, {0.99: target}, service_time=0.05, arrival_scv=ca2, service_scv=0.0)

    sized = size(2.0)
    assert sized.replicas > 200.0 * 0.05
    assert sized.predicted[0.99] <= 2.0
    looser = size(20.0)
    assert looser.replicas <= sized.replicas
