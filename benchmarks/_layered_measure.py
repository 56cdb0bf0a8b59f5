"""Measurement pieces of ``benchmarks/validate_layered.py``: the server under test, py-spy, the
database's statistics, CPU clocks, and one open-loop run.

Everything here records; nothing predicts.  The records are plain dicts (JSON-ready), written by
the caller one file per run.
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from _loadgen import LoadResult, run_open_loop
from capplan.demo.database import Database
from capplan.demo.endpoints import REQUEST_FIELDS
from capplan.demo.procstat import children, cpu_seconds, stop_process
from capplan.profiles import Profile, is_idle, load_profile
from validate_end_to_end import py_spy, realtime, request_ids

HOST = "127.0.0.1"
CONNECTIONS = 32  # client keep-alive connections (threads mode: one server thread each)
CONNECT_INTERVAL = 0.005  # seconds between connects: pre-fork workers get them in turn
POOLS_EVERY = 0.1  # seconds between SHOW POOLS samples during a measured run

#: Profile categories, by the frames on a stack.  Inside a request's steps
#: (:func:`capplan.demo.steps.serve_blocking`/``serve_async``): ``hold`` (the driver's
#: ``run_query``), ``pool_wait`` (``psycopg_pool``), ``cpu_before``/``cpu_after`` (the workload),
#: ``steps_other``; outside: ``idle`` (a waiting leaf frame, e.g. a keep-alive connection's thread
#: in ``recv``, the pool's own worker threads), ``http_after`` (writing the response),
#: ``http_before`` (the rest: reading and routing the request, accepting connections).
CATEGORIES = (
    "hold",
    "pool_wait",
    "cpu_before",
    "cpu_after",
    "steps_other",
    "idle",
    "http_after",
    "http_before",
)
_AFTER = re.compile(r"(^|\.)(_reply|served|_encode|send_response|end_headers|flush|write|drain|sendall)$")


@dataclass(frozen=True)
class Mode:
    """A server mode and its layout (``threads=None``: one thread per connection, no slot limit)."""

    name: str
    processes: int
    threads: int | None
    pool_size: int  # application pool connections per process

    def worker_threads(self) -> int:
        """Requests one process can run at once (a thread per connection: its share of them)."""
        if self.name == "event-loop":
            return CONNECTIONS
        per_process = -(-CONNECTIONS // self.processes)
        return per_process if self.threads is None else min(self.threads, per_process)


@dataclass
class Server:
    process: subprocess.Popen[str]
    port: int
    workers: list[tuple[int, str]]  # (pid, base url for /debug/requests) per process

    @property
    def pids(self) -> list[int]:
        return [pid for pid, _ in self.workers]


@contextlib.contextmanager
def running_server(mode: Mode, db: Database, query: str) -> Iterator[Server]:
    """The demo service in ``mode`` with the database step, as a subprocess on a free port."""
    cmd = [sys.executable, "-m", "capplan.demo.http_service", "--port", "0", "--host", HOST]
    cmd += ["--concurrency", mode.name, "--processes", str(mode.processes), "--db-dsn", db.dsn]
    cmd += ["--db-query", query, "--pool-size", str(mode.pool_size)]
    if mode.threads is not None:
        cmd += ["--threads", str(mode.threads)]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        found = re.search(r":(\d+)/work", proc.stdout.readline())
        if found is None:
            raise SystemExit(f"the demo service ({mode.name}) did not start")
        port = int(found.group(1))
        if mode.name == "prefork":
            lines = [proc.stdout.readline().split() for _ in range(mode.processes)]
            workers = [(int(w[1]), w[2].rstrip("/")) for w in lines]
        else:
            workers = [(proc.pid, f"http://{HOST}:{port}")]
        yield Server(proc, port, workers)
    finally:
        stop_process(proc, signal.SIGINT, timeout=20)


def realtime_tree(pid: int) -> bool:
    """SCHED_FIFO for every thread of ``pid`` and of its descendants (those they start later
    inherit it); whether every one was set (needs root or ``CAP_SYS_NICE``)."""
    ok = True
    try:
        tasks = [int(t) for t in os.listdir(f"/proc/{pid}/task")]
    except OSError:
        return False
    for task in tasks:
        ok = realtime(task) and ok
    for child in children(pid):
        ok = realtime_tree(child) and ok
    return ok


# -- clocks and statistics ------------------------------------------------------------------------------
def _user_system(pid: int) -> tuple[float, float]:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    tick = os.sysconf("SC_CLK_TCK")
    return int(fields[11]) / tick, int(fields[12]) / tick


def machine_busy() -> float:
    """CPU seconds the whole machine has spent not idle (all CPUs, Linux ``/proc/stat``)."""
    fields = [int(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0)  # idle + iowait
    guest = sum(fields[8:10]) if len(fields) > 9 else 0  # already counted in user/nice
    return (sum(fields) - idle - guest) / os.sysconf("SC_CLK_TCK")


def clocks(server: Server, db: Database) -> dict[str, float]:
    """CPU seconds so far: the server (all processes), its user and system parts, the database,
    PgBouncer, this process (the load generator), the whole machine, and the wall clock.

    The machine's busy time less all of ours is the work of other users of the machine, which
    takes cores from the service as surely as its own database does."""
    user = system = 0.0
    for pid in server.pids:
        u, s = _user_system(pid)
        user, system = user + u, system + s
    out = {"server": cpu_seconds(server.process.pid, tree=True), "server_user": user, "server_system": system}
    out.update(db.cpu_seconds())
    out["generator"] = time.process_time()
    out["machine"] = machine_busy()
    out["wall"] = time.perf_counter()
    return out


def pgbouncer_totals(db: Database) -> dict[str, int]:
    row = next(r for r in db.pgbouncer_show("STATS") if r["database"] == "demo")
    return {k: int(v) for k, v in row.items() if k.startswith("total_")}


class PoolSampler:
    """``SHOW POOLS`` of the demo database every :data:`POOLS_EVERY` seconds while running."""

    def __init__(self, db: Database) -> None:
        self.db = db
        self.rows: list[dict[str, Any]] = []
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self.stop.wait(POOLS_EVERY):
            with contextlib.suppress(Exception):
                self.rows.append(next(r for r in self.db.pgbouncer_show("POOLS") if r["database"] == "demo"))

    def __enter__(self) -> PoolSampler:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        self.thread.join()

    def summary(self) -> dict[str, float]:
        def mean(key: str) -> float:
            return float(np.mean([r[key] for r in self.rows])) if self.rows else float("nan")

        maxwait = [r["maxwait"] + r.get("maxwait_us", 0) / 1e6 for r in self.rows]
        return {
            "samples": len(self.rows),
            "cl_active_mean": mean("cl_active"),
            "cl_waiting_mean": mean("cl_waiting"),
            "sv_active_mean": mean("sv_active"),
            "sv_idle_mean": mean("sv_idle"),
            "maxwait_max_s": max(maxwait) if maxwait else float("nan"),
        }


def drain_records(server: Server) -> list[NDArray[np.float64]]:
    """Each process's ``/debug/requests`` rows since the last call (the server forgets them)."""
    out = []
    for _, base in server.workers:
        with urllib.request.urlopen(f"{base}/debug/requests", timeout=30) as r:
            lines = r.read().decode().splitlines()[1:]
        out.append(np.array([ln.split() for ln in lines], dtype=np.float64).reshape(-1, len(REQUEST_FIELDS)))
    return out


