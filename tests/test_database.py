"""Tests of capplan.sizing.database.check_database_pools: limits, queueing and the safe replica count."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from capplan import ParameterError
from capplan.dbconfig import PgBouncerConfig, PostgresConfig, load_pgbouncer, load_postgresql_conf
from capplan.queueing import GGc, MMc
from capplan.sizing.database import DatabasePoolCheck, check_database_pools

ROOT = Path(__file__).parents[1]
PGBOUNCER = load_pgbouncer(ROOT / "data" / "pgbouncer.ini")
POSTGRES = load_postgresql_conf(ROOT / "data" / "postgresql.conf")
SLA_RATES = {"read_qps": 5000.0, "write_qps": 1000.0}  # the seed SLA's throughput_targets.database

CLIENT_LIMIT = "client connections <= max_client_conn"
MAX_DB_LIMIT = "default_pool_size + reserve_pool_size <= max_db_connections"
PRIMARY_LIMIT = "server connections to postgres-primary <= max_connections - superuser_reserved_connections"


def pgbouncer(*lines: str, databases: str = "app = host=db") -> PgBouncerConfig:
    return load_pgbouncer("[databases]\n" + databases + "\n[pgbouncer]\n" + "\n".join(lines) + "\n")


def postgres(max_connections: int = 100, superuser_reserved: int = 3) -> PostgresConfig:
    return load_postgresql_conf(
        f"max_connections = {max_connections}\nsuperuser_reserved_connections = {superuser_reserved}\n"
    )


def seed_check(**kwargs: object) -> DatabasePoolCheck:
    args: dict[str, object] = {"replicas": 100, "pool_per_replica": 10, "query_time": 0.005, **SLA_RATES}
    args.update(kwargs)
    return check_database_pools(PGBOUNCER, POSTGRES, **args)  # type: ignore[arg-type]


# ---------------------------------------------------------------------------------------------
# The bundled example


def test_bundled_example() -> None:
    # 100 replicas x 10 = 1000 client connections = max_client_conn; PgBouncer opens at most
    # 50 + 10 = 60 server connections to postgres-primary (<= 197 available); 6000 qps x 5 ms = 30
    # connections busy on average out of c = 50: utilization 0.6.
    r = seed_check()
    assert r.database == "production"
    assert r.host == "postgres-primary"
    assert r.pool_mode == "transaction"
    assert r.client_connections == 1000
    assert r.max_client_connections == 1000
    assert r.server_connections == 60
    assert r.usable_connections == 50
    assert r.host_server_connections == 60
    assert r.postgres_available == 197
    assert r.queue_location == "PgBouncer"
    assert r.offered_load == pytest.approx(30.0)
    assert r.utilization == pytest.approx(0.6)
    assert r.stable
    assert r.refused == ()
    assert r.ok
    # The one app user's pools for production and readonly (60 + 60) exceed max_user_connections.
    assert r.exceeded == ("server connections of one user over production, readonly <= max_user_connections",)
    assert r.max_safe_replicas == 100
    assert r.min_replicas == 4  # 30 busy connections need more than 3 pools of 10
    assert "max_client_conn" in r.binding


def test_bundled_example_frame() -> None:
    frame = seed_check().to_frame()
    assert list(frame.columns) == ["value", "limit", "unit", "status"]
    assert frame.loc[CLIENT_LIMIT, "value"] == 1000
    assert frame.loc[CLIENT_LIMIT, "limit"] == 1000
    assert frame.loc[CLIENT_LIMIT, "status"] == "ok"
    assert frame.loc[PRIMARY_LIMIT, "value"] == 60
    assert frame.loc[PRIMARY_LIMIT, "limit"] == 197
    assert frame.loc["clients queue in", "value"] == "PgBouncer"
    assert frame.loc["server connection utilization", "value"] == pytest.approx(0.6)
    assert frame.loc["largest safe replica count", "value"] == 100
    assert frame.loc["p99 wait in PgBouncer", "unit"] == "s"
    assert "MMc (exact)" in str(frame.loc["method", "value"])


# ---------------------------------------------------------------------------------------------
# Limits


def test_flags_client_connections_over_max_client_conn() -> None:
    r = seed_check(replicas=101)  # 1010 > 1000
    assert CLIENT_LIMIT in r.refused
    limit = next(lim for lim in r.limits if lim.name == CLIENT_LIMIT)
    assert (limit.value, limit.limit, limit.status) == (1010, 1000, "EXCEEDED")
    assert not r.ok
    assert r.max_safe_replicas == 100


def test_flags_pool_plus_reserve_over_max_db_connections() -> None:
    cfg = pgbouncer(
        "pool_mode = transaction",
        "default_pool_size = 95",
        "reserve_pool_size = 10",
        "max_db_connections = 100",
    )
    r = check_database_pools(cfg, postgres(200), replicas=10, pool_per_replica=20, read_qps=1000.0)
    assert MAX_DB_LIMIT in r.exceeded
    assert MAX_DB_LIMIT not in r.refused  # PgBouncer caps the pool: nothing is refused
    assert next(lim for lim in r.limits if lim.name == MAX_DB_LIMIT).status == "CAPPED"
    assert r.server_connections == 100  # min(95 + 10, 100)
    assert r.usable_connections == 95
    assert r.max_safe_replicas == 5  # 100 client connections / 20
    ok = pgbouncer("default_pool_size = 90", "reserve_pool_size = 10", "max_db_connections = 100")
    r_ok = check_database_pools(ok, postgres(200), replicas=1, pool_per_replica=20)
    assert MAX_DB_LIMIT not in r_ok.exceeded


def test_per_database_pool_size_is_used_and_named() -> None:
    cfg = pgbouncer("max_db_connections = 100", databases="app = host=db pool_size=120")
    r = check_database_pools(cfg, postgres(300), replicas=1, pool_per_replica=10)
    assert "app.pool_size + reserve_pool_size <= max_db_connections" in r.exceeded
    assert r.usable_connections == 100


def test_flags_server_connections_over_postgres_max_connections() -> None:
    # The seed's Deployment runs 3 PgBouncer pods: 3 x 60 = 180 <= 197; with 4 pods 240 > 197.
    assert seed_check(pgbouncer_instances=3).refused == ()
    r = seed_check(pgbouncer_instances=4)
    assert PRIMARY_LIMIT in r.refused
    assert r.host_server_connections == 240
    assert r.max_safe_replicas is None
    assert "no replica count is safe" in r.binding
    small = check_database_pools(PGBOUNCER, postgres(50), replicas=10, pool_per_replica=10)
    assert PRIMARY_LIMIT in small.refused  # 60 > 50 - 3


def test_databases_on_one_host_add_up() -> None:
    cfg = pgbouncer(
        "default_pool_size = 50",
        "reserve_pool_size = 10",
        databases="a = host=db dbname=x\nb = host=db dbname=y\nc = host=other",
    )
    r = check_database_pools(cfg, postgres(100), replicas=1, pool_per_replica=10, database="a")
    assert r.host_server_connections == 120  # a and b on host db; c elsewhere
    assert "server connections to db <= max_connections - superuser_reserved_connections" in r.refused


def test_session_pooling_needs_a_server_connection_per_client() -> None:
    cfg = pgbouncer("pool_mode = session", "default_pool_size = 20")
    r = check_database_pools(cfg, postgres(), replicas=5, pool_per_replica=5, read_qps=100.0, query_time=0.01)
    assert "client connections <= server connections (session pooling)" in r.refused  # 25 > 20
    assert r.wait_quantile == math.inf
    assert r.max_safe_replicas == 4  # 20 server connections / 5 per replica
    assert check_database_pools(cfg, postgres(), replicas=4, pool_per_replica=5).refused == ()


def test_unknown_database_and_invalid_parameters() -> None:
    with pytest.raises(ParameterError, match="known: production, readonly"):
        seed_check(database="analytics")
    cases: list[tuple[dict[str, object], str]] = [
        ({"replicas": 0}, "replicas"),
        ({"pool_per_replica": 1.5}, "pool_per_replica"),
        ({"pgbouncer_instances": 0}, "pgbouncer_instances"),
        ({"query_time": 0.0}, "query_time"),
        ({"read_qps": -1.0}, "read_qps"),
        ({"quantile": 1.0}, "quantile"),
    ]
    for kwargs, name in cases:
        with pytest.raises(ParameterError, match=name):
            seed_check(**kwargs)


# ---------------------------------------------------------------------------------------------
# Queueing equals the queue models


@pytest.mark.parametrize(
    ("kwargs", "model"),
    [
        # 6000 qps x 8 ms = 48 Erlangs on c = 50 per PgBouncer.
        ({"query_time": 0.008}, MMc(6000.0, 125.0, 50)),
        ({"query_time": 0.008, "include_reserve": True}, MMc(6000.0, 125.0, 60)),
        # Three PgBouncers share the load: 2000 qps x 24 ms = 48 Erlangs on each one's c = 50.
        ({"query_time": 0.024, "pgbouncer_instances": 3}, MMc(2000.0, 1 / 0.024, 50)),
        ({"query_time": 0.008, "service_scv": 0.5}, GGc(6000.0, 125.0, 50, 1.0, 0.5)),
        ({"query_time": 0.008, "quantile": 0.999}, MMc(6000.0, 125.0, 50)),
    ],
)
def test_pgbouncer_queue_equals_the_model(kwargs: dict[str, object], model: MMc | GGc) -> None:
    r = seed_check(**kwargs)
    q = r.quantile
    assert r.queue_location == "PgBouncer"
    assert r.utilization == pytest.approx(model.utilization, rel=1e-12)
    assert r.prob_wait == pytest.approx(model.prob_wait, rel=1e-12)
    assert r.mean_wait == pytest.approx(model.mean_wait, rel=1e-12)
    assert r.wait_quantile == pytest.approx(model.wait_quantile(q), rel=1e-12)
    assert r.wait_quantile > 0
    assert r.offered_load == pytest.approx(6000.0 * r.query_time)


def test_unstable_pgbouncer_queue() -> None:
    r = seed_check(query_time=0.010)  # 60 Erlangs on 50 connections
    assert r.utilization == pytest.approx(1.2)
    assert r.prob_wait == 1.0
    assert r.wait_quantile == math.inf
    assert r.mean_wait == math.inf
    assert not r.stable
    assert not r.ok
    assert r.max_safe_replicas is None
    assert "60 server connections needed on average, 50 usable" in r.binding
    assert r.to_frame().loc["server connection utilization", "status"] == "UNSTABLE"


def test_queue_in_the_application_pool_when_clients_are_fewer_than_server_connections() -> None:
    r = seed_check(replicas=4)  # 40 client connections < 50 server connections
    assert r.queue_location == "application pool"
    assert (r.prob_wait, r.mean_wait, r.wait_quantile) == (0.0, 0.0, 0.0)
    app = MMc(6000.0 / 4, 200.0, 10)  # one replica: 1500 qps on its 10 connections
    assert r.app_utilization == pytest.approx(app.utilization)  # 0.75
    assert r.app_wait_quantile == pytest.approx(app.wait_quantile(0.99), rel=1e-12)
    assert r.stable
    too_few = seed_check(replicas=3)  # 2000 qps x 5 ms = 10 Erlangs on 10 connections
    assert not too_few.stable
    assert too_few.app_wait_quantile == math.inf


def test_without_rates_only_limits_are_checked() -> None:
    r = check_database_pools(PGBOUNCER, POSTGRES, replicas=50, pool_per_replica=10)
    assert math.isnan(r.utilization)
    assert math.isnan(r.wait_quantile)
    assert r.stable
    assert r.max_safe_replicas == 100
    assert r.min_replicas == 1
    assert "connection limits only" in r.method


def test_readonly_database_goes_to_the_replica_host() -> None:
    r = seed_check(database="readonly", write_qps=None)  # 5000 qps x 5 ms = 25 Erlangs
    assert r.host == "postgres-replica"
    assert r.offered_load == pytest.approx(25.0)
    assert r.utilization == pytest.approx(0.5)


# ---------------------------------------------------------------------------------------------
# The largest safe replica count


HAND_PGBOUNCER = (
    "pool_mode = transaction",
    "max_client_conn = 250",
    "default_pool_size = 20",
    "reserve_pool_size = 5",
)


def hand_check(replicas: int) -> DatabasePoolCheck:
    return check_database_pools(
        pgbouncer(*HAND_PGBOUNCER),
        postgres(100, 3),
        replicas=replicas,
        pool_per_replica=8,
        read_qps=2400.0,
        write_qps=600.0,
        query_time=0.010,
        pgbouncer_instances=2,
    )


def test_largest_safe_replica_count_hand_worked() -> None:
    # Two PgBouncers, each max_client_conn = 250, default_pool_size = 20, reserve_pool_size = 5;
    # PostgreSQL max_connections = 100, superuser_reserved_connections = 3; 8 connections per replica;
    # 2400 + 600 = 3000 qps at 10 ms per query.
    #   clients:      R x 8 <= 2 x 250 = 500        ->  R <= floor(500 / 8) = 62  (62 x 8 = 496, 63 x 8 = 504)
    #   server side:  2 x (20 + 5) = 50 <= 100 - 3 = 97: fine whatever R is
    #   PgBouncer:    a = 3000 x 0.010 = 30 Erlangs on 2 x 20 = 40 connections: rho = 0.75 < 1, stable
    #   app pools:    (3000 / R) x 0.010 / 8 < 1    ->  R > 3.75, so R >= 4
    # Largest safe replica count: 62 (and 4 is the smallest stable one).
    r = hand_check(10)
    assert r.max_safe_replicas == 62
    assert r.min_replicas == 4
    assert r.host_server_connections == 50
    assert r.utilization == pytest.approx(0.75)
    assert r.binding == "max_client_conn: 500 client connections / 8 per replica"
    safe = [n for n in range(1, 80) if hand_check(n).ok]
    assert safe == list(range(4, 63))


def test_no_safe_count_when_pools_cannot_carry_the_load_within_max_client_conn() -> None:
    # max_client_conn = 20 allows 2 replicas of 10, but 30 Erlangs need at least 4 pools of 10.
    cfg = pgbouncer("pool_mode = transaction", "max_client_conn = 20", "default_pool_size = 50")
    r = check_database_pools(
        cfg, postgres(), replicas=2, pool_per_replica=10, read_qps=6000.0, query_time=0.005
    )
    assert r.max_safe_replicas is None
    assert "4 replicas are needed" in r.binding
    tiny = check_database_pools(cfg, postgres(), replicas=1, pool_per_replica=30)
    assert tiny.max_safe_replicas is None


@settings(max_examples=40, deadline=None)
@given(
    max_client_conn=st.integers(10, 400),
    pool=st.integers(1, 60),
    per_replica=st.integers(1, 30),
    instances=st.integers(1, 3),
    rate=st.floats(0.0, 5000.0),
)
def test_largest_safe_count_is_the_boundary(
    max_client_conn: int, pool: int, per_replica: int, instances: int, rate: float
) -> None:
    cfg = pgbouncer(
        "pool_mode = transaction", f"max_client_conn = {max_client_conn}", f"default_pool_size = {pool}"
    )
    pg = postgres(200)

    def check(replicas: int) -> DatabasePoolCheck:
        return check_database_pools(
            cfg,
            pg,
            replicas=replicas,
            pool_per_replica=per_replica,
            read_qps=rate,
            query_time=0.005,
            pgbouncer_instances=instances,
        )

    r = check(1)
    if r.max_safe_replicas is None:
        assert not any(check(n).ok for n in range(1, instances * max_client_conn // per_replica + 2))
    else:
        assert check(r.max_safe_replicas).ok
        assert not check(r.max_safe_replicas + 1).ok
        assert check(r.min_replicas).ok
        if r.min_replicas > 1:
            assert not check(r.min_replicas - 1).ok
