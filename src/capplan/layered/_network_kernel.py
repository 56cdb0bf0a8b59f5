"""Compiled recursion of :func:`capplan.layered._network.solve_network`: the same station
updates, truncated binomial counts, residences and class mix as the NumPy reference there
(``_row_waits``, ``queue_counts``, ``_residence``, ``_mix``), one population (row) after the
other, each from the one before.  The NumPy reference's cost is call overhead (about 60 small
array operations a population); here a population takes well under a microsecond.

Inputs are float64/int64 arrays, one specialisation (compiled by ``python -m capplan.warmup``).
Stations are indexed 0 lock, 1 lock-free, 2 cpu, 3.. the pools; ``cols[4 s + i]`` holds station
``s``'s per-class ``v``, ``v E[S]``, ``v E[S^2]`` and visits a locked CPU step follows
(:meth:`Station.columns`).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from numba import njit


@njit(cache=True)
def _log_choose(counts: np.ndarray, width: int) -> np.ndarray:  # pragma: no cover - compiled
    """``log C(ceil(n), k)`` per row ``n`` of ``counts`` and ``k < width`` (0 beyond ``ceil(n)``)."""
    out = np.zeros((counts.size, width))
    for r in range(counts.size):
        nn = math.ceil(max(counts[r], 0.0))
        for k in range(min(width, int(nn) + 1)):
            out[r, k] = math.lgamma(nn + 1.0) - math.lgamma(k + 1.0) - math.lgamma(nn - k + 1.0)
    return out


@njit(cache=True)
def _add_binomial(
    head: np.ndarray, pmf: np.ndarray, m: int, n: float, mean: float, lc: np.ndarray, first: bool
) -> float:  # pragma: no cover - compiled
    """Convolve ``head[:m]`` (the pmf so far on ``0..m-1``) with the first ``m`` terms of the
    Binomial(ceil(n), mean / ceil(n)) pmf (``lc``: its ``log C(ceil(n), k)``; ``pmf`` scratch),
    or set it to them when ``first``; return the binomial's mean."""
    nn = math.ceil(max(n, 0.0))
    p = min(max(mean / nn, 0.0), 1.0) if nn > 0 else 0.0
    log_p = math.log(p) if p > 0 else -math.inf
    log_q = math.log1p(-p) if p < 1 else -math.inf
    pmf[:m] = 0.0
    for k in range(min(m, int(nn) + 1)):
        heads = 0.0 if k == 0 else k * log_p
        tails = 0.0 if k == nn else (nn - k) * log_q
        pmf[k] = math.exp(lc[k] + heads + tails)
    if first:
        head[:m] = pmf[:m]
    else:
        for j in range(m - 1, -1, -1):
            acc = 0.0
            for i in range(j + 1):
                acc += head[i] * pmf[j - i]
            head[j] = acc
    return nn * p


@njit(cache=True)
def _tail(head: np.ndarray, m: int, expected: float) -> tuple[float, float]:  # pragma: no cover
    """``(P(K >= m), E[(K - m)+])`` from ``P(K = k)``, ``k < m``, and ``E[K]``."""
    below, short = 0.0, 0.0
    for k in range(m):
        below += head[k]
        short += (m - k) * head[k]
    return min(max(1.0 - below, 0.0), 1.0), max(expected - m + short, 0.0)


@njit(cache=True)
def _held(f: np.ndarray, extra: float, out: np.ndarray) -> None:  # pragma: no cover
    """The flow ``f`` with each visit held ``extra`` longer (:meth:`_Flow.held`)."""
    out[0] = f[0]
    out[1] = f[1] + f[0] * extra
    out[2] = f[2] + 2 * extra * f[1] + 2 * extra**2 * f[0]
    out[3] = f[3]


