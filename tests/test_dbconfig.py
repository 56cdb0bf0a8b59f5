"""Tests of capplan.dbconfig: the bundled pgbouncer.ini / postgresql.conf and every error case."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from capplan import CapplanError
from capplan.dbconfig import (
    ConfigError,
    PgBouncerConfig,
    PostgresConfig,
    load_pgbouncer,
    load_postgresql_conf,
)

ROOT = Path(__file__).parents[1]
PGBOUNCER_PATH = ROOT / "data" / "pgbouncer.ini"
POSTGRES_PATH = ROOT / "data" / "postgresql.conf"
CONFIGMAP_PATH = ROOT / "data" / "pgbouncer-configmap.yaml"
MB = 1024**2


def ini(*pgbouncer_lines: str, databases: str = "app = host=db port=5432 dbname=app") -> str:
    """A pgbouncer.ini with one database (line 2) and ``pgbouncer_lines`` from line 4 on."""
    return "[databases]\n" + databases + "\n[pgbouncer]\n" + "".join(f"{line}\n" for line in pgbouncer_lines)


def pgbouncer_error(source: str | Path) -> str:
    with pytest.raises(ValueError) as info:
        load_pgbouncer(source)
    assert isinstance(info.value, ConfigError)
    assert isinstance(info.value, CapplanError)
    return str(info.value)


def postgres_error(source: str | Path) -> str:
    with pytest.raises(ValueError) as info:
        load_postgresql_conf(source)
    assert isinstance(info.value, ConfigError)
    return str(info.value)


# ---------------------------------------------------------------------------------------------
# The bundled files


def test_bundled_pgbouncer_ini_has_the_seed_values() -> None:
    cfg = load_pgbouncer(PGBOUNCER_PATH)
    assert isinstance(cfg, PgBouncerConfig)
    assert cfg.pool_mode == "transaction"
    assert cfg.max_client_conn == 1000
    assert cfg.default_pool_size == 50
    assert cfg.min_pool_size == 10
    assert cfg.reserve_pool_size == 10
    assert cfg.max_db_connections == 100
    assert cfg.max_user_connections == 100
    assert cfg.listen_port == 5432
    # Not in the file: PgBouncer's defaults.
    assert cfg.reserve_pool_timeout == 5.0
    assert cfg.query_wait_timeout == 120.0
    assert list(cfg.databases) == ["production", "readonly"]
    prod, ro = cfg.databases["production"], cfg.databases["readonly"]
    assert (prod.host, prod.port, prod.dbname, prod.user) == ("postgres-primary", 5432, "production", None)
    assert (ro.host, ro.port, ro.dbname) == ("postgres-replica", 5432, "production")
    assert prod.params == {"host": "postgres-primary", "port": "5432", "dbname": "production"}
    assert cfg.settings["server_reset_query"] == "DISCARD ALL"
    assert cfg.settings["auth_file"] == "/etc/pgbouncer/userlist.txt"
    assert cfg.lines["default_pool_size"] == 14
    assert cfg.source == str(PGBOUNCER_PATH)
    assert cfg.pool_size_for("production") == 50
    assert cfg.reserve_pool_for("readonly") == 10
    assert cfg.max_db_connections_for("production") == 100
    assert cfg.pool_mode_for("readonly") == "transaction"


def seed_block(first_line: str) -> str:
    """The lines of the seed document's fenced block from ``first_line`` to the closing fence."""
    seeds = (parent / "shared" / "seeds" / "000_f2c9295a8072a7dc.txt" for parent in ROOT.resolve().parents)
    seed = next((path for path in seeds if path.exists()), None)
    if seed is None:
        pytest.skip("the seed document is not next to the project")
    lines = seed.read_text(encoding="utf-8").split("\n")
    start = lines.index(first_line)
    end = lines.index("```", start)
    return "\n".join(lines[start:end]) + "\n"


def test_bundled_pgbouncer_ini_is_the_seed_configmap_text() -> None:
    yaml = pytest.importorskip("yaml")
    configmap = next(yaml.safe_load_all(seed_block("# pgbouncer-performance.yaml")))
    assert PGBOUNCER_PATH.read_text(encoding="utf-8") == configmap["data"]["pgbouncer.ini"]


def test_bundled_configmap_is_the_seed_block() -> None:
    assert CONFIGMAP_PATH.read_text(encoding="utf-8") == seed_block("# pgbouncer-performance.yaml")


# ---------------------------------------------------------------------------------------------
# Kubernetes ConfigMaps


