"""Read ``postgresql.conf`` (see :mod:`capplan.dbconfig`)."""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field

from capplan.dbconfig._common import _error, _integer, _read_source
from capplan.units import parse_duration, parse_size

__all__ = ["MEMORY_SETTINGS", "TIME_SETTINGS", "PostgresConfig", "load_postgresql_conf"]

# ---------------------------------------------------------------------------------------------
# PostgreSQL

_KB = 1024
_PAGE = 8 * _KB
_MB = 1024 * _KB

#: Memory settings and their base unit in bytes (a bare number counts base units); PostgreSQL 16.
MEMORY_SETTINGS: dict[str, int] = {
    "shared_buffers": _PAGE,
    "effective_cache_size": _PAGE,
    "wal_buffers": _PAGE,
    "temp_buffers": _PAGE,
    "work_mem": _KB,
    "maintenance_work_mem": _KB,
    "autovacuum_work_mem": _KB,
    "logical_decoding_work_mem": _KB,
    "max_stack_depth": _KB,
    "temp_file_limit": _KB,
    "max_wal_size": _MB,
    "min_wal_size": _MB,
    "wal_keep_size": _MB,
}
#: Time settings and their base unit (a bare number counts base units); PostgreSQL 16.
TIME_SETTINGS: dict[str, str] = {
    "statement_timeout": "ms",
    "lock_timeout": "ms",
    "idle_in_transaction_session_timeout": "ms",
    "idle_session_timeout": "ms",
    "deadlock_timeout": "ms",
    "log_min_duration_statement": "ms",
    "log_autovacuum_min_duration": "ms",
    "bgwriter_delay": "ms",
    "wal_writer_delay": "ms",
    "autovacuum_vacuum_cost_delay": "ms",
    "checkpoint_timeout": "s",
    "checkpoint_warning": "s",
    "autovacuum_naptime": "s",
    "tcp_keepalives_idle": "s",
    "tcp_keepalives_interval": "s",
    "authentication_timeout": "s",
}
_PER_SECOND = {"ms": 1000.0, "s": 1.0}
# Settings for which -1 is a legal special value ("auto" or "disabled"), typed as None.
_MINUS_ONE = frozenset(
    {
        "wal_buffers",
        "autovacuum_work_mem",
        "temp_file_limit",
        "log_min_duration_statement",
        "log_autovacuum_min_duration",
        "autovacuum_vacuum_cost_delay",
    }
)
_MEMORY_UNITS = ("B", "kB", "MB", "GB", "TB")
_TIME_UNITS = ("us", "ms", "s", "min", "h", "d")
_INT_MAX = 2**31 - 1
_QUANTITY = re.compile(
    r"(?P<number>[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?)\s*(?P<unit>[A-Za-z]*)", re.ASCII
)
_INCLUDES = frozenset({"include", "include_if_exists", "include_dir"})
_CONF_NAME = re.compile(
    r"[A-Za-z_\x80-\uffff][A-Za-z0-9_$\x80-\uffff]*(?:\.[A-Za-z_\x80-\uffff][A-Za-z0-9_$\x80-\uffff]*)?"
)
_CONF_STRING = re.compile(r"'(?:[^'\\\n]|\\.|'')*'")
_CONF_BARE = re.compile(r"[^\s#'=]+")
_ESCAPES = {"b": "\b", "f": "\f", "n": "\n", "r": "\r", "t": "\t"}


def _unquote(quoted: str) -> str:
    body = quoted[1:-1]
    out: list[str] = []
    i = 0
    while i < len(body):
        ch = body[i]
        if ch == "'" and body[i + 1 : i + 2] == "'":
            out.append("'")
            i += 2
        elif ch == "\\" and i + 1 < len(body):
            nxt = body[i + 1]
            out.append(_ESCAPES.get(nxt, nxt))
            i += 2
        else:
            out.append(ch)
            i += 1
    return "".join(out)


