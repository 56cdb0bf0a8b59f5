"""Parse human-written quantities into SI numbers: seconds, bytes, fractions, plain numbers.

This is the only place where strings such as ``"50ms"``, ``"2gb"``, ``"70%"`` or ``"200m"`` are
interpreted; everything downstream works with floats in SI units.

Conventions, following the tool each kind of value usually comes from:

* durations follow Go / Prometheus: ``ns us µs ms s m h d w y``, where ``m`` is *minutes*
  (``"2m"`` = 120 s); ``min`` is accepted too, and compounds such as ``"1h30m"`` add up;
* sizes follow Redis' ``maxmemory`` rules by default: ``kb``/``mb``/``gb``/``tb`` (any case) are
  powers of 1024, bare ``k``/``m``/``g``/``t`` powers of 1000, and the IEC ``Ki``/``Mi``/``Gi``/``Ti``
  (with or without ``B``) are always powers of 1024.  ``convention="si"`` makes ``KB``/``MB``/... powers
  of 1000 instead, for sources that mean kilobytes of 1000 bytes;
* percentages need a ``%`` sign; ``"<0.1%"`` is an upper bound and parses to its bound, 0.001
  (see :func:`parse_bound` to keep the direction);
* Kubernetes quantities: ``"200m"`` = 0.2, ``"500Mi"`` = 500 * 2**20, ``"1k"`` = 1000, ``"1e3"``;
* percentile labels (``p99.9``, Locust's ``99.9%``, k6's ``p(99.9)``) become quantiles rounded to
  12 digits (:func:`percentile_quantile`), so the same percentile from two sources is the same key.
"""

from __future__ import annotations

import math
import re
from typing import Literal

from capplan.errors import UnitError

__all__ = [
    "parse_bound",
    "parse_duration",
    "parse_percent",
    "parse_quantity",
    "parse_size",
    "percentile_quantile",
]

_NUMBER = r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?"

_DURATION_UNITS = {
    "ns": 1e-9,
    "us": 1e-6,
    "µs": 1e-6,
    "μs": 1e-6,
    "ms": 1e-3,
    "s": 1.0,
    "sec": 1.0,
    "m": 60.0,
    "min": 60.0,
    "h": 3600.0,
    "d": 86400.0,
    "w": 7 * 86400.0,
    "y": 365 * 86400.0,
}
_UNSIGNED = r"(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?"
_DURATION_PART = re.compile(
    rf"({_UNSIGNED})\s*(ns|us|µs|μs|ms|sec|min|s|m|h|d|w|y)", re.IGNORECASE | re.ASCII
)


def _check_text(kind: str, text: object) -> str:
    if not isinstance(text, str):
        raise UnitError(f"{text!r} is not a {kind}: expected a string such as {_EXAMPLES[kind]}")
    stripped = text.strip()
    if not stripped:
        raise UnitError(f"'' is not a {kind}: expected a string such as {_EXAMPLES[kind]}")
    return stripped


_EXAMPLES = {
    "duration": "'50ms', '5s', '2m', '1h30m'",
    "size": "'300KB', '2gb', '512Mi'",
    "percentage": "'70%' or '<0.1%'",
    "quantity": "'200m', '500Mi', '2'",
}


def _finite_number(kind: str, value: float, original: object) -> float:
    try:
        number = float(value)
    except OverflowError:
        number = math.inf
    if isinstance(value, bool) or not math.isfinite(number):
        raise UnitError(f"{original!r} is not a {kind}: the value must be a finite number")
    return number


