"""``pgbouncer.ini`` and ``postgresql.conf``: the checked configurations, with the plan's numbers.

Written only when the plan checked a PgBouncer and a PostgreSQL configuration
(:func:`capplan.sizing.check_database_pools`).  The settings are the user's, section by section,
with the connection limits made to hold for the most replicas the Deployments can run (each
class's planned count, the autoscaled class at its ``maxReplicas``), each with its pool of the
plan's size:

* ``max_client_conn`` (per PgBouncer) >= ``ceil(replicas x pool per replica / PgBouncers)``;
* PostgreSQL's ``max_connections`` >= every PgBouncer's server connections to the host
  (``pool_size + reserve``, capped by ``max_db_connections`` / ``max_user_connections``, for each
  database on it) plus the reserved slots.

A setting already large enough is kept.  ``postgresql.conf`` is a fragment with only the
connection settings, for an ``include_dir`` (later settings win in PostgreSQL's files).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from capplan.dbconfig import PgBouncerConfig, load_pgbouncer, load_postgresql_conf
from capplan.export._yaml import comment_block
from capplan.sizing.database import DatabasePoolCheck, check_database_pools

__all__ = ["DatabaseExport", "database_files"]


@dataclass(frozen=True)
class DatabaseExport:
    """The two files' text, and the check of the written files at the most replicas."""

    pgbouncer_ini: str
    postgresql_conf: str
    check: DatabasePoolCheck
    replicas: int


def _pgbouncer_text(cfg: PgBouncerConfig, changes: dict[str, int], header: list[str]) -> str:
    out = [comment_block(header)]
    for section, values in cfg.raw.items():
        merged = dict(values)
        if section == "pgbouncer":
            merged.update({k: str(v) for k, v in changes.items()})
        out.append(f"[{section}]\n")
        out.extend(f"{key} = {value}\n" for key, value in merged.items())
        out.append("\n")
    return "".join(out)


def database_files(check: DatabasePoolCheck, replicas: int) -> DatabaseExport | None:
    """The files for ``replicas`` application replicas (None without the configurations)."""
    pgb, pg = check.pgbouncer, check.postgres
    if pgb is None or pg is None:
        return None
    instances = check.pgbouncer_instances
    clients = math.ceil(replicas * check.pool_per_replica / instances)
    max_client_conn = max(pgb.max_client_conn, clients)
    reserved = pg.superuser_reserved_connections + pg.reserved_connections
    max_connections = max(pg.max_connections, check.host_server_connections + reserved)
    header = [
        "pgbouncer.ini written by capplan from a capacity plan (the checked file's settings, comments",
        f"dropped). {replicas} application replicas at most x {check.pool_per_replica} connections "
        f"each over {instances} PgBouncer(s):",
        f"max_client_conn = max({pgb.max_client_conn} (given), ceil({replicas} x "
        f"{check.pool_per_replica} / {instances}) = {clients}) = {max_client_conn}.",
    ]
    pg_header = [
        "postgresql.conf fragment written by capplan (include it after the main file).",
        f"{instances} PgBouncer(s) open at most {check.host_server_connections} server connections to "
        f"{check.host or 'the local socket'}; with {reserved} reserved slots:",
        f"max_connections = max({pg.max_connections} (given), "
        f"{check.host_server_connections} + {reserved}) = {max_connections}.",
    ]
    settings = {
        "max_connections": max_connections,
        "superuser_reserved_connections": pg.superuser_reserved_connections,
    }
    if pg.reserved_connections:
        settings["reserved_connections"] = pg.reserved_connections
    pg_text = comment_block(pg_header) + "".join(f"{k} = {v}\n" for k, v in settings.items())
    pgb_text = _pgbouncer_text(pgb, {"max_client_conn": max_client_conn}, header)
    written = check_database_pools(
        load_pgbouncer(pgb_text),
        load_postgresql_conf(pg_text),
        replicas=replicas,
        pool_per_replica=check.pool_per_replica,
        read_qps=check.arrival_rate if math.isfinite(check.arrival_rate) else None,
        query_time=check.query_time,
        database=check.database,
        pgbouncer_instances=instances,
    )
    return DatabaseExport(pgb_text, pg_text, written, replicas)