@dataclass(frozen=True)
class PostgresConfig:
    """A validated ``postgresql.conf``: connection limits, memory in bytes, timeouts in seconds.

    Attributes
    ----------
    max_connections : int
        Concurrent connections the server accepts (default 100).
    superuser_reserved_connections : int
        Slots of ``max_connections`` kept for superusers (default 3).
    reserved_connections : int
        Slots kept for roles with ``pg_use_reserved_connections`` (PostgreSQL 16; default 0).
    shared_buffers, effective_cache_size, work_mem, maintenance_work_mem : int
        Bytes (defaults 128 MB, 4 GB, 4 MB, 64 MB).
    wal_buffers : int or None
        Bytes; ``None`` for ``-1`` (automatic, the default).
    statement_timeout, lock_timeout, idle_in_transaction_session_timeout : float
        Seconds; ``0`` means disabled (the default).
    settings : mapping of str to str
        Every setting as written (names lower-cased, quotes removed).
    quantities : mapping of str to float or None
        Every memory (bytes) or time (seconds) setting present in the file, in SI units;
        ``None`` for ``-1`` where -1 means automatic or disabled.
    lines : mapping of str to int
        Line number of each setting.
    source : str
        The file (or ``<postgresql.conf text>``).
    """

    max_connections: int = 100
    superuser_reserved_connections: int = 3
    reserved_connections: int = 0
    shared_buffers: int = 128 * _MB
    effective_cache_size: int = 4 * 1024 * _MB
    work_mem: int = 4 * _MB
    maintenance_work_mem: int = 64 * _MB
    wal_buffers: int | None = None
    statement_timeout: float = 0.0
    lock_timeout: float = 0.0
    idle_in_transaction_session_timeout: float = 0.0
    settings: Mapping[str, str] = field(default_factory=dict, repr=False)
    quantities: Mapping[str, float | None] = field(default_factory=dict, repr=False)
    lines: Mapping[str, int] = field(default_factory=dict, repr=False)
    source: str = field(default="<postgresql.conf text>", repr=False)

    @property
    def available_connections(self) -> int:
        """Connections ordinary roles can open: ``max_connections - superuser_reserved_connections
        - reserved_connections``."""
        return self.max_connections - self.superuser_reserved_connections - self.reserved_connections


def _quantity(label: str, line: int, name: str, value: str) -> float | None:
    """A memory or time setting in SI units (bytes or seconds), rounded to the base unit as
    PostgreSQL rounds it; ``None`` for -1 where that means automatic / disabled."""
    memory = name in MEMORY_SETTINGS
    units = _MEMORY_UNITS if memory else _TIME_UNITS
    m = _QUANTITY.fullmatch(value.strip())
    if m is None or (m.group("unit") and m.group("unit") not in units):
        kind = "memory size" if memory else "duration"
        raise _error(
            label,
            line,
            name,
            f"{value!r} is not a {kind}: expected a number with one of the units {', '.join(units)} "
            "(case-sensitive), or a bare number in the setting's base unit",
        )
    number, unit = float(m.group("number")), m.group("unit")
    if number == -1 and not unit and name in _MINUS_ONE:
        return None
    if number < 0:
        raise _error(label, line, name, f"{value!r} is negative")
    if memory:
        base = MEMORY_SETTINGS[name]
        size = parse_size(f"{m.group('number')}{unit}") if unit else number * base  # kB/MB/... = 1024**k
        return _in_range(label, line, name, value, size / base) * base
    per_second = _PER_SECOND[TIME_SETTINGS[name]]
    seconds = parse_duration(f"{m.group('number')}{unit}") if unit else number / per_second
    return _in_range(label, line, name, value, seconds * per_second) / per_second


def _in_range(label: str, line: int, name: str, value: str, units: float) -> float:
    """A setting in its base unit, rounded as PostgreSQL rounds it; beyond INT_MAX is out of range
    (PostgreSQL refuses to start with such a value)."""
    if not units <= _INT_MAX:  # also inf and NaN
        raise _error(label, line, name, f"{value!r} is out of range: at most {_INT_MAX} of its base unit")
    return float(round(units))


def _parse_conf_line(label: str, number: int, line: str) -> tuple[str, str] | None:
    """``(name, value)`` of one postgresql.conf line, or None for a blank / comment line."""
    pos = 0
    n = len(line)

    def skip_space(i: int) -> int:
        while i < n and line[i].isspace():
            i += 1
        return i

    pos = skip_space(pos)
    if pos == n or line[pos] == "#":
        return None
    m = _CONF_NAME.match(line, pos)
    if m is None:
        raise _error(label, number, None, f"{line.strip()!r} is not a 'name = value' line")
    name = m.group(0).lower()
    pos = skip_space(m.end())
    if pos < n and line[pos] == "=":
        pos = skip_space(pos + 1)
    if pos == n or line[pos] == "#":
        raise _error(label, number, name, "no value given")
    if line[pos] == "'":
        s = _CONF_STRING.match(line, pos)
        if s is None:
            raise _error(label, number, name, f"unterminated quoted string {line[pos:].rstrip()!r}")
        value = _unquote(s.group(0))
        pos = s.end()
    else:
        b = _CONF_BARE.match(line, pos)
        if b is None:
            raise _error(label, number, name, f"cannot read a value from {line[pos:].rstrip()!r}")
        value = b.group(0)
        pos = b.end()
    pos = skip_space(pos)
    if pos < n and line[pos] != "#":
        raise _error(
            label,
            number,
            name,
            f"unexpected {line[pos:].rstrip()!r} after the value; quote values that contain spaces",
        )
    return name, value


