"""The per-interval fluid model: exact where the queue is stationary, checked against the
request-level simulator where it is not.

Measured (seed 1, one pod of 4 workers, exponential 50 ms service, a ramp to rho = 0.9, a
3-minute overload at rho = 1.25, then rho = 0.7): median relative error of the per-interval
p95 about 10%, about 10% (at most 25%) in the intervals with a backlog, and the worst latency of the
overload within 10%.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from scipy import stats

from capplan.autoscale import Schedule, Traffic, Workload, check_fluid, constant, from_csv, simulate
from capplan.queueing import MMc
from capplan.sim import simulate_queue


def _fixed(n: int, size: int) -> Schedule:
    return Schedule(np.full(size, n))


def test_stationary_load_gives_the_mmc_percentiles() -> None:
    # Source: below rho_cap with no backlog the model is the pointwise-stationary M/M/c of one
    # pod (Green & Kolesar 1991); here the load is constant, so it must equal capplan's exact MMc.
    wl = Workload(0.05, workers=4)
    tr = constant(600.0, 1800)  # 10 pods of 80/s at rho 0.75
    res = simulate(tr, _fixed(10, tr.rate.size), wl, sla={0.95: 0.2, 0.99: 0.5})
    m = MMc(60.0, 20.0, 4)
    tl = res.timeline
    assert tl["p95_s"].to_numpy() == pytest.approx(m.response_quantile(0.95), rel=2e-3)
    assert tl["p99_s"].to_numpy() == pytest.approx(m.response_quantile(0.99), rel=2e-3)
    assert tl["utilization"].to_numpy() == pytest.approx(0.75)  # CPU-bound: busy fraction
    assert (tl["backlog"] == 0).all() and (tl["dropped"] == 0).all()
    assert res.replica_hours == pytest.approx(10 * 0.5)
    over = {q: 30.0 if m.response_quantile(q) > t else 0.0 for q, t in ((0.95, 0.2), (0.99, 0.5))}
    assert res.sla_violation_minutes == {"p95 <= 0.2 s": over[0.95], "p99 <= 0.5 s": over[0.99]}


def test_overload_builds_and_drains_the_backlog_at_the_fluid_rate() -> None:
    # Source: fluid approximation (Newell 1982, ch. 2): dB/dt = lambda - mu while B > 0.
    wl = Workload(0.05, workers=4)  # 80/s per pod
    rate = np.array([100.0] * 8 + [40.0] * 40)  # 20/s over capacity for 120 s, then 40/s under
    res = simulate(Traffic(rate, 15.0), _fixed(1, rate.size), wl)
    backlog = res.timeline["backlog"].to_numpy()
    assert backlog[7] == pytest.approx(20 * 120)
    assert backlog[8] == pytest.approx(20 * 120 - 40 * 15)
    drained = int(np.argmax(backlog[8:] == 0)) + 8
    assert drained == 11  # 2400 requests at 40/s net: 60 s, i.e. intervals 8..11
    # arrivals at the end of the overload wait B / mu = 2400 / 80 = 30 s
    assert res.timeline["p95_s"].iloc[7] == pytest.approx(30.0, rel=0.05)


def test_timeout_drops_what_would_wait_too_long() -> None:
    wl = Workload(0.05, workers=4, timeout=5.0)  # backlog capped at 5 s * 80/s = 400
    rate = np.array([100.0] * 8 + [40.0] * 8)
    res = simulate(Traffic(rate, 15.0), _fixed(1, rate.size), wl)
    tl = res.timeline
    assert tl["backlog"].max() == pytest.approx(400.0)
    assert res.dropped == pytest.approx(20 * 120 - 400)
    assert tl["error_rate"].iloc[7] == pytest.approx(300 / 1500)  # all 300 excess of the interval
    assert (tl["error_rate"].iloc[8:] == 0).all()


def test_fluid_model_against_the_request_level_simulator() -> None:
    # Source: capplan.sim.simulate_queue (exact FCFS G/G/c, time-varying Poisson arrivals by
    # thinning) on the same rate function, one pod, percentiles per 15 s interval of arrival.
    dt = 15.0
    t = np.arange(0, 40 * 60, dt)
    rate = np.interp(
        t, [0, 600, 600.01, 900, 900.01, 1080, 1080.01, 2400], [20, 72, 72, 72, 100, 100, 56, 56]
    )
    tr = Traffic(rate, dt, name="ramp-spike")
    wl = Workload(0.05, workers=4)
    tl = simulate(tr, _fixed(1, rate.size), wl).timeline
    n = int(rate.sum() * dt)
    sim = simulate_queue(
        tr.rate_at,
        stats.expon(scale=0.05),
        servers=4,
        customers=n,
        seed=1,
        arrival_rate_max=100.0,
        warmup=0,
        batches=2,
        record_arrivals=True,
    )
    idx = np.floor(sim.arrival_times / dt).astype(int)
    p95 = np.array([np.quantile(sim.responses[idx == k], 0.95) for k in range(rate.size)])
    rel = np.abs(tl["p95_s"].to_numpy() - p95) / p95
    assert np.median(rel) < 0.15
    overloaded = tl["backlog"].to_numpy() > 0
    assert overloaded.sum() >= 12
    assert np.median(rel[overloaded]) < 0.15
    assert np.max(rel[overloaded]) < 0.3
    worst_model, worst_sim = tl["p95_s"].max(), p95.max()
    assert worst_model == pytest.approx(worst_sim, rel=0.1)


def test_check_fluid_with_time_outs() -> None:
    # Source: capplan.sim.simulate_queue with patience = the client time-out (abandonment), one
    # pod of a pool of 24 under the bundled trace's 13:00 spike (overload at rho ~ 1.2).
    tr = from_csv(Path(__file__).resolve().parents[1] / "data" / "traffic_day_spike.csv")
    window = Traffic(tr.rate[int(12.9 * 240) : int(13.35 * 240)], 15.0)
    df = check_fluid(window, Workload(0.04, workers=4, timeout=10.0), 24, seed=7)
    assert np.median(np.abs(df["rel_error_p95"])) < 0.1
    overloaded = df["sim_dropped"] > 0.1
    assert overloaded.sum() >= 5
    assert np.abs(df["model_dropped"] - df["sim_dropped"])[overloaded].max() < 0.03
    assert np.abs(df["rel_error_p99"])[overloaded].max() < 0.05  # waits pinned at the time-out
