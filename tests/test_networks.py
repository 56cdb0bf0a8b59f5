"""Closed and open queueing networks.

References are computed independently of MVA: the product-form normalising constant by Buzen's
convolution algorithm (Buzen 1973, "Computational algorithms for closed queueing networks with
exponential servers", CACM 16(9)) and the finite-population M/M/1 (machine-repairman) formula
(Kleinrock, *Queueing Systems* vol. 1 (1975), sec. 3.8).
"""

from __future__ import annotations

import math

import mpmath as mp
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from capplan import ParameterError
from capplan.networks import bounds, mva, open_network
from capplan.queueing import MMc


def buzen(demands: list[float], think: float, n_users: int) -> tuple[float, list[float]]:
    """Throughput X(N) = G(N-1)/G(N) and mean queue lengths by the convolution algorithm, 40 digits."""
    with mp.workdps(40):
        # Delay station first: g(n) = Z^n / n!, then fold in each queueing station.
        g = [mp.mpf(think) ** n / mp.factorial(n) for n in range(n_users + 1)]
        for d in demands:
            for n in range(1, n_users + 1):
                g[n] = g[n] + mp.mpf(d) * g[n - 1]
        x = g[n_users - 1] / g[n_users]
        # Q_k(N) = sum_{j>=1} D_k^j G(N - j) / G(N), with G the full network's constants.
        queues = [
            float(mp.fsum(mp.mpf(d) ** j * g[n_users - j] for j in range(1, n_users + 1)) / g[n_users])
            for d in demands
        ]
        return float(x), queues


@pytest.mark.parametrize(
    ("demands", "think", "n_users"),
    [
        ([0.1, 0.05, 0.03], 1.0, 20),
        ([0.2, 0.2], 0.0, 7),
        ([0.04, 0.03, 0.025, 0.01], 2.5, 150),
        ([0.5], 3.0, 1),
    ],
)
def test_exact_mva_matches_convolution(demands: list[float], think: float, n_users: int) -> None:
    r = mva(demands, n_users, think_time=think)
    x, queues = buzen(demands, think, n_users)
    assert r.throughput == pytest.approx(x, rel=1e-11)
    np.testing.assert_allclose(r.stations["queue_length"], queues, rtol=1e-10)
    # Little's law over the whole cycle: N = X (R + Z).
    assert r.throughput * (r.response_time + think) == pytest.approx(n_users, rel=1e-12)
    assert r.stations["residence_s"].sum() == pytest.approx(r.response_time, rel=1e-12)


@pytest.mark.parametrize(("n_users", "demand", "think"), [(5, 0.2, 1.0), (30, 0.05, 1.0), (3, 1.0, 0.5)])
def test_machine_repairman(n_users: int, demand: float, think: float) -> None:
    # Finite-source M/M/1 (Kleinrock vol. 1, sec. 3.8): p0 = 1 / sum_n N!/(N-n)! (D/Z)^n, X = (1-p0)/D.
    ratio = demand / think
    p0 = 1.0 / sum(
        math.factorial(n_users) / math.factorial(n_users - n) * ratio**n for n in range(n_users + 1)
    )
    assert mva([demand], n_users, think_time=think).throughput == pytest.approx((1 - p0) / demand, rel=1e-12)


def test_single_station_without_think_time_is_saturated() -> None:
    r = mva([0.25], 10)
    assert r.throughput == pytest.approx(4.0)
    assert r.stations["queue_length"].iloc[0] == pytest.approx(10.0)