def test_configmap_and_deployment_give_the_plain_ini_settings() -> None:
    from_configmap = load_pgbouncer(CONFIGMAP_PATH)
    plain = load_pgbouncer(PGBOUNCER_PATH)
    assert from_configmap.source == f"{CONFIGMAP_PATH} (ConfigMap 'pgbouncer-config', pgbouncer.ini)"
    assert dataclasses.replace(from_configmap, source=plain.source) == plain
    alone = CONFIGMAP_PATH.read_text(encoding="utf-8").split("\n---\n")[0]  # the ConfigMap only
    assert dataclasses.replace(load_pgbouncer(alone), source=plain.source) == plain


def test_postgresql_conf_in_a_configmap() -> None:
    conf = POSTGRES_PATH.read_text(encoding="utf-8")
    body = "".join(f"    {line}\n" if line.strip() else "\n" for line in conf.splitlines())
    manifest = f"apiVersion: v1\nkind: ConfigMap\nmetadata: {{name: pg}}\ndata:\n  postgresql.conf: |\n{body}"
    from_configmap = load_postgresql_conf(manifest)
    assert from_configmap.source == "<postgresql.conf text> (ConfigMap 'pg', postgresql.conf)"
    plain = load_postgresql_conf(POSTGRES_PATH)
    assert dataclasses.replace(from_configmap, source=plain.source) == plain


def test_configmap_errors_name_the_file_and_the_configmap(tmp_path: Path) -> None:
    hpa = ROOT / "data" / "hpa.yaml"
    assert pgbouncer_error(hpa) == (
        f"{hpa}: no ConfigMap holds pgbouncer.ini in its data "
        "(the file has: kind: HorizontalPodAutoscaler 'performance-based-hpa')"
    )
    assert postgres_error(CONFIGMAP_PATH) == (
        f"{CONFIGMAP_PATH}: no ConfigMap holds postgresql.conf in its data "
        "(the file has: kind: ConfigMap 'pgbouncer-config'; kind: Deployment 'pgbouncer')"
    )
    configmap = CONFIGMAP_PATH.read_text(encoding="utf-8").split("\n---\n")[0]
    twice = tmp_path / "twice.yaml"
    twice.write_text(configmap + "\n---\n" + configmap.replace("pgbouncer-config", "other"))
    assert pgbouncer_error(twice).startswith(f"{twice}: 2 ConfigMaps hold pgbouncer.ini (the file has: ")
    bad = configmap.replace("default_pool_size = 50", "default_pool_size = fifty")
    assert pgbouncer_error(bad) == (
        "<pgbouncer.ini text> (ConfigMap 'pgbouncer-config', pgbouncer.ini): line 14: default_pool_size: "
        "'fifty' is not an integer"
    )
    number = "kind: ConfigMap\nmetadata: {name: pg}\ndata: {pgbouncer.ini: 5}\n"
    assert pgbouncer_error(number) == (
        "<pgbouncer.ini text> (ConfigMap 'pg', pgbouncer.ini): the value must be the file's text, got int"
    )
    dup = "kind: ConfigMap\ndata:\n  pgbouncer.ini: x\n  pgbouncer.ini: y\n"
    assert "line 4: data: key 'pgbouncer.ini' is given twice (lines 3 and 4)" in pgbouncer_error(dup)


def test_bundled_postgresql_conf_has_the_seed_values() -> None:
    cfg = load_postgresql_conf(POSTGRES_PATH)
    assert isinstance(cfg, PostgresConfig)
    assert cfg.max_connections == 200
    assert cfg.superuser_reserved_connections == 3
    assert cfg.reserved_connections == 0
    assert cfg.available_connections == 197
    assert cfg.shared_buffers == 256 * MB
    assert cfg.effective_cache_size == 1024 * MB
    assert cfg.work_mem == 8 * MB
    assert cfg.maintenance_work_mem == 128 * MB  # the conf block's value, not the SET's '64MB'
    assert cfg.wal_buffers == 16 * MB
    assert cfg.statement_timeout == 30.0
    assert cfg.lock_timeout == 5.0
    assert cfg.idle_in_transaction_session_timeout == 600.0
    assert cfg.quantities["checkpoint_timeout"] == 600.0
    assert cfg.quantities["max_wal_size"] == 2 * 1024 * MB
    assert cfg.quantities["bgwriter_delay"] == pytest.approx(0.2)
    assert cfg.quantities["log_min_duration_statement"] == 1.0  # bare 1000 = milliseconds
    assert cfg.settings["wal_level"] == "replica"
    assert cfg.settings["statement_timeout"] == "30s"  # quotes removed
    assert cfg.settings["random_page_cost"] == "1.1"
    assert cfg.lines["max_connections"] > 0
    assert cfg.source == str(POSTGRES_PATH)


