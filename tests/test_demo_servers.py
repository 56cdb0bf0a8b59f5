"""The demo HTTP service's two servers: endpoints, metrics, HTTP/1.1 behaviour, how requests run.

Both servers (``concurrency="threads"`` and ``"event-loop"``) must answer the same endpoints with
the same metrics; the event-loop server must also keep connections alive, refuse what is not
HTTP, overlap downstream waits and run the CPU parts of concurrent requests one at a time, each to
completion (the property ``benchmarks/validate_end_to_end.py`` models as one M/G/1 server).
"""

from __future__ import annotations

import http.client
import re
import selectors
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator

import pytest

from capplan.demo.http_service import CONCURRENCY, EventLoopServer, main, make_server, serving
from capplan.demo.workload import handle_request
from capplan.errors import ParameterError


@pytest.fixture
def event_loop_server() -> Iterator[EventLoopServer]:
    with serving(make_server(0, concurrency="event-loop")) as server:
        yield server


@pytest.mark.parametrize("concurrency", CONCURRENCY)
def test_endpoints_and_metrics(concurrency: str) -> None:
    with serving(make_server(0, concurrency=concurrency)) as server:  # type: ignore[call-overload]
        base = f"http://127.0.0.1:{server.port}"
        with urllib.request.urlopen(f"{base}/work?id=3", timeout=5) as r:
            assert int(r.read()) == handle_request(3)
        for path, code in (("/work?id=x", 400), ("/nope", 404)):
            with pytest.raises(urllib.error.HTTPError) as info:
                urllib.request.urlopen(f"{base}{path}", timeout=5)
            assert info.value.code == code
            info.value.close()
        with urllib.request.urlopen(f"{base}/metrics", timeout=5) as r:
            assert r.headers["Content-Type"].startswith("text/plain")
            text = r.read().decode()
    assert 'demo_requests_total{code="200",path="/work"} 1.0' in text
    assert 'demo_requests_total{code="400",path="/work"} 1.0' in text
    assert 'demo_requests_total{code="404",path="other"} 1.0' in text
    assert 'demo_request_duration_seconds_bucket{le="+Inf"} 1.0' in text
    assert "demo_in_flight_requests 0.0" in text


@pytest.mark.parametrize("concurrency", CONCURRENCY)
def test_service_time_trace(concurrency: str) -> None:
    with serving(make_server(0, concurrency=concurrency)) as server:  # type: ignore[call-overload]
        base = f"http://127.0.0.1:{server.port}"
        for i in range(5):
            with urllib.request.urlopen(f"{base}/work?id={i}", timeout=5) as r:
                r.read()
        with pytest.raises(urllib.error.HTTPError) as info:  # not a /work request: not traced
            urllib.request.urlopen(f"{base}/nope", timeout=5)
        info.value.close()
        with urllib.request.urlopen(f"{base}/debug/service-times", timeout=5) as r:
            rows = [tuple(map(float, line.split())) for line in r.read().decode().splitlines()]
        with urllib.request.urlopen(f"{base}/debug/service-times", timeout=5) as r:
            again = r.read()
    assert len(rows) == 5 and all(len(row) == 2 for row in rows)
    starts = [row[0] for row in rows]
    assert starts == sorted(starts)  # one request after the other, oldest first
    assert all(0.0 < took < 1.0 for _, took in rows)
    # one after the other on one connection: each starts after the previous one ended
    assert all(b >= a + took for (a, took), b in zip(rows, starts[1:], strict=False))
    assert again == b""  # read once: the record was emptied


def test_bad_arguments_are_refused() -> None:
    with pytest.raises(SystemExit):
        main(["--port", "70000"])
    with pytest.raises(SystemExit):
        main(["--port", "0", "--io-wait", "-1"])
    with pytest.raises(SystemExit):
        main(["--port", "0", "--concurrency", "processes"])
    with pytest.raises(ParameterError, match="concurrency must be one of threads, event-loop"):
        make_server(0, concurrency="processes")  # type: ignore[call-overload]


def test_event_loop_keeps_connections_alive(event_loop_server: EventLoopServer) -> None:
    conn = http.client.HTTPConnection("127.0.0.1", event_loop_server.port, timeout=5)
    try:
        for i in range(20):
            conn.request("GET", f"/work?id={i}")
            response = conn.getresponse()
            assert response.status == 200
            assert int(response.read()) == handle_request(i)
            assert not response.will_close
        # one TCP connection carried all of them
        conn.request("GET", "/metrics")
        assert 'demo_requests_total{code="200",path="/work"} 20.0' in conn.getresponse().read().decode()
    finally:
        conn.close()


