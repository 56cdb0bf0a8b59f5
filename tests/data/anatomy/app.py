"""A program with known work per request, for profiling tests of capplan.layered.anatomy.

Two request classes run alternately on the main thread:

* ``handle_checkout``: a CPU loop of ``CPU_CHECKOUT`` s (wall clock), ``time.sleep(SLEEP)``, and a
  round trip through ``fakedb.query`` to a local server that answers after ``DB_DELAY`` s;
* ``handle_search``: a CPU loop of ``CPU_SEARCH`` s and an HTTP GET (``http.client``) to a local
  server that answers after ``HTTP_DELAY`` s.

Both servers run in a child process (py-spy records only this one).

Each phase is also timed in-process: its wall time (``time.perf_counter``) and the CPU time the
thread spent in it (``time.thread_time``: encoding a query, parsing a reply).  The sums per class
and phase (``seconds``, ``cpu_seconds``) and the request counts are written as JSON to the path
given as the first argument; an optional second argument is the number of requests of each class
(default ``REQUESTS``).
"""

from __future__ import annotations

import http.client
import http.server
import json
import multiprocessing
import socket
import socketserver
import sys
import threading
import time
from collections import defaultdict
from multiprocessing.connection import Connection
from typing import Any

import fakedb

CPU_CHECKOUT, SLEEP, DB_DELAY = 0.008, 0.012, 0.020
CPU_SEARCH, HTTP_DELAY = 0.004, 0.010
REQUESTS = 60
#: The anatomy part each phase should land in.
PARTS = {
    "checkout": {"cpu": "cpu", "sleep": "wait:sleep", "db": "hold:db"},
    "search": {"cpu": "cpu", "downstream": "wait:downstream"},
}
TIMES: dict[str, dict[str, float]] = defaultdict(lambda: defaultdict(float))
CPU_TIMES: dict[str, dict[str, float]] = defaultdict(lambda: defaultdict(float))


class DbHandler(socketserver.StreamRequestHandler):
    def handle(self) -> None:
        while self.rfile.readline():
            time.sleep(DB_DELAY)
            self.wfile.write(b"ok\n")


class HttpHandler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_GET(self) -> None:
        time.sleep(HTTP_DELAY)
        self.send_response(200)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"ok")

    def log_message(self, format: str, *args: object) -> None:
        return


def burn(seconds: float) -> int:
    """Busy-loop for ``seconds`` of wall-clock time."""
    deadline = time.perf_counter() + seconds
    n = 0
    while time.perf_counter() < deadline:
        n += 1
    return n


def clocks() -> tuple[float, float]:
    return time.perf_counter(), time.thread_time()


def timed(cls: str, phase: str, start: tuple[float, float]) -> None:
    wall, cpu = clocks()
    TIMES[cls][phase] += wall - start[0]
    CPU_TIMES[cls][phase] += cpu - start[1]


def handle_checkout(conn: socket.socket, reader: socket.SocketIO) -> None:
    t = clocks()
    burn(CPU_CHECKOUT)
    timed("checkout", "cpu", t)
    t = clocks()
    time.sleep(SLEEP)
    timed("checkout", "sleep", t)
    t = clocks()
    fakedb.query(conn, reader)
    timed("checkout", "db", t)


def handle_search(http_conn: http.client.HTTPConnection) -> None:
    t = clocks()
    burn(CPU_SEARCH)
    timed("search", "cpu", t)
    t = clocks()
    http_conn.request("GET", "/")
    http_conn.getresponse().read()
    timed("search", "downstream", t)


def programmed() -> dict[str, dict[str, float]]:
    """Seconds per request of each part, as programmed."""
    return {
        "checkout": {"cpu": CPU_CHECKOUT, "wait:sleep": SLEEP, "hold:db": DB_DELAY},
        "search": {"cpu": CPU_SEARCH, "wait:downstream": HTTP_DELAY},
    }


def reference(
    result: dict[str, Any], parts_of: dict[str, dict[str, str]] | None = None
) -> dict[str, dict[str, float]]:
    """Seconds per request of each part as this program timed them (``result`` is its JSON;
    ``parts_of`` maps each class's phases to parts, :data:`PARTS` by default).

    A phase's wall time, except for the CPU work inside a waiting phase (encoding the query,
    parsing the reply), which is CPU.  A sampling profiler counts a thread as running while it is
    runnable, so that work takes its thread-clock time stretched as much as the CPU loop's was
    (the loop's wall time over its thread-clock time: 1 on an idle machine, more when the thread
    waits for a core).
    """
    out: dict[str, dict[str, float]] = {}
    for cls, phases in result["seconds"].items():
        n = result["requests"][cls]
        cpu = result["cpu_seconds"][cls]
        stretch = phases["cpu"] / cpu["cpu"] if cpu["cpu"] > 0 else 1.0
        parts: dict[str, float] = defaultdict(float)
        for phase, wall in phases.items():
            part = (parts_of or PARTS)[cls][phase]
            moved = 0.0 if part == "cpu" else min(wall, cpu[phase] * stretch)
            parts[part] += (wall - moved) / n
            parts["cpu"] += moved / n
        out[cls] = dict(parts)
    return out


def serve(ports: Connection) -> None:
    """Run both local servers (in a child process, so that their threads do not compete with the
    profiled requests for this process's interpreter lock) and send their ports back."""
    db = socketserver.ThreadingTCPServer(("127.0.0.1", 0), DbHandler)
    web = http.server.ThreadingHTTPServer(("127.0.0.1", 0), HttpHandler)
    for server in (db, web):
        threading.Thread(target=server.serve_forever, daemon=True).start()
    ports.send((db.server_address[1], web.server_address[1]))
    threading.Event().wait()


def main() -> None:
    here, there = multiprocessing.Pipe()
    servers = multiprocessing.Process(target=serve, args=(there,), daemon=True)
    servers.start()
    db_port, web_port = here.recv()
    conn = socket.create_connection(("127.0.0.1", db_port))
    reader = conn.makefile("rb")
    http_conn = http.client.HTTPConnection("127.0.0.1", web_port)
    requests = int(sys.argv[2]) if len(sys.argv) > 2 else REQUESTS
    for _ in range(requests):
        handle_checkout(conn, reader)  # type: ignore[arg-type]
        handle_search(http_conn)
    servers.terminate()
    result = {
        "requests": {"checkout": requests, "search": requests},
        "seconds": TIMES,
        "cpu_seconds": CPU_TIMES,
    }
    with open(sys.argv[1], "w") as out:
        json.dump(result, out)


if __name__ == "__main__":
    main()
