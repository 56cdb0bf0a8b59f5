"""Compiled fixed point of :func:`capplan.layered._network.solve_network`: the same damped
Schweitzer iteration, station updates and truncated binomial counts as the NumPy reference there
(``_waits``, ``queue_counts``, ``_residence``, ``_mix``), one population (row) at a time.

Every row's update reads only its own row, so the rows are swept one after the other within an
iteration (the NumPy code updates them all at once from the same state: the same numbers).  The
NumPy per-iteration cost was call overhead (about 150 small array operations per iteration,
0.2-0.3 ms whatever the size); here an iteration of 64 populations takes microseconds.

Inputs are float64/int64 arrays, one specialisation (compiled by ``python -m capplan.warmup``).
Stations are indexed 0 lock, 1 lock-free, 2 cpu, 3.. the pools; ``cols[4 s + i]`` holds station
``s``'s per-class ``v``, ``v E[S]``, ``v E[S^2]``, ``v c^2`` (:meth:`Station.columns`).
"""

from __future__ import annotations

import math

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
def _moments(f: np.ndarray, servers: int) -> tuple[float, float]:  # pragma: no cover
    """Residual and visit mean of the flow ``f`` = (visits, work, second, scv) at ``servers``
    (:meth:`capplan.layered._network._Flow.residual`)."""
    mixed = f[2] / (2.0 * f[1]) if f[1] > 0 else 0.0
    vm = f[1] / f[0] if f[0] > 0 else 0.0
    if servers == 1:
        return mixed, vm
    scv = f[3] / f[0] if f[0] > 0 else 0.0
    spaced = vm * (1.0 + scv) / 2.0
    return spaced + (mixed - spaced) / servers, vm


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
    """A visit's mean wait at ``m`` FCFS servers and the probability that it waits, the others
    there counted as binomials: ``groups[g] = (at most n others, mean there, index of their
    log C table in tables)``."""
    expected = 0.0
    for g in range(groups.shape[0]):
        expected += _add_binomial(head, pmf, m, groups[g, 0], groups[g, 1], tables[int(groups[g, 2])], g == 0)
    busy, ahead = _tail(head, m, expected)
    res, vm = _moments(flow, m)
    return (busy * res + ahead * vm) / m, busy


