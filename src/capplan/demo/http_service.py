"""The demo workload behind a real HTTP server, instrumented for Prometheus.

``GET /work?id=N`` serves one request: an optional fixed wait standing for a downstream call
(``--io-wait``), CPU work (:func:`capplan.demo.workload.begin_request`), optionally a database
step (``--db-dsn``, ``--db-query``, ``--pool-size``: hold a connection of an application-side
pool for one query through PgBouncer, :mod:`capplan.demo.dbstep`), then CPU work again
(:func:`capplan.demo.workload.end_request`); :mod:`capplan.demo.steps` runs and times the steps.
``GET /metrics`` exposes the metrics listed in :mod:`capplan.demo.endpoints`.

Three server modes, which differ only in how they run requests (``--concurrency``):

* ``threads`` (the default): the standard library's ``ThreadingHTTPServer``, one thread per
  connection, one process.  The interpreter lock serialises the CPU work, but not request by
  request: it changes hands at every socket call and, when another thread has waited 5 ms, in
  the middle of one, so concurrent requests are interleaved.  ``--threads N`` lets at most N
  requests run at once (the others wait for a slot, as with a pool of N worker threads).
* ``event-loop``: :class:`capplan.demo.event_loop_server.EventLoopServer`, one thread running an
  asyncio loop; each request's CPU parts run to completion, its waits (``io_wait``, the pool,
  the query through the asyncio driver) are awaited, so they overlap across requests.
* ``prefork``: :mod:`capplan.demo.prefork`, ``--processes P`` worker processes forked after the
  listening socket is bound, each a ``threads`` server (with ``--threads``) and its own pool.

Run ``python -m capplan.demo.http_service --port P [--host 127.0.0.1] [--io-wait 0.02]
[--concurrency C] [--processes P] [--threads N] [--db-dsn DSN --db-query sleep:0.005
--pool-size 4]``; it serves until interrupted.  :func:`make_server` builds a ``threads`` or
``event-loop`` server in-process (each server has its own metrics registry), which is what the
tests and ``scripts/record_loadtest.py`` use.
"""

from __future__ import annotations

import argparse
import contextlib
import signal
import sys
import threading
from collections.abc import Iterator, Sequence
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Literal, TypeVar, get_args, overload

from capplan.demo.dbstep import DatabaseStep, ThreadedPool
from capplan.demo.endpoints import LATENCY_BUCKETS, Endpoints, Reply
from capplan.demo.event_loop_server import EventLoopServer
from capplan.demo.steps import serve_blocking
from capplan.errors import ParameterError

__all__ = [
    "CONCURRENCY",
    "LATENCY_BUCKETS",
    "MODES",
    "Concurrency",
    "DemoServer",
    "EventLoopServer",
    "main",
    "make_server",
    "serving",
]

Concurrency = Literal["threads", "event-loop"]
_Server = TypeVar("_Server", "DemoServer", EventLoopServer)
#: The ways :func:`make_server` can run requests (in-process).
CONCURRENCY: tuple[str, ...] = get_args(Concurrency)
#: Every ``--concurrency`` of the command line: the in-process ones and ``prefork``.
MODES: tuple[str, ...] = (*CONCURRENCY, "prefork")


class DemoServer(ThreadingHTTPServer):
    """A threading HTTP server with its own metrics registry and a fixed per-request wait."""

    daemon_threads = True
    # socketserver's default listen backlog of 5 drops connections when many users connect at
    # once, and a dropped SYN is retried only after a second: a latency artefact, not a queue
    request_queue_size = 128

    def __init__(
        self,
        address: tuple[str, int],
        io_wait: float,
        database: DatabaseStep | None = None,
        threads: int | None = None,
        *,
        endpoints: Endpoints | None = None,
        bind_and_activate: bool = True,
    ) -> None:
        self.io_wait = io_wait
        self.endpoints = endpoints or Endpoints()
        self.registry = self.endpoints.registry
        self.slots = threading.Semaphore(threads) if threads is not None else None
        super().__init__(address, _Handler, bind_and_activate)
        try:
            self.pool = ThreadedPool(database) if database is not None else None
        except BaseException:
            super().server_close()
            raise

    @property
    def port(self) -> int:
        return int(self.server_address[1])

    def server_close(self) -> None:
        """Close the listening socket and the database pool."""
        super().server_close()
        if self.pool is not None:
            self.pool.close()
            self.pool = None


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
        checksum = serve_blocking(srv.endpoints, routed, srv.io_wait, srv.pool, srv.slots)
        self._reply(srv.endpoints.served(checksum))


