"""The demo workload behind a real HTTP server, instrumented for Prometheus.

``GET /work?id=N`` serves one request of :func:`capplan.demo.workload.handle_request` (CPU work)
after an optional fixed wait standing for a downstream call (``--io-wait``; it overlaps across
requests, the CPU part does not).  ``GET /metrics`` exposes the metrics listed in
:mod:`capplan.demo.endpoints`.

Two servers, which differ only in how they run requests (``--concurrency``):

* ``threads`` (the default): the standard library's ``ThreadingHTTPServer``, one thread per
  connection.  The interpreter lock serialises the CPU work, but not request by request: it
  changes hands at every socket call and, when another thread has waited 5 ms, in the middle of
  one, so concurrent requests are interleaved.
* ``event-loop``: :class:`capplan.demo.event_loop_server.EventLoopServer`, one thread running an
  asyncio loop that takes requests one at a time and runs each to completion.

Run ``python -m capplan.demo.http_service --port P [--host 127.0.0.1] [--io-wait 0.02]
[--concurrency event-loop]``; it serves until interrupted.  :func:`make_server` builds one
in-process (each server has its own metrics registry), which is what the tests and
``scripts/record_loadtest.py`` use.
"""

from __future__ import annotations

import argparse
import contextlib
import sys
import threading
import time
from collections.abc import Iterator, Sequence
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Literal, TypeVar, get_args, overload

from capplan.demo.endpoints import LATENCY_BUCKETS, Endpoints, Reply
from capplan.demo.event_loop_server import EventLoopServer
from capplan.demo.workload import handle_request
from capplan.errors import ParameterError

__all__ = [
    "CONCURRENCY",
    "LATENCY_BUCKETS",
    "Concurrency",
    "DemoServer",
    "EventLoopServer",
    "main",
    "make_server",
    "serving",
]

Concurrency = Literal["threads", "event-loop"]
_Server = TypeVar("_Server", "DemoServer", EventLoopServer)
#: The ways :func:`make_server` can run requests.
CONCURRENCY: tuple[str, ...] = get_args(Concurrency)


class DemoServer(ThreadingHTTPServer):
    """A threading HTTP server with its own metrics registry and a fixed per-request wait."""

    daemon_threads = True
    # socketserver's default listen backlog of 5 drops connections when many users connect at
    # once, and a dropped SYN is retried only after a second: a latency artefact, not a queue
    request_queue_size = 128

    def __init__(self, address: tuple[str, int], io_wait: float) -> None:
        self.io_wait = io_wait
        self.endpoints = Endpoints()
        self.registry = self.endpoints.registry
        super().__init__(address, _Handler)

    @property
    def port(self) -> int:
        return int(self.server_address[1])


class _Handler(BaseHTTPRequestHandler):
    server: DemoServer
    protocol_version = "HTTP/1.1"
    # headers and body go out as separate writes: without TCP_NODELAY, Nagle plus the peer's
    # delayed ACK would add ~40 ms to every keep-alive response
    disable_nagle_algorithm = True

    def log_message(self, format: str, *args: object) -> None:
        """Silence the per-request access log."""

    def _reply(self, reply: Reply) -> None:
        self.send_response(reply.code)
        self.send_header("Content-Type", reply.content_type)
        self.send_header("Content-Length", str(len(reply.body)))
        self.end_headers()
        self.wfile.write(reply.body)

    def do_GET(self) -> None:
        srv = self.server
        routed = srv.endpoints.route(self.path)
        if isinstance(routed, Reply):
            self._reply(routed)
            return
        with srv.endpoints.serving():
            if srv.io_wait > 0:
                time.sleep(srv.io_wait)
            checksum = handle_request(routed)
        self._reply(srv.endpoints.served(checksum))


@overload
def make_server(
    port: int = 0, host: str = "127.0.0.1", io_wait: float = 0.0, concurrency: Literal["threads"] = "threads"
) -> DemoServer: ...
@overload
def make_server(
    port: int = 0, host: str = "127.0.0.1", io_wait: float = 0.0, *, concurrency: Literal["event-loop"]
) -> EventLoopServer: ...
@overload
def make_server(
    port: int = 0, host: str = "127.0.0.1", io_wait: float = 0.0, concurrency: Concurrency = "threads"
) -> DemoServer | EventLoopServer: ...
def make_server(
    port: int = 0, host: str = "127.0.0.1", io_wait: float = 0.0, concurrency: Concurrency = "threads"
) -> DemoServer | EventLoopServer:
    """The demo service bound to ``host:port`` (``port=0`` picks a free port), not yet serving.

    ``concurrency="threads"`` gives a :class:`DemoServer` (a thread per connection),
    ``"event-loop"`` an :class:`EventLoopServer` (one thread, each request run to completion).
    Both have ``port``, ``registry``, ``serve_forever()``, ``shutdown()`` and ``server_close()``;
    :func:`serving` runs either in the background.

    Raises
    ------
    ParameterError
        ``io_wait`` negative or not finite, ``port`` outside 0..65535, or an unknown
        ``concurrency``.
    """
    if not (0 <= port <= 65535):
        raise ParameterError(f"port must be in 0..65535, got {port!r}")
    if not (io_wait >= 0 and io_wait < float("inf")):
        raise ParameterError(f"io_wait must be a non-negative number of seconds, got {io_wait!r}")
    if concurrency == "threads":
        return DemoServer((host, port), io_wait)
    if concurrency == "event-loop":
        return EventLoopServer((host, port), io_wait)
    raise ParameterError(f"concurrency must be one of {', '.join(CONCURRENCY)}, got {concurrency!r}")


@contextlib.contextmanager
def serving(server: _Server) -> Iterator[_Server]:
    """Serve ``server`` in a background thread for the ``with`` block; stop and close it after."""
    threading.Thread(target=server.serve_forever, name=f"demo-{type(server).__name__}", daemon=True).start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m capplan.demo.http_service --port P [--host H] [--io-wait S] [--concurrency C]``."""
    parser = argparse.ArgumentParser(
        prog="python -m capplan.demo.http_service",
        description="Serve the demo workload over HTTP (/work?id=N) with Prometheus metrics (/metrics).",
    )
    parser.add_argument("--port", type=int, required=True, help="TCP port (0 picks a free one)")
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    parser.add_argument(
        "--io-wait", type=float, default=0.0, help="seconds each request waits on a simulated downstream call"
    )
    parser.add_argument(
        "--concurrency",
        choices=CONCURRENCY,
        default="threads",
        help="threads: a thread per connection (default); event-loop: one thread, each request run "
        "to completion",
    )
    args = parser.parse_args(argv)
    try:
        server = make_server(args.port, args.host, args.io_wait, args.concurrency)
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
