"""Compiled FCFS multi-server kernel: draws inputs, routes customers, records waits or statistics.

Customers are processed in arrival order.  Under FCFS every customer takes the server that frees
first, so the ``c`` servers' next-free times give each start time exactly:
``start = max(arrival, earliest free)``.  Small pools (``c <= 32``) scan the array; larger ones keep
it as a binary min-heap.  A customer whose wait would exceed its patience abandons at
``arrival + patience`` without taking a server, so later customers see the same servers.  With a
finite capacity ``K`` a second heap holds the departure times of everyone present, and an arrival
that finds ``K`` present is blocked.  All state lives in small arrays, so a long run is fed in
chunks of bounded memory and continues exactly where the previous chunk stopped.

A :class:`~capplan.sim.slowdown.Slowdown` stretches each service by the server's slowdown
factor at the moment it starts (a machine whose speed varies over time).

Random numbers come from the caller's ``numpy.random.Generator`` (numba draws from the same bit
generator), so one seed fixes the whole run.
"""

from __future__ import annotations

import math

import numba
import numpy as np
from numpy.typing import NDArray

from capplan.sim import distributions as d

__all__ = ["BLOCKED", "RENEGED", "SERVED", "SUMS_COLUMNS", "KernelState", "run_chunk"]

SERVED = 0
BLOCKED = 1
RENEGED = 2

#: Columns of the per-batch ``sums`` array filled by :func:`run_chunk`.
SUMS_COLUMNS = (
    "arrivals",
    "served",
    "blocked",
    "reneged",
    "waited",
    "sum_wait",
    "sum_wait2",
    "sum_response",
    "sum_response2",
    "busy_time",
    "first_arrival",
    "last_arrival",
)
_LINEAR_SCAN_MAX = 32


class KernelState:
    """Mutable state carried from one chunk to the next."""

    def __init__(self, servers: int, capacity: int) -> None:
        self.free = np.zeros(servers)  # next-free time of each server (a heap if servers > 32)
        self.system = np.zeros(max(capacity, 1))  # departure-time heap of those present
        self.size = np.zeros(1, dtype=np.int64)  # number present (with a finite capacity)
        self.clock = np.zeros(1)  # time of the last arrival


@numba.njit(cache=True, nogil=True, inline="always")
def _draw(
    rng: np.random.Generator, kind: int, p: NDArray[np.float64], values: NDArray[np.float64], i: int
) -> float:
    if kind == d.EXPONENTIAL:
        return float(p[2] + p[0] * rng.standard_exponential())
    if kind == d.CONSTANT:
        return float(p[0])
    if kind in (d.ARRAY, d.TIMES):
        return float(values[i])
    if kind == d.GAMMA:
        return float(p[2] + p[1] * rng.standard_gamma(p[0]))
    if kind == d.LOGNORMAL:
        return float(p[2] + p[1] * math.exp(p[0] * rng.standard_normal()))
    if kind == d.H2:
        mean = p[1] if rng.random() < p[0] else p[2]
        return float(mean * rng.standard_exponential())
    if kind == d.EMPIRICAL:
        return float(values[rng.integers(0, values.shape[0])])
    if kind == d.UNIFORM:
        return float(p[0] + p[1] * rng.random())
    if kind == d.WEIBULL:
        return float(p[2] + p[1] * rng.weibull(p[0]))
    return math.nan


@numba.njit(cache=True, nogil=True, inline="always")
def _sift_down(heap: NDArray[np.float64], n: int, value: float) -> None:
    """Replace the root of the min-heap ``heap[:n]`` by ``value`` and restore the heap."""
    i = 0
    while True:
        child = 2 * i + 1
        if child >= n:
            break
        if child + 1 < n and heap[child + 1] < heap[child]:
            child += 1
        if heap[child] >= value:
            break
        heap[i] = heap[child]
        i = child
    heap[i] = value


@numba.njit(cache=True, nogil=True, inline="always")
def _push(heap: NDArray[np.float64], n: int, value: float) -> None:
    """Add ``value`` to the min-heap ``heap[:n]`` (room at index ``n``)."""
    i = n
    while i > 0:
        parent = (i - 1) // 2
        if heap[parent] <= value:
            break
        heap[i] = heap[parent]
        i = parent
    heap[i] = value


