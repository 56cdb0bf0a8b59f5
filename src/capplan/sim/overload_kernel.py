"""Compiled kernel of the overload simulator: attempts, client outcomes and retries, in time order.

The server is the FCFS ``c``-server queue of :mod:`capplan.sim.kernel`: attempts are routed in
the order they arrive, and each takes the server that frees first, ``start = max(t, earliest
free)``.  Attempts no longer arrive in a precomputed order, because a retry is born when an
earlier attempt fails; so the kernel merges the sorted first attempts with a min-heap of pending
events:

* an *attempt* (a retry, at its send time) is routed through the server at once: its start,
  service and completion are known when it arrives, and so is the moment its client learns the
  outcome -- the completion if it comes within the timeout, else ``t + timeout``, at once if the
  server refused it;
* an *outcome* event, at that moment, feeds the client's circuit breaker and decides the retry
  (attempts left, retry budget, backoff), which becomes a new attempt event.

Every request has at most one pending event, and every event lies in the future of the attempt
that made it, so the merge visits attempts in time order, which is what the FCFS routing needs.
The server never learns that a client gave up: a timed-out attempt is still served (wasted work)
unless it is dropped at the head of the queue (``drop_expired``, deadline propagation) or by the
CoDel-like rule.  Without a breaker or a retry budget nothing depends on the order in which
clients learn outcomes, so an outcome is settled when its attempt is routed (a success recorded,
a retry scheduled) and only retries pass through the heap.

Per time bin (the last row collects everything at or after the end of the load) the kernel adds
up the counts named in :data:`BIN_COLUMNS`; per request it records the final status, the time
from the first send to the final outcome, and the number of attempts.
"""

from __future__ import annotations

import math

import numba
import numpy as np
from numpy.typing import NDArray

from capplan.sim.kernel import _draw, _push, _sift_down

__all__ = [
    "BIN_COLUMNS",
    "OK",
    "REFUSED",
    "REJECTED",
    "SLOW",
    "STATUS_NAMES",
    "TIMEOUT",
    "run_overload",
]

# Outcomes of an attempt as its client sees them, and the final status of a request.
OK = 0  # answered within the timeout
SLOW = 1  # answered within the timeout, but slower than the breaker's response-time threshold
TIMEOUT = 2  # no answer within the timeout (or dropped by the server after the client gave up)
REFUSED = 3  # refused by the server's load shedding (an immediate error response)
REJECTED = 4  # failed fast by the client's open circuit breaker (never sent)
STATUS_NAMES = ("ok", "slow", "timeout", "refused", "rejected")

#: Columns of the per-bin sums.  Counts are binned by when they happen: arrivals and refusals at
#: the arrival, service and dequeue drops when service would start, outcomes when the client
#: learns them.
BIN_COLUMNS = (
    "requests",  # first attempts
    "attempts",  # first attempts and retries sent (rejected by the breaker included)
    "retries",
    "served",  # attempts that took a server
    "busy",  # server-seconds of service started
    "wasted",  # server-seconds spent on attempts whose client had timed out
    "succeeded",  # requests answered (goodput), at the answer
    "failed",  # requests that failed for good, at the final failure
    "timeouts",  # attempts timed out at the client
    "shed_queue",  # attempts refused on arrival (queue too long)
    "shed_delay",  # attempts dropped at the head for waiting too long (CoDel-like)
    "dropped_expired",  # attempts dropped at the head because their client had given up
    "rejected",  # attempts failed fast by the open breaker
    "queued",  # attempts that had to wait for a server
    "wait",  # their total wait, seconds
    "latency",  # total time from first send to answer of the succeeded requests, seconds
    "failed_timeout",  # requests whose final failure is a timeout
    "breaker_opens",
    "slow",  # successes slower than the breaker's response-time threshold
)
_C = {name: i for i, name in enumerate(BIN_COLUMNS)}
C_REQUESTS, C_ATTEMPTS, C_RETRIES, C_SERVED, C_BUSY, C_WASTED = (_C[k] for k in BIN_COLUMNS[:6])
C_OK, C_FAILED, C_TIMEOUTS, C_SHED_QUEUE, C_SHED_DELAY, C_EXPIRED = (_C[k] for k in BIN_COLUMNS[6:12])
C_REJECTED, C_QUEUED, C_WAIT, C_LATENCY, C_FAILED_TIMEOUT, C_OPENS, C_SLOW = (_C[k] for k in BIN_COLUMNS[12:])