@settings(max_examples=40, deadline=None)
@given(
    demands=st.lists(st.floats(0.001, 1.0), min_size=1, max_size=5),
    think=st.floats(0.0, 5.0),
    n_users=st.integers(1, 60),
)
def test_bounds_hold_and_schweitzer_is_close(demands: list[float], think: float, n_users: int) -> None:
    exact = mva(demands, n_users, think_time=think)
    b = bounds(demands, think)
    assert exact.throughput <= float(b.throughput(n_users)) * (1 + 1e-12)
    assert exact.response_time >= float(b.response_time(n_users)) * (1 - 1e-12)
    # Throughput grows with the population (the by-population curve is non-decreasing).
    assert np.all(np.diff(exact.by_population["throughput"]) >= -1e-12)
    approx = mva(demands, n_users, think_time=think, method="schweitzer")
    assert approx.throughput == pytest.approx(exact.throughput, rel=0.1)


def test_schweitzer_is_exact_for_one_user() -> None:
    a = mva([0.1, 0.2], 1, think_time=1.0, method="schweitzer")
    assert a.throughput == pytest.approx(1 / 1.3, rel=1e-12)
    assert a.method == "Schweitzer approximate MVA"


def test_delay_and_multiserver_stations_are_stated() -> None:
    r = mva([0.4, 0.1, 0.2], 12, servers=[4, 1, 1], delay=[False, False, True], names=["app", "db", "net"])
    assert "Seidmann" in r.method
    assert r.stations.set_index("station").loc["net", "residence_s"] == pytest.approx(0.2)
    assert r.stations.set_index("station").loc["app", "utilization"] == pytest.approx(r.throughput * 0.1)


def test_open_network_is_independent_mmc_stations() -> None:
    o = open_network(8.0, [0.02, 0.05], [1, 2], visits=[5, 2], names=["cpu", "disk"])
    cpu, disk = MMc(40.0, 50.0, 1), MMc(16.0, 20.0, 2)
    assert o.stations["utilization"].tolist() == pytest.approx([0.8, 0.4])
    assert o.response_time == pytest.approx(5 * cpu.mean_response + 2 * disk.mean_response, rel=1e-12)
    assert o.bottleneck == "cpu"
    assert o.max_arrival_rate == pytest.approx(10.0)
    saturated = open_network(12.0, [0.02, 0.05], [1, 2], visits=[5, 2])
    assert math.isinf(saturated.response_time)


@pytest.mark.parametrize(
    ("call", "name"),
    [
        (lambda: mva([], 5), "demands"),
        (lambda: mva([0.1], 0), "population"),
        (lambda: mva([-0.1], 3), "demands"),
        (lambda: mva([0.1], 3, think_time=-1), "think_time"),
        (lambda: mva([0.1], 3, method="fast"), "method"),
        (lambda: open_network(1.0, [0.1, 0.0]), "demands"),
        (lambda: open_network(1.0, [0.1], names=["a", "b"]), "names"),
    ],
)
def test_bad_input(call: object, name: str) -> None:
    with pytest.raises(ParameterError, match=name):
        call()  # type: ignore[operator]


def test_lazowska_chapter_6_example() -> None:
    # Lazowska, Zahorjan, Graham & Sevcik, *Quantitative System Performance* (1984), ch. 6, p. 117:
    # 3 terminals thinking 15 s; CPU 121 visits x 5 ms, disk 1 70 visits x 30 ms, disk 2 50 visits
    # x 27 ms.  Published mean queue lengths at N = 3 (exact MVA): 0.0976, 0.3947, 0.2350; with
    # Bard-Schweitzer: 0.0973, 0.4012, 0.2359 (to the book's 0.001).
    service, visits = [0.005, 0.03, 0.027], [121, 70, 50]
    exact = mva(service, 3, think_time=15.0, visits=visits)
    np.testing.assert_allclose(exact.stations["queue_length"], [0.0976, 0.3947, 0.2350], atol=5e-5)
    approx = mva(service, 3, think_time=15.0, visits=visits, method="schweitzer")
    np.testing.assert_allclose(approx.stations["queue_length"], [0.0973, 0.4012, 0.2359], atol=1e-3)
    assert exact.stations["demand_s"].tolist() == pytest.approx([0.605, 2.1, 1.35])
