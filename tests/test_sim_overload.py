"""The overload simulator: hand-worked schedules of timeouts, retries, breaker and shedding; the
exact M/M/c where timeouts change nothing; and the invariants of retry budgets and records.

Hand-worked schedules use one server, constant service times and first attempts given as a trace,
so every start, completion, timeout and retry is computed in the comments.  Reference values for
the statistical checks come from capplan.queueing.MMc (exact M/M/c; itself checked against
50-digit arithmetic in test_queueing_mmc.py): with no retries the server's queue is the plain
M/M/c whatever the clients do, and an attempt times out when its response exceeds the timeout.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import integrate, stats

from capplan import ParameterError
from capplan.overload import Backoff, CircuitBreaker, ClientPolicy, LoadShedding, RetryBudget, RetryPolicy
from capplan.queueing import MMc
from capplan.sim import Load, simulate_overload
from capplan.sim.overload_kernel import OK, REFUSED, REJECTED, SLOW, TIMEOUT


def _client(timeout: float, retries: int = 0, backoff: float = 0.0) -> ClientPolicy:
    return ClientPolicy(timeout, RetryPolicy(retries, Backoff.fixed(backoff)))


def test_timeouts_and_retries_on_a_hand_worked_schedule() -> None:
    # Service 1 s, timeout 1.5 s, one retry after 0.5 s; first attempts at 0, 0.1, 0.2.
    # r0: 0 -> 1 (ok at 1).  r1: starts 1, done 2, response 1.9 > 1.5: times out at 1.6.
    # r2: starts 2, done 3, times out at 1.7.  r1's retry at 2.1: starts 3, done 4, times out at
    # 3.6, no retry left.  r2's retry at 2.2: starts 4, done 5, times out at 3.7.  The server works
    # 5 s, 4 of them for clients who had left.
    r = simulate_overload([0.0, 0.1, 0.2], 1.0, 1, seed=0, client=_client(1.5, 1, 0.5), duration=10.0)
    np.testing.assert_array_equal(r.status, [OK, TIMEOUT, TIMEOUT])
    np.testing.assert_allclose(r.latency, [1.0, 3.5, 3.5])
    np.testing.assert_array_equal(r.attempts, [1, 2, 2])
    t = r.totals()
    assert t["attempts"] == 5 and t["amplification"] == pytest.approx(5 / 3)
    assert t["wasted_share"] == pytest.approx(4 / 5)
    assert t["backlog_s"] == pytest.approx(5.0 - 3.7)  # work left when the last client gave up


def test_deadline_propagation_drops_expired_attempts_at_the_head() -> None:
    # As above, but the server drops an attempt whose client has already given up.
    # r2 reaches the head at 2 after waiting 1.8 >= 1.5: dropped (client times out at 1.7).
    # r1's retry at 2.1 finds the server free since 2: done 3.1, ok (latency 3.0).
    # r2's retry at 2.2: starts 3.1 (waited 0.9), done 4.1, response 1.9: times out at 3.7.
    shed = LoadShedding(drop_expired=True)
    r = simulate_overload(
        [0.0, 0.1, 0.2], 1.0, 1, seed=0, client=_client(1.5, 1, 0.5), shedding=shed, duration=10.0
    )
    np.testing.assert_array_equal(r.status, [OK, OK, TIMEOUT])
    np.testing.assert_allclose(r.latency, [1.0, 3.0, 3.5])
    assert r.sums[:, 11].sum() == 1  # dropped_expired
    assert r.totals()["wasted_share"] == pytest.approx(2 / 4)


def test_circuit_breaker_opens_fails_fast_and_closes() -> None:
    # Service 0.4 s, timeout 0.5 s; the breaker opens after 2 consecutive failures and stays
    # open 1 s after the last one.  Four attempts at 0: served 0-0.4 (ok at 0.4), 0.4-0.8,
    # 0.8-1.2, 1.2-1.6 (those three time out at 0.5; the second failure opens the breaker).
    # At 0.9 the breaker is open (0.4 s since the last failure): rejected.  At 2.0 (1.5 s since):
    # half-open, served 2.0-2.4, ok: one success closes it.  At 2.1: served 2.4-2.8, response
    # 0.7: times out, a first failure, the breaker stays closed.
    breaker = CircuitBreaker(failure_threshold=2, success_threshold=1, timeout=1.0)
    r = simulate_overload(
        [0.0, 0.0, 0.0, 0.0, 0.9, 2.0, 2.1],
        0.4,
        1,
        seed=0,
        client=_client(0.5),
        breaker=breaker,
        duration=5.0,
    )
    np.testing.assert_array_equal(r.status, [OK, TIMEOUT, TIMEOUT, TIMEOUT, REJECTED, OK, TIMEOUT])
    t = r.totals()
    assert t["breaker_opens"] == 1 and t["final_rejected"] == 1


def test_breaker_opens_on_the_error_rate_of_a_full_window() -> None:
    # Service 2 s and a 1 s timeout: every call fails.  Five consecutive failures would open the
    # breaker at the 5th outcome; a window of 4 calls, 100% failing (> 40%), opens it at the 4th.
    breaker = CircuitBreaker(failure_threshold=5, error_rate_threshold=0.4, window=4, timeout=100.0)
    arrivals = np.arange(8) * 10.0
    r = simulate_overload(arrivals, 2.0, 1, seed=0, client=_client(1.0), breaker=breaker, duration=100.0)
    np.testing.assert_array_equal(r.status, [TIMEOUT] * 4 + [REJECTED] * 4)


def test_breaker_closes_after_a_burst_of_failures_with_a_fresh_window() -> None:
    # One server, service 0.5 s, timeout 1 s, first attempts 10 ms apart: the first two are
    # answered (at 0.5 and 1.0), the next four time out at 1.02-1.05.  The window of 4 calls is
    # 75% failures at 1.04 (> 50%): open.  At 2.0 the breaker is open: rejected.  At 3.5 (more than
    # 1 s after the last failure) half-open, with a new window: served 3.5-4.0, ok, closed.  At 4.5
    # closed: ok.  (With the seed's error rate over every call since start-up, 4 of 7 calls failed
    # at 4.0 and the success would open it again.)
    breaker = CircuitBreaker(failure_threshold=100, error_rate_threshold=0.5, window=4, timeout=1.0)
    arrivals = [0.0, 0.01, 0.02, 0.03, 0.04, 0.05, 2.0, 3.5, 4.5]
    r = simulate_overload(arrivals, 0.5, 1, seed=0, client=_client(1.0), breaker=breaker, duration=6.0)
    np.testing.assert_array_equal(r.status, [OK, OK, *[TIMEOUT] * 4, REJECTED, OK, OK])
    assert r.totals()["breaker_opens"] == 1


def test_slow_calls_count_as_breaker_failures_and_can_be_errors() -> None:
    # Service 0.3 s, response-time threshold 0.2 s: every call is slow.  Delivered by default, the
    # slow calls still open the breaker after 2 in a row; with slow_call_is_error they are errors.
    arrivals = [0.0, 1.0, 2.0, 2.5]
    slow = CircuitBreaker(failure_threshold=2, timeout=10.0, response_time_threshold=0.2)
    r = simulate_overload(arrivals, 0.3, 1, seed=0, client=_client(1.0), breaker=slow, duration=5.0)
    np.testing.assert_array_equal(r.status, [SLOW, SLOW, REJECTED, REJECTED])
    assert r.succeeded.tolist() == [True, True, False, False]
    strict = CircuitBreaker(
        failure_threshold=2, timeout=10.0, response_time_threshold=0.2, slow_call_is_error=True
    )
    e = simulate_overload(arrivals, 0.3, 1, seed=0, client=_client(1.0), breaker=strict, duration=5.0)
    assert e.succeeded.tolist() == [False, False, False, False]


def test_exponential_backoff_with_full_jitter_spaces_retries() -> None:
    # Every attempt is refused (nobody may wait and the one server is always busy with a long
    # first request), so retry k waits U(0, min(cap, 0.1 * 2^(k-1))): the mean time from the first
    # send to the final refusal is the sum of the mean delays, 0.05 + 0.1 + 0.2 = 0.35 s.
    policy = ClientPolicy(100.0, RetryPolicy(3, Backoff.exponential(0.1, cap=10.0, jitter="full")))
    arrivals = np.concatenate([[0.0], np.linspace(1.0, 900.0, 20_000)])
    r = simulate_overload(
        arrivals, 1_000.0, 1, seed=1, client=policy, shedding=LoadShedding(max_queue=0), duration=2_000.0
    )
    refused = r.status[1:] == REFUSED
    assert refused.all() and (r.attempts[1:] == 4).all()
    assert r.latency[1:].mean() == pytest.approx(0.35, rel=0.02)


def test_codel_like_shedding_drops_long_waits_once_the_queue_has_stood() -> None:
    # One server, service 1 s, target 0.5 s, interval 2 s.  Four attempts at 0: the first is
    # served 0-1; the second waited 1 s, but the queue has stood only since 0 (1 s < 2 s), so its
    # limit is the interval: served 1-2.  The third and fourth reach the head at 2 after waiting
    # 2 s, the queue having stood for 2 s: limit 0.5 s, dropped (refused at 2).  At 2.5 the
    # server is free: served.
    shed = LoadShedding(target=0.5, interval=2.0)
    r = simulate_overload([0.0, 0.0, 0.0, 0.0, 2.5], 1.0, 1, seed=0, shedding=shed, duration=5.0)
    np.testing.assert_array_equal(r.status, [OK, OK, REFUSED, REFUSED, OK])
    np.testing.assert_allclose(r.latency, [1.0, 2.0, 2.0, 2.0, 1.0])


def test_queue_length_shedding_refuses_only_attempts_that_would_wait() -> None:
    # Two servers, service 1 s, at most one waiting: attempts at 0, 0, 0, 0 -> two served, one
    # waits, the fourth is refused; at 1.5 one server is free again: served without waiting.
    shed = LoadShedding(max_queue=1)
    r = simulate_overload([0.0, 0.0, 0.0, 0.0, 1.5], 1.0, 2, seed=0, shedding=shed, duration=5.0)
    np.testing.assert_array_equal(r.status, [OK, OK, OK, REFUSED, OK])
    zero = simulate_overload([0.0, 0.5], 1.0, 1, seed=0, shedding=LoadShedding(max_queue=0), duration=5.0)
    np.testing.assert_array_equal(zero.status, [OK, REFUSED])


def test_refused_attempts_are_retried_after_the_backoff() -> None:
    # max_queue 0 on one server, service 1 s: the attempt at 0.5 is refused, retried 1 s later at
    # 1.5 when the server is free: served 1.5-2.5 (latency 2.0 from the first send).
    r = simulate_overload(
        [0.0, 0.5],
        1.0,
        1,
        seed=0,
        client=_client(10.0, 1, 1.0),
        shedding=LoadShedding(max_queue=0),
        duration=5.0,
    )
    np.testing.assert_array_equal(r.status, [OK, OK])
    np.testing.assert_allclose(r.latency, [1.0, 2.0])
    np.testing.assert_array_equal(r.attempts, [1, 2])


def test_timeout_probability_without_retries_is_the_exact_mmc_tail() -> None:
    # No retries and no dropping: the server's queue is M/M/8 whatever the clients do, and an
    # attempt times out when its response exceeds the timeout: P(T > 2) of MMc(6.4, 1, 8).
    r = simulate_overload(Load.constant(6.4, 40_000.0), stats.expon(), 8, seed=11, client=_client(2.0))
    s = r.summary(start=1_000.0)
    exact = 1.0 - MMc(6.4, 1.0, 8).response_cdf(2.0)
    n = s["requests"]
    se = math.sqrt(exact * (1 - exact) / n) * 6  # responses are correlated: a generous band
    assert abs(s["timeout_rate"] - exact) < se, (s["timeout_rate"], exact)
    assert s["utilization"] == pytest.approx(0.8, rel=0.02)
    # Work wasted on them: E[S; W + S > T] / E[S].  With S ~ Exp(1), E[S; S > a] = (a + 1) e^-a
    # for a >= 0; W is 0 with probability 1 - P(wait), else Exp(c mu - lam) (exact M/M/c).
    m = MMc(6.4, 1.0, 8)
    theta = 8.0 - 6.4

    def tail_work(a: float) -> float:
        return (a + 1.0) * math.exp(-a) if a > 0 else 1.0

    waited, _ = integrate.quad(lambda w: tail_work(2.0 - w) * theta * math.exp(-theta * w), 0.0, 2.0)
    wasted = (1 - m.prob_wait) * tail_work(2.0) + m.prob_wait * (waited + math.exp(-theta * 2.0))
    assert s["wasted_share"] == pytest.approx(wasted, rel=0.03)


def test_without_timeouts_the_mean_response_is_the_mmc_one() -> None:
    r = simulate_overload(Load.constant(6.4, 40_000.0), stats.expon(), 8, seed=12)
    s = r.summary(start=1_000.0)
    assert s["success_ratio"] == 1.0 and s["attempts_per_request"] == 1.0
    lat = r.latency[(r.arrivals >= 1_000.0)]
    assert lat.mean() == pytest.approx(MMc(6.4, 1.0, 8).mean_response, rel=0.03)


def test_retry_budget_caps_retries() -> None:
    # Overloaded (every attempt times out): without a budget every request makes 4 attempts;
    # a 10% budget allows 0.1 retries per request plus the initial burst of 10 tokens.
    budget = RetryBudget(ratio=0.1, burst=10.0)
    client = ClientPolicy(0.5, RetryPolicy(3, Backoff.fixed(0.1), budget))
    r = simulate_overload(Load.constant(4.0, 2_000.0), 1.0, 2, seed=3, client=client)
    t = r.totals()
    retries = t["attempts"] - t["requests"]
    assert retries <= 0.1 * t["requests"] + 10 + 1e-9
    assert retries >= 0.1 * t["requests"] - 1  # the budget is used up: retries are wanted
    free = simulate_overload(
        Load.constant(4.0, 2_000.0), 1.0, 2, seed=3, client=ClientPolicy(0.5, RetryPolicy(3))
    )
    assert free.totals()["amplification"] == pytest.approx(4.0)


def test_overloaded_fleet_reports_zero_goodput_not_nan() -> None:
    # Twice the capacity, with retries: nothing succeeds after the first seconds.
    r = simulate_overload(Load.constant(2.0, 500.0), 1.0, 1, seed=5, client=_client(1.0, 2))
    s = r.summary(start=100.0)
    assert s["success_ratio"] == 0.0 and s["goodput"] == 0.0
    assert math.isinf(s["latency_p99"])
    assert not r.timeline.isna().any().any()
    assert math.isinf(r.recovery_time(100.0))


def test_spike_load_and_recovery_time() -> None:
    # Light load with a spike to twice the capacity, no retries: the queue builds during the
    # spike and drains after it; requests fail only around the spike.
    client = _client(10.0)  # P(S > 10) = 5e-5: outside the spike nothing times out
    r = simulate_overload(
        Load.spike(2.0, 16.0, 200.0, 50.0, 1_000.0), stats.expon(), 8, seed=7, client=client
    )
    tl = r.timeline
    assert tl.loc[tl.time < 190, "success_ratio"].min() > 0.98
    assert r.recovery_time(250.0) < 200.0
    assert r.summary(0, 200)["error_rate"] < 0.01 < r.summary(200, 300)["error_rate"]


def test_same_seed_same_run() -> None:
    client = _client(1.0, 2)
    a = simulate_overload(Load.constant(7.0, 300.0), stats.expon(), 8, seed=9, client=client)
    b = simulate_overload(Load.constant(7.0, 300.0), stats.expon(), 8, seed=9, client=client)
    np.testing.assert_array_equal(a.status, b.status)
    np.testing.assert_array_equal(a.latency, b.latency)


@pytest.mark.parametrize(
    ("make", "field"),
    [
        (lambda: ClientPolicy(timeout=0.0), "timeout"),
        (lambda: ClientPolicy(timeout=-1.0), "timeout"),
        (lambda: RetryPolicy(max_retries=-1), "max_retries"),
        (lambda: RetryPolicy(max_retries=1.5), "max_retries"),  # type: ignore[arg-type]
        (lambda: Backoff(base=-0.1), "backoff.base"),
        (lambda: Backoff.exponential(0.1, multiplier=0.5), "backoff.multiplier"),
        (lambda: Backoff(jitter="half"), "backoff.jitter"),  # type: ignore[arg-type]
        (lambda: RetryBudget(ratio=-0.1), "retry_budget.ratio"),
        (lambda: CircuitBreaker(window=0), "breaker.window"),
        (lambda: CircuitBreaker(failure_threshold=0), "breaker.failure_threshold"),
        (lambda: CircuitBreaker(timeout=0), "breaker.timeout"),
        (lambda: CircuitBreaker(error_rate_threshold=1.5), "breaker.error_rate_threshold"),
        (lambda: LoadShedding(max_queue=-1), "shedding.max_queue"),
        (lambda: LoadShedding(target=0.2, interval=0.1), "shedding.target"),
        (lambda: ClientPolicy(timeout=math.nan), "timeout"),
    ],
)
def test_invalid_policies_name_the_field(make: object, field: str) -> None:
    with pytest.raises(ParameterError, match=field.replace(".", r"\.")):
        make()  # type: ignore[operator]


def test_invalid_simulation_inputs_name_the_parameter() -> None:
    with pytest.raises(ParameterError, match="servers"):
        simulate_overload(Load.constant(1.0, 10.0), 1.0, 0, seed=0)
    with pytest.raises(ParameterError, match="sorted"):
        simulate_overload([1.0, 0.5], 1.0, 1, seed=0)
    with pytest.raises(ParameterError, match="client"):
        simulate_overload(Load.constant(1.0, 10.0), 1.0, 1, seed=0, client=1.0)  # type: ignore[arg-type]
    with pytest.raises(ParameterError, match=r"load\.rates"):
        Load.steps([-1.0], [1.0])
    with pytest.raises(ParameterError, match="spike"):
        Load.spike(1.0, 2.0, 5.0, 10.0, 10.0)
