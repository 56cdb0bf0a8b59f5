"""A connection whose hold a CPU step taking the interpreter lock follows goes back only once the
thread has the lock again (the driver's code that returns it runs under the lock): in the
simulation (capplan.layered._sim_kernel) and in the analytic solve (the pool's holding time).

Reference: Little's law on the pool: busy connections = acquisitions per second x the time each is
kept.  The pool of 8 per process never makes a request wait here, so a connection is kept for the
hold plus the wait for the lock that follows it, and nothing else.
"""

from __future__ import annotations

import pytest

from capplan import layered as ly
from capplan.layered.simulate import _encode

HOLD = 0.004


def _model(gil_free: float, rate: float = 300.0) -> ly.ServiceModel:
    steps = (ly.Cpu(0.0015), ly.Hold("db", HOLD, 0.25), ly.Cpu(0.0008))
    return ly.ServiceModel(
        [ly.RequestClass("api", rate, steps)],
        workers=ly.Workers(1, 8),
        cores=2,
        gil_free=gil_free,
        pools={"db": ly.Pool(8)},
    )


def _pool_utilization(result: ly.LayeredResult) -> float:
    return float(result.layers.loc["pool db", "utilization"])  # type: ignore[arg-type]


def test_only_holds_a_locked_cpu_step_follows_keep_their_connection() -> None:
    kinds = _encode(_model(0.1))[0]
    assert kinds.tolist() == [0, 3, 0]
    assert _encode(_model(1.0))[0].tolist() == [0, 1, 0]  # no lock to wait for
    wait_after = ly.ServiceModel(
        [ly.RequestClass("a", 10.0, (ly.Hold("db", HOLD), ly.Wait(0.01), ly.Cpu(0.001)))],
        workers=ly.Workers(1, 2),
        cores=1,
        pools={"db": ly.Pool(1)},
    )
    assert _encode(wait_after)[0].tolist() == [1, 2, 0]


def test_simulated_connections_are_kept_for_the_lock() -> None:
    """Without the lock the pool is busy for the hold alone; with it, for the hold and the lock
    wait of the CPU step after it: Little's law on the simulated pool, either way."""
    free = _model(1.0).simulate(300_000, seed=3)
    assert _pool_utilization(free) * 8 == pytest.approx(300.0 * HOLD, rel=0.02)
    locked = _model(0.0).simulate(300_000, seed=3)
    lock_wait = float(locked.waits.loc[("api", "interpreter lock"), "mean"])  # type: ignore[union-attr, arg-type]
    assert lock_wait > 0.5 * HOLD  # the lock is busy: what is kept is not small
    busy = _pool_utilization(locked) * 8 / 300.0  # seconds a connection is kept per request
    # the two CPU steps wait for the lock alike (Poisson arrivals see time averages): half of it
    assert busy == pytest.approx(HOLD + lock_wait / 2, rel=0.05)


def test_solve_keeps_connections_for_the_lock_as_the_simulation_does() -> None:
    model = _model(0.0)
    solved, simulated = model.solve(), model.simulate(300_000, seed=5)
    lock_per_visit = float(solved.layers.loc["interpreter lock", "wait_mean"]) / 2  # type: ignore[arg-type]
    assert _pool_utilization(solved) * 8 == pytest.approx(300.0 * (HOLD + lock_per_visit), rel=1e-9)
    assert _pool_utilization(solved) == pytest.approx(_pool_utilization(simulated), rel=0.05)
    without = _model(1.0).solve()
    assert _pool_utilization(without) * 8 == pytest.approx(300.0 * HOLD, rel=1e-9)