# Layout of the parameter vectors built by capplan.sim.overload.
# client: timeout, max_retries, backoff base, multiplier, cap, jitter (0 none, 1 full, 2 equal),
#         budget ratio (< 0: no budget), budget burst
# breaker: enabled, failure_threshold, success_threshold, open timeout, response-time threshold,
#          error-rate threshold, window, slow_call_is_error
# shedding: max_queue (< 0: none), target (<= 0: none), interval, drop_expired
_EV_ATTEMPT = 0
_EV_OUTCOME = 1
_CLOSED, _OPEN, _HALF_OPEN = 0.0, 1.0, 2.0
# breaker state vector
_B_STATE, _B_FAILS_IN_A_ROW, _B_OKS_IN_A_ROW, _B_LAST_FAILURE, _B_FILLED, _B_FAILS, _B_POS = range(7)
# server state vector: waiting-heap size, start of the queue's current busy period, latest start
_S_WAITING, _S_PERIOD, _S_LAST_START = range(3)


@numba.njit(cache=True, nogil=True, inline="always")
def _bin(t: float, inv_width: float, last: int) -> int:
    b = int(t * inv_width)
    return b if b < last else last


@numba.njit(cache=True, nogil=True)
def _event_push(et: NDArray[np.float64], ep: NDArray[np.int64], n: int, t: float, payload: int) -> None:
    """Add an event at ``t`` to the min-heap held in ``et`` (times) and ``ep`` (payloads) [:n]."""
    i = n
    while i > 0:
        parent = (i - 1) // 2
        if et[parent] <= t:
            break
        et[i], ep[i] = et[parent], ep[parent]
        i = parent
    et[i], ep[i] = t, payload


@numba.njit(cache=True, nogil=True)
def _event_pop(et: NDArray[np.float64], ep: NDArray[np.int64], n: int) -> None:
    """Remove the root of the event heap of size ``n`` (its last element moves down into place)."""
    m = n - 1
    t, payload = et[m], ep[m]
    i = 0
    while True:
        child = 2 * i + 1
        if child >= m:
            break
        if child + 1 < m and et[child + 1] < et[child]:
            child += 1
        if et[child] >= t:
            break
        et[i], ep[i] = et[child], ep[child]
        i = child
    et[i], ep[i] = t, payload


@numba.njit(cache=True, nogil=True)
def _grow(et: NDArray[np.float64], ep: NDArray[np.int64]) -> tuple[NDArray[np.float64], NDArray[np.int64]]:
    n = et.shape[0]
    et2 = np.empty(2 * n)
    ep2 = np.empty(2 * n, dtype=np.int64)
    et2[:n] = et
    ep2[:n] = ep
    return et2, ep2


@numba.njit(cache=True, nogil=True)
def _window_reset(bk: NDArray[np.float64]) -> None:
    """Start a new error-rate window (at every change of state, as resilience4j does)."""
    bk[_B_FILLED] = 0.0
    bk[_B_FAILS] = 0.0
    bk[_B_POS] = 0.0


@numba.njit(cache=True, nogil=True)
def _breaker_admits(bk: NDArray[np.float64], t: float, open_timeout: float) -> bool:
    """The seed's ``Execute`` check: open -> half-open once ``open_timeout`` has passed since the
    last failure, else fail fast."""
    if bk[_B_STATE] == _OPEN:
        if t - bk[_B_LAST_FAILURE] > open_timeout:
            bk[_B_STATE] = _HALF_OPEN
            bk[_B_OKS_IN_A_ROW] = 0.0
            _window_reset(bk)
            return True
        return False
    return True


