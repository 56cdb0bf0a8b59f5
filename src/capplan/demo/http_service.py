"""The demo workload behind a real HTTP server, instrumented for Prometheus.

``GET /work?id=N`` serves one request of :func:`capplan.demo.workload.handle_request` (CPU work,
serialised by the interpreter lock like any pure-Python service) after an optional fixed wait
standing for a downstream call (``--io-wait``; it overlaps across requests, the CPU part does
not).  ``GET /metrics`` exposes, in the Prometheus text format:

* ``demo_requests_total{path, code}`` - a counter of requests served;
* ``demo_request_duration_seconds`` - a histogram of the service time of ``/work``, with the
  buckets :data:`LATENCY_BUCKETS`;
* ``demo_in_flight_requests`` - a gauge of requests being served.

Run ``python -m capplan.demo.http_service --port P [--host 127.0.0.1] [--io-wait 0.02]``; it
serves until interrupted.  :func:`make_server` builds one in-process (each server has its own
metrics registry), which is what the tests and ``scripts/record_loadtest.py`` use.
"""

from __future__ import annotations

import argparse
import sys
import threading
import time
from collections.abc import Sequence
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.exposition import generate_latest

from capplan.demo.workload import handle_request
from capplan.errors import ParameterError

__all__ = ["LATENCY_BUCKETS", "DemoServer", "main", "make_server"]

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


class DemoServer(ThreadingHTTPServer):
    """A threading HTTP server with its own metrics registry and a fixed per-request wait."""

    daemon_threads = True
    # socketserver's default listen backlog of 5 drops connections when many users connect at
    # once, and a dropped SYN is retried only after a second: a latency artefact, not a queue
    request_queue_size = 128

    def __init__(self, address: tuple[str, int], io_wait: float) -> None:
        self.io_wait = io_wait
        self.registry = CollectorRegistry()
        self.requests = Counter("demo_requests", "Requests served.", ["path", "code"], registry=self.registry)
        self.duration = Histogram(
            "demo_request_duration_seconds",
            "Service time of /work requests in seconds.",
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.in_flight = Gauge("demo_in_flight_requests", "Requests being served.", registry=self.registry)
        super().__init__(address, _Handler)

    @property
    def port(self) -> int:
        return int(self.server_address[1])

    def start_background(self) -> threading.Thread:
        """Serve in a daemon thread (stop with ``shutdown()`` then ``server_close()``)."""
        thread = threading.Thread(target=self.serve_forever, name="demo-http", daemon=True)
        thread.start()
        return thread


class _Handler(BaseHTTPRequestHandler):
    server: DemoServer
    protocol_version = "HTTP/1.1"
    # headers and body go out as separate writes: without TCP_NODELAY, Nagle plus the peer's
    # delayed ACK would add ~40 ms to every keep-alive response
    disable_nagle_algorithm = True

    def log_message(self, format: str, *args: object) -> None:
        """Silence the per-request access log."""

    def _reply(self, code: int, body: bytes, content_type: str = "text/plain; charset=utf-8") -> None:
        self.send_response(code)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self) -> None:
        parts = urlsplit(self.path)
        srv = self.server
        if parts.path == "/metrics":
            self._reply(200, generate_latest(srv.registry), CONTENT_TYPE_LATEST)
            return
        if parts.path != "/work":
            srv.requests.labels(path="other", code="404").inc()
            self._reply(404, b"not found\n")
            return
        query = parse_qs(parts.query)
        try:
            request_id = int(query.get("id", ["0"])[0])
        except ValueError:
            srv.requests.labels(path="/work", code="400").inc()
            self._reply(400, b"id must be an integer\n")
            return
        srv.in_flight.inc()
        start = time.perf_counter()
        try:
            if srv.io_wait > 0:
                time.sleep(srv.io_wait)
            checksum = handle_request(request_id)
        finally:
            srv.duration.observe(time.perf_counter() - start)
            srv.in_flight.dec()
        srv.requests.labels(path="/work", code="200").inc()
        self._reply(200, f"{checksum}\n".encode())


def make_server(port: int = 0, host: str = "127.0.0.1", io_wait: float = 0.0) -> DemoServer:
    """A :class:`DemoServer` bound to ``host:port`` (``port=0`` picks a free port).

    Raises
    ------
    ParameterError
        ``io_wait`` negative or not finite, or ``port`` outside 0..65535.
    """
    if not (0 <= port <= 65535):
        raise ParameterError(f"port must be in 0..65535, got {port!r}")
    if not (io_wait >= 0 and io_wait < float("inf")):
        raise ParameterError(f"io_wait must be a non-negative number of seconds, got {io_wait!r}")
    return DemoServer((host, port), io_wait)


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m capplan.demo.http_service --port P [--host H] [--io-wait S]``."""
    parser = argparse.ArgumentParser(
        prog="python -m capplan.demo.http_service",
        description="Serve the demo workload over HTTP (/work?id=N) with Prometheus metrics (/metrics).",
    )
    parser.add_argument("--port", type=int, required=True, help="TCP port (0 picks a free one)")
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    parser.add_argument(
        "--io-wait", type=float, default=0.0, help="seconds each request waits on a simulated downstream call"
    )
    args = parser.parse_args(argv)
    try:
        server = make_server(args.port, args.host, args.io_wait)
    except (ParameterError, OSError) as exc:
        parser.error(str(exc))
    print(f"serving on http://{args.host}:{server.port}/work (metrics at /metrics)", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