# -- py-spy -----------------------------------------------------------------------------------------------
@contextlib.contextmanager
def profiling(server: Server, workdir: Path, tag: str, flag: str, rate: int) -> Iterator[list[Path]]:
    """py-spy ``record --idle`` or ``--gil`` on every server process for the ``with`` block."""
    outs, spies = [], []
    for pid, _ in server.workers:
        out = workdir / f"{tag}-{pid}.speedscope.json"
        cmd = [py_spy(), "record", "--pid", str(pid), "--rate", str(rate), flag, "--nonblocking"]
        cmd += ["--format", "speedscope", "--output", str(out)]
        spies.append(subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True))
        outs.append(out)
    time.sleep(1.0)  # let py-spy attach
    try:
        yield outs
    finally:
        time.sleep(0.3)
        for spy in spies:
            spy.send_signal(signal.SIGINT)
        for spy, out in zip(spies, outs, strict=True):
            _, err = spy.communicate(timeout=60)
            if not out.exists():
                raise SystemExit(f"py-spy wrote no profile (exit {spy.returncode}): {err[-400:]}")


def _category(profile: Profile, stack: tuple[int, ...]) -> str:
    frames = [profile.frames[i] for i in stack]
    names = [(f.module, f.function) for f in frames]
    if any(fn in ("serve_blocking", "serve_async") for _, fn in names):
        if any(fn.endswith(("run_query", "run_query_async")) for _, fn in names):
            return "hold"
        if any(mod.startswith("psycopg_pool") for mod, _ in names):
            return "pool_wait"
        if any(fn.endswith("begin_request") for _, fn in names):
            return "cpu_before"
        if any(fn.endswith("end_request") for _, fn in names):
            return "cpu_after"
        return "steps_other"
    if (frames and is_idle(frames[-1])) or any(mod.startswith("psycopg_pool") for mod, _ in names):
        return "idle"
    if any(_AFTER.search(fn) for _, fn in names):
        return "http_after"
    return "http_before"