@numba.njit(cache=True, nogil=True)
def _breaker_open(bk: NDArray[np.float64], t: float, sums: NDArray[np.float64], b: int) -> None:
    if bk[_B_STATE] != _OPEN:
        sums[b, C_OPENS] += 1.0
        _window_reset(bk)
    bk[_B_STATE] = _OPEN
    bk[_B_LAST_FAILURE] = max(bk[_B_LAST_FAILURE], t)


@numba.njit(cache=True, nogil=True)
def _breaker_record(
    bk: NDArray[np.float64],
    ring: NDArray[np.int8],
    t: float,
    code: int,
    params: NDArray[np.float64],
    sums: NDArray[np.float64],
    b: int,
) -> None:
    """The seed's ``recordMetrics`` then ``onFailure`` / ``onSlowResponse`` / ``onSuccess``."""
    failed = code >= TIMEOUT
    window = ring.shape[0]
    pos = int(bk[_B_POS])
    if bk[_B_FILLED] >= window:
        bk[_B_FAILS] -= ring[pos]
    else:
        bk[_B_FILLED] += 1.0
    ring[pos] = 1 if failed else 0
    bk[_B_FAILS] += 1.0 if failed else 0.0
    bk[_B_POS] = (pos + 1) % window
    if bk[_B_FILLED] >= window and bk[_B_FAILS] / window > params[5]:
        _breaker_open(bk, t, sums, b)
    if failed or code == SLOW:
        bk[_B_FAILS_IN_A_ROW] += 1.0
        bk[_B_OKS_IN_A_ROW] = 0.0
        bk[_B_LAST_FAILURE] = t
        if bk[_B_STATE] == _HALF_OPEN or bk[_B_FAILS_IN_A_ROW] >= params[1]:
            _breaker_open(bk, t, sums, b)
        return
    bk[_B_FAILS_IN_A_ROW] = 0.0
    if bk[_B_STATE] == _HALF_OPEN:
        bk[_B_OKS_IN_A_ROW] += 1.0
        if bk[_B_OKS_IN_A_ROW] >= params[2]:
            bk[_B_STATE] = _CLOSED
            bk[_B_OKS_IN_A_ROW] = 0.0
            _window_reset(bk)


@numba.njit(cache=True, nogil=True)
def _serve(
    rng: np.random.Generator,
    t: float,
    service: tuple[int, NDArray[np.float64], NDArray[np.float64]],
    free: NDArray[np.float64],
    shed: NDArray[np.float64],
    waiting: NDArray[np.float64],
    sv: NDArray[np.float64],
    timeout: float,
    inv_width: float,
    sums: NDArray[np.float64],
) -> tuple[int, float]:
    """Route one attempt arriving at ``t`` through the server; ``(outcome, when the client learns it)``."""
    last = sums.shape[0] - 1
    b = _bin(t, inv_width, last)
    c = free.shape[0]
    j = 0
    earliest = free[0]
    if c <= 32:
        for q in range(1, c):
            if free[q] < earliest:
                earliest = free[q]
                j = q
    if shed[0] >= 0 and earliest > t:  # refuse an attempt that would wait behind max_queue others
        m = int(sv[_S_WAITING])
        while m > 0 and waiting[0] <= t:
            m -= 1
            _sift_down(waiting, m, waiting[m])
        sv[_S_WAITING] = m
        if m >= shed[0]:
            sums[b, C_SHED_QUEUE] += 1.0
            return REFUSED, t
    start = earliest if earliest > t else t
    sb = _bin(start, inv_width, last)
    w = start - t
    if w > 0.0:
        sums[b, C_QUEUED] += 1.0
        sums[b, C_WAIT] += w
        if shed[0] >= 0:
            _push(waiting, int(sv[_S_WAITING]), start)
            sv[_S_WAITING] += 1.0
        if sv[_S_LAST_START] < t:  # the queue was empty just before t: a new busy period
            sv[_S_PERIOD] = t
        sv[_S_LAST_START] = start
        if shed[3] > 0.0 and w >= timeout:  # deadline propagation: nobody waits for it any more
            sums[sb, C_EXPIRED] += 1.0
            return TIMEOUT, t + timeout
        if shed[1] > 0.0:
            limit = shed[1] if start - sv[_S_PERIOD] >= shed[2] else shed[2]
            if w > limit:
                sums[sb, C_SHED_DELAY] += 1.0
                return (REFUSED, start) if start < t + timeout else (TIMEOUT, t + timeout)
    s = _draw(rng, service[0], service[1], service[2], 0)
    leave = start + s
    if c <= 32:
        free[j] = leave
    else:
        _sift_down(free, c, leave)
    sums[sb, C_SERVED] += 1.0
    sums[sb, C_BUSY] += s
    if leave - t > timeout:
        sums[sb, C_WASTED] += s
        return TIMEOUT, t + timeout
    return OK, leave


