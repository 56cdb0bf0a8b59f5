"""Compiled discrete-event simulation of one replica with simultaneous resource possession.

A request waits for a worker thread (in arrival order within its priority, higher priorities first;
an idle thread drawn at random takes it, as when idle threads race to accept) and holds it for its
whole life.  During a CPU step it queues (FIFO) for its process's interpreter lock, then, still
holding the lock, for a core; it runs the lock-held part, frees the lock and runs the lock-free
part on the same core (a thread that releases the lock goes on running), then frees the core.
During a :class:`~capplan.layered.model.Hold` it queues for a connection of its process's pool,
then (with PgBouncer) for a server connection, and holds both for the step's time; PgBouncer's
goes back when the time ends, the pool's too unless a CPU step that takes the lock comes next:
then the thread gives it back once it has the lock again (the driver's code that returns it runs
under the lock).  A ``Wait`` just passes time.  The lock is held to the end of the
lock-held part (CPython's 5 ms switch interval is not modelled); cores serve bursts FIFO.

The cores, every lock, every pool of every process and every PgBouncer is a *resource*: a row of
``res`` holding its free servers, the head and length of its FIFO ring buffer of waiting requests,
its layer, then the ring buffer itself; a release hands the server straight to the next in line.
Events sit in a binary heap of times and event codes ``4 * request + kind``.  Times are drawn in
the kernel from the two-moment phase-type fits (see
:func:`capplan.queueing.phasetype.two_moment_parts`).  Besides each request's start and finish,
the kernel adds up per layer and request the time spent queueing and the time-integral of busy
servers (after ``warm_time``).

Speed: the event loop is one function that calls no compiled function with an array argument.
Numba increments an array argument's reference count on entry to a function and decrements it on
exit (atomic instructions); its reference-count pruning removes neither for these helpers, so a
design of small helpers taking arrays spent 60-80% of its time in those two instructions (measured
with ``perf``) and ran 3-15x slower.  So the resources share one code path for taking a server and
one for releasing it, events reach the heap through a list of pending events, and
benchmarks/bench_layered_sim.py measures the speed.
"""

from __future__ import annotations

import numpy as np
from numba import njit

# step kinds
CPU = 0
HOLD = 1
WAIT = 2
HOLD_TO_LOCK = 3  # a hold followed by a CPU step that takes the lock: its connection goes back then
# event kinds (the low two bits of an event code)
EV_ARRIVAL = 0
EV_BURST = 1  # a core burst ends
EV_HOLD = 2  # a connection hold ends
EV_WAIT = 3  # a downstream wait ends
# what a request does next (stage)
ST_STEP = 0  # start its next step
ST_LOCKED = 1  # has the lock: needs a core for the lock-held part
ST_FREE_PART = 2  # runs the lock-free part (on the core it held the lock on, or needs a core)
ST_POOLED = 3  # has a pool connection: needs a PgBouncer server connection, if any
ST_HELD = 4  # has what the hold needs: the hold runs
# columns of a resource's row in `res`; its ring buffer follows from column Q0
FREE, HEAD, LEN, LAYER, Q0 = 0, 1, 2, 3, 4
CORES = 0  # the cores' resource; process p's lock is resource 1 + p
# columns of the per-request integer state `req`: its step (index into the step arrays), the end
# of its class's steps, its process, its stage, the pool connection it still holds (-1: none)
STEP, END, PROC, STAGE, KEPT = 0, 1, 2, 3, 4
# columns of the per-request float state `dur`: when it began to queue, the lock-held part of its
# CPU step, the rest of the step (the lock-free part, or the hold time), when its event is due
SINCE, HELD, REST, DUE = 0, 1, 2, 3
# layers (accumulator rows): 0 workers, 1 lock, 2 cores, 3 + 2j pool j, 4 + 2j PgBouncer j
L_WORKERS, L_LOCK, L_CORES = 0, 1, 2


@njit(cache=True)
def _draw(w1, k1, r1, k2, r2):  # type: ignore[no-untyped-def]  # pragma: no cover - compiled
    """One draw of the fit ``(w1, k1, r1, 1 - w1, k2, r2)``; ``k1 < 0`` marks the constant ``r1``."""
    if k1 < 0.0:
        return r1
    if np.random.random() < w1:  # noqa: NPY002 - numba's per-thread generator
        return np.random.gamma(k1, 1.0 / r1)  # noqa: NPY002
    return np.random.gamma(k2, 1.0 / r2)  # noqa: NPY002


