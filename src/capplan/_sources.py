"""Reading an input that is either a path or the file's literal text (the input layer's one reader)."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

__all__ = ["read_path", "read_text_source"]


def read_text_source(
    source: str | os.PathLike[str],
    *,
    is_text: Callable[[str], bool],
    caller: str,
    text_label: str,
    expects: str,
    what: str,
    error: Callable[[str], Exception],
) -> tuple[str, str]:
    """Return ``(label, text)``: a string ``is_text`` accepts is the content itself, else a path.

    Every failure raises ``error(message)`` naming the path: not found, a directory (``what`` names
    the kind of file expected), unreadable, or not UTF-8 (with the line and byte).  A leading BOM is
    dropped.  A source of the wrong type gets "``caller`` expects ``expects``, got ...".
    """
    if isinstance(source, os.PathLike):
        path = Path(source)
    elif not isinstance(source, str):
        raise error(f"{caller} expects {expects}, got {type(source).__name__}")
    elif is_text(source):
        return text_label, source.removeprefix("\ufeff")
    else:
        path = Path(source)
    return str(path), read_path(path, what=what, error=error)


def read_path(path: str | os.PathLike[str], *, what: str, error: Callable[[str], Exception]) -> str:
    """The UTF-8 text of a file (a leading BOM dropped); every failure raises ``error(message)``
    naming the path: not found, a directory (not ``what``), unreadable, or not UTF-8 (binary
    content included), with the line and byte."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise error(f"{path}: file not found") from None
    except IsADirectoryError:
        raise error(f"{path}: is a directory, not {what}") from None
    except OSError as exc:
        raise error(f"{path}: cannot be read ({exc.strerror})") from None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise error(
            f"{path}: line {line}: not UTF-8 text (byte 0x{data[exc.start]:02x} at offset {exc.start}: "
            f"{exc.reason}); expected {what}"
        ) from None
    return text.removeprefix("\ufeff")