@numba.njit(cache=True, nogil=True)
def _backoff(rng: np.random.Generator, retry: int, client: NDArray[np.float64]) -> float:
    d = min(client[4], client[2] * client[3] ** (retry - 1))
    if client[5] == 1.0:
        return float(d * rng.random())
    if client[5] == 2.0:
        return float(0.5 * d * (1.0 + rng.random()))
    return float(d)


@numba.njit(cache=True, nogil=True)
def _finish(
    r: int,
    code: int,
    t: float,
    success: bool,
    first_sent: float,
    inv_width: float,
    sums: NDArray[np.float64],
    status: NDArray[np.int8],
    latency: NDArray[np.float64],
) -> None:
    b = _bin(t, inv_width, sums.shape[0] - 1)
    status[r] = code
    latency[r] = t - first_sent
    if success:
        sums[b, C_OK] += 1.0
        sums[b, C_LATENCY] += t - first_sent
    else:
        sums[b, C_FAILED] += 1.0
        if code == TIMEOUT:
            sums[b, C_FAILED_TIMEOUT] += 1.0


@numba.njit(cache=True, nogil=True)
def _on_outcome(
    rng: np.random.Generator,
    t: float,
    r: int,
    info: int,
    first_sent: float,
    client: NDArray[np.float64],
    tokens: NDArray[np.float64],
    slow_fails: bool,
    inv_width: float,
    sums: NDArray[np.float64],
    status: NDArray[np.int8],
    latency: NDArray[np.float64],
) -> float:
    """The client learns an attempt's outcome at ``t``: finish the request, or return when to retry
    it (-1 for no retry).  The breaker has already been told."""
    code = (info >> 1) & 7
    k = info >> 4
    b = _bin(t, inv_width, sums.shape[0] - 1)
    if code == TIMEOUT:
        sums[b, C_TIMEOUTS] += 1.0
    elif code == SLOW:
        sums[b, C_SLOW] += 1.0
    if code < TIMEOUT and not (code == SLOW and slow_fails):
        _finish(r, code, t, True, first_sent, inv_width, sums, status, latency)
        return -1.0
    budgeted = client[6] >= 0.0
    if k < int(client[1]) and (not budgeted or tokens[0] >= 1.0):
        if budgeted:
            tokens[0] -= 1.0
        return t + _backoff(rng, k + 1, client)
    _finish(r, code, t, False, first_sent, inv_width, sums, status, latency)
    return -1.0


