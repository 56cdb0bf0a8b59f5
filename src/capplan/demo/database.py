"""A real PostgreSQL behind a real PgBouncer, started and stopped by the caller, for the demo service.

:func:`running_database` initialises a throw-away cluster in a temporary directory, starts
``postgres`` on a free loopback port with ``pg_stat_statements`` loaded, starts ``pgbouncer`` in
front of it (transaction pooling, at most ``server_connections`` server connections to the
database: ``default_pool_size`` and ``max_db_connections``), creates the small schema the demo's
queries read (:data:`SCHEMA`), yields a :class:`Database`, and on exit stops both servers and
deletes the directory.  Nothing is installed or configured system-wide.

PostgreSQL and PgBouncer both refuse to run as root: when this process is root they run as the
unprivileged ``postgres`` user the Debian package creates (``nobody`` when there is none), with
supplementary groups dropped; the temporary directory is given to that user.  Otherwise they run
as the current user.

The binaries come from the Debian packages ``postgresql`` (``initdb`` and ``postgres`` are found
on ``PATH`` or under ``/usr/lib/postgresql/<version>/bin``) and ``pgbouncer``
(``/usr/sbin/pgbouncer``); :func:`find_binaries` raises :class:`DatabaseUnavailableError` naming
what is missing.  The driver is psycopg 3, imported only when a database is used.

Run ``python -m capplan.demo.database [--server-connections N]`` to keep one running until
interrupted (it prints the connection strings).
"""

from __future__ import annotations

import argparse
import contextlib
import glob
import os
import pwd
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from capplan.demo.procstat import cpu_seconds, stop_process
from capplan.errors import CapplanError, ParameterError

__all__ = [
    "LOOKUP_SQL",
    "SCHEMA",
    "SLEEP_SQL",
    "Binaries",
    "Database",
    "DatabaseSettings",
    "DatabaseUnavailableError",
    "StatementStats",
    "find_binaries",
    "main",
    "running_database",
]

HOST = "127.0.0.1"
DBNAME = "demo"
USER = "capplan"

#: The demo's table: ``customers`` x ``items_per_customer`` rows, indexed by customer.
SCHEMA = """
CREATE EXTENSION IF NOT EXISTS pg_stat_statements;
CREATE TABLE items (id bigserial PRIMARY KEY, customer integer NOT NULL, price integer NOT NULL,
                    qty integer NOT NULL);
INSERT INTO items (customer, price, qty)
  SELECT c, 100 + (c * 7 + k * 13) %% 900, 1 + (c + k) %% 5
  FROM generate_series(0, %(customers)s - 1) AS c, generate_series(1, %(items)s) AS k;
CREATE INDEX items_customer ON items (customer);
ANALYZE items;
"""

#: An indexed lookup of one customer's items plus a computation whose cost the caller sets
#: (``spin`` rows of ``generate_series``): the query's CPU time in the database grows with ``spin``.
LOOKUP_SQL = (
    "SELECT coalesce(sum(price * qty), 0) + (SELECT count(*) FROM generate_series(1, %(spin)s)) "
    "FROM items WHERE customer = %(customer)s"
)
#: A pure wait inside the database: the connection is held, no CPU is used.
SLEEP_SQL = "SELECT pg_sleep(%(seconds)s)"


class DatabaseUnavailableError(CapplanError, RuntimeError):
    """PostgreSQL or PgBouncer is not installed, or could not be started (the message says why)."""


@dataclass(frozen=True)
class DatabaseSettings:
    """How the database and its pooler are set up.

    ``server_connections`` is PgBouncer's ``default_pool_size`` and ``max_db_connections``: the
    most connections to PostgreSQL, shared by every client of PgBouncer.  ``max_client_connections``
    bounds the clients PgBouncer accepts (``max_client_conn``).  ``customers`` and
    ``items_per_customer`` size the table of :data:`SCHEMA`.
    """

    server_connections: int = 4
    max_client_connections: int = 400
    customers: int = 1000
    items_per_customer: int = 20
    max_connections: int = 50  # PostgreSQL's own limit (direct connections included)

    def __post_init__(self) -> None:
        for name in ("server_connections", "max_client_connections", "customers", "items_per_customer"):
            value = getattr(self, name)
            if not isinstance(value, int) or value < 1:
                raise ParameterError(f"{name} must be a positive integer, got {value!r}")
        if self.max_connections < self.server_connections + 5:
            raise ParameterError(
                f"max_connections ({self.max_connections}) must exceed server_connections "
                f"({self.server_connections}) by at least 5 (superuser and statistics connections)"
            )


