"""Compiled discrete-event simulation of one replica with simultaneous resource possession.

A request waits for a worker thread (in arrival order within its priority, higher priorities first;
an idle thread drawn at random takes it, as when idle threads race to accept) and holds it for its
whole life.  During a CPU step it queues (FIFO) for its process's interpreter lock, then, still
holding the lock, for a core; it runs the lock-held part, frees the lock and runs the lock-free
part on the same core (a thread that releases the lock goes on running), then frees the core.
During a :class:`~capplan.layered.model.Hold` it queues for a connection of its process's pool,
then (with PgBouncer) for a server connection, and holds both for the step's time; a ``Wait``
just passes time.  The lock is held to the end of the lock-held part (CPython's 5 ms switch
interval is not modelled); cores serve bursts FIFO.

Every lock, the cores, every pool of every process and every PgBouncer is a *resource* with free
servers and a FIFO ring buffer of waiting requests; a release hands the server straight to the
next in line.  Events sit in a binary heap (time, request, kind).  Times are drawn in the kernel
from the two-moment phase-type fits (see :func:`capplan.queueing.phasetype.two_moment_parts`).
Besides each request's start and finish, the kernel adds up per layer and request the time spent
queueing and the time-integral of busy servers (after ``warm_time``).
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
EV_BURST = 1  # a core burst ends
EV_HOLD = 2  # a connection hold ends
EV_WAIT = 3  # a downstream wait ends
# what a request does next (stage)
ST_STEP = 0  # start its next step
ST_LOCKED = 1  # has the lock: needs a core for the lock-held part
ST_FREE_PART = 2  # needs a core for the lock-free part
ST_POOLED = 3  # has a pool connection: needs a PgBouncer server connection, if any
ST_HELD = 4  # has what the hold needs: the hold runs
# rows of the per-resource integer state
FREE, HEAD, LEN, LAYER = 0, 1, 2, 3
# layers (accumulator rows): 0 workers, 1 lock, 2 cores, 3 + 2j pool j, 4 + 2j PgBouncer j
L_WORKERS, L_LOCK, L_CORES = 0, 1, 2


@njit(cache=True, inline="always")
def _draw(parts):  # type: ignore[no-untyped-def]  # pragma: no cover - compiled
    """One draw of the fit ``(w1, k1, r1, w2, k2, r2)``; ``k1 < 0`` marks the constant ``r1``."""
    if parts[1] < 0.0:
        return parts[2]
    if np.random.random() < parts[0]:  # noqa: NPY002 - numba's per-thread generator
        return np.random.gamma(parts[1], 1.0 / parts[2])  # noqa: NPY002
    return np.random.gamma(parts[4], 1.0 / parts[5])  # noqa: NPY002


@njit(cache=True, inline="always")
def _push(heap_t, heap_i, hsize, t, rid, kind):  # type: ignore[no-untyped-def]  # pragma: no cover
    """Add event ``(t, rid, kind)``; ``heap_i[:, 0]`` holds requests, ``[:, 1]`` kinds."""
    i = hsize[0]
    hsize[0] += 1
    while i > 0:
        parent = (i - 1) >> 1
        if heap_t[parent] <= t:
            break
        heap_t[i] = heap_t[parent]
        heap_i[i, 0], heap_i[i, 1] = heap_i[parent, 0], heap_i[parent, 1]
        i = parent
    heap_t[i] = t
    heap_i[i, 0], heap_i[i, 1] = rid, kind


@njit(cache=True, inline="always")
def _pop(heap_t, heap_i, hsize):  # type: ignore[no-untyped-def]  # pragma: no cover
    t, rid, kind = heap_t[0], heap_i[0, 0], heap_i[0, 1]
    hsize[0] -= 1
    size = hsize[0]
    lt, lid, lkind = heap_t[size], heap_i[size, 0], heap_i[size, 1]
    i = 0
    while True:
        child = 2 * i + 1
        if child >= size:
            break
        if child + 1 < size and heap_t[child + 1] < heap_t[child]:
            child += 1
        if lt <= heap_t[child]:
            break
        heap_t[i] = heap_t[child]
        heap_i[i, 0], heap_i[i, 1] = heap_i[child, 0], heap_i[child, 1]
        i = child
    if size > 0:
        heap_t[i] = lt
        heap_i[i, 0], heap_i[i, 1] = lid, lkind
    return t, rid, kind


@njit(cache=True, inline="always")
def _acquire(res, rid, now, rs, queue, since, busy):  # type: ignore[no-untyped-def]  # pragma: no cover
    """Take a server of resource ``res`` (True) or join its queue (False)."""
    if rs[FREE, res] > 0:
        rs[FREE, res] -= 1
        busy[rs[LAYER, res]] += 1
        return True
    cap = queue.shape[1]
    queue[res, (rs[HEAD, res] + rs[LEN, res]) % cap] = rid
    rs[LEN, res] += 1
    since[rid] = now
    return False


@njit(cache=True, inline="always")
def _release(res, now, rs, queue, since, busy, waited):  # type: ignore[no-untyped-def]  # pragma: no cover
    """Free a server of ``res``: the next in its queue gets it (returned), else -1; adds the
    time it queued to ``waited[layer, request]``."""
    if rs[LEN, res] == 0:
        rs[FREE, res] += 1
        busy[rs[LAYER, res]] -= 1
        return -1
    nxt = queue[res, rs[HEAD, res]]
    rs[HEAD, res] = (rs[HEAD, res] + 1) % queue.shape[1]
    rs[LEN, res] -= 1
    waited[rs[LAYER, res], nxt] += now - since[nxt]
    return nxt


@njit(cache=True, inline="always")
def _advance(rid, now, model, state, hsize):  # type: ignore[no-untyped-def]  # pragma: no cover
    """Take request ``rid`` as far as it goes without waiting: until it queues for a resource,
    an event is scheduled for it, or it has no steps left (returns True)."""
    arr_class, step_kind, step_pool, step_parts, step_start, lock_share, cores, res_pool, res_bouncer = model
    rs, queue, since, busy, heap_t, heap_i, step, proc, stage, held, rest = state
    while True:
        s = stage[rid]
        if s == ST_STEP:
            c = arr_class[rid]
            k = step_start[c] + step[rid]
            if k >= step_start[c + 1]:
                return True
            if step_kind[k] == WAIT:
                _push(heap_t, heap_i, hsize, now + _draw(step_parts[k]), rid, EV_WAIT)
                return False
            if step_kind[k] == HOLD:
                rest[rid] = _draw(step_parts[k])
                stage[rid] = ST_POOLED
                if not _acquire(res_pool[step_pool[k], proc[rid]], rid, now, rs, queue, since, busy):
                    return False
                continue
            total = _draw(step_parts[k])
            held[rid] = total * lock_share
            rest[rid] = total - held[rid]
            stage[rid] = ST_LOCKED if held[rid] > 0.0 else ST_FREE_PART
            if held[rid] > 0.0 and not _acquire(proc[rid], rid, now, rs, queue, since, busy):
                return False
        elif s in (ST_LOCKED, ST_FREE_PART):
            if _acquire(cores, rid, now, rs, queue, since, busy):
                _push(
                    heap_t, heap_i, hsize, now + (held[rid] if s == ST_LOCKED else rest[rid]), rid, EV_BURST
                )
            return False
        elif s == ST_POOLED:
            j = step_pool[step_start[arr_class[rid]] + step[rid]]
            stage[rid] = ST_HELD
            if res_bouncer[j] >= 0 and not _acquire(res_bouncer[j], rid, now, rs, queue, since, busy):
                return False
        else:  # ST_HELD
            _push(heap_t, heap_i, hsize, now + rest[rid], rid, EV_HOLD)
            return False


@njit(cache=True, inline="always")
def _grant(nxt, res, now, model, state, hsize, ready, n_ready):  # type: ignore[no-untyped-def]  # pragma: no cover
    """``nxt`` got a server of ``res`` on a release: a core starts its burst at once; any other
    resource puts it on the ready list.  Returns the new length of the list."""
    if nxt < 0:
        return n_ready
    stage, held, rest = state[8], state[9], state[10]
    if res == model[6]:
        dur = held[nxt] if stage[nxt] == ST_LOCKED else rest[nxt]
        _push(state[4], state[5], hsize, now + dur, nxt, EV_BURST)
        return n_ready
    ready[n_ready] = nxt
    return n_ready + 1


@njit(cache=True, inline="always")
def _on_event(rid, kind, now, model, state, hsize, ready, n_ready, waited):  # type: ignore[no-untyped-def]  # pragma: no cover
    """Release what the event ends; ``rid`` and whoever got a server go on the ready list."""
    arr_class, step_pool, step_start, cores, res_pool, res_bouncer = (
        model[0],
        model[2],
        model[4],
        model[6],
        model[7],
        model[8],
    )
    rs, queue, since, busy, step, proc, stage, rest = (
        state[0],
        state[1],
        state[2],
        state[3],
        state[6],
        state[7],
        state[8],
        state[10],
    )
    if kind == EV_BURST:
        if stage[rid] == ST_LOCKED:  # the lock-held part is done: free the lock
            nxt = _release(proc[rid], now, rs, queue, since, busy, waited)
            n_ready = _grant(nxt, proc[rid], now, model, state, hsize, ready, n_ready)
            if rest[rid] > 0.0:  # the lock-free part runs on, on the same core
                stage[rid] = ST_FREE_PART
                _push(state[4], state[5], hsize, now + rest[rid], rid, EV_BURST)
                return n_ready
        nxt = _release(cores, now, rs, queue, since, busy, waited)
        n_ready = _grant(nxt, cores, now, model, state, hsize, ready, n_ready)
    elif kind == EV_HOLD:
        j = step_pool[step_start[arr_class[rid]] + step[rid]]
        if res_bouncer[j] >= 0:
            nxt = _release(res_bouncer[j], now, rs, queue, since, busy, waited)
            n_ready = _grant(nxt, res_bouncer[j], now, model, state, hsize, ready, n_ready)
        res = res_pool[j, proc[rid]]
        nxt = _release(res, now, rs, queue, since, busy, waited)
        n_ready = _grant(nxt, res, now, model, state, hsize, ready, n_ready)
    step[rid] += 1
    stage[rid] = ST_STEP
    ready[n_ready] = rid
    return n_ready + 1


@njit(cache=True, inline="always")
def _next_waiting(arrived, ptr, arr_level):  # type: ignore[no-untyped-def]  # pragma: no cover
    """The first waiting arrival of the highest priority level that has one, else -1;
    ``ptr[level]`` is the first not yet taken arrival of ``level``."""
    for level in range(ptr.size):
        i = ptr[level]
        while i < arrived and arr_level[i] != level:
            i += 1
        ptr[level] = i
        if i < arrived:
            ptr[level] = i + 1
            return i
    return -1


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
    n, slots = arr_time.size, processes * threads
    model, rs, n_layers = _resources(
        arr_class, step_kind, step_pool, step_parts, step_start, processes, cores, lock_share,
        pool_size, bouncer_limit,
    )  # fmt: skip
    state = (
        rs, np.empty((rs.shape[1], slots + 1), np.int64), np.zeros(n), np.zeros(n_layers, np.int64),
        np.empty(slots + 4), np.empty((slots + 4, 2), np.int64), np.zeros(n, np.int64),
        np.zeros(n, np.int64), np.zeros(n, np.int8), np.zeros(n), np.zeros(n),
    )  # fmt: skip
    busy, proc, stage, step = state[3], state[7], state[8], state[6]
    started, finished = np.full(n, np.nan), np.full(n, np.nan)
    waited = np.zeros((n_layers, n))
    area = np.zeros(n_layers)
    hsize = np.zeros(1, np.int64)
    free_threads = np.full(processes, threads, np.int64)
    ptr = np.zeros(levels, np.int64)
    ready = np.empty(slots + 4, np.int64)
    warm_time = arr_time[min(measured, n - 1)] if n > 0 else 0.0
    idle, arrived, last, n_ready = slots, 0, 0.0, 0
    if n > 0:
        _push(state[4], state[5], hsize, arr_time[0], 0, EV_ARRIVAL)
    while hsize[0] > 0:
        now, rid, kind = _pop(state[4], state[5], hsize)
        if now > warm_time:
            dt = now - max(last, warm_time)
            for layer in range(n_layers):
                area[layer] += busy[layer] * dt
        last = now
        if kind == EV_ARRIVAL:
            arrived = rid + 1
            if arrived < n:
                _push(state[4], state[5], hsize, arr_time[arrived], arrived, EV_ARRIVAL)
        else:
            n_ready = _on_event(rid, kind, now, model, state, hsize, ready, n_ready, waited)
        while True:
            while n_ready > 0:
                n_ready -= 1
                r = ready[n_ready]
                if _advance(r, now, model, state, hsize):
                    finished[r] = now
                    free_threads[proc[r]] += 1
                    idle += 1
                    busy[L_WORKERS] -= 1
            nxt = _next_waiting(arrived, ptr, arr_level) if idle > 0 else -1
            if nxt < 0:
                break
            pick = np.random.randint(idle)  # noqa: NPY002 - a random idle thread takes it
            p = 0
            while pick >= free_threads[p]:
                pick -= free_threads[p]
                p += 1
            free_threads[p] -= 1
            idle -= 1
            busy[L_WORKERS] += 1
            proc[nxt], stage[nxt], step[nxt], started[nxt] = p, ST_STEP, 0, now
            ready[n_ready] = nxt
            n_ready += 1
    return started, finished, waited, area, last - warm_time


@njit(cache=True)
def _resources(  # type: ignore[no-untyped-def]  # pragma: no cover - compiled
    arr_class, step_kind, step_pool, step_parts, step_start, processes, cores, lock_share,
    pool_size, bouncer_limit,
):  # fmt: skip
    """The model tuple and the resources' state: locks ``0..P-1``, the cores ``P``, pool ``j`` of
    process ``p`` at ``P + 1 + j P + p``, then the PgBouncers (``res_bouncer[j] = -1``: none)."""
    n_pools = pool_size.size
    res_pool = np.empty((n_pools, processes), np.int64)
    res_bouncer = np.full(n_pools, -1, np.int64)
    count = processes + 1 + n_pools * processes
    for j in range(n_pools):
        if bouncer_limit[j] > 0:
            res_bouncer[j] = count
            count += 1
    rs = np.zeros((4, count), np.int64)
    rs[FREE, :processes], rs[LAYER, :processes] = 1, L_LOCK
    rs[FREE, processes], rs[LAYER, processes] = cores, L_CORES
    for j in range(n_pools):
        for p in range(processes):
            res_pool[j, p] = processes + 1 + j * processes + p
            rs[FREE, res_pool[j, p]], rs[LAYER, res_pool[j, p]] = pool_size[j], 3 + 2 * j
        if res_bouncer[j] >= 0:
            rs[FREE, res_bouncer[j]], rs[LAYER, res_bouncer[j]] = bouncer_limit[j], 4 + 2 * j
    model = (
        arr_class, step_kind, step_pool, step_parts, step_start, lock_share, processes, res_pool,
        res_bouncer,
    )  # fmt: skip
    return model, rs, 3 + 2 * n_pools
