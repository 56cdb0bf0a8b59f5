"""An open-loop Poisson load generator over raw HTTP/1.1 keep-alive connections.

Arrivals are scheduled in advance at exponential gaps (a Poisson process of the given rate), so
when a request is sent does not depend on when earlier ones were answered: the queue that forms
in the server is real and shows in the response times (a closed loop, where each client waits for
its answer before sending again, would throttle itself and hide it).

How it keeps to the schedule: one dispatcher thread sleeps until each scheduled instant and hands
the request to an idle worker thread (``dispatch="first-idle"``: whichever asks first, which
favours the connections that were busy last; ``"random-idle"``: one drawn at random among the
idle ones, so that when connections end on different server processes, each process gets
requests in proportion to its idle connections); each worker owns one pre-opened keep-alive connection,
takes the send timestamp, writes the request, reads the response and takes the completion
timestamp.  Workers block in ``recv`` (outside the interpreter lock) almost all the time, so the
generator needs little CPU.  Its faithfulness is measured, not assumed: :class:`LoadResult`
reports the achieved arrival rate and the *lateness* of every send (send time minus scheduled
time; it grows when the dispatcher oversleeps or no connection is idle).  Response times are
measured from the send, so lateness does not inflate them; lateness only perturbs the arrival
process, and :attr:`LoadResult.lateness` says by how much.

:func:`run_closed_loop` sends requests back to back on one connection (one outstanding request,
so no queue forms): used to calibrate the service while it is being profiled.

:func:`run_with_retries` is the open loop with the clients of a real fleet: each attempt has a
timeout, after which the client gives up on it and retries after a backoff, up to a number of
times.  The server is not told: it still serves the abandoned attempt, and its late response is
read and thrown away (as a client that cancels an HTTP/2 stream, or keeps an HTTP/1.1 connection
in its pool until the response has drained).  Connections are opened before the first arrival,
so the server accepts none while it is measured.  :class:`RetryLoadResult` records every
attempt.
"""

from __future__ import annotations

import heapq
import math
import queue
import random
import selectors
import socket
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

import numpy as np
from numpy.typing import NDArray

__all__ = [
    "LoadResult",
    "RetryLoadResult",
    "poisson_schedule",
    "run_closed_loop",
    "run_open_loop",
    "run_with_retries",
]

FloatArray = NDArray[np.float64]
PathFor = Callable[[int], str]
_QUICKACK: int | None = getattr(socket, "TCP_QUICKACK", None)


def poisson_schedule(rate: float, duration: float, rng: np.random.Generator) -> FloatArray:
    """Arrival instants (seconds from 0) of a Poisson process of ``rate`` on ``[0, duration)``."""
    if not (rate > 0 and duration > 0):
        raise ValueError(f"rate and duration must be positive, got rate={rate!r}, duration={duration!r}")
    expected = rate * duration
    n = int(expected + 10 * np.sqrt(expected) + 10)
    times = np.cumsum(rng.exponential(1.0 / rate, size=n))
    while times[-1] < duration:  # pragma: no cover - 10 standard deviations of headroom
        more = times[-1] + np.cumsum(rng.exponential(1.0 / rate, size=n))
        times = np.concatenate([times, more])
    return np.asarray(times[times < duration], dtype=np.float64)


@dataclass(frozen=True)
class LoadResult:
    """Per-request timestamps of one load run (seconds, ``time.perf_counter`` origin at the start).

    ``scheduled``, ``sent`` and ``done`` are in arrival order; ``done`` is NaN for a request that
    got no complete response, and ``status`` is its HTTP status (0 when none was read).
    """

    rate: float
    duration: float
    scheduled: FloatArray
    sent: FloatArray
    done: FloatArray
    status: NDArray[np.int64]
    connections: int

    def window(self, skip: float) -> NDArray[np.bool_]:
        """Mask of the requests scheduled at or after ``skip`` seconds (drops the warm-up)."""
        return np.asarray(self.scheduled >= skip)

    @property
    def ok(self) -> NDArray[np.bool_]:
        """Requests answered with status 200."""
        return np.asarray((self.status == 200) & np.isfinite(self.done))

    @property
    def response(self) -> FloatArray:
        """Response time from send to the last byte of the response (NaN if unanswered)."""
        return np.asarray(self.done - self.sent)

    @property
    def lateness(self) -> FloatArray:
        """Send time minus scheduled time (how far the generator fell behind its schedule)."""
        return np.asarray(self.sent - self.scheduled)

    def achieved_rate(self, skip: float = 0.0) -> float:
        """Requests actually sent per second over ``[skip, duration)`` of the schedule."""
        mask = self.window(skip) & np.isfinite(self.sent)
        span = self.duration - skip
        return float(mask.sum()) / span