@dataclass(frozen=True)
class Binaries:
    """Paths of the programs :func:`running_database` runs."""

    initdb: str
    postgres: str
    pgbouncer: str


def _postgres_dirs() -> list[str]:
    """``/usr/lib/postgresql/<version>/bin`` directories, newest version first."""
    found = glob.glob("/usr/lib/postgresql/*/bin")

    def version(path: str) -> float:
        try:
            return float(Path(path).parent.name)
        except ValueError:
            return 0.0

    return sorted(found, key=version, reverse=True)


def find_binaries() -> Binaries:
    """``initdb``, ``postgres`` and ``pgbouncer``, or :class:`DatabaseUnavailableError` naming the gap."""
    search = os.pathsep.join([os.environ.get("PATH", ""), *_postgres_dirs(), "/usr/sbin", "/usr/local/sbin"])
    paths = {name: shutil.which(name, path=search) for name in ("initdb", "postgres", "pgbouncer")}
    missing = [name for name, path in paths.items() if path is None]
    if missing:
        packages = sorted({"pgbouncer" if m == "pgbouncer" else "postgresql" for m in missing})
        raise DatabaseUnavailableError(
            f"{', '.join(missing)} not found (Debian packages: apt-get install -y {' '.join(packages)})"
        )
    return Binaries(**{k: str(v) for k, v in paths.items()})


@dataclass(frozen=True)
class StatementStats:
    """One row of ``pg_stat_statements`` (times in seconds)."""

    query: str
    calls: int
    total_exec_s: float
    mean_exec_s: float
    stddev_exec_s: float
    rows: int


def free_port() -> int:
    """A TCP port on the loopback interface that nothing listens on right now."""
    with socket.socket() as s:
        s.bind((HOST, 0))
        return int(s.getsockname()[1])


@dataclass(frozen=True)
class _RunAs:
    """The user the servers run as (``None``: this process's own user)."""

    name: str | None
    uid: int
    gid: int

    @classmethod
    def choose(cls) -> _RunAs:
        if os.geteuid() != 0:
            return cls(None, os.getuid(), os.getgid())
        for name in ("postgres", "nobody"):
            with contextlib.suppress(KeyError):
                entry = pwd.getpwnam(name)
                return cls(name, entry.pw_uid, entry.pw_gid)
        raise DatabaseUnavailableError("running as root and no unprivileged user (postgres, nobody) exists")

    def popen_args(self) -> dict[str, Any]:
        if self.name is None:
            return {}
        return {"user": self.uid, "group": self.gid, "extra_groups": []}


@dataclass
class Database:
    """A running PostgreSQL behind PgBouncer (see the module docstring); stop it with :meth:`stop`."""

    settings: DatabaseSettings
    workdir: Path
    postgres_port: int
    pgbouncer_port: int
    run_as: str | None
    _processes: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict, repr=False)

    @property
    def dsn(self) -> str:
        """Connection string through PgBouncer (what an application uses)."""
        return f"host={HOST} port={self.pgbouncer_port} dbname={DBNAME} user={USER}"

    @property
    def direct_dsn(self) -> str:
        """Connection string to PostgreSQL itself (statistics, administration)."""
        return f"host={HOST} port={self.postgres_port} dbname={DBNAME} user={USER}"

    @property
    def admin_dsn(self) -> str:
        """Connection string of PgBouncer's admin console (``SHOW STATS``, ``SHOW POOLS``)."""
        return f"host={HOST} port={self.pgbouncer_port} dbname=pgbouncer user={USER}"

    @property
    def pids(self) -> dict[str, int]:
        """``{"postgres": postmaster pid, "pgbouncer": pid}``."""
        return {name: proc.pid for name, proc in self._processes.items()}

    def cpu_seconds(self) -> dict[str, float]:
        """CPU seconds used so far by PostgreSQL (postmaster and every backend) and by PgBouncer."""
        return {name: cpu_seconds(pid, tree=True) for name, pid in self.pids.items()}

    def statement_stats(self) -> list[StatementStats]:
        """``pg_stat_statements`` rows of the demo database, most total time first."""
        import psycopg  # noqa: PLC0415 - the driver loads only when a database is used

        sql = (
            "SELECT query, calls, total_exec_time, mean_exec_time, stddev_exec_time, rows "
            "FROM pg_stat_statements WHERE dbid = (SELECT oid FROM pg_database WHERE datname = %s) "
            "ORDER BY total_exec_time DESC"
        )
        with psycopg.connect(self.direct_dsn, autocommit=True) as conn:
            rows = conn.execute(sql, (DBNAME,)).fetchall()
        return [
            StatementStats(str(q), int(c), float(t) / 1e3, float(m) / 1e3, float(s) / 1e3, int(r))
            for q, c, t, m, s, r in rows
        ]

    def reset_statement_stats(self) -> None:
        """Forget what ``pg_stat_statements`` has counted so far."""
        import psycopg  # noqa: PLC0415

        with psycopg.connect(self.direct_dsn, autocommit=True) as conn:
            conn.execute("SELECT pg_stat_statements_reset()")

    def pgbouncer_show(self, what: str) -> list[dict[str, Any]]:
        """Rows of PgBouncer's ``SHOW <what>`` (``STATS``, ``POOLS``, ``SERVERS``...) as dicts."""
        if not what.replace("_", "").isalpha():
            raise ParameterError(f"what must be one SHOW keyword such as STATS or POOLS, got {what!r}")
        return _admin_rows(self.admin_dsn, f"SHOW {what}")

    def stop(self) -> None:
        """Stop PgBouncer, then PostgreSQL (fast shutdown), and delete the working directory."""
        for name in ("pgbouncer", "postgres"):
            proc = self._processes.pop(name, None)
            if proc is not None:
                stop_process(proc, signal.SIGINT)
        shutil.rmtree(self.workdir, ignore_errors=True)


