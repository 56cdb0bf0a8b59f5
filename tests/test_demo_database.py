"""The demo service's database step against a real PostgreSQL behind a real PgBouncer.

A module fixture starts both with :func:`capplan.demo.database.running_database` (Debian packages
``postgresql`` and ``pgbouncer``, installed by ``make test``; as the ``postgres`` user when the
tests run as root) with two PgBouncer server connections.  The tests check that

* queries through PgBouncer return what the schema says, and ``pg_stat_statements`` and
  PgBouncer's ``SHOW STATS``/``SHOW POOLS`` count them;
* PgBouncer's server-connection limit is real: clients beyond it wait, and PgBouncer says so;
* each server mode (thread per connection, event loop, pre-fork) serves ``/work`` with the
  database step: the right checksums, one query per request, a record of each request's split,
  and an application pool that makes requests wait when it is smaller than the concurrency.

Skipped only when PostgreSQL or PgBouncer is not installed (the reason is printed).
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from capplan.demo.database import (
    LOOKUP_SQL,
    SLEEP_SQL,
    Database,
    DatabaseSettings,
    DatabaseUnavailableError,
    find_binaries,
    running_database,
)
from capplan.demo.dbstep import DatabaseStep
from capplan.demo.endpoints import REQUEST_FIELDS
from capplan.demo.http_service import make_server, serving
from capplan.demo.workload import begin_request, end_request, handle_request
from capplan.errors import ParameterError

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
from _loadgen import run_open_loop

psycopg = pytest.importorskip("psycopg")

SERVER_CONNECTIONS = 2
SLEEP = 0.02


@pytest.fixture(scope="module")
def database() -> Iterator[Database]:
    try:
        find_binaries()
    except DatabaseUnavailableError as exc:
        print(f"SKIP: {exc}")
        pytest.skip(str(exc))
    with running_database(DatabaseSettings(server_connections=SERVER_CONNECTIONS)) as db:
        yield db


def _expected_lookup(customer: int, spin: int, items: int = 20) -> int:
    """The lookup's answer computed here from the rows :data:`capplan.demo.database.SCHEMA` inserts."""
    total = sum((100 + (customer * 7 + k * 13) % 900) * (1 + (customer + k) % 5) for k in range(1, items + 1))
    return total + spin


def _uid(pid: int) -> int:
    status = Path(f"/proc/{pid}/status").read_text()
    found = re.search(r"^Uid:\s+(\d+)", status, re.MULTILINE)
    assert found is not None
    return int(found.group(1))


def test_queries_through_pgbouncer_are_counted_by_the_database(database: Database) -> None:
    database.reset_statement_stats()
    with psycopg.connect(database.dsn, autocommit=True, prepare_threshold=None) as conn:
        for customer in (0, 3, 999):
            row = conn.execute(LOOKUP_SQL, {"spin": 50, "customer": customer}).fetchone()
            assert row is not None and int(row[0]) == _expected_lookup(customer, 50)
        for _ in range(4):
            conn.execute(SLEEP_SQL, {"seconds": SLEEP})
    stats = {s.query: s for s in database.statement_stats()}
    sleep = next(s for q, s in stats.items() if "pg_sleep" in q)
    lookup = next(s for q, s in stats.items() if "generate_series" in q)
    assert (sleep.calls, lookup.calls) == (4, 3)
    # pg_sleep sleeps at least its argument; the database's own clock says so
    assert SLEEP <= sleep.mean_exec_s < SLEEP + 0.05
    assert sleep.total_exec_s == pytest.approx(4 * sleep.mean_exec_s)
    pools = {row["database"]: row for row in database.pgbouncer_show("POOLS")}
    assert pools["demo"]["pool_mode"] == "transaction"
    if os.geteuid() == 0:  # PostgreSQL and PgBouncer refuse root: they run as another user
        assert all(_uid(pid) != 0 for pid in database.pids.values())
    assert all(v >= 0 for v in database.cpu_seconds().values())


def test_pgbouncer_makes_clients_beyond_its_server_connections_wait(database: Database) -> None:
    """Four clients each sleep 0.3 s in the database through two server connections: two waves."""
    before = {r["database"]: r for r in database.pgbouncer_show("STATS")}["demo"]
    seen_waiting = []

    def client() -> None:
        with psycopg.connect(database.dsn, autocommit=True, prepare_threshold=None) as conn:
            conn.execute(SLEEP_SQL, {"seconds": 0.3})

    threads = [threading.Thread(target=client) for _ in range(4)]
    start = time.perf_counter()
    for t in threads:
        t.start()
    while any(t.is_alive() for t in threads):
        pools = {r["database"]: r for r in database.pgbouncer_show("POOLS")}
        seen_waiting.append(pools["demo"]["cl_waiting"])
        time.sleep(0.05)
    elapsed = time.perf_counter() - start
    after = {r["database"]: r for r in database.pgbouncer_show("STATS")}["demo"]
    assert elapsed >= 0.6  # two waves of 0.3 s
    assert max(seen_waiting) >= 2  # (a third may show while a client is still logging in)
    # two clients waited about 0.3 s each for a server connection (PgBouncer counts microseconds)
    waited = (after["total_wait_time"] - before["total_wait_time"]) / 1e6
    assert 0.5 <= waited < 1.5
    assert after["total_query_count"] - before["total_query_count"] == 4


