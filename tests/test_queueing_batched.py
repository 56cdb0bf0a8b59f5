"""PH/PH/c queues solved as stacks (capplan.queueing._qbd.solve_phphc_many) and G/G/c elements
whose PH/PH/c queues are solved together (capplan.queueing._gigc.wait_moments_many)."""

from __future__ import annotations

import math
from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest

from capplan.queueing import GGc, _gigc
from capplan.queueing._gigc import wait_moments, wait_moments_many
from capplan.queueing._qbd import solve_phphc, solve_phphc_many
from capplan.queueing.phasetype import GammaMixture, two_moment_fit, two_moment_fits


def _fit(mean: float, scv: float) -> GammaMixture:
    fit = two_moment_fit(mean, scv)
    assert fit is not None
    return fit


@pytest.fixture
def fresh_caches() -> Iterator[None]:
    """Every solve made anew: the G/G/c results and the exact solutions they combine uncached."""

    def clear() -> None:
        _gigc._cached.cache_clear()
        _gigc._exponential.cache_clear()
        _gigc._deterministic.cache_clear()
        _gigc._SOLVED.items.clear()

    clear()
    yield
    clear()


@pytest.mark.parametrize("c", [1, 3, 8])
def test_a_stack_of_mmc_queues_is_erlang_c(c: int) -> None:
    # Exponential times in a stack whose utilizations differ (so its queues converge after different
    # numbers of steps): P(W > 0) = C(c, a), E[W] = C / (c mu - lam), E[W^2] = 2 C / (c mu - lam)^2
    # (Kleinrock, Queueing Systems vol. 1, sec. 3.5), Erlang C by its sum in mpmath-free floats.
    rhos = np.array([0.05, 0.4, 0.8, 0.97])
    solved = solve_phphc_many([_fit(1.0 / (r * c), 1.0) for r in rhos], [_fit(1.0, 1.0)] * rhos.size, c)
    for rho, w in zip(rhos, solved, strict=True):
        a = rho * c
        head = sum(a**k / math.factorial(k) for k in range(c))
        top = a**c / math.factorial(c) / (1.0 - rho)
        erlang_c = top / (head + top)
        gap = c * 1.0 - a  # c mu - lam with mu = 1
        assert w.prob_wait == pytest.approx(erlang_c, rel=1e-11)
        assert w.mean == pytest.approx(erlang_c / gap, rel=1e-11)
        assert w.second_moment == pytest.approx(2.0 * erlang_c / gap**2, rel=1e-11)


@pytest.mark.parametrize("c", [1, 2, 4, 16])
@pytest.mark.parametrize(("ca2", "cs2"), [(1.0, 0.5), (0.3, 2.0), (4.0, 0.7), (2.0, 9.0)])
def test_a_stack_equals_its_queues_solved_one_by_one(c: int, ca2: float, cs2: float) -> None:
    rhos = [0.02, 0.3, 0.7, 0.95, 0.995]
    arrivals = [_fit(1.0 / (r * c), ca2) for r in rhos]
    services = [_fit(1.0, cs2)] * len(rhos)
    stacked = solve_phphc_many(arrivals, services, c)
    for arrival, service, w in zip(arrivals, services, stacked, strict=True):
        alone = solve_phphc(arrival, service, c)
        assert w.prob_wait == pytest.approx(alone.prob_wait, rel=1e-12)
        assert w.mean == pytest.approx(alone.mean, rel=1e-12)
        assert w.second_moment == pytest.approx(alone.second_moment, rel=1e-12)


def test_a_stack_needs_one_structure() -> None:
    with pytest.raises(ValueError, match="same number of phases"):
        solve_phphc_many([_fit(2.0, 1.0), _fit(2.0, 0.3)], [_fit(1.0, 2.0)] * 2, 1)
    with pytest.raises(ValueError, match="at least one"):
        solve_phphc_many([], [], 1)


def test_vectorised_fits_equal_the_scalar_ones() -> None:
    means, scvs = [0.5, 2.0, 1.0, 3.0, 1.0], [0.0, 0.3, 1.0, 2.5, 0.5]
    assert two_moment_fits(means, scvs) == [two_moment_fit(m, s) for m, s in zip(means, scvs, strict=True)]


# Elements covering every rule of _gigc: PH/M/c, lattice, PH/PH/c, beyond 32 servers, the
# interpolation below service SCV 1/2, the QNA scaling below arrival SCV 1/4, no load.
ELEMENTS = [
    (0.7, 4, 2.0, 1.0),
    (0.6, 3, 1.5, 0.0),
    (0.8, 2, 0.5, 2.0),
    (0.9, 64, 1.0, 3.0),
    (0.5, 6, 1.0, 0.25),
    (0.75, 5, 0.1, 0.8),
    (0.0, 2, 1.0, 2.0),
    (0.3, 1, 3.0, 0.6),
    (0.3, 1, 3.0, 0.6),  # a repeat
]


def test_many_elements_equal_each_solved_alone(fresh_caches: None) -> None:
    alone = [wait_moments(*e) for e in ELEMENTS]
    _gigc._cached.cache_clear()
    _gigc._SOLVED.items.clear()
    many = wait_moments_many(*zip(*ELEMENTS, strict=True))
    for a, m in zip(alone, many, strict=True):
        assert m.methods == a.methods
        for x, y in ((m.prob_wait, a.prob_wait), (m.mean, a.mean), (m.second_moment, a.second_moment)):
            assert math.isfinite(x)
            assert x == pytest.approx(y, rel=1e-12, abs=1e-300)


def test_many_elements_solve_their_queues_in_one_stack_per_structure(
    fresh_caches: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    stacks: list[int] = []

    def counting(arrivals: list[Any], services: list[Any], servers: int) -> list[Any]:
        stacks.append(len(arrivals))
        return solve_phphc_many(arrivals, services, servers)

    monkeypatch.setattr(_gigc, "solve_phphc_many", counting)
    rhos = np.linspace(0.1, 0.9, 50)
    moments = wait_moments_many(rhos.tolist(), [4] * 50, [2.0] * 50, [1.5] * 50)
    assert stacks == [50]  # one structure (H2 arrivals, H2 service, 4 servers): one stack, no lone solves
    assert all(math.isfinite(w.mean) and w.mean > 0 for w in moments)
    assert [w.mean for w in moments] == sorted(w.mean for w in moments)  # the wait grows with load


def test_ggc_arrays_take_the_stacked_path(fresh_caches: None) -> None:
    rho = np.array([0.2, 0.5, 0.8, 1.2])
    model = GGc(rho * 4, 1.0, 4, arrival_scv=0.8, service_scv=[0.3, 1.7, 0.6, 2.0])
    means = model.mean_wait
    for i in range(3):
        w = wait_moments(rho[i], 4, 0.8, [0.3, 1.7, 0.6][i])
        assert means[i] == pytest.approx(w.mean, rel=1e-12)
    assert np.isinf(means[3])  # unstable
    with pytest.raises(ValueError, match="0 <= rho < 1"):
        wait_moments_many([1.0], [1], [1.0], [1.0])