@njit(cache=True)
def _count_wait(
    head: np.ndarray, pmf: np.ndarray, m: int, groups: np.ndarray, tables: np.ndarray, flow: np.ndarray
) -> tuple[float, float]:  # pragma: no cover - compiled
    """A visit's mean wait at ``m`` FCFS servers for exponential visits of the mean of ``flow``,
    and the probability that it waits, the others there counted as binomials: ``groups[g] = (at
    most n others, mean there, index of their log C table in tables)``."""
    expected = 0.0
    for g in range(groups.shape[0]):
        expected += _add_binomial(head, pmf, m, groups[g, 0], groups[g, 1], tables[int(groups[g, 2])], g == 0)
    busy, ahead = _tail(head, m, expected)
    vm = flow[1] / flow[0] if flow[0] > 0 else 0.0
    return (busy + ahead) * vm / m, busy


@njit(cache=True)
def _pools(
    r: int,
    prev: np.ndarray,
    flows: np.ndarray,
    counts: np.ndarray,
    sizes: np.ndarray,
    scratch: tuple[Any, ...],
) -> None:  # pragma: no cover - compiled
    """Population ``r``'s pool and PgBouncer rows of ``waits``/``probs`` (``scratch``: head,
    pmf, groups, held, tables, waits, probs) from the previous population's waits ``prev``."""
    head, pmf, groups, held, lc, waits, probs = scratch
    others, in_proc, per = counts[0, r], counts[2, r], counts[3, r]
    n_pools = flows.shape[0] - 3
    for j in range(n_pools):
        f = flows[3 + j]
        to_lock = f[3] / f[0] if f[0] > 0 else 0.0  # kept for the lock (_Flow.kept)
        _held(f, prev[3 + n_pools + j] + to_lock * prev[0], held)
        groups[0, 0], groups[0, 2] = in_proc, 2.0
        groups[0, 1] = in_proc * (held[1] + held[0] * prev[3 + j]) * per
        waits[3 + j, r], probs[3 + j, r] = _count_wait(head, pmf, sizes[4 + j], groups[:1], lc, held)
        limit = sizes[4 + n_pools + j]
        if limit > 0:  # PgBouncer's clients hold a pool connection; theirs go back with the hold
            clients = counts[4 + j, r]
            there = min(others * (f[1] + f[0] * prev[3 + n_pools + j]) * per, clients)
            groups[0, 0], groups[0, 1], groups[0, 2] = clients, there, 3.0 + j
            waits[3 + n_pools + j, r], probs[3 + n_pools + j, r] = _count_wait(
                head, pmf, limit, groups[:1], lc, flows[3 + j]
            )


@njit(cache=True)
def recurse(
    cols: np.ndarray,
    vis: np.ndarray,
    mean: np.ndarray,
    delay: np.ndarray,
    n: np.ndarray,
    weights: np.ndarray,
    counts: np.ndarray,
    own_pmf: np.ndarray,
    sizes: np.ndarray,
    waits: np.ndarray,
    probs: np.ndarray,
    resid: np.ndarray,
    pop: np.ndarray,
) -> None:  # pragma: no cover - compiled
    """Fill ``waits``/``probs`` (stations x rows: lock, core for a lock holder, core lock-free,
    the pools, the PgBouncers) and ``resid``/``pop`` (rows x classes), each population from the
    one before.  ``counts``: the :meth:`_Counts.stacked` rows ``others, other_holders,
    in_process, per`` and per pool PgBouncer's possible clients; ``own_pmf``: per population the
    pmf of the others in one's own process (:func:`_network._own_counts`; one column for one
    process); ``sizes``: ``processes, cores, has_lock, width`` then the pools' sizes and PgBouncer
    limits."""
    rows, classes = pop.shape
    n_st = cols.shape[0] // 4
    cores, has_lock, width = sizes[1], sizes[2] > 0, sizes[3]
    tables = np.empty((rows, counts.shape[0] - 1, width))  # log C for every count but `per`
    for i in range(3):
        tables[:, i, :] = _log_choose(counts[i], width)
    for i in range(4, counts.shape[0]):
        tables[:, i - 1, :] = _log_choose(counts[i], width)
    flows, held, head, pmf = np.zeros((n_st, 4)), np.zeros(4), np.zeros(width), np.zeros(width)
    groups, mixed, prev = np.zeros((2, 3)), np.zeros(classes), np.zeros(waits.shape[0])
    x_total = 0.0
    for r in range(rows):
        others, holders, in_proc, per = counts[0, r], counts[1, r], counts[2, r], counts[3, r]
        lc = tables[r]
        # the lock: held for the lock-held part and its wait for a core
        _held(flows[0], prev[1], held)
        own = in_proc * per
        vm = held[1] / held[0] if held[0] > 0 else 0.0
        seen, probs[0, r] = _lock_seen(own_pmf[r], held[1], flows[0, 0] * prev[0], x_total, others, own)
        waits[0, r] = seen * vm
        # cores: lock holders (one per other process) and, with no lock, anyone
        free_each = (flows[1, 1] + flows[1, 0] * prev[2]) * per
        if has_lock:
            # the locks held before, but for one's own
            groups[0, 0], groups[0, 1], groups[0, 2] = holders, min(held[1] * (1.0 - own), holders), 1.0
            groups[1, 0], groups[1, 1], groups[1, 2] = others, others * free_each, 0.0
            waits[1, r], probs[1, r] = _count_wait(head, pmf, cores, groups, lc, flows[2])
        else:
            groups[0, 0], groups[0, 1], groups[0, 2] = others, others * free_each, 0.0
            waits[2, r], probs[2, r] = _count_wait(head, pmf, cores, groups[:1], lc, flows[2])
        _pools(r, prev, flows, counts, sizes, (head, pmf, groups, held, lc, waits, probs))
        x_total = _row_end(r, cols, vis, mean, delay, n, weights, waits, resid, pop, flows, mixed)
        prev[:] = waits[:, r]