def _connect(host: str, port: int, timeout: float = 30.0) -> socket.socket:
    sock = socket.create_connection((host, port), timeout=timeout)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return sock


def _request_bytes(host: str, path: str) -> bytes:
    return f"GET {path} HTTP/1.1\r\nHost: {host}\r\n\r\n".encode("ascii")


def _recv(sock: socket.socket) -> bytes:
    """One ``recv``, acknowledging at once what arrived (``TCP_QUICKACK``, Linux).

    A server that writes the header and the body of a response in two ``send`` calls without
    ``TCP_NODELAY`` holds the body back (Nagle's algorithm) until the header is acknowledged,
    and a client that delays its ACKs (Linux: 40-200 ms) then adds that delay to the response.
    Quick-ACK mode is cleared by the kernel after use, so it is set again before every read.
    """
    if _QUICKACK is not None:
        sock.setsockopt(socket.IPPROTO_TCP, _QUICKACK, 1)
    chunk = sock.recv(65536)
    if not chunk:
        raise ConnectionError("server closed the connection")
    return chunk


def _read_response(sock: socket.socket, buf: bytearray, deadline: float = math.inf) -> int:
    """Read one HTTP/1.1 response with a Content-Length body; return its status code.

    With a finite ``deadline`` (``time.perf_counter`` seconds) every read waits at most until
    then, and ``TimeoutError`` is raised when it passes.
    """
    while True:
        end = buf.find(b"\r\n\r\n")
        if end >= 0:
            break
        chunk = _recv_until(sock, deadline)
        buf += chunk
    head = bytes(buf[:end]).decode("latin-1").split("\r\n")
    status = int(head[0].split(" ", 2)[1])
    length = 0
    for line in head[1:]:
        name, _, value = line.partition(":")
        if name.strip().lower() == "content-length":
            length = int(value.strip())
    total = end + 4 + length
    while len(buf) < total:
        buf += _recv_until(sock, deadline)
    del buf[:total]
    return status


def _recv_until(sock: socket.socket, deadline: float) -> bytes:
    if math.isfinite(deadline):
        left = deadline - time.perf_counter()
        if left <= 0:
            raise TimeoutError("attempt timed out")
        sock.settimeout(left)
    return _recv(sock)


class _RandomIdle:
    """Hands each request to a worker drawn at random among the idle ones (FIFO backlog when none is)."""

    def __init__(self, workers: int, seed: int) -> None:
        self.queues: list[queue.SimpleQueue[int | None]] = [queue.SimpleQueue() for _ in range(workers)]
        self.idle = list(range(workers))
        self.backlog: deque[int] = deque()
        self.lock = threading.Lock()
        self.rng = random.Random(seed)

    def submit(self, i: int) -> None:
        with self.lock:
            if not self.idle:
                self.backlog.append(i)
                return
            k = self.rng.randrange(len(self.idle))
            self.idle[k], self.idle[-1] = self.idle[-1], self.idle[k]
            worker = self.idle.pop()
        self.queues[worker].put(i)

    def done(self, worker: int) -> None:
        """Worker ``worker`` finished its request: give it the oldest waiting one, or mark it idle."""
        with self.lock:
            if not self.backlog:
                self.idle.append(worker)
                return
            i = self.backlog.popleft()
        self.queues[worker].put(i)

    def close(self) -> None:
        for q in self.queues:
            q.put(None)