def test_settings_and_step_are_validated() -> None:
    with pytest.raises(ParameterError, match="server_connections"):
        DatabaseSettings(server_connections=0)
    with pytest.raises(ParameterError, match="max_connections"):
        DatabaseSettings(server_connections=60)
    with pytest.raises(ParameterError, match="sleep:SECONDS or lookup:ROWS"):
        DatabaseStep.parse("host=x", "sleep=0.1")
    with pytest.raises(ParameterError, match="pool_size"):
        DatabaseStep("host=x", pool_size=0)
    step = DatabaseStep.parse("host=x", "lookup:300", pool_size=3)
    assert step.statement(1234) == (LOOKUP_SQL, {"spin": 300, "customer": 234})


# -- the three server modes with the database step ------------------------------------------------
def _requests_record(base: str) -> np.ndarray:
    with urllib.request.urlopen(f"{base}/debug/requests", timeout=10) as r:
        lines = r.read().decode().splitlines()
    assert tuple(lines[0].split()) == REQUEST_FIELDS
    return np.array([line.split() for line in lines[1:]], dtype=float).reshape(-1, len(REQUEST_FIELDS))


def _check_served(port: int, n: int, expected: dict[int, int]) -> int:
    """About ``n`` Poisson requests, then five checked one by one; how many were sent in all."""
    result = run_open_loop(
        "127.0.0.1",
        port,
        100.0,
        n / 100.0,
        lambda i: f"/work?id={i}",
        seed=1,
        connections=8,
        connect_interval=0.005,
    )
    assert np.all(result.ok)
    for i in range(min(5, len(result.scheduled))):
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/work?id={i}", timeout=10) as r:
            assert int(r.read()) == expected.get(i, handle_request(i))
    return len(result.scheduled) + min(5, len(result.scheduled))


def _stats_calls(database: Database, needle: str) -> int:
    return sum(s.calls for s in database.statement_stats() if needle in s.query)


@pytest.mark.parametrize("concurrency", ["threads", "event-loop"])
def test_in_process_modes_hold_a_pooled_connection_per_request(database: Database, concurrency: str) -> None:
    step = DatabaseStep(database.dsn, pool_size=2, query="lookup", cost=10)
    database.reset_statement_stats()
    # the lookup's value enters the checksum: end_request(id, begin_request(id) ^ value)
    expected = {
        i: end_request(i, (begin_request(i) ^ _expected_lookup(i, 10)) & 0xFFFFFFFF) for i in range(5)
    }
    with serving(make_server(0, concurrency=concurrency, database=step)) as server:  # type: ignore[call-overload]
        sent = _check_served(server.port, 40, expected)
        rows = _requests_record(f"http://127.0.0.1:{server.port}")
    served = len(rows)
    assert served == sent
    assert _stats_calls(database, "generate_series") == served  # one query per request
    fields = dict(zip(REQUEST_FIELDS, rows.T, strict=True))
    assert np.all(fields["hold"] > 0) and np.all(fields["cpu_before"] > 0) and np.all(fields["cpu_after"] > 0)
    parts = fields["slot_wait"] + fields["pool_wait"] + fields["hold"]
    assert np.all(parts <= fields["service"])


def test_a_small_pool_makes_requests_wait_for_a_connection(database: Database) -> None:
    """Four requests at once through a pool of one connection, each holding it 50 ms: they queue."""
    step = DatabaseStep(database.dsn, pool_size=1, query="sleep", cost=0.05)
    with serving(make_server(0, database=step)) as server:
        base = f"http://127.0.0.1:{server.port}"
        _requests_record(base)  # empty it

        def get(i: int) -> None:
            with urllib.request.urlopen(f"{base}/work?id={i}", timeout=10) as r:
                assert int(r.read()) == handle_request(i)  # pg_sleep returns no value

        threads = [threading.Thread(target=get, args=(i,)) for i in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        rows = _requests_record(base)
    column = {name: rows[:, REQUEST_FIELDS.index(name)] for name in ("start", "service", "pool_wait", "hold")}
    waits = np.sort(column["pool_wait"])
    assert np.all(column["hold"] >= 0.05)
    # One connection: the four holds follow one another, so from the first request's start to the
    # last one's end takes at least their sum (with four connections it would take one hold), and
    # the k-th to get the connection waited for the k holds before it less how much later it came
    # (the threads start within a few ms of each other, more on a loaded machine).
    span = np.max(column["start"] + column["service"]) - np.min(column["start"])
    assert span >= np.sum(column["hold"])
    late = column["start"] - np.min(column["start"])
    assert np.max(column["pool_wait"] + late) >= 0.14 and waits[1] >= 0.04


def test_prefork_workers_each_serve_with_their_own_pool(database: Database) -> None:
    cmd = [sys.executable, "-m", "capplan.demo.http_service", "--port", "0", "--concurrency", "prefork"]
    cmd += ["--processes", "2", "--threads", "4", "--db-dsn", database.dsn, "--db-query", "sleep:0.002"]
    cmd += ["--pool-size", "2"]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        found = re.search(r":(\d+)/work", proc.stdout.readline())
        assert found is not None, "the pre-fork master did not report its port"
        workers = [proc.stdout.readline().split() for _ in range(2)]
        assert all(w[0] == "worker" for w in workers)
        database.reset_statement_stats()
        sent = _check_served(int(found.group(1)), 60, {})
        per_worker = [len(_requests_record(w[2].rstrip("/"))) for w in workers]
        assert sum(per_worker) == sent
        # both workers served (connections are dealt in turn), and every request ran its query
        assert min(per_worker) >= 10
        assert _stats_calls(database, "pg_sleep") == sum(per_worker)
        # each worker opened its own pool of 2 (PgBouncer sees 4 clients of the demo database)
        pools = {r["database"]: r for r in database.pgbouncer_show("POOLS")}
        assert pools["demo"]["cl_active"] + pools["demo"]["cl_waiting"] >= 4
    finally:
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=20) == 0
