"""Read ``pgbouncer.ini`` (see :mod:`capplan.dbconfig`)."""

from __future__ import annotations

import configparser
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal

from capplan.dbconfig._common import _error, _integer, _read_source, _seconds

__all__ = ["POOL_MODES", "DatabaseEntry", "PgBouncerConfig", "PoolMode", "load_pgbouncer"]

PoolMode = Literal["session", "transaction", "statement"]
#: PgBouncer's pool modes: when a server connection goes back to the pool.
POOL_MODES: tuple[PoolMode, ...] = ("session", "transaction", "statement")


def _pool_mode(label: str, line: int, key: str, value: str) -> PoolMode:
    text = value.strip()
    if text not in POOL_MODES:
        raise _error(
            label, line, key, f"{value!r} is not a pool mode; expected one of {', '.join(POOL_MODES)}"
        )
    return text


# ---------------------------------------------------------------------------------------------
# PgBouncer


@dataclass(frozen=True)
class DatabaseEntry:
    """One ``[databases]`` entry of ``pgbouncer.ini``: a name and its connection string.

    Per-database settings (``pool_size``, ``reserve_pool``, ``max_db_connections``, ``pool_mode``,
    ...) are ``None`` when the entry leaves them to the ``[pgbouncer]`` defaults.  ``host`` is
    ``None`` for a Unix socket; it may list several hosts separated by commas.
    """

    name: str
    host: str | None
    port: int
    dbname: str
    user: str | None
    pool_size: int | None
    min_pool_size: int | None
    reserve_pool: int | None
    max_db_connections: int | None
    pool_mode: PoolMode | None
    params: Mapping[str, str] = field(repr=False)
    line: int = field(repr=False)


@dataclass(frozen=True)
class PgBouncerConfig:
    """A validated ``pgbouncer.ini``; connection counts are per PgBouncer process.

    Attributes
    ----------
    databases : mapping of str to DatabaseEntry
        The ``[databases]`` section in file order (``"*"`` is the fallback entry).
    pool_mode : {"session", "transaction", "statement"}
        When a server connection returns to the pool (default ``"session"``).
    max_client_conn : int
        Client connections PgBouncer accepts (default 100).
    default_pool_size : int
        Server connections per (database, user) pool (default 20).
    min_pool_size : int
        Server connections kept open per pool when idle (default 0).
    reserve_pool_size : int
        Extra server connections a pool may open once a client has waited
        ``reserve_pool_timeout`` seconds (default 0, default timeout 5 s).
    max_db_connections, max_user_connections : int or None
        Caps on server connections per database (over all users) and per user (over all
        databases); ``None`` when unlimited (``0`` in the file, the default).
    query_wait_timeout : float
        Seconds a client may wait for a server connection before it is disconnected (default 120;
        0 = no limit).
    raw : mapping
        Every section as written: ``{section: {key: value}}`` (``[pgbouncer]`` keys lower-cased).
    lines : mapping of str to int
        Line number of each ``[pgbouncer]`` key.
    source : str
        The file (or ``<pgbouncer.ini text>``).
    """

    databases: Mapping[str, DatabaseEntry]
    pool_mode: PoolMode = "session"
    max_client_conn: int = 100
    default_pool_size: int = 20
    min_pool_size: int = 0
    reserve_pool_size: int = 0
    reserve_pool_timeout: float = 5.0
    max_db_connections: int | None = None
    max_user_connections: int | None = None
    query_wait_timeout: float = 120.0
    listen_port: int = 6432
    raw: Mapping[str, Mapping[str, str]] = field(default_factory=dict, repr=False)
    lines: Mapping[str, int] = field(default_factory=dict, repr=False)
    source: str = field(default="<pgbouncer.ini text>", repr=False)

    @property
    def settings(self) -> Mapping[str, str]:
        """The ``[pgbouncer]`` section as written (keys lower-cased, values stripped)."""
        return self.raw.get("pgbouncer", {})

    def database(self, name: str) -> DatabaseEntry:
        """The ``[databases]`` entry ``name``; raises ``KeyError`` listing the known names."""
        try:
            return self.databases[name]
        except KeyError:
            raise KeyError(
                f"no database {name!r} in [databases]; known: {', '.join(self.databases)}"
            ) from None

    # Effective per-database settings: the entry's own value, else the [pgbouncer] default.
    def pool_size_for(self, name: str) -> int:
        """Server connections of ``name``'s pool for one user (``pool_size`` or ``default_pool_size``)."""
        entry = self.database(name)
        return self.default_pool_size if entry.pool_size is None else entry.pool_size

    def reserve_pool_for(self, name: str) -> int:
        """Reserve connections of ``name``'s pool (``reserve_pool`` or ``reserve_pool_size``)."""
        entry = self.database(name)
        return self.reserve_pool_size if entry.reserve_pool is None else entry.reserve_pool

    def max_db_connections_for(self, name: str) -> int | None:
        """Cap on ``name``'s server connections over all users; ``None`` when unlimited."""
        entry = self.database(name)
        if entry.max_db_connections is None:
            return self.max_db_connections
        return entry.max_db_connections or None

    def pool_mode_for(self, name: str) -> PoolMode:
        """Pool mode of ``name`` (its own ``pool_mode`` or the ``[pgbouncer]`` one)."""
        entry = self.database(name)
        return self.pool_mode if entry.pool_mode is None else entry.pool_mode


