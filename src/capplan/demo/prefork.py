"""The demo service as pre-forked worker processes sharing one listening socket (gunicorn's model).

The master binds the listening socket and forks ``processes`` workers.  Each worker is a
:class:`capplan.demo.http_service.DemoServer` on that inherited socket: its own interpreter (so
its own interpreter lock), its own threads (one per connection, at most ``threads`` requests at
once when given) and, with a database step, its own connection pool, opened after the fork.
Each worker's main thread blocks in ``accept`` on the shared socket and hands every connection
to a new thread.  Linux wakes one blocked acceptor per connection, the longest waiting first, so
connections are dealt to the workers in turn (a keep-alive connection then stays with its
worker); with a selector on a non-blocking socket instead, every worker would wake and the
quickest would win, and a burst of new connections lands unevenly (seen here: 137/192/370/173
requests over four workers).

Each worker also serves the same endpoints on a control port of its own (``127.0.0.1``, a free
port), sharing its metrics and records: ``/metrics`` and ``/debug/requests`` of one worker
(requests to the shared port land on any worker).  Once every worker is ready the master prints
``serving on http://HOST:PORT/work ...`` and one line ``worker PID http://127.0.0.1:CONTROL/`` per
worker, then waits.  SIGINT or SIGTERM to the master stops the workers (SIGTERM each, then
``waitpid``; a worker closes its pool and exits); a worker that dies stops the whole server,
with a message on stderr.

Run it as ``python -m capplan.demo.http_service --concurrency prefork --processes P ...``.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import sys
import threading
from typing import TYPE_CHECKING

from capplan.demo.dbstep import DatabaseStep
from capplan.demo.endpoints import Endpoints
from capplan.errors import ParameterError

if TYPE_CHECKING:
    from capplan.demo.http_service import DemoServer

__all__ = ["serve_prefork"]

CONTROL_HOST = "127.0.0.1"
BACKLOG = 1024
_SIGNALS = {signal.SIGINT, signal.SIGTERM, signal.SIGCHLD}


def _build_worker(
    sock: socket.socket, io_wait: float, database: DatabaseStep | None, threads: int | None
) -> tuple[DemoServer, DemoServer]:
    """This worker's server on the shared socket and its control server (same endpoints)."""
    from capplan.demo.http_service import DemoServer  # noqa: PLC0415 - http_service imports this module

    endpoints = Endpoints()
    server = DemoServer(
        sock.getsockname()[:2], io_wait, database, threads, endpoints=endpoints, bind_and_activate=False
    )
    server.socket.close()
    server.socket = sock
    control = DemoServer((CONTROL_HOST, 0), io_wait, None, None, endpoints=endpoints)
    return server, control


def _run_worker(
    sock: socket.socket, report: int, io_wait: float, database: DatabaseStep | None, threads: int | None
) -> int:
    """Body of a forked worker: report ``ok PID PORT`` (or ``error PID MESSAGE``), serve until SIGTERM."""
    signal.pthread_sigmask(signal.SIG_UNBLOCK, _SIGNALS)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C reaches the master, which stops the workers
    try:
        server, control = _build_worker(sock, io_wait, database, threads)
    except Exception as exc:
        os.write(report, f"error {os.getpid()} {exc}".replace("\n", " ").encode() + b"\n")
        return 1
    signal.signal(signal.SIGTERM, _exit_on_signal)
    threading.Thread(target=control.serve_forever, name="control", daemon=True).start()
    os.write(report, f"ok {os.getpid()} {control.port}\n".encode())
    os.close(report)
    try:
        while True:
            conn, address = sock.accept()
            server.process_request(conn, address)  # a new thread serves the connection
    except SystemExit:
        return 0
    finally:
        control.shutdown()
        control.server_close()
        server.server_close()


def _exit_on_signal(signum: int, frame: object) -> None:
    raise SystemExit(0)


def _fork_workers(
    sock: socket.socket, processes: int, io_wait: float, database: DatabaseStep | None, threads: int | None
) -> tuple[list[int], list[str]]:
    """Fork the workers; their pids and report lines (read until each has reported)."""
    read, write = os.pipe()
    pids = []
    for _ in range(processes):
        pid = os.fork()
        if pid == 0:  # pragma: no cover - runs in the child (the tests see it through its replies)
            os.close(read)
            code = 1
            try:
                code = _run_worker(sock, write, io_wait, database, threads)
            finally:
                os._exit(code)
        pids.append(pid)
    os.close(write)
    lines: list[str] = []
    with os.fdopen(read, "r") as reports:
        while len(lines) < processes:
            line = reports.readline()
            if not line:
                break
            lines.append(line.strip())
    return pids, lines


def _stop_workers(pids: list[int]) -> None:
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGTERM)
    for pid in pids:
        with contextlib.suppress(ChildProcessError):
            os.waitpid(pid, 0)


def serve_prefork(
    host: str,
    port: int,
    processes: int,
    *,
    io_wait: float = 0.0,
    database: DatabaseStep | None = None,
    threads: int | None = None,
) -> int:
    """Run the master (see the module docstring) until SIGINT/SIGTERM; 0, or 1 if a worker failed."""
    if not isinstance(processes, int) or processes < 1:
        raise ParameterError(f"processes must be a positive integer, got {processes!r}")
    if threads is not None and (not isinstance(threads, int) or threads < 1):
        raise ParameterError(f"threads must be a positive integer or None, got {threads!r}")
    sock = socket.create_server((host, port), backlog=BACKLOG)
    signal.pthread_sigmask(signal.SIG_BLOCK, _SIGNALS)  # delivered to sigwait below, not lost
    pids: list[int] = []
    try:
        pids, lines = _fork_workers(sock, processes, io_wait, database, threads)
        failed = [line for line in lines if not line.startswith("ok ")]
        if failed or len(lines) < processes:
            print(f"prefork: worker failed to start: {failed or 'no report'}", file=sys.stderr, flush=True)
            return 1
        print(f"serving on http://{host}:{sock.getsockname()[1]}/work (metrics at /metrics)", flush=True)
        for line in lines:
            _, pid, control = line.split()
            print(f"worker {pid} http://{CONTROL_HOST}:{control}/", flush=True)
        received = signal.sigwait(_SIGNALS)
        if received == signal.SIGCHLD:
            print("prefork: a worker exited; stopping", file=sys.stderr, flush=True)
            return 1
        return 0
    finally:
        _stop_workers(pids)
        sock.close()