def load_postgresql_conf(source: str | os.PathLike[str]) -> PostgresConfig:
    """Read and validate a ``postgresql.conf`` file (a path, or the file's text).

    Syntax as PostgreSQL reads it: one ``name = value`` per line (the ``=`` is optional), names
    case-insensitive, ``#`` starts a comment outside quotes, values are bare words and numbers
    (``256MB``, ``on``, ``0.9``) or single-quoted strings.  Memory settings use PostgreSQL's
    units ``B kB MB GB TB`` (powers of 1024) and time settings ``us ms s min h d``; a bare number
    is in the setting's base unit (:data:`MEMORY_SETTINGS`, :data:`TIME_SETTINGS`).  Values are
    rounded to the base unit, as PostgreSQL does.

    Unlike PostgreSQL, which silently keeps the last of duplicate settings, a setting given twice
    is an error here (the earlier line would be dead configuration); ``include`` directives are not
    followed and are an error too.  A Kubernetes manifest is read as YAML and ``postgresql.conf``
    taken from the ``data`` of its one ConfigMap, as :func:`~capplan.dbconfig.load_pgbouncer` does.

    Raises
    ------
    ConfigError
        (a ``ValueError``) naming file, line and setting: unreadable or non-UTF-8 file, no
        settings at all, a syntax error, a duplicate setting, a non-integer or negative connection
        count, a malformed memory size or duration, ``superuser_reserved_connections +
        reserved_connections >= max_connections``.

    Examples
    --------
    >>> cfg = load_postgresql_conf("max_connections = 200\\nshared_buffers = '256MB'\\n")
    >>> cfg.max_connections, cfg.available_connections, cfg.shared_buffers
    (200, 197, 268435456)
    """
    label, text = _read_source(source, "postgresql.conf", "load_postgresql_conf")
    settings, lines = _settings(label, text)
    quantities = {
        name: _quantity(label, lines[name], name, value)
        for name, value in settings.items()
        if name in MEMORY_SETTINGS or name in TIME_SETTINGS
    }
    max_connections, superuser, reserved = _connections(label, settings, lines)

    def memory(name: str, default: int) -> int:
        value = quantities.get(name, default)
        return default if value is None else int(value)

    def seconds(name: str) -> float:
        value = quantities.get(name, 0.0)
        return 0.0 if value is None else value

    wal = quantities.get("wal_buffers")
    return PostgresConfig(
        max_connections=max_connections,
        superuser_reserved_connections=superuser,
        reserved_connections=reserved,
        shared_buffers=memory("shared_buffers", 128 * _MB),
        effective_cache_size=memory("effective_cache_size", 4 * 1024 * _MB),
        work_mem=memory("work_mem", 4 * _MB),
        maintenance_work_mem=memory("maintenance_work_mem", 64 * _MB),
        wal_buffers=None if wal is None else int(wal),
        statement_timeout=seconds("statement_timeout"),
        lock_timeout=seconds("lock_timeout"),
        idle_in_transaction_session_timeout=seconds("idle_in_transaction_session_timeout"),
        settings=settings,
        quantities=quantities,
        lines=lines,
        source=label,
    )


def _settings(label: str, text: str) -> tuple[dict[str, str], dict[str, int]]:
    """Each setting's value and line; an ``include``, a setting given twice or none at all is an
    error."""
    settings: dict[str, str] = {}
    lines: dict[str, int] = {}
    for number, line in enumerate(text.splitlines(), start=1):
        parsed = _parse_conf_line(label, number, line)
        if parsed is None:
            continue
        name, value = parsed
        if name in _INCLUDES:
            raise _error(
                label, number, name, "include directives are not supported; merge the file into this one"
            )
        if name in settings:
            raise _error(
                label,
                number,
                name,
                f"set twice (first on line {lines[name]}); PostgreSQL would silently use the last one",
            )
        settings[name] = value
        lines[name] = number
    if not settings:
        raise _error(label, None, None, "the file is empty: no settings")
    return settings, lines


def _connections(label: str, settings: dict[str, str], lines: dict[str, int]) -> tuple[int, int, int]:
    """``max_connections``, ``superuser_reserved_connections`` and ``reserved_connections``, the
    reserved ones fewer than the maximum."""

    def integer(name: str, default: int, minimum: int) -> int:
        if name not in settings:
            return default
        return _integer(label, lines[name], name, settings[name], minimum=minimum, maximum=262143)

    max_connections = integer("max_connections", 100, 1)
    superuser = integer("superuser_reserved_connections", 3, 0)
    reserved = integer("reserved_connections", 0, 0)
    if superuser + reserved >= max_connections:
        key = next(
            (
                k
                for k in ("superuser_reserved_connections", "reserved_connections", "max_connections")
                if k in lines
            ),
            "max_connections",
        )
        raise _error(
            label,
            lines.get(key),
            key,
            f"superuser_reserved_connections ({superuser}) plus reserved_connections ({reserved}) must be "
            f"less than max_connections ({max_connections})",
        )
    return max_connections, superuser, reserved