def parse_duration(text: str | float) -> float:
    """Parse a duration such as ``"50ms"``, ``"5s"``, ``"2m"``, ``"10min"``, ``"1h30m"`` to seconds.

    ``m`` means minutes (Go, Prometheus, Kubernetes).  A number (int or float) is taken to be seconds
    already.  Negative durations are returned as given; callers that need positive values check.

    Raises
    ------
    UnitError
        (a ``ValueError``) naming the text if it is not a duration.

    Examples
    --------
    >>> parse_duration("50ms")
    0.05
    >>> parse_duration("1h30m")
    5400.0
    """
    if isinstance(text, (int, float)) and not isinstance(text, bool):
        return _finite_number("duration", text, text)
    s = _check_text("duration", text)
    pos = 0
    total = 0.0
    sign = 1.0
    if s[0] in "+-":
        sign = -1.0 if s[0] == "-" else 1.0
        s = s[1:].lstrip()
    matched = False
    while pos < len(s):
        m = _DURATION_PART.match(s, pos)
        if m is None:
            break
        # The alternation lists longer units first, so "5ms" is never read as "5m" + "s".
        unit = m.group(2).lower()
        total += float(m.group(1)) * _DURATION_UNITS["us" if unit in ("µs", "μs") else unit]
        pos = m.end()
        while pos < len(s) and s[pos] == " ":
            pos += 1
        matched = True
    if not matched or pos != len(s):
        raise UnitError(
            f"{text!r} is not a duration: expected a number with a unit, such as {_EXAMPLES['duration']}"
        )
    return _finite_number("duration", sign * total, text)


_SIZE = re.compile(rf"^({_NUMBER})\s*([a-zA-Z]*)$", re.ASCII)
_IEC = {"ki": 2**10, "mi": 2**20, "gi": 2**30, "ti": 2**40, "pi": 2**50}
_LETTER_POWER = {"k": 1, "m": 2, "g": 3, "t": 4, "p": 5}


def parse_size(text: str | float, *, convention: Literal["redis", "si"] = "redis") -> float:
    """Parse a size such as ``"300KB"``, ``"2gb"``, ``"256MB"``, ``"512Mi"`` to bytes.

    Parameters
    ----------
    text : str or number
        The size; a bare number is bytes.
    convention : {"redis", "si"}
        How to read ``KB``/``MB``/``GB``/``TB``: ``"redis"`` (default) reads them as powers of 1024
        and bare ``k``/``m``/``g`` as powers of 1000, exactly as Redis' configuration file does;
        ``"si"`` reads ``KB``/``MB``/... as powers of 1000.  ``Ki``/``Mi``/``KiB``/... are always
        powers of 1024.

    Examples
    --------
    >>> parse_size("2gb")
    2147483648.0
    >>> parse_size("512Mi")
    536870912.0
    >>> parse_size("300KB", convention="si")
    300000.0
    """
    if convention not in ("redis", "si"):
        raise UnitError(f"convention must be 'redis' or 'si', got {convention!r}")
    if isinstance(text, (int, float)) and not isinstance(text, bool):
        size = _finite_number("size", text, text)
        if size < 0:
            raise UnitError(f"{text!r} is not a size: sizes cannot be negative")
        return size
    s = _check_text("size", text)
    m = _SIZE.match(s)
    if m is None:
        raise UnitError(f"{text!r} is not a size: expected a number with a unit, such as {_EXAMPLES['size']}")
    value = float(m.group(1))
    unit = m.group(2).lower()
    if unit in ("", "b"):
        factor = 1.0
    elif unit in _IEC or (unit.endswith("ib") and unit[:-1] in _IEC):
        factor = float(_IEC[unit[:2]])
    elif len(unit) == 1 and unit in _LETTER_POWER:
        factor = 1000.0 ** _LETTER_POWER[unit]
    elif len(unit) == 2 and unit[1] == "b" and unit[0] in _LETTER_POWER:
        base = 1024.0 if convention == "redis" else 1000.0
        factor = base ** _LETTER_POWER[unit[0]]
    else:
        raise UnitError(
            f"{text!r} is not a size: unknown unit {m.group(2)!r}; use B, KB, MB, GB, KiB, Mi, ..."
        )
    if value < 0:
        raise UnitError(f"{text!r} is not a size: sizes cannot be negative")
    return _finite_number("size", value * factor, text)


_PERCENT = re.compile(rf"^(<=|>=|<|>|≤|≥)?\s*({_NUMBER})\s*%$", re.ASCII)


