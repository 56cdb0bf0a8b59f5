"""The database step of a demo request: hold a connection of an application-side pool for one query.

A :class:`DatabaseStep` says where the database is (a PgBouncer connection string, see
:mod:`capplan.demo.database`), how large the application's pool is (per process) and what the
query costs:

* ``sleep:SECONDS`` - ``SELECT pg_sleep(SECONDS)``: a pure wait, the connection is held and
  neither the service nor the database uses CPU;
* ``lookup:SPIN`` - an indexed lookup of one customer's items plus a computation of ``SPIN``
  rows inside the database (:data:`capplan.demo.database.LOOKUP_SQL`): the database burns CPU,
  on the same cores as the service when both run on one machine.

:class:`ThreadedPool` (a ``psycopg_pool.ConnectionPool``, for the thread servers) and
:class:`AsyncPool` (a ``psycopg_pool.AsyncConnectionPool``, for the event loop, so a request
awaiting the database gives the loop to other requests) run the query and time the two waits:
``pool_wait`` (asking the pool for a connection until it is handed one) and ``hold`` (from then
until the result is read; the connection goes back to the pool right after).  Connections are
in autocommit mode with server-side prepared statements off (``prepare_threshold=None``):
PgBouncer's transaction pooling gives each statement whichever server connection is free.

The driver is psycopg 3 with ``psycopg_pool``: maintained by the PostgreSQL driver's own
authors, with a blocking and an asyncio API of the same shape, so the three server modes run the
same query through the same driver.  It is imported only when a pool is opened.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from capplan.demo.database import LOOKUP_SQL, SLEEP_SQL
from capplan.errors import ParameterError

if TYPE_CHECKING:
    from psycopg import AsyncConnection, Connection

__all__ = ["AsyncPool", "DatabaseStep", "StepTimes", "ThreadedPool", "run_query", "run_query_async"]

QueryKind = Literal["sleep", "lookup"]
#: Customers in the demo table (:class:`capplan.demo.database.DatabaseSettings` default).
CUSTOMERS = 1000


@dataclass(frozen=True)
class DatabaseStep:
    """What a request's database step does (see the module docstring)."""

    dsn: str
    pool_size: int = 4
    query: QueryKind = "sleep"
    cost: float = 0.005  # sleep: seconds; lookup: rows computed inside the database
    pool_timeout: float = 30.0

    def __post_init__(self) -> None:
        if not isinstance(self.pool_size, int) or self.pool_size < 1:
            raise ParameterError(f"pool_size must be a positive integer, got {self.pool_size!r}")
        if self.query not in ("sleep", "lookup"):
            raise ParameterError(f"query must be 'sleep' or 'lookup', got {self.query!r}")
        if not (self.cost >= 0 and self.cost < float("inf")):
            raise ParameterError(f"cost must be a non-negative number, got {self.cost!r}")

    @classmethod
    def parse(cls, dsn: str, spec: str, pool_size: int = 4) -> DatabaseStep:
        """From ``"sleep:0.005"`` or ``"lookup:2000"`` (the command-line form)."""
        kind, sep, value = spec.partition(":")
        try:
            cost = float(value)
        except ValueError:
            cost = float("nan")
        if not sep or kind not in ("sleep", "lookup") or not cost >= 0:
            raise ParameterError(f"query must be sleep:SECONDS or lookup:ROWS, got {spec!r}")
        return cls(dsn, pool_size, kind, cost)  # type: ignore[arg-type]

    def statement(self, request_id: int) -> tuple[str, dict[str, Any]]:
        """The SQL and parameters of the query for one request."""
        if self.query == "sleep":
            return SLEEP_SQL, {"seconds": self.cost}
        return LOOKUP_SQL, {"spin": round(self.cost), "customer": request_id % CUSTOMERS}

    def pool_kwargs(self) -> dict[str, Any]:
        return {
            "min_size": self.pool_size,
            "max_size": self.pool_size,
            "timeout": self.pool_timeout,
            "kwargs": {"autocommit": True, "prepare_threshold": None},
        }


@dataclass(frozen=True)
class StepTimes:
    """One database step: the value the query returned, the pool wait and the hold (seconds)."""

    value: int
    pool_wait: float
    hold: float


def run_query(conn: Connection[Any], sql: str, params: dict[str, Any]) -> int:
    """Execute the query on a held connection and read its one value (a profile's "hold" frame)."""
    row = conn.execute(sql, params).fetchone()
    return _as_int(row)


async def run_query_async(conn: AsyncConnection[Any], sql: str, params: dict[str, Any]) -> int:
    """:func:`run_query` on an asyncio connection."""
    cur = await conn.execute(sql, params)
    return _as_int(await cur.fetchone())


def _as_int(row: Any) -> int:
    value = row[0] if row else None
    return int(value) if isinstance(value, int) else 0


class ThreadedPool:
    """A blocking connection pool of ``step.pool_size`` connections, opened (and filled) at once."""

    def __init__(self, step: DatabaseStep) -> None:
        from psycopg_pool import ConnectionPool  # noqa: PLC0415 - the driver loads only when used

        self.step = step
        self.pool: ConnectionPool[Any] = ConnectionPool(step.dsn, open=True, **step.pool_kwargs())
        self.pool.wait(timeout=step.pool_timeout)

    def run(self, request_id: int) -> StepTimes:
        sql, params = self.step.statement(request_id)
        t0 = time.perf_counter()
        with self.pool.connection() as conn:
            t1 = time.perf_counter()
            value = run_query(conn, sql, params)
            t2 = time.perf_counter()
        return StepTimes(value, t1 - t0, t2 - t1)

    def close(self) -> None:
        self.pool.close()


class AsyncPool:
    """The asyncio twin of :class:`ThreadedPool`; :meth:`open` it inside the running loop."""

    def __init__(self, step: DatabaseStep) -> None:
        from psycopg_pool import AsyncConnectionPool  # noqa: PLC0415

        self.step = step
        self.pool: AsyncConnectionPool[Any] = AsyncConnectionPool(step.dsn, open=False, **step.pool_kwargs())

    async def open(self) -> None:
        await self.pool.open(wait=True, timeout=self.step.pool_timeout)

    async def run(self, request_id: int) -> StepTimes:
        sql, params = self.step.statement(request_id)
        t0 = time.perf_counter()
        async with self.pool.connection() as conn:
            t1 = time.perf_counter()
            value = await run_query_async(conn, sql, params)
            t2 = time.perf_counter()
        return StepTimes(value, t1 - t0, t2 - t1)

    async def close(self) -> None:
        await self.pool.close()
