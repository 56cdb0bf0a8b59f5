"""M/M/c/K: exact blocking and means against the stationary distribution summed at 50 digits.

p_n = p_0 a^n/n! for n <= c and p_c rho^(n-c) for c < n <= K (Gross, Shortle, Thompson & Harris,
*Fundamentals of Queueing Theory* 4th ed., sec. 2.5).
"""

from __future__ import annotations

import mpmath as mp
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from capplan import ParameterError
from capplan.queueing import MMc, MMcK, erlang_b

mp.mp.dps = 50


def reference(lam: float, mu: float, c: int, k: int) -> dict[str, float]:
    a = mp.mpf(lam) / mu
    weights = []
    for n in range(k + 1):
        if n <= c:
            weights.append(a**n / mp.factorial(n))
        else:
            weights.append(a**c / mp.factorial(c) * (a / c) ** (n - c))
    norm = mp.fsum(weights)
    p = [w / norm for w in weights]
    lq = mp.fsum((n - c) * p[n] for n in range(c, k + 1))
    ln = mp.fsum(n * p[n] for n in range(k + 1))
    thr = lam * (1 - p[k])
    return {
        "block": float(p[k]),
        "lq": float(lq),
        "l": float(ln),
        "wq": float(lq / thr),
        "prob_wait": float(mp.fsum(p[c:k]) / (1 - p[k])),
    }


@pytest.mark.parametrize(
    ("lam", "mu", "c", "k"),
    [
        (8.0, 1.0, 10, 20),
        (12.0, 1.0, 10, 20),
        (10.0, 1.0, 10, 30),
        (10.0 * (1 + 1e-7), 1.0, 10, 30),
        (0.5, 1.0, 1, 5),
        (50.0, 1.0, 10, 400),
        (3.0, 2.0, 4, 4),
        (95.0, 1.0, 100, 150),
    ],
)
def test_against_stationary_distribution(lam: float, mu: float, c: int, k: int) -> None:
    ref = reference(lam, mu, c, k)
    m = MMcK(lam, mu, c, k)
    assert m.blocking_probability == pytest.approx(ref["block"], rel=1e-9)
    assert m.mean_queue_length == pytest.approx(ref["lq"], rel=1e-9, abs=1e-300)
    assert m.mean_number_in_system == pytest.approx(ref["l"], rel=1e-9)
    assert m.mean_wait == pytest.approx(ref["wq"], rel=1e-9, abs=1e-300)
    assert m.prob_wait == pytest.approx(ref["prob_wait"], rel=1e-9, abs=1e-300)


def test_mm1k_textbook() -> None:
    # Kleinrock vol. 1, eq. (3.45): M/M/1/K blocking (1 - rho) rho^K / (1 - rho^(K+1));
    # at rho = 1 every state is equally likely, so p_K = 1/(K + 1).
    rho, k = 0.9, 10
    assert MMcK(rho, 1.0, 1, k).blocking_probability == pytest.approx(
        (1 - rho) * rho**k / (1 - rho ** (k + 1)), rel=1e-12
    )
    assert MMcK(1.0, 1.0, 1, k).blocking_probability == pytest.approx(1 / (k + 1), rel=1e-12)


@settings(max_examples=50, deadline=None)
@given(c=st.integers(1, 500), a=st.floats(0.01, 2000.0))
def test_no_waiting_room_is_erlang_b(c: int, a: float) -> None:
    assert MMcK(a, 1.0, c, c).blocking_probability == pytest.approx(erlang_b(c, a), rel=1e-12)
    assert MMcK(a, 1.0, c, c).mean_wait == 0.0


def test_large_capacity_approaches_mmc() -> None:
    m, inf = MMcK(8.0, 1.0, 10, 10_000), MMc(8.0, 1.0, 10)
    assert m.blocking_probability < 1e-300
    assert m.mean_wait == pytest.approx(inf.mean_wait, rel=1e-12)
    assert m.prob_wait == pytest.approx(inf.prob_wait, rel=1e-12)


def test_heavy_overload_has_no_overflow() -> None:
    m = MMcK(1e4, 1.0, 10, 100_000)
    assert np.isfinite(m.mean_wait)
    # Nearly every admitted request finds a full queue of ~K - c - 1/(rho - 1).
    assert m.throughput == pytest.approx(10.0, rel=1e-12)
    assert m.utilization == pytest.approx(1.0, rel=1e-12)


def test_capacity_below_servers_is_rejected() -> None:
    with pytest.raises(ParameterError, match="capacity"):
        MMcK(1.0, 1.0, 5, 4)


def test_zero_load() -> None:
    m = MMcK(0.0, 1.0, 2, 5)
    assert m.blocking_probability == 0.0
    assert m.mean_number_in_system == 0.0