def profile_split(files: list[Path], requests: int) -> dict[str, Any]:
    """Sampled seconds per request in each of :data:`CATEGORIES`, summed over the processes."""
    seconds = dict.fromkeys(CATEGORIES, 0.0)
    samples = 0.0
    for path in files:
        profile = load_profile(path)
        samples += profile.total_samples
        for stack, s in zip(profile.stacks, profile.seconds, strict=True):
            seconds[_category(profile, stack)] += float(s)
    per_request = {k: v / max(1, requests) for k, v in seconds.items()}
    return {"requests": requests, "samples": samples, "seconds_per_request": per_request}


# -- one open-loop stream ---------------------------------------------------------------------------------
def stream(server: Server, rate: float, duration: float, seed: int) -> LoadResult:
    """A Poisson stream of ``/work`` requests at ``rate`` for ``duration`` seconds."""
    ids = request_ids(seed, int(rate * duration * 1.5 + 100))
    table = [f"/work?id={int(i)}" for i in ids]
    return run_open_loop(
        HOST,
        server.port,
        rate,
        duration,
        table.__getitem__,
        seed=seed,
        connections=CONNECTIONS,
        dispatch="random-idle",
        connect_interval=CONNECT_INTERVAL,
    )


def served(result: LoadResult) -> int:
    return int(np.isfinite(result.done).sum())


def measured_stream(
    server: Server, db: Database, rate: float, duration: float, seed: int
) -> tuple[LoadResult, dict[str, Any]]:
    """A stream with the clocks, the database's statistics and the server's records around it."""
    drain_records(server)
    db.reset_statement_stats()
    bouncer0, clock0 = pgbouncer_totals(db), clocks(server, db)
    with PoolSampler(db) as pools:
        result = stream(server, rate, duration, seed)
    clock1, bouncer1 = clocks(server, db), pgbouncer_totals(db)
    statements = [s.__dict__ for s in db.statement_stats() if "pg_stat_statements" not in s.query]
    evidence = {
        "cpu_s": {k: clock1[k] - clock0[k] for k in clock0 if k != "wall"},
        "wall_s": clock1["wall"] - clock0["wall"],
        "pgbouncer": {k: bouncer1[k] - bouncer0[k] for k in bouncer0},
        "pgbouncer_pools": pools.summary(),
        "statements": statements,
    }
    return result, {"evidence": evidence, "records": drain_records(server)}