_SECTION_LINE = re.compile(r"^\[(?P<name>.+)\]")
_KNOWN_SECTIONS = ("databases", "pgbouncer", "users", "peers")

_DB_INT_PARAMS: dict[str, tuple[int, int | None]] = {
    "port": (1, 65535),
    "pool_size": (0, None),
    "min_pool_size": (0, None),
    "reserve_pool": (0, None),
    "reserve_pool_size": (0, None),
    "max_db_connections": (0, None),
    "max_db_client_connections": (0, None),
    "server_lifetime": (0, None),
}
_DB_TEXT_PARAMS = (
    "dbname",
    "host",
    "user",
    "password",
    "auth_user",
    "auth_dbname",
    "auth_query",
    "client_encoding",
    "datestyle",
    "timezone",
    "connect_query",
    "application_name",
    "load_balance_hosts",
)
_DB_PARAMS = (*_DB_TEXT_PARAMS, *_DB_INT_PARAMS, "pool_mode")
_CONN_PAIR = re.compile(r"\s*(?P<key>[A-Za-z_][A-Za-z0-9_]*)\s*=\s*(?P<value>'(?:[^'\\]|\\.|'')*'|[^\s']*)")


class _IniParser(configparser.ConfigParser):
    """configparser as PgBouncer reads ini files: case-preserving keys, ``=`` only, no interpolation."""

    def __init__(self) -> None:
        super().__init__(
            interpolation=None,
            strict=True,
            delimiters=("=",),
            comment_prefixes=("#", ";"),
            inline_comment_prefixes=None,
            empty_lines_in_values=False,
            default_section="",  # a header "[]" cannot occur, so no section is special
        )

    def optionxform(self, optionstr: str) -> str:
        return optionstr


def _is_comment_or_blank(line: str) -> bool:
    stripped = line.strip()
    return not stripped or stripped.startswith(("#", ";"))


def _ini_index(lines: list[str]) -> tuple[dict[str, int], dict[tuple[str, str], int]]:
    """First line of each section header and of each (section, key), as written."""
    sections: dict[str, int] = {}
    keys: dict[tuple[str, str], int] = {}
    section = ""
    for number, line in enumerate(lines, start=1):
        if _is_comment_or_blank(line):
            continue
        stripped = line.strip()
        m = _SECTION_LINE.match(stripped)
        if m:
            section = m.group("name")
            sections.setdefault(section, number)
        elif "=" in stripped:
            keys.setdefault((section, stripped.split("=", 1)[0].strip()), number)
    return sections, keys


def _parse_connection_string(label: str, line: int, name: str, text: str) -> DatabaseEntry:
    where = f"[databases] {name}"
    params: dict[str, str] = {}
    pos = 0
    text = text.strip()
    while pos < len(text):
        m = _CONN_PAIR.match(text, pos)
        if m is None or m.end() == pos:
            raise _error(label, line, where, f"cannot parse {text[pos:].strip()!r}: expected key=value pairs")
        key, value = m.group("key"), m.group("value")
        if not value and text[m.end() : m.end() + 1] == "'":
            raise _error(label, line, f"{where}: {key}", f"unterminated quoted value {text[m.end() :]!r}")
        if value.startswith("'"):
            value = re.sub(r"\\(.)", r"\1", value[1:-1].replace("''", "'"))
        if key not in _DB_PARAMS:
            raise _error(
                label,
                line,
                f"{where}: {key}",
                f"unknown connection parameter; expected one of {', '.join(_DB_PARAMS)}",
            )
        if key in params:
            raise _error(label, line, f"{where}: {key}", "given twice in the connection string")
        params[key] = value
        pos = m.end()
        if pos < len(text) and not text[pos].isspace():
            raise _error(label, line, f"{where}: {key}", f"unexpected text {text[pos:]!r} after the value")
    ints = {
        key: _integer(label, line, f"{where}: {key}", params[key], minimum=lo, maximum=hi)
        for key, (lo, hi) in _DB_INT_PARAMS.items()
        if key in params
    }
    reserve = ints.get("reserve_pool", ints.get("reserve_pool_size"))
    mode: PoolMode | None = (
        _pool_mode(label, line, f"{where}: pool_mode", params["pool_mode"]) if "pool_mode" in params else None
    )
    return DatabaseEntry(
        name=name,
        host=params.get("host") or None,
        port=ints.get("port", 5432),
        dbname=params.get("dbname") or name,
        user=params.get("user") or None,
        pool_size=ints.get("pool_size"),
        min_pool_size=ints.get("min_pool_size"),
        reserve_pool=reserve,
        max_db_connections=ints.get("max_db_connections"),
        pool_mode=mode,
        params=params,
        line=line,
    )


