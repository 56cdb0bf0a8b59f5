"""An open-loop Poisson load generator over raw HTTP/1.1 keep-alive connections.

Arrivals are scheduled in advance at exponential gaps (a Poisson process of the given rate), so
when a request is sent does not depend on when earlier ones were answered: the queue that forms
in the server is real and shows in the response times (a closed loop, where each client waits for
its answer before sending again, would throttle itself and hide it).

How it keeps to the schedule: one dispatcher thread sleeps until each scheduled instant and hands
the request to an idle worker thread; each worker owns one pre-opened keep-alive connection,
takes the send timestamp, writes the request, reads the response and takes the completion
timestamp.  Workers block in ``recv`` (outside the interpreter lock) almost all the time, so the
generator needs little CPU.  Its faithfulness is measured, not assumed: :class:`LoadResult`
reports the achieved arrival rate and the *lateness* of every send (send time minus scheduled
time; it grows when the dispatcher oversleeps or no connection is idle).  Response times are
measured from the send, so lateness does not inflate them; lateness only perturbs the arrival
process, and :attr:`LoadResult.lateness` says by how much.

:func:`run_closed_loop` sends requests back to back on one connection (one outstanding request,
so no queue forms): used to calibrate the service while it is being profiled.
"""

from __future__ import annotations

import queue
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

__all__ = ["LoadResult", "poisson_schedule", "run_closed_loop", "run_open_loop"]

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


def _connect(host: str, port: int) -> socket.socket:
    sock = socket.create_connection((host, port), timeout=30.0)
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


def _read_response(sock: socket.socket, buf: bytearray) -> int:
    """Read one HTTP/1.1 response with a Content-Length body; return its status code."""
    while True:
        end = buf.find(b"\r\n\r\n")
        if end >= 0:
            break
        chunk = _recv(sock)
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
        buf += _recv(sock)
    del buf[:total]
    return status


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
    """
    rng = np.random.default_rng(seed)
    scheduled = poisson_schedule(rate, duration, rng)
    n = len(scheduled)
    sent = np.full(n, np.nan)
    done = np.full(n, np.nan)
    status = np.zeros(n, dtype=np.int64)
    requests = [_request_bytes(host, path_for(i)) for i in range(n)]
    work: queue.SimpleQueue[int | None] = queue.SimpleQueue()
    socks = [_connect(host, port) for _ in range(connections)]
    clock = time.perf_counter

    def worker(sock: socket.socket) -> None:
        buf = bytearray()
        while True:
            i = work.get()
            if i is None:
                return
            sent[i] = clock()
            try:
                sock.sendall(requests[i])
                status[i] = _read_response(sock, buf)
                done[i] = clock()
            except OSError:
                return

    threads = [threading.Thread(target=worker, args=(s,), daemon=True) for s in socks]
    for t in threads:
        t.start()
    start = clock() + 0.05
    for i in range(n):
        target = start + scheduled[i]
        remaining = target - clock()
        if remaining > 0:
            time.sleep(remaining)
        work.put(i)
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