def _admin_rows(dsn: str, command: str) -> list[dict[str, Any]]:
    """Run an admin-console command; the console speaks only the simple query protocol."""
    import psycopg  # noqa: PLC0415

    with psycopg.connect(dsn, autocommit=True) as conn:
        result = conn.pgconn.exec_(command.encode())
        if result.status != psycopg.pq.ExecStatus.TUPLES_OK:
            raise DatabaseUnavailableError(f"PgBouncer {command}: {result.get_error_message()}")
        names = [(result.fname(k) or b"").decode() for k in range(result.nfields)]
        rows = []
        for i in range(result.ntuples):
            values = [result.get_value(i, k) for k in range(result.nfields)]
            rows.append({n: _admin_value(v) for n, v in zip(names, values, strict=True)})
    return rows


def _admin_value(raw: bytes | None) -> Any:
    if raw is None:
        return None
    text = raw.decode()
    try:
        return int(text)
    except ValueError:
        return text


def _run(cmd: Sequence[str], run_as: _RunAs, log: Path, what: str) -> None:
    with log.open("ab") as out:
        done = subprocess.run(cmd, stdout=out, stderr=subprocess.STDOUT, check=False, **run_as.popen_args())
    if done.returncode != 0:
        raise DatabaseUnavailableError(f"{what} failed (exit {done.returncode}): {_tail(log)}")


def _tail(log: Path, chars: int = 800) -> str:
    try:
        return log.read_text(errors="replace")[-chars:].strip()
    except OSError:
        return "(no log)"


def _start(cmd: Sequence[str], run_as: _RunAs, log: Path) -> subprocess.Popen[bytes]:
    with log.open("ab") as out:
        return subprocess.Popen(
            cmd, stdout=out, stderr=subprocess.STDOUT, start_new_session=True, **run_as.popen_args()
        )


def _wait_ready(dsn: str, proc: subprocess.Popen[bytes], log: Path, timeout: float, what: str) -> None:
    import psycopg  # noqa: PLC0415

    deadline = time.monotonic() + timeout
    while True:
        if proc.poll() is not None:
            raise DatabaseUnavailableError(f"{what} exited with {proc.returncode}: {_tail(log)}")
        try:
            psycopg.connect(dsn, connect_timeout=2).close()
            return
        except psycopg.OperationalError as exc:
            if time.monotonic() > deadline:
                raise DatabaseUnavailableError(f"{what} not ready after {timeout:g} s: {exc}") from None
            time.sleep(0.05)


def _postgres_command(binaries: Binaries, data: Path, port: int, settings: DatabaseSettings) -> list[str]:
    options = {
        "port": port,
        "listen_addresses": HOST,
        "unix_socket_directories": str(data.parent),
        "shared_preload_libraries": "pg_stat_statements",
        "pg_stat_statements.track": "all",
        "max_connections": settings.max_connections,
        "shared_buffers": "64MB",
        # a throw-away cluster: durability buys nothing here and costs fsyncs on a shared disk
        "fsync": "off",
        "synchronous_commit": "off",
        "full_page_writes": "off",
        "jit": "off",
    }
    cmd = [binaries.postgres, "-D", str(data)]
    for key, value in options.items():
        cmd += ["-c", f"{key}={value}"]
    return cmd