def _raw(port: int, data: bytes) -> bytes:
    """Send ``data`` on a fresh connection and read until the server closes it."""
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        sock.sendall(data)
        chunks = []
        while chunk := sock.recv(65536):
            chunks.append(chunk)
    return b"".join(chunks)


def test_event_loop_http_edges(event_loop_server: EventLoopServer) -> None:
    port = event_loop_server.port
    # HTTP/1.0 without keep-alive, and HTTP/1.1 with "Connection: close": one answer, then closed
    for request in (
        b"GET /work?id=5 HTTP/1.0\r\n\r\n",
        b"GET /work?id=5 HTTP/1.1\r\nConnection: close\r\n\r\n",
    ):
        answer = _raw(port, request)
        assert answer.startswith(b"HTTP/1.1 200 OK\r\n")
        assert b"Connection: close\r\n" in answer
        assert answer.endswith(f"{handle_request(5)}\n".encode())
    # not HTTP: 400 and the connection closed
    answer = _raw(port, b"HELLO\r\n\r\n")
    assert answer.startswith(b"HTTP/1.1 400 Bad Request\r\n")
    assert b"bad request line" in answer
    answer = _raw(port, b"GET / HTTP/1.1\r\nno colon here\r\n\r\n")
    assert answer.startswith(b"HTTP/1.1 400 Bad Request\r\n")
    # a method other than GET: 501, its body read and discarded
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    try:
        conn.request("POST", "/work?id=1", body=b"x" * 1000)
        response = conn.getresponse()
        assert response.status == 501
        response.read()
        conn.request("GET", "/work?id=1")  # the same connection still works
        assert conn.getresponse().status == 200
    finally:
        conn.close()


def test_event_loop_overlaps_downstream_waits() -> None:
    results: list[int] = []
    with serving(make_server(0, io_wait=0.3, concurrency="event-loop")) as server:

        def get(i: int) -> None:
            with urllib.request.urlopen(f"http://127.0.0.1:{server.port}/work?id={i}", timeout=10) as r:
                results.append(int(r.read()))

        started = time.perf_counter()
        threads = [threading.Thread(target=get, args=(i,)) for i in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        elapsed = time.perf_counter() - started
    assert sorted(results) == sorted(handle_request(i) for i in range(8))
    # eight 0.3 s waits in sequence would take 2.4 s; overlapped they take about 0.3 s
    assert elapsed < 1.2


@pytest.fixture
def event_loop_process() -> Iterator[int]:
    """The event-loop server in its own process (so this process's threads cannot delay it); its port."""
    cmd = [sys.executable, "-m", "capplan.demo.http_service", "--port", "0", "--concurrency", "event-loop"]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        found = re.search(r":(\d+)/work", line)
        assert found is not None, f"the server did not report its port: {line!r}"
        yield int(found.group(1))
    finally:
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=30) == 0, "the server exits cleanly on Ctrl-C (30 s: a loaded machine)"


def test_event_loop_runs_each_request_to_completion(event_loop_process: int) -> None:
    # K requests sent at once on K connections.  Served one at a time, to completion and in order,
    # the first answer comes after about one service time and the last after about K; interleaved
    # (processor sharing) all K would finish together, near K service times.  The server runs in
    # another process: in this one, the client's timestamps would wait for the server's lock.
    k = 8
    socks = [socket.create_connection(("127.0.0.1", event_loop_process), timeout=10) for _ in range(k)]
    try:
        for sock in socks:  # warm the connections (and the workload's code paths)
            sock.sendall(b"GET /work?id=1 HTTP/1.1\r\n\r\n")
            sock.recv(65536)
        with selectors.DefaultSelector() as sel:
            started = time.perf_counter()
            for i, sock in enumerate(socks):
                sock.sendall(f"GET /work?id={i} HTTP/1.1\r\n\r\n".encode())
                sel.register(sock, selectors.EVENT_READ, i)
            done: dict[int, float] = {}
            while len(done) < k and time.perf_counter() - started < 10:
                for key, _ in sel.select(timeout=10):
                    ready = socks[key.data]
                    assert ready.recv(65536).startswith(b"HTTP/1.1 200 OK")
                    done[key.data] = time.perf_counter() - started
                    sel.unregister(ready)
    finally:
        for sock in socks:
            sock.close()
    assert len(done) == k
    first = min(done, key=done.__getitem__)
    assert first == 0, f"the first request sent is answered first: completion times {done}"
    assert done[0] < 0.5 * max(done.values()), f"completion times {done}"


def test_shutdown_before_serving_returns() -> None:
    server = make_server(0, concurrency="event-loop")
    server.shutdown()  # never served: nothing to wait for
    server.server_close()
