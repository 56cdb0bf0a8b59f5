"""Check application pools, PgBouncer and PostgreSQL connection limits against each other and the load.

Decision layer: takes the validated configurations of :mod:`capplan.dbconfig` and a deployment
(application replicas, each with a connection pool to PgBouncer), and reports which connection
limit is exceeded, where clients queue, how busy the server connections are at the SLA's query
rate, and the largest replica count that stays within every limit.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Literal

import pandas as pd

from capplan._validate import integer_count, nonnegative, positive, probability
from capplan.dbconfig import PgBouncerConfig, PoolMode, PostgresConfig
from capplan.errors import ParameterError
from capplan.queueing import QueueModel, queue_model

__all__ = ["DatabasePoolCheck", "LimitCheck", "check_database_pools"]


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


@dataclass(frozen=True)
class DatabasePoolCheck:
    """Result of :func:`check_database_pools`; connections are counts, times seconds, rates per second.

    Per-instance quantities are per PgBouncer process; totals multiply by ``pgbouncer_instances``.
    Queueing quantities are ``nan`` when no query rate was given, ``inf`` when unstable.
    """

    database: str
    host: str | None
    pool_mode: PoolMode
    replicas: int
    pool_per_replica: int
    pgbouncer_instances: int
    client_connections: int  # replicas x pool_per_replica
    max_client_connections: int  # pgbouncer_instances x max_client_conn
    server_connections: int  # per instance: min(pool + reserve, max_db_connections, max_user_connections)
    usable_connections: int  # per instance, the c of the queue (the pool without its reserve by default)
    host_server_connections: int  # all instances, all databases on the same PostgreSQL host
    postgres_available: int  # max_connections - superuser_reserved_connections - reserved_connections
    limits: tuple[LimitCheck, ...]
    queue_location: str  # "PgBouncer" or "application pool"
    arrival_rate: float  # read + write queries per second (nan if not given)
    query_time: float
    quantile: float
    offered_load: float  # mean server connections in use, lambda x query_time (Erlangs)
    utilization: float  # offered_load / (instances x usable_connections)
    prob_wait: float  # P(a query waits in PgBouncer for a server connection)
    mean_wait: float
    wait_quantile: float  # the `quantile` of the wait in PgBouncer
    app_utilization: float  # of one replica's pool
    app_wait_quantile: float  # the `quantile` of the wait for a connection in one replica's pool
    stable: bool
    max_safe_replicas: int | None
    min_replicas: int
    binding: str
    method: str
    notes: tuple[str, ...] = ()
    #: The configurations checked (for exports that write them back with the plan's numbers).
    pgbouncer: PgBouncerConfig | None = field(default=None, repr=False, compare=False)
    postgres: PostgresConfig | None = field(default=None, repr=False, compare=False)

    @property
    def exceeded(self) -> tuple[str, ...]:
        """Names of the limits exceeded (refusing and capping)."""
        return tuple(limit.name for limit in self.limits if limit.exceeded)

    @property
    def refused(self) -> tuple[str, ...]:
        """Names of the exceeded limits that refuse or starve connections."""
        return tuple(limit.name for limit in self.limits if limit.exceeded and limit.effect == "refuses")

    @property
    def ok(self) -> bool:
        """True when no refusing limit is exceeded and every queue is stable."""
        return not self.refused and self.stable

    def to_frame(self) -> pd.DataFrame:
        """One row per reported quantity: ``value``, ``limit``, ``unit`` and ``status``."""
        label = f"p{self.quantile * 100:g}"
        unstable = "ok" if self.stable else "UNSTABLE"
        rows: list[tuple[str, object, object, str, str]] = [
            ("database", self.database, "", "", ""),
            ("PostgreSQL host", self.host or "(Unix socket)", "", "", ""),
            ("pool mode", self.pool_mode, "", "", ""),
            ("PgBouncer instances", self.pgbouncer_instances, "", "processes", ""),
            ("application replicas", self.replicas, "", "replicas", ""),
            ("pool per replica", self.pool_per_replica, "", "connections", ""),
        ]
        rows += [(lim.name, lim.value, lim.limit, "connections", lim.status) for lim in self.limits]
        rows += [
            (
                "server connections per PgBouncer (incl. reserve)",
                self.server_connections,
                "",
                "connections",
                "",
            ),
            ("usable server connections per PgBouncer (c)", self.usable_connections, "", "connections", ""),
            ("clients queue in", self.queue_location, "", "", ""),
            ("query rate (read + write)", self.arrival_rate, "", "1/s", ""),
            ("mean query time", self.query_time, "", "s", ""),
            (
                "server connections in use (offered load)",
                self.offered_load,
                self.pgbouncer_instances * self.usable_connections,
                "connections",
                unstable,
            ),
            ("server connection utilization", self.utilization, 1.0, "fraction", unstable),
            ("P(wait in PgBouncer)", self.prob_wait, "", "fraction", ""),
            ("mean wait in PgBouncer", self.mean_wait, "", "s", ""),
            (f"{label} wait in PgBouncer", self.wait_quantile, "", "s", ""),
            ("application pool utilization", self.app_utilization, 1.0, "fraction", unstable),
            (f"{label} wait in an application pool", self.app_wait_quantile, "", "s", ""),
            ("largest safe replica count", self.max_safe_replicas, "", "replicas", self.binding),
            ("smallest stable replica count", self.min_replicas, "", "replicas", ""),
            ("method", self.method, "", "", ""),
        ]
        rows += [("note", note, "", "", "") for note in self.notes]
        return pd.DataFrame(rows, columns=["quantity", "value", "limit", "unit", "status"]).set_index(
            "quantity"
        )


def _cap(value: int, *caps: int | None) -> int:
    return min([value, *(c for c in caps if c is not None)])


def check_database_pools(
    pgbouncer: PgBouncerConfig,
    postgres: PostgresConfig,
    *,
    replicas: int,
    pool_per_replica: int,
    read_qps: float | None = None,
    write_qps: float | None = None,
    query_time: float = 0.005,
    database: str | None = None,
    pgbouncer_instances: int = 1,
    include_reserve: bool = False,
    quantile: float = 0.99,
    arrival_scv: float = 1.0,
    service_scv: float = 1.0,
) -> DatabasePoolCheck:
    r"""Check an application's connection pools against PgBouncer and PostgreSQL, and the load.

    ``replicas`` application replicas each keep a pool of ``pool_per_replica`` client connections
    to PgBouncer for ``database`` (an entry of ``[databases]``; default the first one other than
    ``"*"``).  All ``read_qps + write_qps`` queries go to that database — to send reads to a
    replica entry (the seed's ``readonly``), call once per database with its own rates.

    Connection limits (``limits`` in the result; the seed's numbers in brackets):

    * client connections ``replicas x pool_per_replica <= instances x max_client_conn`` [1000];
    * PgBouncer's server pool for the database, ``pool_size + reserve_pool`` [50 + 10], is capped
      by ``max_db_connections`` [100] and ``max_user_connections`` [100] — flagged as ``CAPPED``
      when larger, and the user's pools over all databases are compared with
      ``max_user_connections`` too;
    * server connections to the PostgreSQL host, ``instances x`` the capped pools of every database
      on that host and port, ``<= max_connections - superuser_reserved_connections -
      reserved_connections`` [200 - 3];
    * in session pooling, every client connection holds a server connection:
      ``client connections <= instances x server pool``.

    Queueing.  In transaction pooling a server connection is held per transaction — per query
    here, each query being its own transaction — for ``query_time`` seconds on average (mean of
    the time PgBouncer holds the server connection, including network round trips).  Queries
    arrive as a Poisson stream at rate :math:`\lambda` = ``read_qps + write_qps``, split evenly over
    the PgBouncer instances, so each instance is an M/M/c queue (:class:`capplan.queueing.MMc`,
    exact; G/G/c, an approximation, if an SCV differs from 1) with :math:`c` = the usable server
    connections: ``min(pool_size, max_db_connections, max_user_connections)``.  The reserve pool is
    left out because PgBouncer only opens it after a client has waited ``reserve_pool_timeout``
    (5 s by default) — far beyond a millisecond latency target; ``include_reserve=True`` counts it.
    Then the server connections in use are the offered load :math:`a = \lambda\,t` (Little's law),
    the utilization is :math:`\rho = a / (k c)` and the wait for a server connection
    :math:`P(W > t) = C(c, a/k)\, e^{-(c\mu - \lambda/k) t}` (Erlang C; Kleinrock, *Queueing
    Systems* vol. 1, sec. 3.5).

    Clients queue in PgBouncer when the client connections outnumber the usable server connections
    (``replicas x pool_per_replica > instances x c``): the numbers above apply.  Otherwise PgBouncer
    always has a free server connection (its wait is 0) and queries queue in the application pools:
    each replica's pool is an M/M/c queue with rate :math:`\lambda / R` and ``pool_per_replica``
    servers (reported as ``app_*``; when clients queue in PgBouncer this ignores that the wait there
    lengthens the time a client connection is held, so it is optimistic).

    The largest safe replica count is the largest ``R`` for which no refusing limit is exceeded and
    the queues stay stable: ``floor(instances x max_client_conn / pool_per_replica)`` (in session
    pooling also ``<= instances x server pool / pool_per_replica``), provided the server-side
    limits hold, the server connections are stable (:math:`\lambda t < k c`) and ``R`` is at
    least the smallest stable count ``floor(lambda t / pool_per_replica) + 1``; ``None`` otherwise.
    Capping limits do not make a count unsafe: they shrink ``c``, which the queueing accounts for.

    Assumptions: one database user for the application (a PgBouncer pool is per database and user);
    every PostgreSQL server behind the entries uses ``postgres``'s settings; load spread evenly over
    replicas and PgBouncer instances; connection establishment and ``server_check_query`` ignored.

    Parameters
    ----------
    pgbouncer, postgres : PgBouncerConfig, PostgresConfig
        From :func:`capplan.dbconfig.load_pgbouncer` and :func:`~capplan.dbconfig.load_postgresql_conf`.
    replicas : int
        Application replicas (>= 1).
    pool_per_replica : int
        Client connections each replica keeps to PgBouncer (>= 1).
    read_qps, write_qps : float, optional
        Query rates, per second (e.g. the SLA's ``throughput_targets.database``); without either,
        only the connection limits are checked.
    query_time : float, default 0.005
        Mean time a query holds a server connection, seconds.  The default is the seed SLA's
        simple-query p50 (5 ms) used as a mean: state your own.
    database : str, optional
        The ``[databases]`` entry the application uses.
    pgbouncer_instances : int, default 1
        PgBouncer processes (pods) behind one address; each has its own pools and limits.
    include_reserve : bool, default False
        Count the reserve pool in the queue's servers.
    quantile : float, default 0.99
        Wait quantile to report.
    arrival_scv, service_scv : float, default 1
        SCVs of query inter-arrival and hold times; 1 and 1 give M/M/c.

    Returns
    -------
    DatabasePoolCheck
    """
    n_replicas = int(integer_count("replicas", replicas))
    per_replica = int(integer_count("pool_per_replica", pool_per_replica))
    instances = int(integer_count("pgbouncer_instances", pgbouncer_instances))
    hold = float(positive("query_time", query_time))
    q = float(probability("quantile", quantile))
    a_scv = float(nonnegative("arrival_scv", arrival_scv))
    s_scv = float(nonnegative("service_scv", service_scv))
    rates = [
        float(nonnegative(name, v))
        for name, v in (("read_qps", read_qps), ("write_qps", write_qps))
        if v is not None
    ]
    lam = sum(rates) if rates else math.nan

    if database is None:
        database = next(
            (name for name in pgbouncer.databases if name != "*"), next(iter(pgbouncer.databases))
        )
    if database not in pgbouncer.databases:
        raise ParameterError(
            f"database {database!r} is not in [databases] of {pgbouncer.source}; "
            f"known: {', '.join(pgbouncer.databases)}"
        )
    entry = pgbouncer.database(database)
    mode = pgbouncer.pool_mode_for(database)
    max_user = pgbouncer.max_user_connections
    notes: list[str] = []

    def opened(name: str) -> int:
        """Server connections one PgBouncer opens for ``name`` at most (pool + reserve, capped)."""
        pool = pgbouncer.pool_size_for(name) + pgbouncer.reserve_pool_for(name)
        return _cap(pool, pgbouncer.max_db_connections_for(name), max_user)

    pool = pgbouncer.pool_size_for(database)
    reserve = pgbouncer.reserve_pool_for(database)
    max_db = pgbouncer.max_db_connections_for(database)
    server = opened(database)
    usable = _cap(pool + reserve if include_reserve else pool, max_db, max_user)

    pool_key = "default_pool_size" if entry.pool_size is None else f"{database}.pool_size"
    reserve_key = "reserve_pool_size" if entry.reserve_pool is None else f"{database}.reserve_pool"
    max_db_key = (
        "max_db_connections" if entry.max_db_connections is None else f"{database}.max_db_connections"
    )
    clients = n_replicas * per_replica
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
                instances * server,
                pool_key,
                "refuses",
            )
        )
    if max_db is not None:
        limits.append(
            LimitCheck(
                f"{pool_key} + {reserve_key} <= {max_db_key}", pool + reserve, max_db, max_db_key, "caps"
            )
        )
    if max_user is not None:
        limits.append(
            LimitCheck(
                f"{pool_key} + {reserve_key} <= max_user_connections",
                pool + reserve,
                max_user,
                "max_user_connections",
                "caps",
            )
        )
        same_user = [name for name, e in pgbouncer.databases.items() if e.user == entry.user]
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
    # Server connections to the PostgreSQL server behind `database`, from every entry on the same
    # host and port, per user (the user cap applies to each user's sum).
    on_host = [n for n, e in pgbouncer.databases.items() if (e.host, e.port) == (entry.host, entry.port)]
    by_user: dict[str | None, int] = {}
    for name in on_host:
        user = pgbouncer.databases[name].user
        by_user[user] = by_user.get(user, 0) + opened(name)
    host_total = instances * sum(_cap(n, max_user) for n in by_user.values())
    available = postgres.available_connections
    reserved_text = "superuser_reserved_connections"
    if postgres.reserved_connections:
        reserved_text += " - reserved_connections"
    host_name = entry.host or "the local socket"
    host_limit = LimitCheck(
        f"server connections to {host_name} <= max_connections - {reserved_text}",
        host_total,
        available,
        "max_connections",
        "refuses",
    )
    limits.append(host_limit)
    if len(on_host) > 1:
        notes.append(f"server connections to {host_name} count the pools of {', '.join(on_host)}")
    if instances > 1:
        notes.append(f"each of the {instances} PgBouncer instances has its own pools and max_client_conn")

    # ---- queueing ------------------------------------------------------------------------------
    has_rate = not math.isnan(lam)
    offered = lam * hold if has_rate else math.nan
    queue_in = "PgBouncer" if clients > instances * usable else "application pool"
    if mode == "session":
        queue_in = "application pool"
        notes.append("session pooling: a server connection is held per client connection, not per query")
    nan = math.nan
    util = prob_wait = mean_wait = wait_q = app_util = app_wait_q = nan
    method = "no query rate given: connection limits only"
    if has_rate:
        app = queue_model(lam / n_replicas, 1.0 / hold, per_replica, a_scv, s_scv)
        app_util = float(app.utilization)
        app_wait_q = float(app.wait_quantile(q))
        server_model: QueueModel | None = None
        if usable >= 1:
            server_model = queue_model(lam / instances, 1.0 / hold, usable, a_scv, s_scv)
            util = float(server_model.utilization)
        else:
            util = math.inf if lam > 0 else 0.0
            notes.append("PgBouncer can open no server connection for this database")
        if queue_in == "PgBouncer":
            if server_model is None:
                prob_wait, mean_wait, wait_q = 1.0, math.inf, math.inf
            else:
                prob_wait = float(server_model.prob_wait)
                mean_wait = float(server_model.mean_wait)
                wait_q = float(server_model.wait_quantile(q))
        elif mode == "session" and clients > instances * server:
            prob_wait, mean_wait, wait_q = 1.0, math.inf, math.inf
        else:
            prob_wait = mean_wait = wait_q = 0.0
        model_name = type(app).__name__
        method = (
            f"{model_name} ({app.method}) per PgBouncer instance (c = usable server connections) and per "
            f"application pool (c = pool_per_replica); transaction = one query of {hold:g} s mean"
        )
    stable = not has_rate or (util < 1.0 and app_util < 1.0)

    # ---- replica counts -----------------------------------------------------------------------
    # Each pool is stable when lambda / R x t < pool_per_replica, i.e. R > lambda t / pool_per_replica.
    min_replicas = math.floor(offered / per_replica * (1 + 1e-12)) + 1 if has_rate and lam > 0 else 1
    by_clients = instances * pgbouncer.max_client_conn // per_replica
    max_safe = by_clients
    total_clients = instances * pgbouncer.max_client_conn
    binding = f"max_client_conn: {total_clients} client connections / {per_replica} per replica"
    if mode == "session" and instances * server // per_replica < by_clients:
        max_safe = instances * server // per_replica
        binding = f"session pooling: {instances * server} server connections / {per_replica} per replica"
    safe: int | None = max_safe
    if host_limit.exceeded:
        safe, binding = None, f"no replica count is safe: {host_limit.name} is exceeded"
    elif has_rate and not util < 1.0:
        safe, binding = (
            None,
            f"no replica count is safe: {offered:.6g} server connections needed on average, "
            f"{instances * usable} usable",
        )
    elif max_safe == 0:
        safe, binding = None, f"no replica count is safe: {binding} is less than one replica"
    elif max_safe < min_replicas:
        binding = (
            f"no replica count is safe: {min_replicas} replicas are needed for stable application pools "
            f"but {binding} allows {max_safe}"
        )
        safe = None
    return DatabasePoolCheck(
        database=database,
        host=entry.host,
        pool_mode=mode,
        replicas=n_replicas,
        pool_per_replica=per_replica,
        pgbouncer_instances=instances,
        client_connections=clients,
        max_client_connections=instances * pgbouncer.max_client_conn,
        server_connections=server,
        usable_connections=usable,
        host_server_connections=host_total,
        postgres_available=available,
        limits=tuple(limits),
        queue_location=queue_in,
        arrival_rate=lam,
        query_time=hold,
        quantile=q,
        offered_load=offered,
        utilization=util,
        prob_wait=prob_wait,
        mean_wait=mean_wait,
        wait_quantile=wait_q,
        app_utilization=app_util,
        app_wait_quantile=app_wait_q,
        stable=stable,
        max_safe_replicas=safe,
        min_replicas=min_replicas,
        binding=binding,
        method=method,
        notes=tuple(notes),
        pgbouncer=pgbouncer,
        postgres=postgres,
    )