@njit(cache=True)
def iterate(
    cols: np.ndarray,
    vis: np.ndarray,
    mean: np.ndarray,
    delay: np.ndarray,
    n: np.ndarray,
    weights: np.ndarray,
    resid: np.ndarray,
    pop: np.ndarray,
    per_row: np.ndarray,
    sizes: np.ndarray,
    waits: np.ndarray,
    probs: np.ndarray,
    iterations: int,
    tol: float,
) -> int:  # pragma: no cover - compiled
    """Iterate in place from ``resid``/``pop`` (rows x classes) and zero ``waits`` until the
    largest relative change of a residence is below ``tol``; return the iterations made.

    ``per_row``: the :class:`_Iteration` counts ``scale, others, other_holders, in_process,
    active, share``; ``sizes``: ``processes, cores, has_lock, width`` then the pools' sizes and
    PgBouncer limits.  ``waits``/``probs`` rows: lock, core (lock holder), core (lock-free), the
    pools, the PgBouncers."""
    rows, classes = pop.shape
    n_st = cols.shape[0] // 4
    n_pools = n_st - 3
    p, cores, has_lock, width = float(sizes[0]), sizes[1], sizes[2] > 0, sizes[3]
    scale, others, holders, in_proc, active, share = (
        per_row[0],
        per_row[1],
        per_row[2],
        per_row[3],
        per_row[4],
        per_row[5],
    )
    tables = np.empty((rows, 3, width))
    tables[:, 0, :] = _log_choose(others, width)
    tables[:, 1, :] = _log_choose(holders, width)
    tables[:, 2, :] = _log_choose(in_proc, width)
    flows, held, head, pmf = np.zeros((n_st, 4)), np.zeros(4), np.zeros(width), np.zeros(width)
    groups, x, mixed = np.zeros((2, 3)), np.zeros(classes), np.zeros(classes)
    used = 0
    for step in range(iterations):
        used = step + 1
        change = 0.0
        for r in range(rows):
            for c in range(classes):
                x[c] = pop[r, c] / resid[r, c]
            for s in range(n_st):
                for i in range(4):
                    acc = 0.0
                    for c in range(classes):
                        acc += cols[4 * s + i, c] * x[c]
                    flows[s, i] = acc
            lc = tables[r]
            w_lock, w_cl, w_cf = waits[0, r], waits[1, r], waits[2, r]
            # the lock: held for the lock-held part and its wait for a core
            _held(flows[0], w_cl, held)
            busy = held[1] / p
            res, vm = _moments(held, 1)
            new_lock = scale[r] * (busy * res + flows[0, 0] * w_lock / p * vm)
            probs[0, r] = min(scale[r] * busy, 1.0)
            # cores: lock holders (one per other process) and, with no lock, anyone
            free_each = (flows[1, 1] + flows[1, 0] * w_cf) * share[r]
            new_cl, new_cf = 0.0, 0.0
            if has_lock:
                groups[0, 0], groups[0, 1], groups[0, 2] = holders[r], holders[r] * (held[1] / active[r]), 1.0
                groups[1, 0], groups[1, 1], groups[1, 2] = others[r], others[r] * free_each, 0.0
                new_cl, probs[1, r] = _count_wait(head, pmf, cores, groups, lc, flows[2])
                probs[2, r] = 0.0
            else:
                groups[0, 0], groups[0, 1], groups[0, 2] = others[r], others[r] * free_each, 0.0
                new_cf, probs[2, r] = _count_wait(head, pmf, cores, groups[:1], lc, flows[2])
                probs[1, r] = 0.0
            for j in range(n_pools):
                w_pool, w_b = waits[3 + j, r], waits[3 + n_pools + j, r]
                _held(flows[3 + j], w_b, held)
                groups[0, 0], groups[0, 2] = in_proc[r], 2.0
                groups[0, 1] = in_proc[r] * (held[1] + held[0] * w_pool) * share[r]
                new_pool, probs[3 + j, r] = _count_wait(head, pmf, sizes[4 + j], groups[:1], lc, held)
                new_b, probs[3 + n_pools + j, r] = 0.0, 0.0
                limit = sizes[4 + n_pools + j]
                if limit > 0:
                    groups[0, 0], groups[0, 1], groups[0, 2] = (
                        others[r],
                        others[r] * (held[1] * share[r]),
                        0.0,
                    )
                    new_b, probs[3 + n_pools + j, r] = _count_wait(
                        head, pmf, limit, groups[:1], lc, flows[3 + j]
                    )
                waits[3 + j, r] = 0.5 * (w_pool + new_pool)
                waits[3 + n_pools + j, r] = 0.5 * (w_b + new_b)
            waits[0, r] = 0.5 * (w_lock + new_lock)
            waits[1, r] = 0.5 * (w_cl + new_cl)
            waits[2, r] = 0.5 * (w_cf + new_cf)
            # residences (_residence) and the class mix (_mix)
            total = 0.0
            for c in range(classes):
                out = vis[0, c] * (mean[0, c] + (waits[1, r] + waits[0, r]))
                out = out + vis[1, c] * (mean[1, c] + waits[2, r]) + delay[c]
                for j in range(n_pools):
                    out = out + vis[3 + j, c] * (
                        mean[3 + j, c] + (waits[3 + n_pools + j, r] + waits[3 + j, r])
                    )
                out = max(out, 1e-300)
                change = max(change, abs(out - resid[r, c]) / out)
                resid[r, c] = out
                mixed[c] = weights[c] * out
                total += mixed[c]
            for c in range(classes):
                pop[r, c] = n[r] * mixed[c] / total
        if change < tol:
            break
    return used
