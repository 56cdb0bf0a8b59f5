"""Strict reading of numbers and JSON from users' files (the input layer's one number parser).

Python's own conversions accept more than a measurement file can mean: ``float("١٢٣")`` and
``int("١٢٣")`` read Arabic-Indic digits, ``float("1_000")`` reads underscores, ``float("1e400")``
is ``inf``, ``float(10**400)`` raises ``OverflowError``, ``json.loads`` gives up on an integer of
more than 4300 digits with a bare ``ValueError`` and on deep nesting with ``RecursionError``.
The helpers here accept ASCII decimal numbers only and turn every such case into a value the
caller can reject, or into the caller's own error type with the file named.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable
from typing import Any

__all__ = ["MAX_COUNT", "ascii_count", "ascii_float", "finite_json_number", "load_json"]

#: Largest count read from a file: integers up to 2**53 are exact in a float64.
MAX_COUNT = 2**53

_FLOAT = re.compile(r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")
_SPECIAL = {
    "nan": math.nan,
    "+nan": math.nan,
    "-nan": math.nan,
    "inf": math.inf,
    "+inf": math.inf,
    "-inf": -math.inf,
    "infinity": math.inf,
    "+infinity": math.inf,
    "-infinity": -math.inf,
}


def ascii_float(text: str, *, specials: bool = True) -> float | None:
    """The value of an ASCII decimal number (``-1.5e3``; ``NaN``/``+Inf`` when ``specials``), else
    ``None``.  Out-of-range magnitudes come back as ``inf`` (the caller decides whether that is an
    error); digits of other scripts, underscores and inner spaces are not numbers."""
    value = text.strip()
    if _FLOAT.fullmatch(value):
        return float(value)
    if specials:
        return _SPECIAL.get(value.lower())
    return None


def ascii_count(text: str) -> int | None:
    """A count written in ASCII digits, at most :data:`MAX_COUNT`; ``None`` otherwise."""
    value = text.strip()
    if not (value.isascii() and value.isdigit()) or len(value) > 16:
        return None
    count = int(value)
    return count if count <= MAX_COUNT else None


def _parse_int(text: str) -> int | float:
    """JSON integers of up to 15 digits stay ``int``; longer ones become floats (``inf`` past
    1e308), so a huge number is a value to reject rather than a conversion that raises."""
    digits = len(text.lstrip("-"))
    return int(text) if digits <= 15 else float(text)


def load_json(text: str, label: str, error: Callable[[str], Exception], *, first_line: int = 1) -> Any:
    """Decode JSON text; every failure (syntax, nesting too deep) raises ``error`` naming
    ``label`` and the line (counted from ``first_line``, for one line of a JSON-lines file) and
    column."""
    try:
        return json.loads(text, parse_int=_parse_int)
    except json.JSONDecodeError as exc:
        line = exc.lineno + first_line - 1
        raise error(
            f"{label}: line {line} column {exc.colno}: not valid JSON ({exc.msg}); truncated file?"
        ) from None
    except RecursionError:
        raise error(f"{label}: JSON nested too deeply") from None


def finite_json_number(
    value: Any, where: str, error: Callable[[str], Exception], *, nonnegative: bool = False
) -> float:
    """A JSON number (not a boolean) as a finite float (non-negative when asked), else ``error``."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise error(f"{where}: expected a number, got {value!r}")
    try:
        number = float(value)
    except OverflowError:  # an int past float range that did not come through load_json
        number = math.inf
    if not math.isfinite(number):
        raise error(f"{where}: expected a finite number, got {value!r}")
    if nonnegative and number < 0:
        raise error(f"{where}: must be non-negative, got {value!r}")
    return number
