"""Compiled discrete-event simulation of one replica with simultaneous resource possession.

A request holds a worker thread for its whole life; during a CPU step it queues (FIFO) for its
process's interpreter lock, then — still holding the lock — for a core, runs the lock-held part,
frees the core and the lock, then queues for a core again for the lock-free part; during a
:class:`~capplan.layered.model.Hold` it queues for a connection of its process's pool, then (with
PgBouncer) for a server connection, and holds both for the step's time; a ``Wait`` just passes
time.  Requests wait for a worker in one FIFO queue in arrival order.  The lock is held to the end
of the lock-held part (CPython's 5 ms switch interval is not modelled); cores serve bursts FIFO.

Events sit in a binary heap (time, request, kind); resources hand over directly on release.  Times
are drawn in the kernel from the two-moment phase-type fits (their parts, see
:func:`capplan.queueing.phasetype.two_moment_parts`).
"""

from __future__ import annotations

import numpy as np
from numba import njit

# step kinds
CPU = 0
HOLD = 1
WAIT = 2
# event kinds
EV_ARRIVAL = 0
EV_CORE = 1  # a core burst ends
EV_HOLD = 2  # a connection hold ends
EV_WAIT = 3  # a downstream wait ends


@njit(cache=True)
def _draw(parts):  # type: ignore[no-untyped-def]  # pragma: no cover - compiled
    """One draw of the fit ``(w1, k1, r1, w2, k2, r2)``; ``k1 < 0`` marks the constant ``r1``."""
    if parts[1] < 0.0:
        return parts[2]
    if np.random.random() < parts[0]:
        return np.random.gamma(parts[1], 1.0 / parts[2])
    return np.random.gamma(parts[4], 1.0 / parts[5])


@njit(cache=True)
def _push(ht, hid, hkind, size, t, rid, kind):  # type: ignore[no-untyped-def]  # pragma: no cover
    i = size
    while i > 0:
        parent = (i - 1) >> 1
        if ht[parent] <= t:
            break
        ht[i], hid[i], hkind[i] = ht[parent], hid[parent], hkind[parent]
        i = parent
    ht[i], hid[i], hkind[i] = t, rid, kind
    return size + 1


@njit(cache=True)
def _pop(ht, hid, hkind, size):  # type: ignore[no-untyped-def]  # pragma: no cover
    t, rid, kind = ht[0], hid[0], hkind[0]
    size -= 1
    lt, lid, lkind = ht[size], hid[size], hkind[size]
    i = 0
    while True:
        child = 2 * i + 1
        if child >= size:
            break
        if child + 1 < size and ht[child + 1] < ht[child]:
            child += 1
        if lt <= ht[child]:
            break
        ht[i], hid[i], hkind[i] = ht[child], hid[child], hkind[child]
        i = child
    if size > 0:
        ht[i], hid[i], hkind[i] = lt, lid, lkind
    return t, rid, kind, size