@njit(cache=True)
def run(  # type: ignore[no-untyped-def]  # pragma: no cover - compiled
    arr_time, arr_class, arr_level, levels, step_kind, step_pool, step_parts, step_start,
    processes, threads, cores, lock_share, pool_size, bouncer_limit, measured, seed,
):  # fmt: skip
    """Simulate; returns per request the time it got a worker, the time it finished and its
    queueing time per layer (rows as the module docstring's layers, row 0 unused), the
    busy-server time per layer after the arrival of request ``measured``, and that span of time.

    ``step_start[k]`` .. ``step_start[k + 1]`` index class ``k``'s steps; ``pool_size[j]`` and
    ``bouncer_limit[j]`` (0: no PgBouncer) describe pool ``j``; ``arr_level`` is each arrival's
    priority level (0 first) of ``levels``.
    """
    np.random.seed(seed)  # noqa: NPY002 - numba's per-thread generator
    n = arr_time.size
    res, pool_res, n_layers = _resources(processes, processes * threads, cores, pool_size, bouncer_limit)
    started, finished = np.full(n, np.nan), np.full(n, np.nan)
    waited, area = np.zeros((n_layers, n)), np.zeros(n_layers)
    warm_time = arr_time[min(measured, n - 1)] if n > 0 else 0.0
    last = _loop(
        arr_time, arr_class, arr_level, step_kind, step_pool, step_parts, step_start, lock_share,
        res, pool_res, np.full(processes, threads, np.int64), np.zeros(levels, np.int64),
        started, finished, waited, area, warm_time,
    )  # fmt: skip
    return started, finished, waited, area, last - warm_time


