"""Shared by the PgBouncer and PostgreSQL readers: the error type, reading a path or text (or the
file inside a Kubernetes ConfigMap), typed values."""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from typing import Any

from capplan._sources import read_text_source
from capplan._yaml_input import describe_document, load_yaml, manifest_name
from capplan.errors import CapplanError, clipped

__all__ = ["ConfigError"]


class ConfigError(CapplanError, ValueError):
    """A PgBouncer or PostgreSQL configuration file is malformed; the message names file, line and key."""


# ---------------------------------------------------------------------------------------------
# Reading a path or literal text


def _looks_like_text(source: str) -> bool:
    """A string is file content (not a path) if it spans lines, is blank, or holds ``=`` or ``[``."""
    return "\n" in source or not source.strip() or "=" in source or source.lstrip().startswith("[")


def _read_source(source: str | os.PathLike[str], kind: str, caller: str) -> tuple[str, str]:
    """Return ``(label, text)`` for a path or the file's literal text; when that is a Kubernetes
    manifest, the text of the file named ``kind`` in the ``data`` of its ConfigMap."""
    label, text = read_text_source(
        source,
        is_text=_looks_like_text,
        caller=caller,
        text_label=f"<{kind} text>",
        expects=f"a path or the text of a {kind} file (or of a ConfigMap holding it)",
        what=f"a {kind} file",
        error=ConfigError,
    )
    return _from_configmap(label, text, kind) if _is_manifest(text) else (label, text)


_MANIFEST_START = re.compile(r"(---|apiVersion\s*:|kind\s*:)")


def _is_manifest(text: str) -> bool:
    """YAML, not an ini or conf file: the first line that is not blank or a comment starts with
    ``apiVersion:``, ``kind:`` or ``---`` (neither file format has such a line)."""
    for line in text.splitlines():
        stripped = line.strip()
        if stripped and not stripped.startswith(("#", ";")):
            return _MANIFEST_START.match(stripped) is not None
    return False


def _from_configmap(label: str, text: str, filename: str) -> tuple[str, str]:
    """``(label, text)`` of ``filename`` in the ``data`` of the one ConfigMap of a manifest (one
    or several YAML documents, e.g. the ConfigMap and the Deployment that mounts it)."""
    documents: list[Any] = load_yaml(text, label=label, error=ConfigError, multi=True)
    holders = [
        doc
        for doc in documents
        if isinstance(doc, Mapping)
        and doc.get("kind") == "ConfigMap"
        and isinstance(doc.get("data"), Mapping)
        and filename in doc["data"]
    ]
    if len(holders) != 1:
        found = "; ".join(describe_document(doc) for doc in documents[:5]) or "no document"
        count = "no ConfigMap holds {} in its data" if not holders else f"{len(holders)} ConfigMaps hold {{}}"
        raise ConfigError(f"{label}: {count.format(filename)} (the file has: {found})")
    name = manifest_name(holders[0])
    value = holders[0]["data"][filename]
    where = f"{label} (ConfigMap {name!r}, {filename})" if name is not None else f"{label} ({filename})"
    if not isinstance(value, str):
        raise ConfigError(f"{where}: the value must be the file's text, got {type(value).__name__}")
    return where, value


def _error(label: str, line: int | None, key: str | None, message: str) -> ConfigError:
    parts = [label]
    if line is not None:
        parts.append(f"line {line}")
    if key:
        parts.append(key)
    parts.append(clipped(message))
    return ConfigError(": ".join(parts))


_INT = re.compile(r"[+-]?\d+", re.ASCII)
_NUMBER = re.compile(r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?", re.ASCII)


def _integer(
    label: str, line: int, key: str, value: str, *, minimum: int = 0, maximum: int | None = None
) -> int:
    text = value.strip()
    if not _INT.fullmatch(text):
        raise _error(label, line, key, f"{value!r} is not an integer")
    number = int(text)
    if number < 0 and minimum >= 0:
        raise _error(label, line, key, f"{value!r} is negative; it must be >= {minimum}")
    if number < minimum or (maximum is not None and number > maximum):
        bound = f"between {minimum} and {maximum}" if maximum is not None else f">= {minimum}"
        raise _error(label, line, key, f"{value!r} is out of range; it must be {bound}")
    return number


def _seconds(label: str, line: int, key: str, value: str) -> float:
    text = value.strip()
    if not _NUMBER.fullmatch(text):
        raise _error(label, line, key, f"{value!r} is not a number of seconds")
    number = float(text)
    if number < 0:
        raise _error(label, line, key, f"{value!r} is negative; it must be >= 0 seconds")
    return number