def load_pgbouncer(source: str | os.PathLike[str]) -> PgBouncerConfig:
    """Read and validate a ``pgbouncer.ini`` file (a path, or the file's text).

    Parameters
    ----------
    source : str or path-like
        A path, or the text itself (a string with a newline, ``=`` or ``[`` is taken as text).  A
        Kubernetes manifest (its first line that is not a comment starts with ``apiVersion:``,
        ``kind:`` or ``---``) is read as YAML, and ``pgbouncer.ini`` taken from the ``data`` of its
        one ConfigMap; the label of errors and of :attr:`PgBouncerConfig.source` is then
        ``file (ConfigMap 'name', pgbouncer.ini)`` and lines count inside ``pgbouncer.ini``.

    Returns
    -------
    PgBouncerConfig

    Raises
    ------
    ConfigError
        (a ``ValueError``) naming file, line and key: unreadable or non-UTF-8 file, a manifest
        whose ConfigMaps hold no (or several) ``pgbouncer.ini``, empty file,
        syntax error, duplicate section or key, missing ``[databases]`` or ``[pgbouncer]``, an
        unknown section, a non-integer or negative count, an unknown ``pool_mode``, an unknown or
        malformed connection-string parameter.

    Examples
    --------
    >>> cfg = load_pgbouncer("[databases]\\napp = host=db\\n[pgbouncer]\\npool_mode = transaction\\n")
    >>> cfg.pool_mode, cfg.default_pool_size, cfg.databases["app"].host
    ('transaction', 20, 'db')
    """
    label, text = _read_source(source, "pgbouncer.ini", "load_pgbouncer")
    ini = _parse_ini(label, text)
    raw, section_names = _sections(label, ini)

    def line_of(section: str, key: str) -> int:
        written = section_names[section]
        for (sec, k), number in ini.key_lines.items():
            if sec == written and (k.lower() if section == "pgbouncer" else k) == key:
                return number
        return ini.section_lines.get(written, 0)  # pragma: no cover - every parsed key was indexed

    databases = {
        name: _parse_connection_string(label, line_of("databases", name), name, value)
        for name, value in raw["databases"].items()
    }
    if not databases:
        raise _error(
            label, ini.section_lines.get(section_names["databases"]), None, "[databases] defines no database"
        )
    settings = raw["pgbouncer"]
    return _config(label, databases, raw, {key: line_of("pgbouncer", key) for key in settings})


@dataclass(frozen=True)
class _Ini:
    """A parsed ``pgbouncer.ini``: the parser, and the line of each section header and key."""

    parser: configparser.ConfigParser
    section_lines: dict[str, int]
    key_lines: dict[tuple[str, str], int]


def _parse_ini(label: str, text: str) -> _Ini:
    """The file parsed as INI, each configparser error turned into one naming the line."""
    lines = text.splitlines()
    if all(_is_comment_or_blank(line) for line in lines):
        raise _error(label, None, None, "the file is empty: no [databases] or [pgbouncer] section")
    for number, line in enumerate(lines, start=1):
        if line.strip().startswith("%include"):
            raise _error(
                label, number, None, "%include is not supported; merge the included file into this one"
            )
    section_lines, key_lines = _ini_index(lines)
    parser = _IniParser()
    try:
        parser.read_string(text, source=label)
    except configparser.DuplicateSectionError as exc:
        first = section_lines.get(exc.section)
        raise _error(
            label, exc.lineno, None, f"section [{exc.section}] appears twice (first on line {first})"
        ) from None
    except configparser.DuplicateOptionError as exc:
        first = key_lines.get((exc.section, exc.option))
        raise _error(
            label, exc.lineno, exc.option, f"duplicate key in [{exc.section}] (first set on line {first})"
        ) from None
    except configparser.MissingSectionHeaderError as exc:
        raise _error(
            label,
            exc.lineno,
            None,
            f"{exc.line.strip()!r} comes before any section header such as [pgbouncer]",
        ) from None
    except configparser.ParsingError as exc:
        bad_line: int | None = exc.errors[0][0] if exc.errors else None
        shown = lines[bad_line - 1].strip() if bad_line is not None else ""
        raise _error(label, bad_line, None, f"{shown!r} is not a 'key = value' line") from None
    except configparser.Error as exc:  # pragma: no cover - every configparser error is handled above
        raise _error(label, None, None, str(exc)) from None
    return _Ini(parser, section_lines, key_lines)