@njit(cache=True)
def _loop(  # type: ignore[no-untyped-def]  # pragma: no cover - compiled
    arr_time, arr_class, arr_level, step_kind, step_pool, parts, step_start, lock_share,
    res, pool_res, free_threads, ptr, started, finished, waited, area, warm_time,
):  # fmt: skip
    """The event loop of :func:`run`; fills ``started`` .. ``area`` and returns the last event's time.

    One function of ~150 lines on purpose: see the module docstring's note on speed.

    Each turn: the pending events join the heap; the earliest event is taken; what it ends is
    released (a freed server goes straight to the next in line); then requests move on (``ready``
    is a stack) until each waits for a server or an event, and idle threads take waiting arrivals.
    """
    n, cap, n_layers = arr_time.size, res.shape[1] - Q0, area.size
    idle = free_threads.sum()
    req, dur, busy = np.zeros((n, 5), np.int64), np.zeros((n, 4)), np.zeros(n_layers, np.int64)
    heap_t, heap_ev = np.empty(idle + 4), np.empty(idle + 4, np.int64)
    pend, ready = np.empty(idle + 4, np.int64), np.empty(idle + 4, np.int64)
    rel = np.empty(idle + 4, np.int64)  # resources to release at this instant
    arrived, last, size, n_ready, n_pend, n_rel, cont = 0, 0.0, 0, 0, 0, 0, -1
    if n > 0:
        dur[0, DUE], pend[0], n_pend = arr_time[0], 4 * 0 + EV_ARRIVAL, 1
    while True:
        for e in range(n_pend):  # the pending events join the heap, in the order noted
            ev, i = pend[e], size
            t = dur[ev >> 2, DUE]
            size += 1
            while i > 0 and heap_t[(i - 1) >> 1] > t:
                heap_t[i], heap_ev[i] = heap_t[(i - 1) >> 1], heap_ev[(i - 1) >> 1]
                i = (i - 1) >> 1
            heap_t[i], heap_ev[i] = t, ev
        n_pend = 0
        if size == 0:
            return last
        now, rid, kind = heap_t[0], heap_ev[0] >> 2, heap_ev[0] & 3  # the earliest event
        size -= 1
        lt, lev, i = heap_t[size], heap_ev[size], 0
        while 2 * i + 1 < size:
            child = 2 * i + 1
            if child + 1 < size and heap_t[child + 1] < heap_t[child]:
                child += 1
            if lt <= heap_t[child]:
                break
            heap_t[i], heap_ev[i] = heap_t[child], heap_ev[child]
            i = child
        if size > 0:
            heap_t[i], heap_ev[i] = lt, lev
        if now > warm_time:
            dt = now - max(last, warm_time)
            for layer in range(n_layers):
                area[layer] += busy[layer] * dt
        last = now
        if kind == EV_ARRIVAL:
            arrived = rid + 1
            if arrived < n:
                dur[arrived, DUE], pend[n_pend], n_pend = arr_time[arrived], 4 * arrived, n_pend + 1
        else:  # release what the event ends: the core and a finished lock, or PgBouncer and pool
            locked = kind == EV_BURST and req[rid, STAGE] == ST_LOCKED
            goes_on = locked and dur[rid, REST] > 0.0  # the lock-free part runs on, same core
            if kind == EV_BURST:
                first, second = (
                    (1 + req[rid, PROC], -1) if goes_on else (CORES, 1 + req[rid, PROC] if locked else -1)
                )
            elif kind == EV_HOLD:
                j = step_pool[req[rid, STEP]]
                first, second = pool_res[j, -1], pool_res[j, req[rid, PROC]]
                if step_kind[req[rid, STEP]] == HOLD_TO_LOCK:  # kept until it has the lock again
                    req[rid, KEPT], second = second, -1
            else:
                first, second = -1, -1
            rel[0], rel[1], n_rel, cont = second, first, 2, rid
        while True:
            while n_rel > 0:  # release: a freed server goes to the next in line
                n_rel -= 1
                r = rel[n_rel]
                if r < 0:
                    continue
                if res[r, LEN] == 0:
                    res[r, FREE] += 1
                    busy[res[r, LAYER]] -= 1
                    continue
                nxt = res[r, Q0 + res[r, HEAD]]  # the next in line gets the server
                res[r, HEAD] = res[r, HEAD] + 1 if res[r, HEAD] + 1 < cap else 0
                res[r, LEN] -= 1
                waited[res[r, LAYER], nxt] += now - dur[nxt, SINCE]
                if r == CORES:  # its burst starts at once
                    t = now + (dur[nxt, HELD] if req[nxt, STAGE] == ST_LOCKED else dur[nxt, REST])
                    dur[nxt, DUE], pend[n_pend], n_pend = t, 4 * nxt + EV_BURST, n_pend + 1
                else:
                    ready[n_ready], n_ready = nxt, n_ready + 1
                    if res[r, LAYER] == L_LOCK and req[nxt, KEPT] >= 0:  # it has the lock again
                        rel[n_rel], n_rel, req[nxt, KEPT] = req[nxt, KEPT], n_rel + 1, -1
            if cont >= 0:  # the request whose event it was goes on
                rid, cont = cont, -1
                if req[rid, STAGE] == ST_LOCKED and kind == EV_BURST and dur[rid, REST] > 0.0:
                    req[rid, STAGE] = ST_FREE_PART  # the lock-free part runs on, same core
                    dur[rid, DUE], pend[n_pend], n_pend = now + dur[rid, REST], 4 * rid + EV_BURST, n_pend + 1
                else:
                    req[rid, STEP], req[rid, STAGE] = req[rid, STEP] + 1, ST_STEP
                    ready[n_ready], n_ready = rid, n_ready + 1
            while n_ready > 0:  # take a ready request as far as it goes without waiting
                n_ready -= 1
                rid = ready[n_ready]
                while True:
                    s, k, need, event, t = req[rid, STAGE], req[rid, STEP], -1, -1, 0.0
                    if s == ST_STEP:
                        if k >= req[rid, END]:  # done: it frees its thread
                            finished[rid] = now
                            free_threads[req[rid, PROC]] += 1
                            idle += 1
                            busy[L_WORKERS] -= 1
                            break
                        d = _draw(parts[k, 0], parts[k, 1], parts[k, 2], parts[k, 4], parts[k, 5])
                        if step_kind[k] == WAIT:
                            t, event = now + d, EV_WAIT
                        elif step_kind[k] == HOLD or step_kind[k] == HOLD_TO_LOCK:
                            dur[rid, REST], req[rid, STAGE] = d, ST_POOLED
                            need = pool_res[step_pool[k], req[rid, PROC]]
                        else:  # CPU: the lock-held part, then the lock-free rest
                            dur[rid, HELD] = d * lock_share
                            dur[rid, REST] = d - dur[rid, HELD]
                            req[rid, STAGE] = ST_LOCKED if dur[rid, HELD] > 0.0 else ST_FREE_PART
                            need = 1 + req[rid, PROC] if dur[rid, HELD] > 0.0 else -1
                            if need < 0 and req[rid, KEPT] >= 0:  # no lock to wait for after all
                                rel[n_rel], n_rel, req[rid, KEPT] = req[rid, KEPT], n_rel + 1, -1
                    elif s in (ST_LOCKED, ST_FREE_PART):
                        need = CORES
                    elif s == ST_POOLED:
                        req[rid, STAGE] = ST_HELD
                        need = pool_res[step_pool[k], -1]
                    else:  # ST_HELD: the hold runs
                        t, event = now + dur[rid, REST], EV_HOLD
                    if need >= 0:
                        if res[need, FREE] == 0:  # it queues
                            pos = res[need, HEAD] + res[need, LEN]
                            res[need, Q0 + (pos if pos < cap else pos - cap)] = rid
                            res[need, LEN] += 1
                            dur[rid, SINCE] = now
                            break
                        res[need, FREE] -= 1
                        busy[res[need, LAYER]] += 1
                        if res[need, LAYER] == L_LOCK and req[rid, KEPT] >= 0:  # it has the lock again
                            rel[n_rel], n_rel, req[rid, KEPT] = req[rid, KEPT], n_rel + 1, -1
                        if need == CORES:  # its burst starts
                            t = now + (dur[rid, HELD] if s == ST_LOCKED else dur[rid, REST])
                            event = EV_BURST
                    if event >= 0:
                        dur[rid, DUE], pend[n_pend], n_pend = t, 4 * rid + event, n_pend + 1
                        break
            if n_rel > 0:
                continue
            if idle == 0:
                break
            nxt = -1  # the first waiting arrival of the highest priority level that has one
            for level in range(ptr.size):
                i = ptr[level]
                while i < arrived and arr_level[i] != level:
                    i += 1
                ptr[level] = i
                if i < arrived:
                    ptr[level], nxt = i + 1, i
                    break
            if nxt < 0:
                break
            pick, p = np.random.randint(idle), 0  # noqa: NPY002 - an idle thread drawn at random
            while pick >= free_threads[p]:
                pick -= free_threads[p]
                p += 1
            free_threads[p] -= 1
            idle -= 1
            busy[L_WORKERS] += 1
            c = arr_class[nxt]
            req[nxt, STEP], req[nxt, END], req[nxt, PROC], req[nxt, STAGE], req[nxt, KEPT] = (
                step_start[c],
                step_start[c + 1],
                p,
                ST_STEP,
                -1,
            )
            started[nxt] = now
            ready[n_ready], n_ready = nxt, n_ready + 1