@njit(cache=True)
def _lock_seen(
    pmf: np.ndarray, work: float, queued: float, x_total: float, others: float, own: float
) -> tuple[float, float]:  # pragma: no cover - compiled
    """Others at one's own lock and the probability that it is held (``_network._lock_seen``);
    ``pmf``: the own-process counts' pmf (one entry, at ``k = others``, for one process)."""
    if pmf.size == 1 or others == 0.0:
        return own * (work + queued), min(own * work, 1.0)
    safe = max(x_total, 1e-300)
    demand = work / safe
    think = max((others - queued) / safe - demand, 0.0)
    queue, seen, busy = 0.0, 0.0, 0.0
    for k in range(1, pmf.size):
        at_lock = demand * (1.0 + queue)
        x = k / max(at_lock + think, 1e-300)
        queue = x * at_lock
        seen += pmf[k] * queue
        busy += pmf[k] * x * demand
    return seen, min(busy, 1.0)


@njit(cache=True)
def _row_end(
    r: int,
    cols: np.ndarray,
    vis: np.ndarray,
    mean: np.ndarray,
    delay: np.ndarray,
    n: np.ndarray,
    weights: np.ndarray,
    waits: np.ndarray,
    resid: np.ndarray,
    pop: np.ndarray,
    flows: np.ndarray,
    mixed: np.ndarray,
) -> float:  # pragma: no cover - compiled
    """Population ``r``'s residences (``_residence``), class mix (``_mix``) and station sums
    (into ``flows``, for the next population); returns its total throughput."""
    classes = pop.shape[1]
    n_pools = vis.shape[0] - 3
    total = 0.0
    for c in range(classes):
        out = vis[0, c] * (mean[0, c] + (waits[1, r] + waits[0, r]))
        out = out + vis[1, c] * (mean[1, c] + waits[2, r]) + delay[c]
        for j in range(n_pools):
            out = out + vis[3 + j, c] * (mean[3 + j, c] + (waits[3 + n_pools + j, r] + waits[3 + j, r]))
        out = max(out, 1e-300)
        resid[r, c] = out
        mixed[c] = weights[c] * out
        total += mixed[c]
    for c in range(classes):
        pop[r, c] = n[r] * mixed[c] / total
    for s in range(flows.shape[0]):
        for i in range(4):
            acc = 0.0
            for c in range(classes):
                acc += cols[4 * s + i, c] * pop[r, c] / resid[r, c]
            flows[s, i] = acc
    x_total = 0.0
    for c in range(classes):
        x_total += pop[r, c] / resid[r, c]
    return x_total