def _sections(label: str, ini: _Ini) -> tuple[dict[str, dict[str, str]], dict[str, str]]:
    """Each known section's keys and values (``[pgbouncer]`` keys lower-cased), and each section's
    name as written; unknown, repeated or missing sections and repeated keys are errors."""
    raw: dict[str, dict[str, str]] = {}
    section_names: dict[str, str] = {}
    for written in ini.parser.sections():
        name = written.strip().lower()
        header_line = ini.section_lines.get(written)
        if name not in _KNOWN_SECTIONS:
            raise _error(
                label,
                header_line,
                None,
                f"unknown section [{written}]; expected [{'], ['.join(_KNOWN_SECTIONS)}]",
            )
        if name in section_names:
            first = ini.section_lines.get(section_names[name])
            raise _error(
                label, header_line, None, f"section [{written}] appears twice (first on line {first})"
            )
        section_names[name] = written
        raw[name] = _section_values(label, ini, written, lower=name == "pgbouncer")
    for required in ("databases", "pgbouncer"):
        if required not in raw:
            raise _error(
                label, None, None, f"no [{required}] section; PgBouncer needs [databases] and [pgbouncer]"
            )
    return raw, section_names


def _section_values(label: str, ini: _Ini, written: str, *, lower: bool) -> dict[str, str]:
    """The keys and values of section ``written`` (keys lower-cased if ``lower``): a continued value
    or a key repeated (in another case, if ``lower``) is an error."""
    values: dict[str, str] = {}
    for key, value in ini.parser.items(written):
        key_line = ini.key_lines.get((written, key))
        if "\n" in value:
            raise _error(
                label,
                key_line,
                key,
                "the value continues on an indented line; PgBouncer has no continuation lines "
                "(indent every line alike, or none)",
            )
        normalized = key.lower() if lower else key
        if normalized in values:
            first_line = min(
                n for (sec, k), n in ini.key_lines.items() if sec == written and k.lower() == normalized
            )
            raise _error(
                label,
                key_line,
                key,
                f"duplicate key in [{written}] (first set on line {first_line}; case is ignored)",
            )
        values[normalized] = value.strip()
    return values


def _config(
    label: str,
    databases: dict[str, DatabaseEntry],
    raw: dict[str, dict[str, str]],
    lines_of: dict[str, int],
) -> PgBouncerConfig:
    """The ``[pgbouncer]`` settings validated, with PgBouncer's defaults for those not set."""
    settings = raw["pgbouncer"]

    def integer(key: str, default: int, minimum: int = 0, maximum: int | None = None) -> int:
        if key not in settings:
            return default
        return _integer(label, lines_of[key], key, settings[key], minimum=minimum, maximum=maximum)

    def seconds(key: str, default: float) -> float:
        return _seconds(label, lines_of[key], key, settings[key]) if key in settings else default

    mode: PoolMode = (
        _pool_mode(label, lines_of["pool_mode"], "pool_mode", settings["pool_mode"])
        if "pool_mode" in settings
        else "session"
    )
    return PgBouncerConfig(
        databases=databases,
        pool_mode=mode,
        max_client_conn=integer("max_client_conn", 100, minimum=1),
        default_pool_size=integer("default_pool_size", 20),
        min_pool_size=integer("min_pool_size", 0),
        reserve_pool_size=integer("reserve_pool_size", 0),
        reserve_pool_timeout=seconds("reserve_pool_timeout", 5.0),
        max_db_connections=integer("max_db_connections", 0) or None,
        max_user_connections=integer("max_user_connections", 0) or None,
        query_wait_timeout=seconds("query_wait_timeout", 120.0),
        listen_port=integer("listen_port", 6432, minimum=1, maximum=65535),
        raw=raw,
        lines=lines_of,
        source=label,
    )