def run_open_loop(
    host: str,
    port: int,
    rate: float,
    duration: float,
    path_for: PathFor,
    *,
    seed: int,
    connections: int = 48,
    grace: float = 10.0,
    dispatch: Literal["first-idle", "random-idle"] = "first-idle",
    connect_interval: float = 0.0,
) -> LoadResult:
    """Send a Poisson stream of ``rate`` requests/s for ``duration`` seconds; time each response.

    Parameters
    ----------
    host, port : str, int
        The server.
    rate : float
        Arrival rate, requests per second.
    duration : float
        Length of the schedule, seconds.
    path_for : callable
        ``path_for(i)`` is the request target of the ``i``-th arrival (e.g. ``/work?id=...``).
    seed : int
        Seed of the arrival schedule.
    connections : int
        Keep-alive connections (and worker threads) opened before the first arrival: the most
        requests that can be in flight at once.  A request that finds none idle waits in the
        generator, which shows as lateness.
    grace : float
        Seconds to wait after the last arrival for the outstanding responses.
    dispatch : {"first-idle", "random-idle"}
        Which idle connection takes a request (see the module docstring).
    connect_interval : float
        Seconds between opening two connections.  A pre-fork server whose workers block in
        ``accept`` deals connections out in turn only if each is accepted before the next
        arrives (a few milliseconds apart is enough here).
    """
    rng = np.random.default_rng(seed)
    scheduled = poisson_schedule(rate, duration, rng)
    n = len(scheduled)
    sent = np.full(n, np.nan)
    done = np.full(n, np.nan)
    status = np.zeros(n, dtype=np.int64)
    requests = [_request_bytes(host, path_for(i)) for i in range(n)]
    work: queue.SimpleQueue[int | None] = queue.SimpleQueue()
    picker = _RandomIdle(connections, seed) if dispatch == "random-idle" else None
    socks = []
    for k in range(connections):
        if k and connect_interval > 0:
            time.sleep(connect_interval)
        socks.append(_connect(host, port))
    clock = time.perf_counter

    def worker(k: int, sock: socket.socket) -> None:
        buf = bytearray()
        inbox = picker.queues[k] if picker is not None else work
        while True:
            i = inbox.get()
            if i is None:
                return
            sent[i] = clock()
            try:
                sock.sendall(requests[i])
                status[i] = _read_response(sock, buf)
                done[i] = clock()
            except OSError:
                return
            if picker is not None:
                picker.done(k)

    threads = [threading.Thread(target=worker, args=(k, s), daemon=True) for k, s in enumerate(socks)]
    for t in threads:
        t.start()
    submit = picker.submit if picker is not None else work.put
    start = clock() + 0.05
    for i in range(n):
        target = start + scheduled[i]
        remaining = target - clock()
        if remaining > 0:
            time.sleep(remaining)
        submit(i)
    if picker is not None:
        picker.close()
    for _ in threads:
        work.put(None)
    deadline = clock() + grace
    for t in threads:
        t.join(timeout=max(0.0, deadline - clock()))
    for s in socks:
        s.close()
    return LoadResult(
        rate=rate,
        duration=duration,
        scheduled=scheduled,
        sent=sent - start,
        done=done - start,
        status=status,
        connections=connections,
    )


def run_closed_loop(host: str, port: int, requests: int, path_for: PathFor) -> LoadResult:
    """Send ``requests`` requests back to back on one keep-alive connection (no queueing)."""
    sock = _connect(host, port)
    buf = bytearray()
    clock = time.perf_counter
    sent = np.empty(requests)
    done = np.empty(requests)
    status = np.zeros(requests, dtype=np.int64)
    start = clock()
    try:
        for i in range(requests):
            payload = _request_bytes(host, path_for(i))
            sent[i] = clock()
            sock.sendall(payload)
            status[i] = _read_response(sock, buf)
            done[i] = clock()
    finally:
        sock.close()
    elapsed = done[-1] - start if requests else 0.0
    return LoadResult(
        rate=requests / elapsed if elapsed > 0 else 0.0,
        duration=elapsed,
        scheduled=sent - start,
        sent=sent - start,
        done=done - start,
        status=status,
        connections=1,
    )