def profiled_stream(
    server: Server, rate: float, duration: float, seed: int, workdir: Path, tag: str, flag: str, spy_rate: int
) -> dict[str, Any]:
    """A stream recorded by py-spy (``flag`` ``--idle`` or ``--gil``); its per-request split."""
    with profiling(server, workdir, tag, flag, spy_rate) as files:
        result = stream(server, rate, duration, seed)
    split = profile_split(files, served(result))
    split["files"] = [f.name for f in files]
    split["flag"] = flag
    split["rate"] = spy_rate
    return split


def db_round_trip(db: Database, queries: int = 300) -> dict[str, float]:
    """The driver's round trip through PgBouncer beyond what the database's statistics see.

    ``queries`` sequential ``SELECT pg_sleep(0)`` from this process through PgBouncer (psycopg,
    as the service runs them): their mean wall time per query less PgBouncer's query time per
    query (``SHOW STATS``: from sending the query to the server connection to its result) is the
    client-to-PgBouncer hop and the driver's own work: what a connection is held beyond the
    database's time.  An idle client measures it; it is a floor under load.
    """
    import psycopg  # noqa: PLC0415

    from capplan.demo.database import SLEEP_SQL  # noqa: PLC0415

    with psycopg.connect(db.dsn, autocommit=True, prepare_threshold=None) as conn:
        for _ in range(20):  # warm the connection and PgBouncer's server connection
            conn.execute(SLEEP_SQL, {"seconds": 0})
        before = pgbouncer_totals(db)
        t0 = time.perf_counter()
        for _ in range(queries):
            conn.execute(SLEEP_SQL, {"seconds": 0}).fetchone()
        wall = (time.perf_counter() - t0) / queries
    after = pgbouncer_totals(db)
    bouncer = (after["total_query_time"] - before["total_query_time"]) / 1e6 / queries
    return {
        "queries": queries,
        "wall_s": wall,
        "pgbouncer_query_s": bouncer,
        "overhead_s": max(0.0, wall - bouncer),
    }


def closed_loop_warmup(server: Server, db: Database, requests: int, seed: int) -> dict[str, float]:
    """Warm the server (pools filled, code paths hot) and take rough per-request costs (sets the rates)."""
    from _loadgen import run_closed_loop  # noqa: PLC0415

    ids = request_ids(seed, requests)
    table = [f"/work?id={int(i)}" for i in ids]
    bouncer0, clock0 = pgbouncer_totals(db), clocks(server, db)
    run_closed_loop(HOST, server.port, requests, table.__getitem__)
    clock1, bouncer1 = clocks(server, db), pgbouncer_totals(db)
    queries = max(1, bouncer1["total_query_count"] - bouncer0["total_query_count"])
    other = sum(clock1[k] - clock0[k] for k in ("postgres", "pgbouncer", "generator"))
    return {
        "server_cpu_s": (clock1["server"] - clock0["server"]) / requests,
        "other_cpu_s": other / requests,
        "hold_s": (bouncer1["total_query_time"] - bouncer0["total_query_time"]) / 1e6 / queries,
    }


def path_probe(server: Server, duration: float, seed: int) -> dict[str, float]:
    """Empty requests (``/nope``, answered 404 without the workload) at 100/s: the transport's time.

    Their response times less the server's CPU per empty request are the path latency outside
    the server's request handling (client, loopback, wake-ups); the model's response times are
    the server's, a prediction of client-side times adds this.
    """
    cpu0 = cpu_seconds(server.process.pid, tree=True)
    result = run_open_loop(HOST, server.port, 100.0, duration, lambda i: "/nope", seed=seed, connections=4)
    cpu = (cpu_seconds(server.process.pid, tree=True) - cpu0) / max(1, served(result))
    times = result.response[np.isfinite(result.done)]
    path = np.maximum(times - cpu, 0.0)
    return {
        "requests": int(times.size),
        "server_cpu_s": float(cpu),
        "mean_s": float(path.mean()),
        "p50_s": float(np.percentile(path, 50)),
        "p95_s": float(np.percentile(path, 95)),
    }