def test_text_and_str_paths_are_accepted() -> None:
    assert load_pgbouncer(str(PGBOUNCER_PATH)).max_client_conn == 1000
    text = PGBOUNCER_PATH.read_text(encoding="utf-8")
    assert load_pgbouncer(text).source == "<pgbouncer.ini text>"
    assert load_postgresql_conf("max_connections = 50").max_connections == 50


# ---------------------------------------------------------------------------------------------
# PgBouncer: parsing details


def test_pgbouncer_defaults_and_overrides() -> None:
    cfg = load_pgbouncer(
        ini(
            "max_db_connections = 0",
            "reserve_pool_timeout = 2.5",
            databases="app = host=db pool_size=30 reserve_pool=4 max_db_connections=40 pool_mode=session\n"
            "* = host=fallback",
        )
    )
    assert cfg.pool_mode == "session"  # PgBouncer's default
    assert cfg.max_client_conn == 100
    assert cfg.default_pool_size == 20
    assert cfg.max_db_connections is None  # 0 = unlimited
    assert cfg.max_user_connections is None
    assert cfg.reserve_pool_timeout == 2.5
    app = cfg.databases["app"]
    assert (app.pool_size, app.reserve_pool, app.max_db_connections, app.pool_mode) == (30, 4, 40, "session")
    assert app.dbname == "app"  # defaults to the entry's name
    assert cfg.pool_size_for("app") == 30
    assert cfg.reserve_pool_for("app") == 4
    assert cfg.max_db_connections_for("app") == 40
    assert cfg.databases["*"].host == "fallback"
    with pytest.raises(KeyError, match="known: app"):
        cfg.database("nope")


def test_pgbouncer_quoted_connection_values_and_uniform_indentation() -> None:
    text = (
        "    [databases]\n"
        "    app = host=db password='it''s a secret'\n"
        "    [pgbouncer]\n"
        "    pool_mode = statement\n"
    )
    cfg = load_pgbouncer(text)
    assert cfg.databases["app"].params["password"] == "it's a secret"
    assert cfg.pool_mode == "statement"


# ---------------------------------------------------------------------------------------------
# PgBouncer: errors name file, line and key


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (ini("default_pool_size = fifty"), "line 4: default_pool_size: 'fifty' is not an integer"),
        (ini("max_client_conn = 1.5"), "line 4: max_client_conn: '1.5' is not an integer"),
        (ini("max_db_connections = -5"), "line 4: max_db_connections: '-5' is negative"),
        (ini("reserve_pool_size = -1"), "line 4: reserve_pool_size: '-1' is negative"),
        (ini("max_client_conn = 0"), "line 4: max_client_conn: '0' is out of range"),
        (ini("pool_mode = fast"), "line 4: pool_mode: 'fast' is not a pool mode"),
        (
            ini("reserve_pool_timeout = soon"),
            "line 4: reserve_pool_timeout: 'soon' is not a number of seconds",
        ),
        (ini("query_wait_timeout = -1"), "line 4: query_wait_timeout: '-1' is negative"),
        (ini("listen_port = 70000"), "line 4: listen_port: '70000' is out of range"),
        (ini("max_client_conn = 5", "max_client_conn = 6"), "line 5: max_client_conn: duplicate key"),
        (ini("pool_mode = session", "POOL_MODE = session"), "line 5: POOL_MODE: duplicate key"),
        (ini(databases="app = host=db\napp = host=db2"), "line 3: app: duplicate key in [databases]"),
        (ini() + "[databases]\n", "line 4: section [databases] appears twice (first on line 1)"),
        (ini() + "[Databases]\n", "line 4: section [Databases] appears twice (first on line 1)"),
        (ini() + "[stats]\n", "line 4: unknown section [stats]"),
        ("[databases]\napp = host=db\n", "no [pgbouncer] section"),
        ("[pgbouncer]\npool_mode = session\n", "no [databases] section"),
        ("[databases]\n[pgbouncer]\n", "line 1: [databases] defines no database"),
        (
            "pool_mode = session\n[pgbouncer]\n",
            "line 1: 'pool_mode = session' comes before any section header",
        ),
        (ini("just some words"), "line 4: 'just some words' is not a 'key = value' line"),
        (ini("%include /etc/pgbouncer/extra.ini"), "line 4: %include is not supported"),
        (
            ini("max_client_conn = 5", "  default_pool_size = 3"),
            "line 4: max_client_conn: the value continues",
        ),
        (ini(databases="app = host=db port=abc"), "line 2: [databases] app: port: 'abc' is not an integer"),
        (ini(databases="app = host=db port=0"), "line 2: [databases] app: port: '0' is out of range"),
        (ini(databases="app = host=db pool_size=-2"), "line 2: [databases] app: pool_size: '-2' is negative"),
        (ini(databases="app = host=db pool_mode=fast"), "line 2: [databases] app: pool_mode: 'fast' is not"),
        (ini(databases="app = host=db colour=blue"), "line 2: [databases] app: colour: unknown connection"),
        (ini(databases="app = host=db host=db2"), "line 2: [databases] app: host: given twice"),
        (ini(databases="app = host=db 'oops'"), "line 2: [databases] app: cannot parse \"'oops'\""),
        (
            ini(databases="app = password='abc"),
            "line 2: [databases] app: password: unterminated quoted value",
        ),
        ("", "the file is empty"),
        ("# nothing but comments\n\n; and more\n", "the file is empty"),
    ],
)
def test_pgbouncer_errors(text: str, expected: str) -> None:
    message = pgbouncer_error(text)
    assert message.startswith("<pgbouncer.ini text>: ")
    assert expected in message