@njit(cache=True)
def _resources(processes, slots, cores, pool_size, bouncer_limit):  # type: ignore[no-untyped-def]  # pragma: no cover
    """The resources' rows (see the module docstring), ``pool_res`` and the number of layers.

    The cores are resource 0 and process ``p``'s lock ``1 + p``; ``pool_res[j, p]`` is the resource
    of pool ``j`` in process ``p`` and ``pool_res[j, -1]`` its PgBouncer's (-1: none).  Every ring
    buffer holds ``slots + 1`` requests, more than can ever wait.
    """
    n_pools = pool_size.size
    pool_res = np.full((n_pools, processes + 1), -1, np.int64)
    count = 1 + processes
    for j in range(n_pools):
        for p in range(processes):
            pool_res[j, p] = count
            count += 1
        if bouncer_limit[j] > 0:
            pool_res[j, processes] = count
            count += 1
    res = np.zeros((count, Q0 + slots + 1), np.int64)
    res[CORES, FREE], res[CORES, LAYER] = cores, L_CORES
    res[1 : 1 + processes, FREE], res[1 : 1 + processes, LAYER] = 1, L_LOCK
    for j in range(n_pools):
        for p in range(processes):
            res[pool_res[j, p], FREE], res[pool_res[j, p], LAYER] = pool_size[j], 3 + 2 * j
        if pool_res[j, processes] >= 0:
            b = pool_res[j, processes]
            res[b, FREE], res[b, LAYER] = bouncer_limit[j], 4 + 2 * j
    return res, pool_res, 3 + 2 * n_pools
