"""The steps of one ``/work`` request, run and timed the same way by every server mode.

A request is: wait for a worker slot (when the server limits how many requests run at once),
an optional fixed downstream wait (``io_wait``), CPU (:func:`capplan.demo.workload.begin_request`),
the database step when one is configured (:mod:`capplan.demo.dbstep`: wait for a pool connection,
hold it for one query), CPU again (:func:`capplan.demo.workload.end_request`).  Without a database
step the checksum is :func:`~capplan.demo.workload.handle_request`'s.

Each request leaves a row of :data:`capplan.demo.endpoints.REQUEST_FIELDS` in the server's
record (``/debug/requests``): the server-side split of its time, for diagnosis.  CPU parts are
timed on the thread's own CPU clock (``time.thread_time``), so time spent waiting for the
interpreter lock or a core is not counted as CPU.
"""

from __future__ import annotations

import asyncio
import threading
import time

from capplan.demo.dbstep import AsyncPool, ThreadedPool
from capplan.demo.endpoints import Endpoints
from capplan.demo.workload import begin_request, end_request

__all__ = ["serve_async", "serve_blocking"]

_MASK = 0xFFFFFFFF


def serve_blocking(
    endpoints: Endpoints,
    request_id: int,
    io_wait: float,
    pool: ThreadedPool | None = None,
    slots: threading.Semaphore | None = None,
) -> int:
    """Serve one request on the calling thread; its checksum."""
    with endpoints.serving():
        start, cpu_start = time.perf_counter(), time.thread_time()
        if slots is not None:
            slots.acquire()
        slot_wait = time.perf_counter() - start
        try:
            if io_wait > 0:
                time.sleep(io_wait)
            c0 = time.thread_time()
            amount = begin_request(request_id)
            c1 = time.thread_time()
            pool_wait = hold = 0.0
            if pool is not None:
                step = pool.run(request_id)
                amount, pool_wait, hold = (amount ^ step.value) & _MASK, step.pool_wait, step.hold
            c2 = time.thread_time()
            checksum = end_request(request_id, amount)
            c3 = time.thread_time()
        finally:
            if slots is not None:
                slots.release()
        took = time.perf_counter() - start
        row = (start, took, slot_wait, c1 - c0, pool_wait, hold, c3 - c2, time.thread_time() - cpu_start)
        endpoints.record_steps(row)
    return checksum


async def serve_async(
    endpoints: Endpoints,
    request_id: int,
    io_wait: float,
    pool: AsyncPool | None = None,
) -> int:
    """Serve one request as a task of the event loop; its checksum.

    The CPU parts run synchronously (they block the loop, one request's part at a time); the
    downstream wait and the database step are awaited, so other requests run meanwhile.
    """
    with endpoints.serving():
        start = time.perf_counter()
        if io_wait > 0:
            await asyncio.sleep(io_wait)
        c0 = time.thread_time()
        amount = begin_request(request_id)
        c1 = time.thread_time()
        pool_wait = hold = 0.0
        if pool is not None:
            step = await pool.run(request_id)
            amount, pool_wait, hold = (amount ^ step.value) & _MASK, step.pool_wait, step.hold
        c2 = time.thread_time()
        checksum = end_request(request_id, amount)
        c3 = time.thread_time()
        took = time.perf_counter() - start
        endpoints.record_steps((start, took, 0.0, c1 - c0, pool_wait, hold, c3 - c2, (c1 - c0) + (c3 - c2)))
    return checksum
