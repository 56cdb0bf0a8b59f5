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
from capplan.queueing import QueueModel, queue_model
from capplan.sizing.connection_limits import LimitCheck, connection_limits, database_entry, server_pools

__all__ = ["DatabasePoolCheck", "LimitCheck", "check_database_pools"]


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


@dataclass(frozen=True)
class _Deployment:
    """Application replicas, their pools and the PgBouncers in front of one database."""

    replicas: int
    per_replica: int  # client connections per replica
    instances: int  # PgBouncer processes
    usable: int  # server connections per PgBouncer: the c of its queue


@dataclass(frozen=True)
class _Waits:
    """The queueing figures of :class:`DatabasePoolCheck` (nan without a query rate)."""

    util: float = math.nan
    prob_wait: float = math.nan
    mean_wait: float = math.nan
    wait_q: float = math.nan
    app_util: float = math.nan
    app_wait_q: float = math.nan
    method: str = "no query rate given: connection limits only"


_QueueAt = Literal["PgBouncer", "application pool", "nowhere"]


def _queues(
    lam: float, hold: float, q: float, scvs: tuple[float, float], d: _Deployment, at: _QueueAt
) -> tuple[_Waits, list[str]]:
    """Each replica's pool and each PgBouncer's server connections as queues; the wait for a server
    connection where clients queue ``at`` PgBouncer, none in the application pools' case, and
    without end ``"nowhere"`` (session-pooled clients beyond the server pool)."""
    app = queue_model(lam / d.replicas, 1.0 / hold, d.per_replica, *scvs)
    notes = []
    server_model: QueueModel | None = None
    if d.usable >= 1:
        server_model = queue_model(lam / d.instances, 1.0 / hold, d.usable, *scvs)
        util = float(server_model.utilization)
    else:
        util = math.inf if lam > 0 else 0.0
        notes.append("PgBouncer can open no server connection for this database")
    if at == "PgBouncer" and server_model is not None:
        wait = (
            float(server_model.prob_wait),
            float(server_model.mean_wait),
            float(server_model.wait_quantile(q)),
        )
    elif at == "application pool":
        wait = (0.0, 0.0, 0.0)
    else:  # no server connection to wait for
        wait = (1.0, math.inf, math.inf)
    method = (
        f"{type(app).__name__} ({app.method}) per PgBouncer instance (c = usable server connections) and "
        f"per application pool (c = pool_per_replica); transaction = one query of {hold:g} s mean"
    )
    return _Waits(util, *wait, float(app.utilization), float(app.wait_quantile(q)), method), notes


def _replica_bound(
    pgbouncer: PgBouncerConfig,
    session_server: int | None,
    d: _Deployment,
    host: LimitCheck,
    load: tuple[float, float],
    min_replicas: int,
) -> tuple[int | None, str]:
    """The largest safe replica count and what binds it (``session_server``: the server pool per
    PgBouncer in session pooling, else None).  ``load`` is the offered load and the server
    connections' utilization, both nan without a query rate."""
    total_clients = d.instances * pgbouncer.max_client_conn
    max_safe = total_clients // d.per_replica
    binding = f"max_client_conn: {total_clients} client connections / {d.per_replica} per replica"
    if session_server is not None and d.instances * session_server // d.per_replica < max_safe:
        sessions = d.instances * session_server
        max_safe = sessions // d.per_replica
        binding = f"session pooling: {sessions} server connections / {d.per_replica} per replica"
    unsafe = "no replica count is safe:"
    offered, util = load
    if host.exceeded:
        return None, f"{unsafe} {host.name} is exceeded"
    if not math.isnan(util) and not util < 1.0:
        usable = d.instances * d.usable
        return None, f"{unsafe} {offered:.6g} server connections needed on average, {usable} usable"
    if max_safe == 0:
        return None, f"{unsafe} {binding} is less than one replica"
    if max_safe < min_replicas:
        return None, (
            f"{unsafe} {min_replicas} replicas are needed for stable application pools "
            f"but {binding} allows {max_safe}"
        )
    return max_safe, binding


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
    scvs = (float(nonnegative("arrival_scv", arrival_scv)), float(nonnegative("service_scv", service_scv)))
    rates = [
        float(nonnegative(name, v))
        for name, v in (("read_qps", read_qps), ("write_qps", write_qps))
        if v is not None
    ]
    lam = sum(rates) if rates else math.nan
    database = database_entry(pgbouncer, database)
    mode = pgbouncer.pool_mode_for(database)
    pools = server_pools(pgbouncer, database, include_reserve)
    d = _Deployment(n_replicas, per_replica, instances, pools.usable)
    clients = n_replicas * per_replica
    checked = connection_limits(pgbouncer, postgres, database, pools, clients=clients, instances=instances)
    notes = list(checked.notes)
    queue_in: _QueueAt = "PgBouncer" if clients > instances * pools.usable else "application pool"
    at = queue_in
    if mode == "session":
        queue_in = at = "application pool"
        notes.append("session pooling: a server connection is held per client connection, not per query")
        if clients > instances * pools.server:
            at = "nowhere"
    waits = _Waits()
    if rates:
        waits, queue_notes = _queues(lam, hold, q, scvs, d, at)
        notes += queue_notes
    offered = lam * hold
    # Each pool is stable when lambda / R x t < pool_per_replica, i.e. R > lambda t / pool_per_replica.
    min_replicas = math.floor(offered / per_replica * (1 + 1e-12)) + 1 if rates and lam > 0 else 1
    session_server = pools.server if mode == "session" else None
    load = (offered, waits.util)
    safe, binding = _replica_bound(pgbouncer, session_server, d, checked.host, load, min_replicas)
    return DatabasePoolCheck(
        database=database,
        host=pgbouncer.database(database).host,
        pool_mode=mode,
        replicas=n_replicas,
        pool_per_replica=per_replica,
        pgbouncer_instances=instances,
        client_connections=clients,
        max_client_connections=instances * pgbouncer.max_client_conn,
        server_connections=pools.server,
        usable_connections=pools.usable,
        host_server_connections=checked.host.value,
        postgres_available=postgres.available_connections,
        limits=checked.limits,
        queue_location=queue_in,
        arrival_rate=lam,
        query_time=hold,
        quantile=q,
        offered_load=offered,
        utilization=waits.util,
        prob_wait=waits.prob_wait,
        mean_wait=waits.mean_wait,
        wait_quantile=waits.wait_q,
        app_utilization=waits.app_util,
        app_wait_quantile=waits.app_wait_q,
        stable=not rates or (waits.util < 1.0 and waits.app_util < 1.0),
        max_safe_replicas=safe,
        min_replicas=min_replicas,
        binding=binding,
        method=waits.method,
        notes=tuple(notes),
        pgbouncer=pgbouncer,
        postgres=postgres,
    )
