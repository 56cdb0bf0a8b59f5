"""The connection limits between application pools, PgBouncer and PostgreSQL, one check each.

Decision layer, used by :func:`capplan.sizing.database.check_database_pools`: the server
connections PgBouncer opens for a database (its pool and reserve, capped by ``max_db_connections``
and ``max_user_connections``) and every limit a deployment's connections must stay within.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from capplan.dbconfig import PgBouncerConfig, PoolMode, PostgresConfig
from capplan.errors import ParameterError

__all__ = [
    "ConnectionLimits",
    "LimitCheck",
    "ServerPools",
    "connection_limits",
    "database_entry",
    "server_pools",
]


@dataclass(frozen=True)
class LimitCheck:
    """One connection limit: ``value`` must not exceed ``limit``.

    ``effect`` says what happens beyond it: ``"refuses"`` — connections are refused or starve
    (client connections over ``max_client_conn``, server connections over PostgreSQL's
    ``max_connections``, session-pooled clients over the server pool); ``"caps"`` — PgBouncer
    silently opens fewer server connections than configured (a pool larger than
    ``max_db_connections`` or ``max_user_connections``), so part of the configured pool is unusable.
    """

    name: str
    value: int
    limit: int
    setting: str
    effect: Literal["refuses", "caps"]

    @property
    def exceeded(self) -> bool:
        """True when ``value > limit``."""
        return self.value > self.limit

    @property
    def status(self) -> str:
        """``"ok"``, ``"EXCEEDED"`` (a refusing limit) or ``"CAPPED"`` (a capping limit)."""
        if not self.exceeded:
            return "ok"
        return "EXCEEDED" if self.effect == "refuses" else "CAPPED"


def _cap(value: int, *caps: int | None) -> int:
    return min([value, *(c for c in caps if c is not None)])


def database_entry(pgbouncer: PgBouncerConfig, database: str | None) -> str:
    """``database``, or the first ``[databases]`` entry other than ``"*"``; a name PgBouncer does
    not know is a :class:`~capplan.errors.ParameterError` naming the file and the known entries."""
    if database is None:
        database = next(
            (name for name in pgbouncer.databases if name != "*"), next(iter(pgbouncer.databases))
        )
    if database not in pgbouncer.databases:
        raise ParameterError(
            f"database {database!r} is not in [databases] of {pgbouncer.source}; "
            f"known: {', '.join(pgbouncer.databases)}"
        )
    return database


def _opened(pgbouncer: PgBouncerConfig, name: str) -> int:
    """Server connections one PgBouncer opens for ``name`` at most (pool + reserve, capped)."""
    pool = pgbouncer.pool_size_for(name) + pgbouncer.reserve_pool_for(name)
    return _cap(pool, pgbouncer.max_db_connections_for(name), pgbouncer.max_user_connections)


@dataclass(frozen=True)
class ServerPools:
    """One PgBouncer's server connections for a database, and the settings that set them."""

    pool: int
    reserve: int
    max_db: int | None
    server: int  # pool + reserve, capped
    usable: int  # the queue's servers: the pool (with the reserve if counted), capped
    pool_key: str
    reserve_key: str
    max_db_key: str


def server_pools(pgbouncer: PgBouncerConfig, database: str, include_reserve: bool) -> ServerPools:
    """The server connections PgBouncer opens for ``database``, with the names of their settings
    (a per-database override in ``[databases]`` or the global default)."""
    entry = pgbouncer.database(database)
    pool = pgbouncer.pool_size_for(database)
    reserve = pgbouncer.reserve_pool_for(database)
    max_db = pgbouncer.max_db_connections_for(database)
    return ServerPools(
        pool=pool,
        reserve=reserve,
        max_db=max_db,
        server=_opened(pgbouncer, database),
        usable=_cap(pool + reserve if include_reserve else pool, max_db, pgbouncer.max_user_connections),
        pool_key="default_pool_size" if entry.pool_size is None else f"{database}.pool_size",
        reserve_key="reserve_pool_size" if entry.reserve_pool is None else f"{database}.reserve_pool",
        max_db_key=(
            "max_db_connections" if entry.max_db_connections is None else f"{database}.max_db_connections"
        ),
    )


@dataclass(frozen=True)
class ConnectionLimits:
    """Every limit checked, the PostgreSQL host's among them, and notes on how they were counted."""

    limits: tuple[LimitCheck, ...]
    host: LimitCheck  # server connections to the PostgreSQL host against what it accepts
    notes: tuple[str, ...]