@numba.njit(cache=True, nogil=True)
def run_chunk(
    rng: np.random.Generator,
    n: int,
    arrival: tuple[int, NDArray[np.float64], NDArray[np.float64]],
    service: tuple[int, NDArray[np.float64], NDArray[np.float64]],
    patience: tuple[int, NDArray[np.float64], NDArray[np.float64]],
    slowdown: tuple[NDArray[np.float64], NDArray[np.float64]],
    free: NDArray[np.float64],
    system: NDArray[np.float64],
    size: NDArray[np.int64],
    clock: NDArray[np.float64],
    capacity: int,
    first_index: int,
    warmup: int,
    batch_size: int,
    raw: tuple[NDArray[np.float64], NDArray[np.float64], NDArray[np.int8], NDArray[np.float64]],
    hist: tuple[float, float, NDArray[np.int64], NDArray[np.int64]],
    sums: NDArray[np.float64],
) -> None:
    """Simulate customers ``first_index .. first_index + n - 1``.

    ``arrival``, ``service`` and ``patience`` are ``(kind, params, values)`` samplers (see
    :mod:`capplan.sim.distributions`); arrivals are inter-arrival times except for kind ``TIMES``.
    ``slowdown = (edges, factors)`` (see :class:`capplan.sim.slowdown.Slowdown`; empty arrays for
    none) stretches a service that starts at ``t`` by the factor of the step holding
    ``t mod edges[-1]``.
    Customers before ``warmup`` only advance the state.  For the others, with ``k`` the index after
    the warm-up, ``raw = (waits, responses, status, arrival_times)`` receives per-customer values
    when its arrays are non-empty, ``hist = (log_lo, inv_log_width, wait_hist, resp_hist)``
    log-spaced histograms per batch when non-empty, and ``sums[k // batch_size]`` the running sums
    named in ``SUMS_COLUMNS``.
    """
    a_kind, a_par, a_val = arrival
    s_kind, s_par, s_val = service
    p_kind, p_par, p_val = patience
    waits, resps, status, times = raw
    keep_times = times.shape[0] > 0
    log_lo, inv_width, wait_hist, resp_hist = hist
    keep_raw = waits.shape[0] > 0
    keep_hist = wait_hist.shape[1] > 0
    nbins = wait_hist.shape[1]
    n_batches = sums.shape[0]
    c = free.shape[0]
    linear = c <= _LINEAR_SCAN_MAX
    impatient = not (p_kind == d.CONSTANT and p_par[0] == math.inf)
    slow_edges, slow_factors = slowdown
    slowed = slow_factors.shape[0] > 0
    period = slow_edges[-1] if slowed else 1.0
    t = clock[0]
    b = min(max(first_index - warmup, 0) // batch_size, n_batches - 1)
    next_edge = (b + 1) * batch_size
    for i in range(n):
        if a_kind == d.TIMES:
            t = a_val[i]
        else:
            t += _draw(rng, a_kind, a_par, a_val, i)
        s = _draw(rng, s_kind, s_par, s_val, i)
        limit = _draw(rng, p_kind, p_par, p_val, i) if impatient else math.inf
        # -- route the customer ------------------------------------------------------------
        state = SERVED
        w = 0.0
        if capacity > 0:
            m = size[0]
            while m > 0 and system[0] <= t:
                m -= 1
                _sift_down(system, m, system[m])
            size[0] = m
            if m >= capacity:
                state = BLOCKED
        if state == SERVED:
            j = 0
            earliest = free[0]
            if linear:
                for q in range(1, c):
                    if free[q] < earliest:
                        earliest = free[q]
                        j = q
            start = earliest if earliest > t else t
            w = start - t
            if w > limit:
                state = RENEGED
                w = limit
                leave = t + limit
            else:
                if slowed:
                    step = np.searchsorted(slow_edges, start % period, side="right") - 1
                    s *= slow_factors[min(max(step, 0), slow_factors.shape[0] - 1)]
                leave = start + s
                if linear:
                    free[j] = leave
                else:
                    _sift_down(free, c, leave)
            if capacity > 0:
                _push(system, size[0], leave)
                size[0] += 1
        # -- record ------------------------------------------------------------------------
        k = first_index + i - warmup
        if k < 0:
            continue
        if k >= next_edge and b < n_batches - 1:  # k grows by one: no division per customer
            b += 1
            next_edge += batch_size
        if sums[b, 0] == 0.0:
            sums[b, 10] = t
        sums[b, 0] += 1.0
        sums[b, 11] = t
        if keep_raw:
            status[k] = state
            waits[k] = w
            resps[k] = w + s if state == SERVED else w
            if keep_times:
                times[k] = t
        if state == BLOCKED:
            sums[b, 2] += 1.0
            continue
        if state == RENEGED:
            sums[b, 3] += 1.0
            continue
        r = w + s
        sums[b, 1] += 1.0
        sums[b, 5] += w
        sums[b, 6] += w * w
        sums[b, 7] += r
        sums[b, 8] += r * r
        sums[b, 9] += s
        if w > 0.0:
            sums[b, 4] += 1.0
        if keep_hist:
            if w > 0.0:
                h = math.floor((math.log(w) - log_lo) * inv_width)
                wait_hist[b, min(max(h, 0), nbins - 1)] += 1
            if r > 0.0:
                h = math.floor((math.log(r) - log_lo) * inv_width)
                resp_hist[b, min(max(h, 0), nbins - 1)] += 1
    clock[0] = t
