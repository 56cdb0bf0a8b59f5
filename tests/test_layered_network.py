"""capplan.layered._network: the truncated count of others at a station; the compiled
recursion against the NumPy one; exact cases; the solve's shortcuts for the sizing search.

Reference values: the binomials' pmfs from scipy.stats.binom, convolved in full with numpy
(no truncation), give ``P(K >= m)`` and ``E[(K - m)+]`` by their definitions.  The compiled
recursion (capplan.layered._network_kernel) is checked against the NumPy recursion of the same
module, which it must reproduce to rounding.  Exact cases: the Pollaczek-Khinchine mean wait of
M/G/1 (Kleinrock 1975, "Queueing Systems" vol. 1, eq. 5.65), exact mean-value analysis of a
closed network of one FCFS server and a delay (Reiser & Lavenberg 1980; the recursion of Lazowska
et al. 1984, "Quantitative System Performance", §6.3), and the stationary distribution of the
continuous-time Markov chain of two processes x two threads, solved here with scipy.sparse.
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


def _pk_wait(classes: list[tuple[float, float, float]]) -> float:
    """Pollaczek-Khinchine: ``lambda E[S^2] / (2 (1 - rho))`` over (rate, mean, scv) streams."""
    rho = sum(r * m for r, m, _ in classes)
    second = sum(r * m * m * (1.0 + c) for r, m, c in classes)
    return second / (2.0 * (1.0 - rho))


@pytest.mark.parametrize(
    "classes",
    [
        [(60.0, 0.005, 0.0)],
        [(120.0, 0.005, 1.0)],
        [(170.0, 0.005, 4.0)],
        [(150.0, 0.001, 1.0), (6.0, 0.025, 1.0)],  # a mixture: SCV about 12.5 over visits
        [(300.0, 0.001, 0.5), (10.0, 0.03, 2.0)],
    ],
)
def test_one_core_with_many_workers_is_mg1(classes: list[tuple[float, float, float]]) -> None:
    """Single-threaded processes (no lock contention) sharing one core, workers to spare: every
    class waits the M/G/1 mean wait of the merged stream, by the two-moment factor on the
    exponential recursion (to 1e-4: 64 workers are not quite infinitely many at load 0.85)."""
    cls = [ly.RequestClass(f"c{i}", r, (ly.Cpu(m, c),)) for i, (r, m, c) in enumerate(classes)]
    model = ly.ServiceModel(cls, workers=ly.Workers(64, 1), cores=1)
    result = solve(model)
    for (_, m, _), mean in zip(classes, result.classes["response_mean"], strict=True):
        assert mean - m == pytest.approx(_pk_wait(classes), rel=1e-4)


def test_one_process_lock_and_delay_is_exact_mva() -> None:
    """One class, exponential: the populations' throughputs are exact MVA's."""
    lock, think, threads = 0.004, 0.012, 16
    cls = ly.RequestClass("a", 50.0, (ly.Cpu(lock), ly.Wait(think)))
    model = ly.ServiceModel([cls], workers=ly.Workers(1, threads), cores=4)
    n = np.arange(1, threads + 1, dtype=np.float64)
    state = solve_network(demands(model), n, np.array([cls.rate]))
    queue, want = 0.0, []
    for k in range(1, threads + 1):
        at_lock = lock * (1.0 + queue)
        x = k / (at_lock + think)
        queue = x * at_lock
        want.append(x)
    np.testing.assert_allclose(state.throughput[:, 0], want, rtol=1e-12)


def _two_by_two_ctmc(rate: float, service: float, think: float) -> float:
    """Mean response of 2 processes x 2 threads (a lock each, exponential ``service``, then an
    exponential ``think``), Poisson arrivals taken by a random idle thread, an unbounded FIFO
    queue for a thread (truncated at 300): the chain's stationary distribution, Little's law."""
    proc = [(a, b) for a in range(3) for b in range(3 - a)]  # at the lock, thinking
    configs = [(i, j) for i in range(len(proc)) for j in range(len(proc))]
    full = [c for c in configs if sum(sum(proc[i]) for i in c) == 4]
    states = [(c, 0) for c in configs] + [(c, q) for c in full for q in range(1, 301)]
    index = {st: k for k, st in enumerate(states)}
    rows, cols, vals = [], [], []

    def move(src: tuple[tuple[int, int], int], dst: tuple[tuple[int, int], int], r: float) -> None:
        rows.extend([index[src], index[src]])
        cols.extend([index[dst], index[src]])
        vals.extend([r, -r])

    def changed(c: tuple[int, int], j: int, state: tuple[int, int]) -> tuple[int, int]:
        out = list(c)
        out[j] = proc.index(state)
        return (out[0], out[1])

    for c, q in states:
        ps = [proc[i] for i in c]
        idle = 4 - sum(a + b for a, b in ps)
        for j, (a, b) in enumerate(ps):
            if idle and a + b < 2:
                move((c, q), (changed(c, j, (a + 1, b)), 0), rate * (2 - a - b) / idle)
            if a:
                move((c, q), (changed(c, j, (a - 1, b + 1)), q), 1.0 / service)
            if b:
                nxt = (a + 1, b - 1) if q else (a, b - 1)
                move((c, q), (changed(c, j, nxt), max(q - 1, 0)), b / think)
        if not idle and q < 300:
            move((c, q), (c, q + 1), rate)
    from scipy import sparse  # noqa: PLC0415
    from scipy.sparse.linalg import spsolve  # noqa: PLC0415

    gen = sparse.csr_matrix((vals, (rows, cols)), shape=(len(states), len(states))).T.tolil()
    gen[0, :] = 1.0
    rhs = np.zeros(len(states))
    rhs[0] = 1.0
    pi = spsolve(gen.tocsr(), rhs)
    inside = np.array([sum(sum(proc[i]) for i in c) + q for c, q in states])
    return float(pi @ inside) / rate


@pytest.mark.parametrize("load", [0.3, 0.5])
def test_two_processes_of_two_threads_against_their_markov_chain(load: float) -> None:
    """Each process's lock is solved alone over the hypergeometric count of its others: within 2%
    of the exact chain (the replica-wide share per other was 5.7% high at load 0.5)."""
    service, think = 0.005, 0.010
    rate = load * 2 / service
    cls = ly.RequestClass("a", rate, (ly.Cpu(service), ly.Wait(think)))
    model = ly.ServiceModel([cls], workers=ly.Workers(2, 2), cores=8)
    exact = _two_by_two_ctmc(rate, service, think)
    assert float(solve(model).classes["response_mean"].iloc[0]) == pytest.approx(exact, rel=0.02)