@overload
def make_server(
    port: int = 0,
    host: str = "127.0.0.1",
    io_wait: float = 0.0,
    concurrency: Literal["threads"] = "threads",
    *,
    database: DatabaseStep | None = None,
    threads: int | None = None,
) -> DemoServer: ...
@overload
def make_server(
    port: int = 0,
    host: str = "127.0.0.1",
    io_wait: float = 0.0,
    *,
    concurrency: Literal["event-loop"],
    database: DatabaseStep | None = None,
    threads: None = None,
) -> EventLoopServer: ...
@overload
def make_server(
    port: int = 0,
    host: str = "127.0.0.1",
    io_wait: float = 0.0,
    concurrency: Concurrency = "threads",
    *,
    database: DatabaseStep | None = None,
    threads: int | None = None,
) -> DemoServer | EventLoopServer: ...
def make_server(
    port: int = 0,
    host: str = "127.0.0.1",
    io_wait: float = 0.0,
    concurrency: Concurrency = "threads",
    *,
    database: DatabaseStep | None = None,
    threads: int | None = None,
) -> DemoServer | EventLoopServer:
    """The demo service bound to ``host:port`` (``port=0`` picks a free port), not yet serving.

    ``concurrency="threads"`` gives a :class:`DemoServer` (a thread per connection; at most
    ``threads`` requests at once when given), ``"event-loop"`` an :class:`EventLoopServer` (one
    thread; each request's CPU run to completion, its waits awaited).  With ``database`` each
    request holds a connection of its own pool for one query between its two CPU parts.  Both
    have ``port``, ``registry``, ``serve_forever()``, ``shutdown()`` and ``server_close()``;
    :func:`serving` runs either in the background.

    Raises
    ------
    ParameterError
        ``io_wait`` negative or not finite, ``port`` outside 0..65535, ``threads`` not a
        positive integer (or given for the event loop), or an unknown ``concurrency``.
    """
    if not (0 <= port <= 65535):
        raise ParameterError(f"port must be in 0..65535, got {port!r}")
    if not (io_wait >= 0 and io_wait < float("inf")):
        raise ParameterError(f"io_wait must be a non-negative number of seconds, got {io_wait!r}")
    if threads is not None and (not isinstance(threads, int) or threads < 1):
        raise ParameterError(f"threads must be a positive integer or None, got {threads!r}")
    if concurrency == "threads":
        return DemoServer((host, port), io_wait, database, threads)
    if concurrency == "event-loop":
        if threads is not None:
            raise ParameterError("threads applies to the thread servers, not to the event loop")
        return EventLoopServer((host, port), io_wait, database)
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


def _parser() -> argparse.ArgumentParser:
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
        choices=MODES,
        default="threads",
        help="threads: a thread per connection (default); event-loop: one thread, CPU run to "
        "completion, waits awaited; prefork: --processes worker processes, each a threads server",
    )
    parser.add_argument("--processes", type=int, default=2, help="prefork: worker processes (default 2)")
    parser.add_argument("--threads", type=int, help="threads/prefork: at most N requests at once per process")
    parser.add_argument("--db-dsn", help="database step: PgBouncer connection string (libpq format)")
    parser.add_argument(
        "--db-query",
        default="sleep:0.005",
        help="database step: sleep:SECONDS or lookup:ROWS (default %(default)s)",
    )
    parser.add_argument(
        "--pool-size", type=int, default=4, help="database step: pool connections per process"
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m capplan.demo.http_service --port P [options]`` (see the module docstring).

    Ctrl-C (SIGINT) stops the server even when it was started with SIGINT ignored, as a shell
    without job control starts a background job (``cmd &`` in a script): that is how the tests
    and benchmarks stop it, and an ignored Ctrl-C would leave it serving."""
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGINT, signal.default_int_handler)
    parser = _parser()
    args = parser.parse_args(argv)
    try:
        database = DatabaseStep.parse(args.db_dsn, args.db_query, args.pool_size) if args.db_dsn else None
        if args.concurrency == "prefork":
            from capplan.demo.prefork import serve_prefork  # noqa: PLC0415 - forks: only when asked

            return serve_prefork(
                args.host,
                args.port,
                args.processes,
                io_wait=args.io_wait,
                database=database,
                threads=args.threads,
            )
        server = make_server(
            args.port, args.host, args.io_wait, args.concurrency, database=database, threads=args.threads
        )
    except (ParameterError, OSError) as exc:
        parser.error(str(exc))
    except Exception as exc:  # the driver's (no database there, the pool never filled): one line
        if not args.db_dsn:
            raise
        parser.error(f"database step ({args.db_dsn}): {type(exc).__name__}: {exc}")
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