def test_pgbouncer_error_names_the_file(tmp_path: Path) -> None:
    path = tmp_path / "pgbouncer.ini"
    path.write_text(ini("default_pool_size = fifty"), encoding="utf-8")
    assert pgbouncer_error(path) == f"{path}: line 4: default_pool_size: 'fifty' is not an integer"


def test_pgbouncer_non_utf8_file(tmp_path: Path) -> None:
    path = tmp_path / "pgbouncer.ini"
    path.write_bytes(b"[databases]\napp = host=db\n[pgbouncer]\nauth_file = /etc/caf\xe9\n")
    message = pgbouncer_error(path)
    assert message.startswith(f"{path}: line 4: not UTF-8 text (byte 0xe9")


@pytest.mark.parametrize("content", [b"", b"\n\n", b"# comment only\n"])
def test_pgbouncer_empty_file(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "pgbouncer.ini"
    path.write_bytes(content)
    assert pgbouncer_error(path) == f"{path}: the file is empty: no [databases] or [pgbouncer] section"


def test_pgbouncer_missing_file_and_directory(tmp_path: Path) -> None:
    assert pgbouncer_error(tmp_path / "missing.ini") == f"{tmp_path / 'missing.ini'}: file not found"
    assert "is a directory" in pgbouncer_error(tmp_path)
    with pytest.raises(ConfigError, match="expects a path or the text"):
        load_pgbouncer(42)  # type: ignore[arg-type]


# ---------------------------------------------------------------------------------------------
# PostgreSQL: parsing details


def test_postgresql_units_quotes_and_defaults() -> None:
    cfg = load_postgresql_conf(
        "# comment\n"
        "Max_Connections 150          # '=' is optional, names are case-insensitive\n"
        "shared_buffers = 1000        # bare number: 8 kB pages\n"
        "work_mem = '1.5MB'\n"
        "maintenance_work_mem = '64 MB'\n"
        "statement_timeout = 1500     # bare number: milliseconds\n"
        "lock_timeout = '2min'\n"
        "idle_in_transaction_session_timeout = 1h\n"
        "wal_buffers = -1             # automatic\n"
        "application_name = 'it''s # not a comment'\n"
        "search_path = '\"$user\", public'\n"
    )
    assert cfg.max_connections == 150
    assert cfg.shared_buffers == 1000 * 8192
    assert cfg.work_mem == 1536 * 1024
    assert cfg.maintenance_work_mem == 64 * MB
    assert cfg.statement_timeout == 1.5
    assert cfg.lock_timeout == 120.0
    assert cfg.idle_in_transaction_session_timeout == 3600.0
    assert cfg.wal_buffers is None
    assert cfg.quantities["wal_buffers"] is None
    assert cfg.settings["application_name"] == "it's # not a comment"
    assert cfg.settings["search_path"] == '"$user", public'
    assert cfg.lines["statement_timeout"] == 6
    # Defaults of what the file leaves out (PostgreSQL 16).
    assert cfg.superuser_reserved_connections == 3
    assert cfg.effective_cache_size == 4096 * MB
    assert cfg.available_connections == 147


def test_postgresql_rounds_to_the_base_unit() -> None:
    cfg = load_postgresql_conf("statement_timeout = '1500us'\nwork_mem = '1000B'\n")
    assert cfg.statement_timeout == pytest.approx(0.002)  # 1.5 ms -> 2 ms
    assert cfg.work_mem == 1024  # 1000 B -> 1 kB


def test_reserved_connections_reduce_the_available_slots() -> None:
    cfg = load_postgresql_conf(
        "max_connections = 100\nsuperuser_reserved_connections = 5\nreserved_connections = 10\n"
    )
    assert cfg.available_connections == 85


# ---------------------------------------------------------------------------------------------
# PostgreSQL: errors name file, line and key


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("max_connections = lots\n", "line 1: max_connections: 'lots' is not an integer"),
        ("\nmax_connections = -5\n", "line 2: max_connections: '-5' is negative"),
        ("max_connections = 0\n", "line 1: max_connections: '0' is out of range"),
        ("superuser_reserved_connections = -1\n", "line 1: superuser_reserved_connections: '-1' is negative"),
        (
            "max_connections = 10\nsuperuser_reserved_connections = 10\n",
            "line 2: superuser_reserved_connections: superuser_reserved_connections (10) plus "
            "reserved_connections (0) must be less than max_connections (10)",
        ),
        ("shared_buffers = 256mb\n", "line 1: shared_buffers: '256mb' is not a memory size"),
        ("shared_buffers = 256MiB\n", "line 1: shared_buffers: '256MiB' is not a memory size"),
        ("work_mem = -4MB\n", "line 1: work_mem: '-4MB' is negative"),
        ("statement_timeout = '30 sec'\n", "line 1: statement_timeout: '30 sec' is not a duration"),
        ("statement_timeout = 5m\n", "line 1: statement_timeout: '5m' is not a duration"),
        ("lock_timeout = -1\n", "line 1: lock_timeout: '-1' is negative"),
        ("work_mem = 8 MB\n", "line 1: work_mem: unexpected 'MB' after the value"),
        ("work_mem = '8MB\n", "line 1: work_mem: unterminated quoted string"),
        ("work_mem =\n", "line 1: work_mem: no value given"),
        ("work_mem = # none\n", "line 1: work_mem: no value given"),
        ("= 5\n", "line 1: '= 5' is not a 'name = value' line"),
        (
            "max_connections = 100\nwork_mem = 4MB\nMAX_CONNECTIONS = 200\n",
            "line 3: max_connections: set twice",
        ),
        ("include 'other.conf'\n", "line 1: include: include directives are not supported"),
        ("", "the file is empty: no settings"),
        ("# all commented out\n#max_connections = 100\n", "the file is empty: no settings"),
        # found by tests/test_fuzz_inputs.py: Python's int() reads Arabic-Indic digits, float() 1e400 as inf
        ("max_connections = \u0661\u0662\u0663\n", "line 1: max_connections: '١٢٣' is not an integer"),
        ("work_mem = 1e400\n", "line 1: work_mem: '1e400' is out of range: at most 2147483647"),
        ("statement_timeout = 3000000000\n", "statement_timeout: '3000000000' is out of range"),
    ],
)
def test_postgresql_errors(text: str, expected: str) -> None:
    message = postgres_error(text)
    assert message.startswith("<postgresql.conf text>: ")
    assert expected in message


