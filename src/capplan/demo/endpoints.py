"""The demo service's endpoints and Prometheus metrics, shared by both of its HTTP servers.

``GET /work?id=N`` serves one request of :func:`capplan.demo.workload.handle_request`;
``GET /metrics`` exposes, in the Prometheus text format:

* ``demo_requests_total{path, code}`` - a counter of requests served;
* ``demo_request_duration_seconds`` - a histogram of the service time of ``/work`` (the optional
  downstream wait plus the CPU work), with the buckets :data:`LATENCY_BUCKETS`;
* ``demo_in_flight_requests`` - a gauge of requests being served.

``GET /debug/service-times`` returns, and forgets, the service times recorded since the last call
(at most the :data:`TRACE_LIMIT` most recent): one ``/work`` request per line, ``start_s
service_s`` - when its service started (the server's monotonic clock, seconds, any origin) and how
long it took (wall clock, the same span the histogram times).  A histogram bucket says how often
a service time was seen, the trace also says *when*: on a shared machine slow requests come in
phases, which a queue feels (:func:`capplan.sim.split_trace`).

``GET /debug/requests`` returns, and forgets, the same requests split into their steps (see
:mod:`capplan.demo.steps`): a header line naming the columns :data:`REQUEST_FIELDS`, then one
line per request.

Anything else is answered 404.  The servers differ only in how they run requests
(:mod:`capplan.demo.http_service`): :class:`Endpoints` says what to answer.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from urllib.parse import parse_qs, urlsplit

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.exposition import generate_latest

__all__ = ["LATENCY_BUCKETS", "REQUEST_FIELDS", "TRACE_LIMIT", "Endpoints", "Reply"]

#: Most service times kept for ``/debug/service-times`` (older ones are dropped first).
TRACE_LIMIT = 1 << 16

#: Upper bounds (seconds) of the latency histogram's buckets (``+Inf`` is added by the client).
LATENCY_BUCKETS: tuple[float, ...] = (
    0.0025,
    0.005,
    0.0075,
    0.01,
    0.011,
    0.012,
    0.013,
    0.014,
    0.015,
    0.0175,
    0.02,
    0.025,
    0.03,
    0.04,
    0.05,
    0.075,
    0.1,
    0.15,
    0.2,
    0.3,
    0.5,
    1.0,
)
"""Fine around the ~12 ms service time of one request (10 ms wait plus the CPU work), coarser in
the tail; bucket bounds near the latencies that matter are what makes a bucketed quantile exact
enough (the quantile is only known to lie inside its bucket)."""

TEXT = "text/plain; charset=utf-8"

#: Columns of ``/debug/requests`` (seconds): when the request's service started (the server's
#: ``time.perf_counter``, which on Linux is the system-wide monotonic clock), how long it took,
#: the wait for a worker slot, the CPU before the database step (thread clock), the wait for a
#: pool connection, the hold of the connection, the CPU after, and the CPU of the whole request
#: on its thread's clock (threads; on the event loop the sum of its own synchronous parts).
REQUEST_FIELDS: tuple[str, ...] = (
    "start",
    "service",
    "slot_wait",
    "cpu_before",
    "pool_wait",
    "hold",
    "cpu_after",
    "cpu_total",
)


@dataclass(frozen=True)
class Reply:
    """An HTTP response: status code, body and its content type."""

    code: int
    body: bytes
    content_type: str = TEXT


class Endpoints:
    """Routing and metrics of one demo server (each server has its own metrics registry)."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter("demo_requests", "Requests served.", ["path", "code"], registry=self.registry)
        self.duration = Histogram(
            "demo_request_duration_seconds",
            "Service time of /work requests in seconds.",
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.in_flight = Gauge("demo_in_flight_requests", "Requests being served.", registry=self.registry)
        self.trace: deque[tuple[float, float]] = deque(maxlen=TRACE_LIMIT)
        self.steps: deque[tuple[float, ...]] = deque(maxlen=TRACE_LIMIT)

    def route(self, target: str) -> Reply | int:
        """The reply to ``GET target`` when it needs no work, or the id of a ``/work`` request."""
        parts = urlsplit(target)
        if parts.path == "/metrics":
            return Reply(200, generate_latest(self.registry), CONTENT_TYPE_LATEST)
        if parts.path == "/debug/service-times":
            return Reply(200, self._drain_trace())
        if parts.path == "/debug/requests":
            return Reply(200, self._drain_steps())
        if parts.path != "/work":
            self.requests.labels(path="other", code="404").inc()
            return Reply(404, b"not found\n")
        try:
            return int(parse_qs(parts.query).get("id", ["0"])[0])
        except ValueError:
            self.requests.labels(path="/work", code="400").inc()
            return Reply(400, b"id must be an integer\n")

    @contextmanager
    def serving(self) -> Iterator[None]:
        """Count a ``/work`` request in flight, time it into the duration histogram and the trace."""
        self.in_flight.inc()
        start = time.perf_counter()
        try:
            yield
        finally:
            took = time.perf_counter() - start
            self.duration.observe(took)
            self.trace.append((start, took))
            self.in_flight.dec()

    def _drain_trace(self) -> bytes:
        """The recorded ``start_s service_s`` lines, oldest first; the record is emptied."""
        lines = []
        while self.trace:  # popleft is atomic: a request finishing meanwhile is kept for the next call
            start, took = self.trace.popleft()
            lines.append(f"{start!r} {took!r}\n")
        return "".join(lines).encode()

    def record_steps(self, row: tuple[float, ...]) -> None:
        """Keep one request's row of :data:`REQUEST_FIELDS` for ``/debug/requests``."""
        self.steps.append(row)

    def _drain_steps(self) -> bytes:
        lines = [" ".join(REQUEST_FIELDS) + "\n"]
        while self.steps:
            lines.append(" ".join(repr(v) for v in self.steps.popleft()) + "\n")
        return "".join(lines).encode()

    def served(self, checksum: int) -> Reply:
        """The reply to a ``/work`` request that computed ``checksum``."""
        self.requests.labels(path="/work", code="200").inc()
        return Reply(200, f"{checksum}\n".encode())
