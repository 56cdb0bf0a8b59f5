"""A server whose speed varies over time: :class:`capplan.sim.Slowdown` in the simulator, and
:func:`capplan.sim.split_trace` that estimates one from a server's record of its requests."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import optimize, stats

from capplan import ParameterError
from capplan.sim import Slowdown, simulate_queue, split_trace


def _steps(edges: list[float], factors: list[float]) -> Slowdown:
    return Slowdown(np.array(edges), np.array(factors))


def test_constant_factor_is_the_same_as_longer_services() -> None:
    plain = simulate_queue(100.0, 0.006, 2, 50_000, seed=3)
    slowed = simulate_queue(100.0, 0.002, 2, 50_000, seed=3, slowdown=_steps([0.0, 7.0], [3.0]))
    assert plain.responses is not None and slowed.responses is not None
    np.testing.assert_allclose(slowed.responses, plain.responses, rtol=1e-12)


def test_hand_worked_schedule() -> None:
    # period 2 s: factor 1 on [0, 1), 3 on [1, 2).  Arrivals at 0.5, 0.9, 1.2, 1.9 (gaps below);
    # service 0.3 s each, one server:
    #   #1 starts 0.5 (factor 1) -> leaves 0.8, response 0.3
    #   #2 starts 0.9 (factor 1) -> leaves 1.2, response 0.3
    #   #3 starts 1.2 (factor 3) -> leaves 2.1, response 0.9
    #   #4 arrives 1.9 (in the slow step) but starts 2.1 = 0.1 mod 2 (factor 1: the factor is the
    #      one at the start) -> leaves 2.4, wait 0.2, response 0.5
    result = simulate_queue(
        arrivals=[0.5, 0.4, 0.3, 0.7],
        service=0.3,
        warmup=0,
        batches=2,
        seed=0,
        slowdown=_steps([0.0, 1.0, 2.0], [1.0, 3.0]),
    )
    assert result.responses is not None and result.waits is not None
    np.testing.assert_allclose(result.responses, [0.3, 0.3, 0.9, 0.5], atol=1e-12)
    np.testing.assert_allclose(result.waits, [0.0, 0.0, 0.0, 0.2], atol=1e-12)


def test_slowly_alternating_speed_is_the_mixture_of_two_queues() -> None:
    """Slow phases much longer than the queue's relaxation time: each phase is its own M/M/1.

    Reference: the nearly-decomposable (quasi-static) limit of a queue in a random environment
    (Courtois, *Decomposability*, 1977): the response time is the time-weighted mixture of the
    M/M/1 response times at each speed, exponential with rate mu_k - lambda (Kleinrock, *Queueing
    Systems* Vol. 1, 1975, eq. 3.28).  Here lambda = 300/s, mu = 1000/s and 500/s, 100 s each.
    """
    lam, rates = 300.0, (1000.0, 500.0)
    result = simulate_queue(
        lam,
        stats.expon(scale=1e-3),
        1,
        3_000_000,
        seed=11,
        warmup=0.0,
        keep="stats",
        slowdown=_steps([0.0, 100.0, 200.0], [1.0, 2.0]),
    )
    mean = 0.5 * sum(1.0 / (mu - lam) for mu in rates)  # 3.214 ms
    summary = result.summary()["estimate"]
    assert summary["response_mean"] == pytest.approx(mean, rel=0.03)

    def mixture_cdf(t: float) -> float:
        return 0.5 * sum(1.0 - math.exp(-(mu - lam) * t) for mu in rates)

    p95 = optimize.brentq(lambda t: mixture_cdf(t) - 0.95, 0.0, 1.0)  # 13.2 ms
    assert summary["response_p95"] == pytest.approx(p95, rel=0.03)


def test_split_trace_recovers_known_phases() -> None:
    # 20 s of requests at 250/s; the machine is 1.5x slower in every other second; the requests'
    # own work is uniform on [1.6, 2.4] ms (SCV 0.0133)
    rng = np.random.default_rng(5)
    start = np.sort(rng.uniform(0.0, 20.0, 5000))
    work = rng.uniform(1.6e-3, 2.4e-3, start.size)
    factor = np.where(np.floor(start) % 2 == 1, 1.5, 1.0)
    slowdown, own = split_trace(start, work * factor, window=0.1)
    assert slowdown.period == pytest.approx(20.0, abs=0.1)
    since = start - start.min()  # the slowdown's time 0 is the first start
    ratio = slowdown(since) / factor  # relative to the mean factor over the requests, 1.25
    assert np.median(ratio) == pytest.approx(1 / 1.25, rel=0.02)
    assert np.percentile(ratio, 95) / np.percentile(ratio, 5) < 1.12  # the phases, not noise
    assert own.var() / own.mean() ** 2 == pytest.approx(1 / 75, rel=0.25)
    np.testing.assert_allclose(own * slowdown(since), work * factor, rtol=1e-12)


def test_split_trace_fills_empty_windows_and_keeps_order_free() -> None:
    # any order; windows of 0.1 s: [0, 0.1) holds two requests of 1, [0.1, 0.2) none, then one
    # request of 2 and one of 4; the mean of all is 2
    start = np.array([0.35, 0.0, 0.01, 0.25])
    service = np.array([4.0, 1.0, 1.0, 2.0])
    slowdown, own = split_trace(start, service, window=0.1)
    np.testing.assert_allclose(slowdown.factors, [0.5, 0.5, 1.0, 2.0])  # the empty one takes 0.5
    np.testing.assert_allclose(slowdown.edges, [0.0, 0.1, 0.2, 0.3, 0.4])
    np.testing.assert_allclose(own, [2.0, 2.0, 2.0, 2.0])


def test_slowdown_lookup_and_shift() -> None:
    sd = _steps([0.0, 1.0, 3.0], [1.0, 2.0])
    assert sd.period == 3.0
    assert sd.mean == pytest.approx(5.0 / 3.0)
    np.testing.assert_array_equal(sd([0.0, 0.5, 1.0, 2.9, 3.2, 4.5]), [1.0, 1.0, 2.0, 2.0, 1.0, 2.0])
    t = np.linspace(0.0, 9.0, 901)
    for offset in (0.0, 0.5, 1.0, 2.25, 7.5):
        moved = sd.shifted(offset)
        assert moved.period == 3.0
        np.testing.assert_array_equal(moved(t), sd(t + offset))


@pytest.mark.parametrize(
    ("edges", "factors", "message"),
    [
        ([0.0, 1.0], [1.0, 2.0], "k >= 1 factors and k \\+ 1 edges"),
        ([0.5, 1.0], [1.0], "start at 0"),
        ([0.0, 1.0, 1.0], [1.0, 1.0], "increase strictly"),
        ([0.0, 1.0], [0.0], "positive and finite"),
        ([0.0, 1.0], [math.nan], "positive and finite"),
    ],
)
def test_bad_slowdowns_are_refused(edges: list[float], factors: list[float], message: str) -> None:
    with pytest.raises(ParameterError, match=message):
        _steps(edges, factors)


def test_bad_traces_and_arguments_are_refused() -> None:
    with pytest.raises(ParameterError, match="same >= 2 requests"):
        split_trace([0.0, 1.0], [1.0])
    with pytest.raises(ParameterError, match="positive and finite"):
        split_trace([0.0, 1.0], [1.0, 0.0])
    with pytest.raises(ParameterError, match="finite"):
        split_trace([0.0, math.inf], [1.0, 1.0])
    with pytest.raises(ParameterError, match="window"):
        split_trace([0.0, 1.0], [1.0, 1.0], window=0.0)
    with pytest.raises(ParameterError, match=r"capplan\.sim\.Slowdown"):
        simulate_queue(1.0, 0.5, 1, 100, seed=0, slowdown=(np.array([0.0, 1.0]), np.array([1.0])))  # type: ignore[arg-type]


def test_slowdown_shows_in_the_description_and_offered_load() -> None:
    result = simulate_queue(100.0, 0.002, 1, 1000, seed=0, slowdown=_steps([0.0, 1.0, 2.0], [1.0, 2.0]))
    assert "slowdown 1-2x over 2 s" in result.spec.describe()
    assert result.spec.offered_utilization == pytest.approx(0.3)
    assert result.summary()["ci_low"].isna().all()  # batch means do not apply
