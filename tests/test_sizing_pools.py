"""size_pool: the acquisition-wait budget at a percentile, the deadlock minimum, the HikariCP rule."""

from __future__ import annotations

import math

import pytest
from scipy import stats

from capplan import ParameterError
from capplan.queueing import MMc, erlang_c
from capplan.sim import simulate_queue
from capplan.sizing import hikaricp_rule, size_pool


def test_smallest_pool_meeting_the_seed_budget() -> None:
    # 5,000 queries/s holding a connection 5 ms: 25 Erlangs.  The seed's budget is 10 ms at p99.
    r = size_pool(5000.0, 0.005)
    c = r.pool_size
    assert MMc(5000.0, 200.0, c).wait_quantile(0.99) <= 0.010 < MMc(5000.0, 200.0, c - 1).wait_quantile(0.99)
    assert r.binding == "p99 acquisition wait <= 10 ms"
    assert r.prob_wait == pytest.approx(erlang_c(c, 25.0), rel=1e-12)
    assert r.utilization == pytest.approx(25.0 / c)
    assert r.method == "exact"


def test_p99_wait_in_closed_form() -> None:
    # M/M/c: P(W > t) = C e^{-(c mu - lambda) t}, so the p99 wait is ln(100 C) / (c mu - lambda).
    r = size_pool(5000.0, 0.005)
    c = r.pool_size
    expected = math.log(100 * erlang_c(c, 25.0)) / (c * 200.0 - 5000.0)
    assert r.acquisition_wait == pytest.approx(max(expected, 0.0), rel=1e-12)


def test_simulation_agrees_at_the_chosen_size() -> None:
    r = size_pool(2000.0, 0.01, budget=0.005)
    sim = simulate_queue(2000.0, stats.expon(scale=0.01), r.pool_size, 1_000_000, seed=3)
    row = sim.summary(confidence=0.99).loc["wait_p99"]
    assert row["ci_low"] <= r.acquisition_wait <= row["ci_high"]


def test_deadlock_minimum_binds_with_nested_connections() -> None:
    # HikariCP: with T threads each holding C connections at once, a pool of T(C - 1) + 1 cannot deadlock.
    r = size_pool(100.0, 0.01, threads=20, connections_per_request=3)
    assert r.deadlock_minimum == 41
    assert r.pool_size == 41
    assert r.binding.startswith("deadlock-free minimum")


def test_hikaricp_rule_is_reported_beside_the_answer() -> None:
    assert hikaricp_rule(16, 2) == 34
    assert size_pool(1000.0, 0.004, cores=8).hikaricp_rule == 16
    assert size_pool(1000.0, 0.004).hikaricp_rule is None
    frame = size_pool(1000.0, 0.004, cores=8).to_frame()
    assert frame.loc["pool_size", "unit"] == "connections"


def test_variable_holds_need_more_connections() -> None:
    steady = size_pool(3000.0, 0.005, hold_scv=0.25).pool_size
    bursty = size_pool(3000.0, 0.005, hold_scv=4.0).pool_size
    assert bursty > steady


@pytest.mark.parametrize(
    ("kwargs", "name"),
    [
        ({"request_rate": -1.0}, "request_rate"),
        ({"hold_time": 0.0}, "hold_time"),
        ({"budget": 0.0}, "budget"),
        ({"quantile": 1.0}, "quantile"),
        ({"hold": [0.01, 0.02]}, "not both"),
    ],
)
def test_bad_input(kwargs: dict[str, object], name: str) -> None:
    args: dict[str, object] = {"request_rate": 100.0, "hold_time": 0.01}
    args.update(kwargs)
    with pytest.raises(ParameterError, match=name):
        size_pool(**args)  # type: ignore[arg-type]