@njit(cache=True)
def run(  # type: ignore[no-untyped-def]  # noqa: PLR0915 - one event loop, kept together
    arr_time,
    arr_class,
    step_kind,
    step_pool,
    step_parts,
    step_start,
    processes,
    threads,
    cores,
    lock_share,
    pool_size,
    bouncer_limit,
    seed,
):  # pragma: no cover - compiled
    """Simulate; returns per request the time it got a worker and the time it finished.

    ``step_start[k]`` .. ``step_start[k + 1]`` index class ``k``'s steps; ``pool_size[j]`` and
    ``bouncer_limit[j]`` (0: no PgBouncer) describe pool ``j``.
    """
    np.random.seed(seed)
    n = arr_time.size
    n_pools = pool_size.size
    started = np.full(n, np.nan)
    finished = np.full(n, np.nan)
    step = np.zeros(n, np.int64)
    proc = np.zeros(n, np.int64)
    rest = np.zeros(n, np.float64)  # the lock-free part of the CPU step under way, or the hold time
    held = np.zeros(n, np.float64)  # the lock-held part of the CPU step under way
    phase = np.zeros(n, np.int8)  # 0: lock-held CPU part, 1: lock-free part
    slots = processes * threads
    cap = slots + 4
    ht = np.empty(cap)
    hid = np.empty(cap, np.int64)
    hkind = np.empty(cap, np.int8)
    size = 0
    free_threads = np.full(processes, threads, np.int64)
    # FIFO ring buffers: lock per process, cores, pool per (pool, process), bouncer per pool
    lock_q = np.empty((processes, threads + 1), np.int64)
    lock_head = np.zeros(processes, np.int64)
    lock_len = np.zeros(processes, np.int64)
    lock_busy = np.zeros(processes, np.bool_)
    core_q = np.empty(slots + 1, np.int64)
    core_head = 0
    core_len = 0
    cores_free = cores
    pool_q = np.empty((max(n_pools, 1), processes, threads + 1), np.int64)
    pool_head = np.zeros((max(n_pools, 1), processes), np.int64)
    pool_len = np.zeros((max(n_pools, 1), processes), np.int64)
    pool_free = np.zeros((max(n_pools, 1), processes), np.int64)
    for j in range(n_pools):
        pool_free[j, :] = pool_size[j]
    b_q = np.empty((max(n_pools, 1), slots + 1), np.int64)
    b_head = np.zeros(max(n_pools, 1), np.int64)
    b_len = np.zeros(max(n_pools, 1), np.int64)
    b_free = bouncer_limit.copy() if n_pools > 0 else np.zeros(1, np.int64)
    waiting_from = 0  # requests before this index have a worker; those from it up to `arrived` wait
    arrived = 0
    if n > 0:
        size = _push(ht, hid, hkind, size, arr_time[0], 0, EV_ARRIVAL)
    now = 0.0
    # work list of requests that may start their next step now (a small stack)
    ready = np.empty(slots + 4, np.int64)
    n_ready = 0
    while size > 0:
        now, rid, kind, size = _pop(ht, hid, hkind, size)
        if kind == EV_ARRIVAL:
            arrived = rid + 1
            if arrived < n:
                size = _push(ht, hid, hkind, size, arr_time[arrived], arrived, EV_ARRIVAL)
        elif kind == EV_CORE:
            cores_free += 1
            p = proc[rid]
            if phase[rid] == 0:  # lock-held part done: free the lock
                lock_busy[p] = False
                if lock_len[p] > 0:
                    nxt = lock_q[p, lock_head[p]]
                    lock_head[p] = (lock_head[p] + 1) % (threads + 1)
                    lock_len[p] -= 1
                    lock_busy[p] = True
                    core_q[(core_head + core_len) % (slots + 1)] = nxt
                    core_len += 1
                if rest[rid] > 0.0:
                    phase[rid] = 1
                    core_q[(core_head + core_len) % (slots + 1)] = rid
                    core_len += 1
                else:
                    step[rid] += 1
                    ready[n_ready] = rid
                    n_ready += 1
            else:
                step[rid] += 1
                ready[n_ready] = rid
                n_ready += 1
            while cores_free > 0 and core_len > 0:
                nxt = core_q[core_head]
                core_head = (core_head + 1) % (slots + 1)
                core_len -= 1
                cores_free -= 1
                dur = rest[nxt] if phase[nxt] == 1 else held[nxt]
                if phase[nxt] == 1:
                    rest[nxt] = 0.0
                size = _push(ht, hid, hkind, size, now + dur, nxt, EV_CORE)
        elif kind == EV_HOLD:
            k = step_start[arr_class[rid]] + step[rid]
            j = step_pool[k]
            p = proc[rid]
            if bouncer_limit[j] > 0:
                if b_len[j] > 0:
                    nxt = b_q[j, b_head[j]]
                    b_head[j] = (b_head[j] + 1) % (slots + 1)
                    b_len[j] -= 1
                    size = _push(ht, hid, hkind, size, now + rest[nxt], nxt, EV_HOLD)
                else:
                    b_free[j] += 1
            if pool_len[j, p] > 0:
                nxt = pool_q[j, p, pool_head[j, p]]
                pool_head[j, p] = (pool_head[j, p] + 1) % (threads + 1)
                pool_len[j, p] -= 1
                if bouncer_limit[j] > 0:
                    if b_free[j] > 0:
                        b_free[j] -= 1
                        size = _push(ht, hid, hkind, size, now + rest[nxt], nxt, EV_HOLD)
                    else:
                        b_q[j, (b_head[j] + b_len[j]) % (slots + 1)] = nxt
                        b_len[j] += 1
                else:
                    size = _push(ht, hid, hkind, size, now + rest[nxt], nxt, EV_HOLD)
            else:
                pool_free[j, p] += 1
            step[rid] += 1
            ready[n_ready] = rid
            n_ready += 1
        else:  # EV_WAIT
            step[rid] += 1
            ready[n_ready] = rid
            n_ready += 1
        # Hand free workers to waiting requests (FIFO, arrival order).
        # A request that finished frees its thread first (below, in the ready loop); new arrivals
        # take any free thread of the process with the most free threads.
        while True:
            while n_ready > 0:
                n_ready -= 1
                rid = ready[n_ready]
                c = arr_class[rid]
                k = step_start[c] + step[rid]
                if k >= step_start[c + 1]:  # done: free the worker thread
                    finished[rid] = now
                    free_threads[proc[rid]] += 1
                    continue
                kind_s = step_kind[k]
                p = proc[rid]
                if kind_s == WAIT:
                    size = _push(ht, hid, hkind, size, now + _draw(step_parts[k]), rid, EV_WAIT)
                elif kind_s == HOLD:
                    j = step_pool[k]
                    rest[rid] = _draw(step_parts[k])
                    if pool_free[j, p] > 0:
                        pool_free[j, p] -= 1
                        if bouncer_limit[j] > 0:
                            if b_free[j] > 0:
                                b_free[j] -= 1
                                size = _push(ht, hid, hkind, size, now + rest[rid], rid, EV_HOLD)
                            else:
                                b_q[j, (b_head[j] + b_len[j]) % (slots + 1)] = rid
                                b_len[j] += 1
                        else:
                            size = _push(ht, hid, hkind, size, now + rest[rid], rid, EV_HOLD)
                    else:
                        pool_q[j, p, (pool_head[j, p] + pool_len[j, p]) % (threads + 1)] = rid
                        pool_len[j, p] += 1
                else:  # CPU: draw the burst, split it into the lock-held and the free part
                    total = _draw(step_parts[k])
                    held[rid] = total * lock_share
                    rest[rid] = total - held[rid]
                    if held[rid] > 0.0:
                        phase[rid] = 0
                        if lock_busy[p]:
                            lock_q[p, (lock_head[p] + lock_len[p]) % (threads + 1)] = rid
                            lock_len[p] += 1
                            continue
                        lock_busy[p] = True
                    else:
                        phase[rid] = 1
                    if cores_free > 0:
                        cores_free -= 1
                        dur = held[rid] if phase[rid] == 0 else rest[rid]
                        if phase[rid] == 1:
                            rest[rid] = 0.0
                        size = _push(ht, hid, hkind, size, now + dur, rid, EV_CORE)
                    else:
                        core_q[(core_head + core_len) % (slots + 1)] = rid
                        core_len += 1
            # give free threads to waiting requests
            assigned = False
            while waiting_from < arrived:
                best = -1
                most = 0
                for p in range(processes):
                    if free_threads[p] > most:
                        most = free_threads[p]
                        best = p
                if best < 0:
                    break
                rid = waiting_from
                waiting_from += 1
                free_threads[best] -= 1
                proc[rid] = best
                started[rid] = now
                step[rid] = 0
                ready[n_ready] = rid
                n_ready += 1
                assigned = True
            if not assigned:
                break
    return started, finished
