"""capplan.layered._network: the truncated count of others at a station; the compiled
fixed point against the NumPy one; the solve's shortcuts for the sizing search.

Reference values: the binomials' pmfs from scipy.stats.binom, convolved in full with numpy
(no truncation), give ``P(K >= m)`` and ``E[(K - m)+]`` by their definitions.  The compiled
iteration (capplan.layered._network_kernel) is checked against the NumPy iteration of the same
module, which it must reproduce to rounding.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from capplan import layered as ly
from capplan.layered._network import queue_counts, solve_network
from capplan.layered.solve import demands, layer_loads, offered_utilization, solve


def full_counts(groups: list[tuple[np.ndarray, np.ndarray]], m: int) -> tuple[np.ndarray, np.ndarray]:
    busy, ahead = [], []
    for row in range(groups[0][0].size):
        pmf = np.array([1.0])
        for n, mean in groups:
            trials = int(np.ceil(max(n[row], 0.0)))
            p = min(mean[row] / trials, 1.0) if trials > 0 else 0.0
            pmf = np.convolve(pmf, stats.binom.pmf(np.arange(trials + 1), trials, p))
        k = np.arange(pmf.size)
        busy.append(pmf[k >= m].sum())
        ahead.append(pmf @ np.maximum(k - m, 0))
    return np.array(busy), np.array(ahead)


@pytest.mark.parametrize("m", [1, 2, 4, 7])
def test_queue_counts_match_the_full_convolution(m: int) -> None:
    n1 = np.array([0.0, 1.0, 3.0, 6.0, 15.0, 40.0])
    n2 = np.array([0.0, 2.0, 2.5, 9.0, 30.0, 63.0])
    groups = [(n1, n1 * 0.3), (n2, np.minimum(n2 * 0.45, n2))]
    busy, ahead = queue_counts(groups, m)
    want_busy, want_ahead = full_counts(groups, m)
    np.testing.assert_allclose(busy, want_busy, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(ahead, want_ahead, rtol=1e-12, atol=1e-13)


def models() -> list[ly.ServiceModel]:
    api = ly.RequestClass(
        "api", 60.0, (ly.Cpu(0.004, 1.5), ly.Hold("db", 0.006, 1.0), ly.Cpu(0.002, 1.0), ly.Wait(0.01))
    )
    batch = ly.RequestClass("batch", 5.0, (ly.Cpu(0.02, 1.0), ly.Hold("cache", 0.001, 0.5)))
    pools = {"db": ly.Pool(3, server_limit=7), "cache": ly.Pool(2)}
    return [
        ly.ServiceModel([api, batch], workers=ly.Workers(4, 8), cores=2, gil_free=0.1, pools=pools),
        ly.ServiceModel([api, batch], workers=ly.Workers(1, 16), cores=4, gil_free=1.0, pools=pools),
        ly.ServiceModel([api], workers=ly.Workers(2, 3), cores=1, pools={"db": ly.Pool(1)}),
    ]


@pytest.mark.parametrize("model", models())
def test_compiled_iteration_reproduces_the_numpy_one(model: ly.ServiceModel) -> None:
    d = demands(model)
    n = np.arange(1, model.workers.slots + 1, dtype=np.float64)
    weights = np.array([c.rate for c in model.classes])
    fast = solve_network(d, n, weights)
    slow = solve_network(d, n, weights, compiled=False)
    names = (
        "throughput",
        "residence",
        "lock_wait",
        "core_wait_lock",
        "core_wait_free",
        "pool_wait",
        "bouncer_wait",
    )
    for name in names:
        got, want = getattr(fast, name), getattr(slow, name)
        np.testing.assert_allclose(got, want, rtol=1e-9, atol=1e-15, err_msg=name)
    for key, value in slow.wait_prob.items():
        np.testing.assert_allclose(fast.wait_prob[key], value, rtol=1e-9, atol=1e-15, err_msg=key)


@pytest.mark.parametrize("model", models())
def test_solve_without_the_wait_table_gives_the_same_result(model: ly.ServiceModel) -> None:
    full = solve(model)
    lean = solve(model, waits=False)
    assert lean.waits is None and full.waits is not None
    pd.testing.assert_frame_equal(lean.classes, full.classes)
    pd.testing.assert_frame_equal(lean.layers, full.layers)


@pytest.mark.parametrize("model", models())
def test_offered_utilization_is_the_unsolved_layer_table(model: ly.ServiceModel) -> None:
    table = layer_loads(model)["utilization"]
    offered = offered_utilization(model)
    assert list(offered) == list(table.index)
    np.testing.assert_array_equal(np.array(list(offered.values())), table.to_numpy())