@dataclass(frozen=True)
class RetryLoadResult:
    """Every attempt of a :func:`run_with_retries` run, in order of request then attempt.

    Times are ``time.perf_counter`` seconds from the run's start.  ``request`` and ``attempt``
    (0 for the first) identify an attempt; ``due`` is when it was scheduled (the first attempt's
    arrival, or a timeout plus its backoff), ``sent`` when it left (NaN: never sent), ``done``
    when its response was read in time (NaN: timed out), ``status`` its HTTP status (0: none in
    time).  ``first_sent`` is the schedule of first attempts; ``late_responses`` counts responses
    that arrived after their attempt's timeout (read and thrown away); ``connections`` is how many
    were opened in all.
    """

    first_sent: FloatArray
    request: NDArray[np.int64]
    attempt: NDArray[np.int64]
    due: FloatArray
    sent: FloatArray
    done: FloatArray
    status: NDArray[np.int64]
    timeout: float
    max_retries: int
    late_responses: int
    connections: int

    @property
    def succeeded(self) -> NDArray[np.bool_]:
        """Per request: answered with status 200 by one of its attempts."""
        ok = (self.status == 200) & np.isfinite(self.done)
        out = np.zeros(self.first_sent.size, dtype=bool)
        out[self.request[ok]] = True
        return out

    @property
    def timed_out(self) -> NDArray[np.bool_]:
        """Per attempt: sent, but not answered within the timeout."""
        return np.asarray(np.isfinite(self.sent) & ~np.isfinite(self.done))

    @property
    def lateness(self) -> FloatArray:
        """Per sent attempt: send time minus due time (the generator behind its schedule)."""
        sent = np.isfinite(self.sent)
        return np.asarray(self.sent[sent] - self.due[sent])


def _response_length(buf: bytearray) -> int | None:
    """Bytes of the first complete HTTP/1.1 response in ``buf`` (Content-Length body), or None."""
    end = buf.find(b"\r\n\r\n")
    if end < 0:
        return None
    length = 0
    for line in bytes(buf[:end]).decode("latin-1").split("\r\n")[1:]:
        name, _, value = line.partition(":")
        if name.strip().lower() == "content-length":
            length = int(value.strip())
    total = end + 4 + length
    return total if len(buf) >= total else None


class _Drainer:
    """One thread that reads the late responses of abandoned attempts, then frees their connections."""

    def __init__(self, idle: queue.SimpleQueue[tuple[socket.socket, bytearray]]) -> None:
        self.idle = idle
        self.incoming: queue.SimpleQueue[tuple[socket.socket, bytearray]] = queue.SimpleQueue()
        self.selector = selectors.DefaultSelector()
        self.late = 0
        self.running = True
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def add(self, sock: socket.socket, buf: bytearray) -> None:
        self.incoming.put((sock, buf))

    def _run(self) -> None:
        while self.running:
            while True:
                try:
                    sock, buf = self.incoming.get_nowait()
                except queue.Empty:
                    break
                sock.setblocking(False)
                self.selector.register(sock, selectors.EVENT_READ, buf)
            for key, _ in self.selector.select(timeout=0.005):
                conn, buf = key.fileobj, key.data
                if not isinstance(conn, socket.socket):  # pragma: no cover - only sockets are registered
                    continue
                sock = conn
                try:
                    chunk = sock.recv(65536)
                except BlockingIOError:
                    continue
                except OSError:
                    chunk = b""
                if not chunk:  # the server closed it: lost from the pool
                    self.selector.unregister(sock)
                    sock.close()
                    continue
                buf += chunk
                total = _response_length(buf)
                if total is not None:
                    del buf[:total]
                    self.late += 1
                    self.selector.unregister(sock)
                    sock.setblocking(True)
                    self.idle.put((sock, buf))

    def stop(self) -> None:
        self.running = False
        self.thread.join(timeout=2.0)
        for key in list(self.selector.get_map().values()):
            if isinstance(key.fileobj, socket.socket):
                key.fileobj.close()
        self.selector.close()


