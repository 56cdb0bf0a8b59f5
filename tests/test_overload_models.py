"""The retry-amplification fixed point and the spike fluid model, against closed forms and the
simulator.

Closed forms: for M/M/1 the response time is exponential with rate mu - x (Kleinrock, Queueing
Systems vol. 1, sec. 3.2), so an attempt times out with p(x) = exp(-(mu - x) T) and the
fixed-point curve lam(x) = x / (1 + p + ... + p^R) can be maximised on a dense grid independently
of the library.  The thresholds are then checked against capplan.sim.simulate_overload, which
knows nothing of the fixed point: spikes above and below recovery_load, loads above collapse_load,
the good state's timeout probability, and spikes shorter and longer than spike_tolerance.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats

from capplan import ParameterError
from capplan.overload import (
    Backoff,
    ClientPolicy,
    RetryAmplification,
    RetryBudget,
    RetryPolicy,
    fluid_response,
    spike_tolerance,
)
from capplan.sim import Load, simulate_overload

EXP = stats.expon()


def _model(servers: int, timeout: float, retries: int, **retry: object) -> RetryAmplification:
    policy = RetryPolicy(retries, **retry)  # type: ignore[arg-type]
    return RetryAmplification(ClientPolicy(timeout, policy), servers, service_rate=1.0)


def test_mm1_timeout_probability_and_thresholds_match_the_closed_form() -> None:
    m = _model(1, 5.0, 3)
    x = np.array([0.1, 0.5, 0.9, 0.999])
    np.testing.assert_allclose(m.timeout_probability(x), np.exp(-(1.0 - x) * 5.0), rtol=1e-9)
    assert m.timeout_probability(1.0) == 1.0 and m.timeout_probability(2.0) == 1.0
    grid = np.linspace(0.0, 1.0, 2_000_001)[1:-1]
    p = np.exp(-(1.0 - grid) * 5.0)
    curve = grid / (1 + p + p**2 + p**3)
    assert m.collapse_load == pytest.approx(curve.max(), rel=1e-9)
    assert m.recovery_load == 0.25
    assert m.bistable


def test_fixed_points_are_solutions_with_the_right_stability() -> None:
    m = _model(1, 5.0, 3)
    frame = m.fixed_points(0.4)
    assert list(frame["state"]) == ["good", "unstable", "saturated"]
    assert list(frame["stable"]) == [True, False, True]
    for x, failure in frame.loc[
        frame["state"] != "saturated", ["attempt_rate", "request_failure"]
    ].to_numpy():
        p = math.exp(-(1.0 - x) * 5.0)
        assert x == pytest.approx(0.4 * (1 + p + p**2 + p**3), rel=1e-9)
        assert failure == pytest.approx(p**4, abs=1e-9)
    sat = frame.iloc[-1]
    assert sat.attempt_rate == pytest.approx(1.6) and sat.goodput == 0.0 and sat.request_failure == 1.0
    # below recovery_load one state; above collapse_load only the saturated one
    assert list(m.fixed_points(0.2)["state"]) == ["good"]
    assert list(m.fixed_points(0.6)["state"]) == ["saturated"]
    assert not m.fixed_points([0.1, 0.3, 0.5, 0.7, 5.0]).isna().any().any()


def test_without_retries_there_is_no_bistable_region_and_a_budget_moves_recovery() -> None:
    plain = _model(8, 2.0, 0)
    assert plain.recovery_load == plain.collapse_load == 8.0 and not plain.bistable
    budgeted = _model(8, 2.0, 3, budget=RetryBudget(0.1))
    assert budgeted.recovery_load == pytest.approx(8.0 / 1.1)
    assert budgeted.amplification(1.0) == pytest.approx(1.1)
    unbudgeted = _model(8, 2.0, 3)
    assert unbudgeted.amplification(0.5) == pytest.approx(1.875)


def test_infinite_timeout_is_refused() -> None:
    with pytest.raises(ParameterError, match="timeout"):
        RetryAmplification(ClientPolicy(), 4, service_rate=1.0)
    with pytest.raises(ParameterError, match="service_rate"):
        RetryAmplification(ClientPolicy(1.0), 4)


# -- against the simulator: 8 servers, exponential service of mean 1 s, 5 s timeout, 3 retries ------
SERVERS, TIMEOUT = 8, 5.0
CLIENT = ClientPolicy(TIMEOUT, RetryPolicy(3, Backoff.fixed(0.0)))
MODEL = RetryAmplification(CLIENT, SERVERS, service_rate=1.0)


def test_good_state_matches_the_simulated_steady_state() -> None:
    # At 80% of the collapse load the good state holds for the 6,000 s simulated (seed 4); the
    # timeout probability and the attempts per request agree with the fixed point.
    lam = 0.8 * MODEL.collapse_load
    good = MODEL.operating_point(lam)
    r = simulate_overload(Load.constant(lam, 6_000.0), EXP, SERVERS, seed=4, client=CLIENT)
    s = r.summary(start=500.0)
    assert s["success_ratio"] > 0.999
    assert s["attempt_timeout_probability"] == pytest.approx(good.timeout_probability, rel=0.15)
    assert s["attempts_per_request"] == pytest.approx(good.amplification, rel=0.005)


@pytest.mark.parametrize(("factor", "recovers"), [(0.9, True), (1.1, False)])
def test_recovery_load_separates_spikes_that_heal_from_those_that_do_not(
    factor: float, recovers: bool
) -> None:
    # A 20 s spike at 1.5x capacity, then the base load: below recovery_load the backlog drains
    # (in a few hundred seconds), above it the fleet stays down to the end of the run.
    lam = factor * MODEL.recovery_load
    for seed in range(3):
        r = simulate_overload(
            Load.spike(lam, 12.0, 100.0, 20.0, 3_000.0),
            EXP,
            SERVERS,
            seed=seed,
            client=CLIENT,
            bin_width=20.0,
        )
        assert (r.recovery_time(120.0) < 2_000.0) is recovers, (seed, r.recovery_time(120.0))


def test_above_collapse_load_the_fleet_falls_over_without_a_spike() -> None:
    lam = 1.05 * MODEL.collapse_load
    for seed in range(3):
        r = simulate_overload(
            Load.constant(lam, 2_000.0), EXP, SERVERS, seed=seed, client=CLIENT, bin_width=20.0
        )
        assert r.summary(start=1_500.0)["success_ratio"] < 0.01


def test_spike_tolerance_against_simulated_spikes() -> None:
    # Base load 1.5x recovery_load, spikes to 1.5x capacity: spikes half the predicted tolerance
    # are survived, spikes twice as long are not (6 seeds each; near the boundary the randomness
    # of a finite fleet decides, so one miss each way is allowed).
    base, peak = 1.5 * MODEL.recovery_load, 12.0
    tolerance = spike_tolerance(MODEL, base, peak)
    assert 2.0 < tolerance < 40.0

    def survived(length: float) -> int:
        total = 0
        for seed in range(6):
            load = Load.spike(base, peak, 200.0, length, 200.0 + length + 2_000.0)
            r = simulate_overload(load, EXP, SERVERS, seed=seed, client=CLIENT, bin_width=10.0)
            total += r.recovery_time(200.0 + length) < math.inf
        return total

    assert survived(0.5 * tolerance) >= 5
    assert survived(2.0 * tolerance) <= 1


def test_spike_tolerance_edges() -> None:
    assert spike_tolerance(MODEL, 0.9 * MODEL.recovery_load, 100.0) == math.inf
    assert spike_tolerance(MODEL, 1.01 * MODEL.collapse_load, 100.0) == 0.0
    assert spike_tolerance(MODEL, 3.0, 2.0) == math.inf  # a "spike" below the base
    # longer timeouts let the fleet ride out longer spikes
    patient = RetryAmplification(ClientPolicy(20.0, RetryPolicy(3)), SERVERS, service_rate=1.0)
    assert spike_tolerance(patient, 3.0, 12.0) > spike_tolerance(MODEL, 3.0, 12.0)


def test_fluid_response_paths() -> None:
    base, peak = 1.5 * MODEL.recovery_load, 12.0
    tol = spike_tolerance(MODEL, base, peak)
    healed = fluid_response(MODEL, base, peak, 0.5 * tol)
    down = fluid_response(MODEL, base, peak, 2.0 * tol)
    assert healed.attrs["outcome"] == "recovered" and down.attrs["outcome"] == "diverged"
    assert healed["backlog"].iloc[-1] == 0.0 and down["backlog"].iloc[-1] > TIMEOUT
    assert not healed.isna().any().any()


def test_plots_draw_the_states_and_the_timeline() -> None:
    import matplotlib  # noqa: PLC0415 - headless backend before pyplot

    matplotlib.use("Agg")
    from capplan.plots import plot_fixed_point, plot_overload_timeline  # noqa: PLC0415

    ax = plot_fixed_point(MODEL, 3.0)
    points = [line for line in ax.get_lines() if line.get_marker() == "o"]
    assert len(points) == 3  # good, unstable, saturated
    assert [t.get_text() for t in ax.texts] == ["good", "unstable", "saturated"]
    r = simulate_overload(Load.spike(3.0, 12.0, 50.0, 20.0, 200.0), EXP, SERVERS, seed=1, client=CLIENT)
    ax = plot_overload_timeline(r)
    assert len(ax.get_lines()) >= 3