def test_postgresql_duplicate_names_both_lines() -> None:
    message = postgres_error("max_connections = 100\nwork_mem = 4MB\nmax_connections = 200\n")
    assert "line 3: max_connections: set twice (first on line 1)" in message


def test_postgresql_error_names_the_file(tmp_path: Path) -> None:
    path = tmp_path / "postgresql.conf"
    path.write_text("# settings\nshared_buffers = lots\n", encoding="utf-8")
    assert postgres_error(path).startswith(f"{path}: line 2: shared_buffers: 'lots' is not a memory size")


def test_postgresql_non_utf8_and_empty_files(tmp_path: Path) -> None:
    path = tmp_path / "postgresql.conf"
    path.write_bytes(b"max_connections = 100\n\xff\xfe = 1\n")
    assert postgres_error(path).startswith(f"{path}: line 2: not UTF-8 text (byte 0xff")
    path.write_bytes(b"")
    assert postgres_error(path) == f"{path}: the file is empty: no settings"


def test_a_pasted_blob_is_quoted_by_its_start_and_length() -> None:
    """An error quoting a 5,000-character value shows its start and length (fuzzing found messages
    of 4,000+ characters for a pasted line of brackets)."""
    message = postgres_error("work_mem = " + "[" * 5000 + "\n")
    assert len(message) < 500
    assert "characters)" in message