def run_with_retries(
    host: str,
    port: int,
    schedule: FloatArray,
    path_for: PathFor,
    *,
    timeout: float,
    max_retries: int,
    backoff: Callable[[int], float],
    connections: int = 2048,
    workers: int = 512,
    grace: float = 5.0,
    settle: float = 1.0,
) -> RetryLoadResult:
    """Send first attempts at the instants ``schedule`` (seconds from the start), with client timeouts.

    An attempt not answered within ``timeout`` seconds of its send is abandoned and, if the
    request has attempts left, retried ``backoff(k)`` seconds later (``k = 1`` for the first
    retry); its connection returns to the pool once the late response has been read.
    ``connections`` keep-alive connections are opened first, ``settle`` seconds before the first
    arrival (the server accepts them before it is measured), and one more whenever an attempt
    finds every connection waiting for a late response (an attempt that cannot connect within
    the timeout times out); ``workers`` threads send attempts
    and wait for their responses, so at most ``workers / timeout`` attempts per second can time
    out without the generator falling behind (its lateness says whether it did).  ``grace``
    seconds after the last scheduled instant the run stops; attempts not sent by then stay
    unsent.
    """
    n = len(schedule)
    per = max_retries + 1
    due = np.full(n * per, np.nan)
    sent = np.full(n * per, np.nan)
    done = np.full(n * per, np.nan)
    status = np.zeros(n * per, dtype=np.int64)
    requests = [_request_bytes(host, path_for(i)) for i in range(n)]
    idle: queue.SimpleQueue[tuple[socket.socket, bytearray]] = queue.SimpleQueue()
    for _ in range(connections):
        idle.put((_connect(host, port), bytearray()))
    drainer = _Drainer(idle)
    opened: list[int] = []  # connections opened during the run (list.append is thread-safe)
    busy = [0]  # attempts handed to the workers and not yet settled (under the lock)
    work: queue.SimpleQueue[int | None] = queue.SimpleQueue()
    retries: list[tuple[float, int]] = []  # (due, slot), a heap shared with the workers
    lock = threading.Condition()
    clock = time.perf_counter
    start = clock() + settle
    stop = start + (float(schedule[-1]) if n else 0.0) + grace

    def worker() -> None:
        while (slot := work.get()) is not None:
            sent[slot] = clock()
            try:
                sock, buf = idle.get_nowait()
            except queue.Empty:  # every connection waits for a late response: open one more
                try:
                    sock, buf = _connect(host, port, timeout), bytearray()
                    opened.append(1)
                except OSError:  # not even connected within the timeout: a timed-out attempt
                    sock = None
            if sock is not None:
                try:
                    sock.settimeout(None)
                    sock.sendall(requests[slot // per])
                    status[slot] = _read_response(sock, buf, sent[slot] + timeout)
                    done[slot] = clock()
                    idle.put((sock, buf))
                    with lock:
                        busy[0] -= 1
                    continue
                except TimeoutError:
                    drainer.add(sock, buf)
                except OSError:
                    sock.close()
            now = clock()
            with lock:
                if slot % per < max_retries and now < stop:
                    when = now + backoff(slot % per + 1)
                    due[slot + 1] = when - start
                    heapq.heappush(retries, (when, slot + 1))
                busy[0] -= 1
                lock.notify()

    threads = [threading.Thread(target=worker, daemon=True) for _ in range(workers)]
    for t in threads:
        t.start()
    first = 0
    while True:
        with lock:
            next_first = start + schedule[first] if first < n else math.inf
            next_retry = retries[0][0] if retries else math.inf
            target = min(next_first, next_retry)
            if target > stop and (busy[0] == 0 or clock() > stop):
                break  # nothing left to send, nor in flight that could still be retried
            wait = min(target, stop) - clock()
            if wait > 0 or target > stop:
                lock.wait(timeout=min(max(wait, 0.001), 0.05))
                continue
            if next_retry <= next_first:
                _, slot = heapq.heappop(retries)
            else:
                slot = first * per
                due[slot] = schedule[first]
                first += 1
            busy[0] += 1
        work.put(slot)
    for _ in threads:
        work.put(None)
    for t in threads:
        t.join(timeout=timeout + 1.0)
    drainer.stop()
    while True:
        try:
            sock, _ = idle.get_nowait()
        except queue.Empty:
            break
        sock.close()
    keep = np.isfinite(due)
    index = np.flatnonzero(keep)
    return RetryLoadResult(
        first_sent=np.asarray(schedule, dtype=np.float64),
        request=index // per,
        attempt=index % per,
        due=due[keep],
        sent=sent[keep] - start,
        done=done[keep] - start,
        status=status[keep],
        timeout=timeout,
        max_retries=max_retries,
        late_responses=drainer.late,
        connections=connections + len(opened),
    )