def _pgbouncer_ini(workdir: Path, postgres_port: int, port: int, settings: DatabaseSettings) -> Path:
    (workdir / "userlist.txt").write_text(f'"{USER}" ""\n')
    n = settings.server_connections
    ini = workdir / "pgbouncer.ini"
    ini.write_text(
        "[databases]\n"
        f"{DBNAME} = host={HOST} port={postgres_port} dbname={DBNAME} user={USER}\n"
        "[pgbouncer]\n"
        f"listen_addr = {HOST}\nlisten_port = {port}\nunix_socket_dir =\n"
        f"auth_type = trust\nauth_file = {workdir / 'userlist.txt'}\n"
        f"admin_users = {USER}\nstats_users = {USER}\n"
        f"pool_mode = transaction\ndefault_pool_size = {n}\nmin_pool_size = {n}\n"
        f"max_db_connections = {n}\nreserve_pool_size = 0\n"
        f"max_client_conn = {settings.max_client_connections}\n"
        "ignore_startup_parameters = extra_float_digits\n"
        f"logfile = {workdir / 'pgbouncer.log'}\n"
    )
    return ini


def _create_schema(dsn: str, settings: DatabaseSettings) -> None:
    import psycopg  # noqa: PLC0415

    with psycopg.connect(dsn.replace(f"dbname={DBNAME}", "dbname=postgres"), autocommit=True) as conn:
        conn.execute(f"CREATE DATABASE {DBNAME}")
    params = {"customers": settings.customers, "items": settings.items_per_customer}
    with psycopg.connect(dsn, autocommit=True) as conn, conn.cursor() as cur:
        for statement in filter(str.strip, SCHEMA.split(";")):
            cur.execute(statement, params if "%(" in statement else None)


def start_database(settings: DatabaseSettings | None = None, *, timeout: float = 60.0) -> Database:
    """Start PostgreSQL and PgBouncer (see the module docstring); the caller must stop it."""
    settings = settings or DatabaseSettings()
    binaries = find_binaries()
    run_as = _RunAs.choose()
    workdir = Path(tempfile.mkdtemp(prefix="capplan-db-"))
    os.chown(workdir, run_as.uid, run_as.gid)
    db = Database(settings, workdir, free_port(), free_port(), run_as.name)
    try:
        data = workdir / "data"
        initdb = [binaries.initdb, "-D", str(data), "-U", USER, "--auth=trust", "--no-sync"]
        _run([*initdb, "-E", "UTF8", "--locale=C"], run_as, workdir / "initdb.log", "initdb")
        log = workdir / "postgres.log"
        db._processes["postgres"] = _start(
            _postgres_command(binaries, data, db.postgres_port, settings), run_as, log
        )
        admin = db.direct_dsn.replace(f"dbname={DBNAME}", "dbname=postgres")
        _wait_ready(admin, db._processes["postgres"], log, timeout, "postgres")
        _create_schema(db.direct_dsn, settings)
        ini = _pgbouncer_ini(workdir, db.postgres_port, db.pgbouncer_port, settings)
        os.chown(ini, run_as.uid, run_as.gid)
        db._processes["pgbouncer"] = _start([binaries.pgbouncer, str(ini)], run_as, workdir / "pgbouncer.out")
        _wait_ready(db.dsn, db._processes["pgbouncer"], workdir / "pgbouncer.out", timeout, "pgbouncer")
    except BaseException:
        db.stop()
        raise
    return db


@contextlib.contextmanager
def running_database(
    settings: DatabaseSettings | None = None, *, timeout: float = 60.0
) -> Iterator[Database]:
    """:func:`start_database` for the ``with`` block; stopped and deleted afterwards."""
    db = start_database(settings, timeout=timeout)
    try:
        yield db
    finally:
        db.stop()


def describe(db: Database) -> Mapping[str, Any]:
    """What a user needs to connect, as printed by :func:`main`."""
    return {
        "dsn": db.dsn,
        "direct_dsn": db.direct_dsn,
        "admin_dsn": db.admin_dsn,
        "workdir": str(db.workdir),
        "run_as": db.run_as,
        "server_connections": db.settings.server_connections,
    }


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m capplan.demo.database [--server-connections N]``: run until interrupted."""
    parser = argparse.ArgumentParser(
        prog="python -m capplan.demo.database",
        description="Run a throw-away PostgreSQL behind PgBouncer on loopback until interrupted.",
    )
    parser.add_argument("--server-connections", type=int, default=4, help="PgBouncer server connections")
    args = parser.parse_args(argv)
    try:
        settings = DatabaseSettings(server_connections=args.server_connections)
        with running_database(settings) as db:
            for key, value in describe(db).items():
                print(f"{key}: {value}", flush=True)
            with contextlib.suppress(KeyboardInterrupt):
                signal.pause()
    except (ParameterError, DatabaseUnavailableError) as exc:
        parser.error(str(exc))
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
