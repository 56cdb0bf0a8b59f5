"""Load PgBouncer (``pgbouncer.ini``) and PostgreSQL (``postgresql.conf``) configuration files.

Input layer: these functions read untrusted text (no ``eval``), check every value they type, and
hand over plain numbers — connection counts, bytes, seconds.  The decision built on them is
:func:`capplan.sizing.database.check_database_pools`.

* :func:`load_pgbouncer` parses ``pgbouncer.ini`` with :mod:`configparser` (interpolation off,
  ``=`` as the only delimiter, ``#`` / ``;`` comment lines, as PgBouncer reads it).  Sections
  ``[databases]`` and ``[pgbouncer]`` are required, ``[users]`` and ``[peers]`` are kept raw.  Each
  ``[databases]`` entry is a libpq-style ``key=value`` connection string (``host=... port=...
  dbname=... pool_size=...``), parsed into a :class:`DatabaseEntry`.
* :func:`load_postgresql_conf` parses ``postgresql.conf`` syntax: ``name = value`` (the ``=`` is
  optional), ``#`` comments anywhere outside quotes, single-quoted strings with ``''`` or ``\\'``
  for a quote.  Memory settings take PostgreSQL's units ``B kB MB GB TB`` (powers of 1024,
  case-sensitive) and time settings ``us ms s min h d``; a bare number is in the setting's base
  unit (e.g. 8 kB pages for ``shared_buffers``, milliseconds for ``statement_timeout``), exactly as
  PostgreSQL reads it (PostgreSQL documentation, sec. 20.1 "Setting Parameters").

Both also take a Kubernetes manifest (one or several YAML documents, e.g. a ConfigMap and the
Deployment that mounts it) and read the file from the ``data`` of its ConfigMap
(``data: {pgbouncer.ini: |...}``); the YAML goes through :func:`capplan._yaml_input.load_yaml`.

Every problem raises :class:`ConfigError` (a ``ValueError``) naming the file, the line and the key,
e.g. ``pgbouncer.ini: line 12: default_pool_size: 'fifty' is not an integer``.

Defaults for settings a file leaves out are those of PgBouncer 1.2x and PostgreSQL 16
(``pgbouncer.ini`` and ``postgresql.conf`` reference pages).
"""

from capplan.dbconfig._common import ConfigError
from capplan.dbconfig.pgbouncer import POOL_MODES, DatabaseEntry, PgBouncerConfig, PoolMode, load_pgbouncer
from capplan.dbconfig.postgresql import MEMORY_SETTINGS, TIME_SETTINGS, PostgresConfig, load_postgresql_conf

__all__ = [
    "MEMORY_SETTINGS",
    "POOL_MODES",
    "TIME_SETTINGS",
    "ConfigError",
    "DatabaseEntry",
    "PgBouncerConfig",
    "PoolMode",
    "PostgresConfig",
    "load_pgbouncer",
    "load_postgresql_conf",
]