def parse_bound(text: str) -> tuple[str, float]:
    """Parse a percentage that may carry a bound, ``"<0.1%"`` -> ``("<", 0.001)``.

    The first element is ``""`` (a plain value), ``"<"``, ``"<="``, ``">"`` or ``">="``.
    """
    s = _check_text("percentage", text)
    m = _PERCENT.match(s)
    if m is None:
        raise UnitError(
            f"{text!r} is not a percentage: expected a number followed by '%', "
            f"such as {_EXAMPLES['percentage']}"
        )
    op = {"≤": "<=", "≥": ">="}.get(m.group(1) or "", m.group(1) or "")
    return op, _finite_number("percentage", float(m.group(2)) / 100.0, text)


def parse_percent(text: str | float) -> float:
    """Parse ``"70%"`` to 0.7; ``"<0.1%"`` (an upper bound) parses to its bound, 0.001.

    A float is taken to be a fraction already and must lie in [0, 1].

    Examples
    --------
    >>> parse_percent("70%")
    0.7
    >>> parse_percent("<0.1%")
    0.001
    """
    if isinstance(text, (int, float)) and not isinstance(text, bool):
        value = _finite_number("percentage", text, text)
        if not 0.0 <= value <= 1.0:
            raise UnitError(f"{text!r} is not a fraction in [0, 1]; write percentages as strings like '70%'")
        return value
    if not isinstance(text, str):
        raise UnitError(f"{text!r} is not a percentage: expected a string such as {_EXAMPLES['percentage']}")
    return parse_bound(text)[1]


_QUANTITY = re.compile(rf"^({_NUMBER})\s*(Ki|Mi|Gi|Ti|Pi|Ei|n|u|m|k|M|G|T|P|E)?$", re.ASCII)
_QUANTITY_SUFFIX = {
    None: 1.0,
    "n": 1e-9,
    "u": 1e-6,
    "m": 1e-3,
    "k": 1e3,
    "M": 1e6,
    "G": 1e9,
    "T": 1e12,
    "P": 1e15,
    "E": 1e18,
    "Ki": 2.0**10,
    "Mi": 2.0**20,
    "Gi": 2.0**30,
    "Ti": 2.0**40,
    "Pi": 2.0**50,
    "Ei": 2.0**60,
}


def parse_quantity(text: str | float) -> float:
    """Parse a Kubernetes resource quantity: ``"200m"`` = 0.2, ``"500Mi"``, ``"1k"``, ``"2"``.

    Suffixes are case-sensitive as in Kubernetes (``m`` milli, ``M`` mega).

    Examples
    --------
    >>> parse_quantity("200m")
    0.2
    >>> parse_quantity("500Mi")
    524288000.0
    """
    if isinstance(text, (int, float)) and not isinstance(text, bool):
        return _finite_number("quantity", text, text)
    s = _check_text("quantity", text)
    m = _QUANTITY.match(s)
    if m is None:
        raise UnitError(f"{text!r} is not a Kubernetes quantity: expected e.g. {_EXAMPLES['quantity']}")
    return _finite_number("quantity", float(m.group(1)) * _QUANTITY_SUFFIX[m.group(2)], text)


#: Digits a quantile keeps: 99.9 / 100 is 0.9990000000000001 in binary floating point.
QUANTILE_DIGITS = 12


def percentile_quantile(percent: float) -> float:
    """The quantile of a percentile label's number, ``99.9`` -> ``0.999``, rounded to 12 digits.

    Keys from different sources (an SLA's ``p99.9``, a Locust ``99.9%`` column, a k6 ``p(99.9)``)
    then compare equal.  The result must lie strictly inside (0, 1): ``99.99999999999999`` rounds
    to 1.0 and is refused.

    Raises
    ------
    UnitError
        The quantile is not strictly between 0 and 1 after rounding.
    """
    quantile = round(_finite_number("percentile", percent, percent) / 100.0, QUANTILE_DIGITS)
    if not 0.0 < quantile < 1.0:
        raise UnitError(
            f"percentile {percent!r} is quantile {quantile!r}: it must lie strictly between 0 and 1 "
            f"(at most {QUANTILE_DIGITS - 2} decimal places below 100)"
        )
    return quantile
