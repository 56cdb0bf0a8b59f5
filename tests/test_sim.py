"""The simulator: exact on hand-worked traces, and in agreement with the exact models.

Reference values: hand-computed FCFS schedules; the exact M/M/c and M/M/c/K formulas of
capplan.queueing (themselves checked against 50-digit arithmetic in test_queueing_*.py); Erlang B
for the loss system (a customer with zero patience leaves whenever all servers are busy).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from capplan import ParameterError
from capplan.queueing import MMc, MMcK, erlang_b
from capplan.sim import hyperexponential, simulate_queue


def _inside(summary: pd.DataFrame, metric: str, value: float) -> bool:
    row = summary.loc[metric]
    return bool(row["ci_low"] <= value <= row["ci_high"])


def test_hand_worked_two_server_schedule() -> None:
    # Arrivals at 0, 1, 2, 3 (a trace of inter-arrival times), service 3 s, two servers:
    # customer 2 waits for the server freed at 3, customer 3 for the one freed at 4.
    r = simulate_queue(arrivals=[0.0, 1.0, 1.0, 1.0], service=3.0, servers=2, seed=0, warmup=0, batches=2)
    np.testing.assert_array_equal(r.waits, [0.0, 0.0, 1.0, 1.0])
    np.testing.assert_array_equal(r.responses, [3.0, 3.0, 4.0, 4.0])


def test_overloaded_deterministic_queue_grows_linearly() -> None:
    # D/D/1 with inter-arrival 1 s and service 2 s: customer k waits k seconds.
    r = simulate_queue(arrivals=np.ones(50), service=2.0, servers=1, seed=0, warmup=0)
    np.testing.assert_allclose(r.waits, np.arange(50.0))


def test_capacity_and_patience_on_a_trace() -> None:
    # One server, service 10 s, arrivals at 1, 2, 3: with room for 2 the third is blocked;
    # with patience 5 s and no capacity limit, customers 2 and 3 would wait 9 and 18 s: both leave.
    blocked = simulate_queue(arrivals=[1.0, 1.0, 1.0], service=10.0, seed=0, warmup=0, batches=2, capacity=2)
    assert blocked.blocked.tolist() == [False, False, True]
    np.testing.assert_array_equal(blocked.waits, [0.0, 9.0])
    impatient = simulate_queue(
        arrivals=[1.0, 1.0, 1.0], service=10.0, seed=0, warmup=0, batches=2, patience=5.0
    )
    assert impatient.reneged.tolist() == [False, True, True]
    np.testing.assert_array_equal(impatient.responses, [10.0])


@pytest.mark.parametrize(("lam", "c", "seed"), [(0.7, 1, 11), (3.2, 4, 12), (4.0, 8, 13), (7.2, 8, 14)])
def test_mmc_agrees_with_exact_formulas_within_ci(lam: float, c: int, seed: int) -> None:
    r = simulate_queue(lam, stats.expon(), c, 400_000, seed=seed)
    summary = r.summary(confidence=0.99)
    m = MMc(lam, 1.0, c)
    assert _inside(summary, "wait_mean", m.mean_wait)
    assert _inside(summary, "response_p95", m.response_quantile(0.95))
    assert _inside(summary, "response_p99", m.response_quantile(0.99))
    assert _inside(summary, "prob_wait", m.prob_wait)
    assert _inside(summary, "utilization", lam / c)
    assert _inside(summary, "throughput", lam)


def test_finite_capacity_agrees_with_mmck() -> None:
    r = simulate_queue(12.0, stats.expon(), 10, 400_000, seed=5, capacity=20)
    summary = r.summary(confidence=0.99)
    m = MMcK(12.0, 1.0, 10, 20)
    assert _inside(summary, "blocked_fraction", m.blocking_probability)
    assert _inside(summary, "wait_mean", m.mean_wait)


@pytest.mark.parametrize(("lam", "c"), [(3.0, 4), (10.0, 12)])
def test_zero_patience_is_the_erlang_loss_system(lam: float, c: int) -> None:
    r = simulate_queue(lam, stats.expon(), c, 300_000, seed=7, patience=0.0)
    assert _inside(r.summary(confidence=0.99), "reneged_fraction", erlang_b(c, lam))
    assert np.all(r.waits == 0.0)


def test_same_seed_same_numbers_and_chunking_does_not_matter() -> None:
    a = simulate_queue(0.8, stats.gamma(a=2, scale=0.5), 1, 50_000, seed=42)
    b = simulate_queue(0.8, stats.gamma(a=2, scale=0.5), 1, 50_000, seed=42, chunk_size=997)
    c = simulate_queue(0.8, stats.gamma(a=2, scale=0.5), 1, 50_000, seed=43)
    np.testing.assert_array_equal(a.waits, b.waits)
    assert not np.array_equal(a.waits, c.waits)
    pd.testing.assert_frame_equal(a.summary(), b.summary())


def test_generator_argument_is_used_not_global_state() -> None:
    np.random.seed(0)  # noqa: NPY002 - the legacy global state must not matter
    a = simulate_queue(0.5, stats.expon(), 1, 5_000, seed=np.random.default_rng(9))
    np.random.seed(1)  # noqa: NPY002
    b = simulate_queue(0.5, stats.expon(), 1, 5_000, seed=np.random.default_rng(9))
    np.testing.assert_array_equal(a.responses, b.responses)


def test_streaming_statistics_match_raw_records() -> None:
    raw = simulate_queue(0.9, stats.lognorm(1.0), 2, 200_000, seed=3)
    streamed = simulate_queue(0.9, stats.lognorm(1.0), 2, 200_000, seed=3, keep="stats")
    a, b = raw.summary(), streamed.summary()
    for metric in ("wait_mean", "response_mean", "prob_wait", "utilization", "throughput"):
        assert b.loc[metric, "estimate"] == pytest.approx(a.loc[metric, "estimate"], rel=1e-12)
    for metric in ("wait_p95", "wait_p99", "response_p50", "response_p99", "response_p99.9"):
        # One histogram bin is 0.1% wide; np.quantile interpolates between order statistics.
        assert b.loc[metric, "estimate"] == pytest.approx(a.loc[metric, "estimate"], rel=2e-3)
    with pytest.raises(ParameterError, match="keep='stats'"):
        _ = streamed.waits


@pytest.mark.parametrize(
    "service",
    [
        stats.gamma(a=3, scale=0.1),
        stats.lognorm(0.8, scale=0.2),
        stats.weibull_min(1.5, scale=0.3),
        stats.uniform(0.1, 0.4),
        stats.expon(loc=0.05, scale=0.2),
        hyperexponential(0.3, 4.0),
        stats.beta(2, 5),  # no in-kernel sampler: drawn in chunks with its own rvs
        np.array([0.1, 0.2, 0.2, 0.9]),
    ],
    ids=lambda s: type(s).__name__ if not hasattr(s, "dist") else s.dist.name,
)
def test_service_distributions_are_drawn_correctly(service: object) -> None:
    # At a tiny load nobody waits, so the response time is the service time.
    r = simulate_queue(1e-4, service, 1, 200_000, seed=1, warmup=0)
    mean = float(np.mean(service)) if isinstance(service, np.ndarray) else float(service.mean())  # type: ignore[attr-defined]
    assert _inside(r.summary(confidence=0.999), "response_mean", mean)
    if hasattr(service, "cdf"):
        ks = stats.kstest(r.responses[:20_000], service.cdf)
        assert ks.pvalue > 1e-3


def test_time_varying_rate_by_thinning() -> None:
    # 2/s for the first 1000 s, then 8/s: about 2000 arrivals in [0, 1000) and 8000 in [1000, 2000).
    def rate(t: np.ndarray) -> np.ndarray:
        return np.where(t < 1000.0, 2.0, 8.0)

    def span(customers: int) -> float:
        summary = simulate_queue(rate, 0.01, 1, customers, seed=4, arrival_rate_max=8.0, warmup=0).summary()
        return float(summary.attrs["customers"] / summary.loc["throughput", "estimate"])

    # 2000 arrivals at 2/s take about 1000 s (Poisson: sd ~ 22 s); 8000 more at 8/s another ~1000 s.
    assert 900 < span(2_000) < 1100
    assert 1900 < span(10_000) < 2100
    with pytest.raises(ParameterError, match="arrival_rate_max"):
        simulate_queue(rate, 0.01, 1, 5_000, seed=4, arrival_rate_max=5.0)


def test_constant_rate_function_matches_poisson() -> None:
    # Thinning a constant rate 0.8 out of candidates at 1.0 is a Poisson(0.8) process.  Summaries
    # of time-varying runs carry no batch-means intervals, so borrow the width of a homogeneous run
    # of the same size.
    exact = MMc(0.8, 1.0, 1).mean_wait
    thinned = simulate_queue(
        lambda t: np.full_like(t, 0.8), stats.expon(), 1, 300_000, seed=8, arrival_rate_max=1.0
    )
    poisson = simulate_queue(0.8, stats.expon(), 1, 300_000, seed=9).summary(confidence=0.99).loc["wait_mean"]
    half_width = (poisson["ci_high"] - poisson["ci_low"]) / 2
    assert abs(thinned.summary().loc["wait_mean", "estimate"] - exact) <= 1.5 * half_width


def test_summary_layout() -> None:
    s = simulate_queue(0.5, stats.expon(), 1, 10_000, seed=1).summary()
    assert list(s.columns) == ["estimate", "ci_low", "ci_high", "unit"]
    assert s.loc["response_p99.9", "unit"] == "s"
    assert s.loc["throughput", "unit"] == "1/s"
    assert (s["ci_low"] <= s["estimate"]).all() and (s["estimate"] <= s["ci_high"]).all()


@pytest.mark.parametrize(
    ("kwargs", "name"),
    [
        ({"arrival_rate": -1.0}, "arrival_rate"),
        ({"servers": 0}, "servers"),
        ({"service": np.array([])}, "service"),
        ({"service": stats.norm(1, 1)}, "negative support"),
        ({"service": np.array([0.1, -0.2])}, "service"),
        ({"customers": 0}, "customers"),
        ({"capacity": 1, "servers": 2}, "capacity"),
        ({"keep": "all"}, "keep"),
        ({"arrivals": stats.expon()}, "exactly one"),
        ({"batches": 1}, "batches"),
        ({"warmup": 1000}, "warmup"),
        ({"patience": -1.0}, "patience"),
    ],
)
def test_bad_input_names_the_parameter(kwargs: dict[str, object], name: str) -> None:
    args: dict[str, object] = {
        "arrival_rate": 1.0,
        "service": 0.5,
        "servers": 1,
        "customers": 1000,
        "seed": 0,
    }
    args.update(kwargs)
    with pytest.raises(ParameterError, match=name):
        simulate_queue(**args)  # type: ignore[arg-type]


def test_trace_too_short() -> None:
    with pytest.raises(ParameterError, match="exceeds"):
        simulate_queue(arrivals=[1.0, 2.0], service=0.5, customers=3, seed=0)


def test_recorded_arrival_times_are_aligned_with_waits() -> None:
    r = simulate_queue(arrivals=[0.0, 1.0, 1.0, 1.0], service=3.0, servers=2, seed=0, warmup=0, batches=2,
                       record_arrivals=True)  # fmt: skip
    np.testing.assert_array_equal(r.arrival_times, [0.0, 1.0, 2.0, 3.0])
    plain = simulate_queue(0.5, stats.expon(), 1, 1_000, seed=1)
    with pytest.raises(ParameterError, match="record_arrivals"):
        _ = plain.arrival_times


def test_progress_bar_only_when_asked(capsys: pytest.CaptureFixture[str]) -> None:
    simulate_queue(0.5, stats.expon(), 1, 20_000, seed=1)
    assert capsys.readouterr().err == ""
    simulate_queue(0.5, stats.expon(), 1, 20_000, seed=1, progress=True, chunk_size=5_000)
    assert "customer" in capsys.readouterr().err


def test_time_varying_runs_report_no_batch_means_intervals() -> None:
    s = simulate_queue(lambda t: np.full_like(t, 0.5), 0.1, 1, 5_000, seed=2, arrival_rate_max=1.0).summary()
    assert s["ci_low"].isna().all() and s["estimate"].notna().any()
    assert s.attrs["stationary"] is False


def test_intervals_are_clipped_to_the_range_of_each_metric() -> None:
    # At utilization 0.125 on 4 servers hardly anyone waits: the mean wait's batch estimates are
    # mostly 0 with a rare large one, so estimate - half-width < 0 (0.00106 - 0.00135 for this seed).
    s = simulate_queue(0.5, stats.expon(), 4, 5_000, seed=5).summary()
    wait = s.loc["wait_mean"]
    assert wait["estimate"] > 0
    assert wait["ci_low"] == 0.0
    assert (s["ci_low"] >= 0).all()
    fractions = s[s["unit"] == "fraction"]
    assert (fractions["ci_high"] <= 1).all()