def _client_limits(
    pgbouncer: PgBouncerConfig, pools: ServerPools, mode: PoolMode, clients: int, instances: int
) -> list[LimitCheck]:
    """Client connections against ``max_client_conn`` and, in session pooling, the server pool."""
    limits = [
        LimitCheck(
            "client connections <= max_client_conn" + (f" x {instances} PgBouncers" if instances > 1 else ""),
            clients,
            instances * pgbouncer.max_client_conn,
            "max_client_conn",
            "refuses",
        )
    ]
    if mode == "session":
        limits.append(
            LimitCheck(
                "client connections <= server connections (session pooling)",
                clients,
                instances * pools.server,
                pools.pool_key,
                "refuses",
            )
        )
    return limits


def _pool_caps(pgbouncer: PgBouncerConfig, database: str, pools: ServerPools) -> list[LimitCheck]:
    """The pool and reserve against ``max_db_connections`` and ``max_user_connections``, and the
    user's pools over all its databases against ``max_user_connections``."""
    configured = f"{pools.pool_key} + {pools.reserve_key}"
    limits = []
    if pools.max_db is not None:
        limits.append(
            LimitCheck(
                f"{configured} <= {pools.max_db_key}",
                pools.pool + pools.reserve,
                pools.max_db,
                pools.max_db_key,
                "caps",
            )
        )
    max_user = pgbouncer.max_user_connections
    if max_user is None:
        return limits
    limits.append(
        LimitCheck(
            f"{configured} <= max_user_connections",
            pools.pool + pools.reserve,
            max_user,
            "max_user_connections",
            "caps",
        )
    )
    user = pgbouncer.database(database).user
    same_user = [name for name, e in pgbouncer.databases.items() if e.user == user]
    if len(same_user) > 1:
        total = sum(
            _cap(
                pgbouncer.pool_size_for(n) + pgbouncer.reserve_pool_for(n),
                pgbouncer.max_db_connections_for(n),
            )
            for n in same_user
        )
        limits.append(
            LimitCheck(
                f"server connections of one user over {', '.join(same_user)} <= max_user_connections",
                total,
                max_user,
                "max_user_connections",
                "caps",
            )
        )
    return limits


def _host_limit(
    pgbouncer: PgBouncerConfig, postgres: PostgresConfig, database: str, instances: int
) -> tuple[LimitCheck, list[str]]:
    """Server connections to the PostgreSQL server behind ``database``, from every entry on the same
    host and port, per user (the user cap applies to each user's sum), against what it accepts."""
    entry = pgbouncer.database(database)
    on_host = [n for n, e in pgbouncer.databases.items() if (e.host, e.port) == (entry.host, entry.port)]
    by_user: dict[str | None, int] = {}
    for name in on_host:
        user = pgbouncer.databases[name].user
        by_user[user] = by_user.get(user, 0) + _opened(pgbouncer, name)
    host_total = instances * sum(_cap(n, pgbouncer.max_user_connections) for n in by_user.values())
    reserved_text = "superuser_reserved_connections"
    if postgres.reserved_connections:
        reserved_text += " - reserved_connections"
    host_name = entry.host or "the local socket"
    limit = LimitCheck(
        f"server connections to {host_name} <= max_connections - {reserved_text}",
        host_total,
        postgres.available_connections,
        "max_connections",
        "refuses",
    )
    notes = (
        [f"server connections to {host_name} count the pools of {', '.join(on_host)}"]
        if len(on_host) > 1
        else []
    )
    return limit, notes


def connection_limits(
    pgbouncer: PgBouncerConfig,
    postgres: PostgresConfig,
    database: str,
    pools: ServerPools,
    *,
    clients: int,
    instances: int,
) -> ConnectionLimits:
    """Every connection limit of ``clients`` client connections through ``instances`` PgBouncers
    to ``database``: the clients', the pool caps, then the PostgreSQL host's."""
    mode = pgbouncer.pool_mode_for(database)
    host, notes = _host_limit(pgbouncer, postgres, database, instances)
    if instances > 1:
        notes.append(f"each of the {instances} PgBouncer instances has its own pools and max_client_conn")
    limits = [
        *_client_limits(pgbouncer, pools, mode, clients, instances),
        *_pool_caps(pgbouncer, database, pools),
        host,
    ]
    return ConnectionLimits(tuple(limits), host, tuple(notes))