@numba.njit(cache=True, nogil=True)
def run_overload(
    rng: np.random.Generator,
    arrivals: NDArray[np.float64],
    service: tuple[int, NDArray[np.float64], NDArray[np.float64]],
    free: NDArray[np.float64],
    client: NDArray[np.float64],
    breaker: NDArray[np.float64],
    shed: NDArray[np.float64],
    inv_width: float,
    sums: NDArray[np.float64],
    status: NDArray[np.int8],
    latency: NDArray[np.float64],
    attempts: NDArray[np.int8],
    final: NDArray[np.float64],
) -> None:
    """Simulate every request of ``arrivals`` (sorted first-attempt times) to its final outcome.

    ``free`` holds the servers' next-free times (a min-heap when there are more than 32);
    ``client``, ``breaker`` and ``shed`` are the parameter vectors laid out above; ``sums`` has
    one row per time bin of width ``1 / inv_width`` plus a last row for everything later.
    ``final`` receives the time of the last outcome and the backlog of work left per server then.
    """
    timeout = client[0]
    tokens = np.array([client[7]])  # the retry budget starts full
    guarded = breaker[0] > 0.0
    budgeted = client[6] >= 0.0
    slow_fails = breaker[7] > 0.0
    ring = np.zeros(max(int(breaker[6]), 1), dtype=np.int8)
    bk = np.zeros(7)
    bk[_B_LAST_FAILURE] = -math.inf
    sv = np.zeros(3)
    sv[_S_LAST_START] = -math.inf
    waiting = np.empty(max(int(shed[0]) + 1, 1))
    et, ep = np.empty(1024), np.empty(1024, dtype=np.int64)  # event heap: times, request << 16 | info
    hn = 0
    last = sums.shape[0] - 1
    n = arrivals.shape[0]
    i = 0
    t = 0.0
    end = 0.0  # the latest outcome settled ahead of the clock
    while i < n or hn > 0:
        if hn > 0 and (i >= n or et[0] <= arrivals[i]):
            t, r, info = et[0], ep[0] >> 16, ep[0] & 0xFFFF
            _event_pop(et, ep, hn)
            hn -= 1
            k = info >> 4
            if info & 1 == _EV_OUTCOME:
                if guarded:
                    _breaker_record(bk, ring, t, (info >> 1) & 7, breaker, sums, _bin(t, inv_width, last))
                again = _on_outcome(
                    rng, t, r, info, arrivals[r], client, tokens, slow_fails, inv_width, sums, status, latency
                )
                if again >= 0.0:
                    if hn == et.shape[0]:
                        et, ep = _grow(et, ep)
                    _event_push(et, ep, hn, again, r << 16 | _EV_ATTEMPT | (k + 1) << 4)
                    hn += 1
                continue
        else:
            t, r, k = arrivals[i], i, 0
            i += 1
            sums[_bin(t, inv_width, last), C_REQUESTS] += 1.0
            if budgeted:
                tokens[0] = min(client[7], tokens[0] + client[6])
        # -- an attempt: request r, attempt number k (0 = the first), sent at t --------------------
        b = _bin(t, inv_width, last)
        sums[b, C_ATTEMPTS] += 1.0
        sums[b, C_RETRIES] += 1.0 if k > 0 else 0.0
        attempts[r] = k + 1
        if guarded and not _breaker_admits(bk, t, breaker[3]):
            sums[b, C_REJECTED] += 1.0
            _finish(r, REJECTED, t, False, arrivals[r], inv_width, sums, status, latency)
            continue
        code, when = _serve(rng, t, service, free, shed, waiting, sv, timeout, inv_width, sums)
        if code == OK and when - t > breaker[4]:
            code = SLOW
        info = _EV_OUTCOME | code << 1 | k << 4
        again = when
        if code == OK and not guarded:  # the common case, recorded at once
            end = max(end, when)
            _finish(r, OK, when, True, arrivals[r], inv_width, sums, status, latency)
            continue
        if not (guarded or (budgeted and code >= SLOW)):  # nothing depends on when it is learnt
            end = max(end, when)
            again = _on_outcome(
                rng, when, r, info, arrivals[r], client, tokens, slow_fails, inv_width, sums, status, latency
            )
            info = _EV_ATTEMPT | (k + 1) << 4
        if again >= 0.0:
            if hn == et.shape[0]:
                et, ep = _grow(et, ep)
            _event_push(et, ep, hn, again, r << 16 | info)
            hn += 1
    end = max(end, t)
    final[0] = end
    backlog = 0.0
    for q in range(free.shape[0]):
        backlog += max(free[q] - end, 0.0)
    final[1] = backlog / free.shape[0]
