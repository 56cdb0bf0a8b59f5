"""Field types of the input schemas: numbers with a stated valid range, and strings with units.

Each factory returns an ``Annotated`` type for a pydantic model field.  The type checks the value
(units parsed by :mod:`capplan.units`), converts it to SI (seconds, bytes, fractions) and checks
the range; its JSON Schema states the same range and the field's description ends with it, so the
range is declared once.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from pydantic import Field, GetCoreSchemaHandler, GetJsonSchemaHandler
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import CoreSchema, core_schema

from capplan.units import parse_duration, parse_percent, parse_quantity, parse_size

__all__ = [
    "DURATION_PATTERN",
    "Checked",
    "Range",
    "duration",
    "file_name",
    "integer",
    "number",
    "percent",
    "quantity",
    "size",
]

#: A duration with a unit, as :func:`capplan.units.parse_duration` reads it ("50ms", "1h30m").
DURATION_PATTERN = (
    r"^\s*[+-]?\s*(([0-9]+(\.[0-9]*)?|\.[0-9]+)([eE][+-]?[0-9]+)?\s*"
    r"(ns|us|µs|μs|ms|sec|min|s|m|h|d|w|y|NS|US|MS|SEC|MIN|S|M|H|D|W|Y)\s*)+$"
)
_NUMBER_TEXT = r"^\s*[+-]?([0-9]+(\.[0-9]*)?|\.[0-9]+)([eE][+-]?[0-9]+)?\s*"
_PERCENT_PATTERN = _NUMBER_TEXT + r"%\s*$"
_BOUND_PATTERN = r"^\s*(<=|>=|<|>|≤|≥)?" + _NUMBER_TEXT[2:] + r"%\s*$"
_QUANTITY_PATTERN = _NUMBER_TEXT + r"(Ki|Mi|Gi|Ti|Pi|Ei|n|u|m|k|M|G|T|P|E)?\s*$"
_SIZE_PATTERN = _NUMBER_TEXT + r"[A-Za-z]*\s*$"


@dataclass(frozen=True)
class Range:
    """A valid range ``[low, high]`` (``(low, high]`` when ``low_open``) in ``unit``."""

    low: float
    high: float
    unit: str = ""
    low_open: bool = False

    def __str__(self) -> str:
        unit = f" {self.unit}" if self.unit else ""
        return f"{'(' if self.low_open else '['}{self.low:g}, {self.high:g}]{unit}"

    def check(self, number: float, original: Any) -> float:
        """``number`` if it lies in the range (not NaN), else a ``ValueError`` naming ``original``."""
        above = number > self.low if self.low_open else number >= self.low
        if not (above and number <= self.high):
            raise ValueError(f"{original!r} is outside the valid range {self}")
        return number

    def json_schema(self) -> dict[str, float]:
        low = "exclusiveMinimum" if self.low_open else "minimum"
        return {low: self.low, "maximum": self.high}


@dataclass(frozen=True, eq=False)
class Checked:
    """Metadata of an ``Annotated`` field: the function that checks and converts the value, and the
    field's JSON Schema (with its description)."""

    check: Callable[[Any], Any]
    schema: dict[str, Any]

    def __get_pydantic_core_schema__(self, source: Any, handler: GetCoreSchemaHandler) -> CoreSchema:
        return core_schema.no_info_plain_validator_function(self.check)

    def __get_pydantic_json_schema__(
        self, schema: CoreSchema, handler: GetJsonSchemaHandler
    ) -> JsonSchemaValue:
        return dict(self.schema)


def _typed(check: Callable[[Any], Any], schema: dict[str, Any], description: str, rng: Range) -> Checked:
    return Checked(check, {**schema, "description": f"{description} Valid range: {rng}."})


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def as_float(value: Any, what: str = "a number") -> float:
    """A YAML number, or a string PyYAML left unparsed (``1e9``, which YAML 1.1 reads as text)."""
    if isinstance(value, str) and re.fullmatch(_NUMBER_TEXT, value):
        value = float(value)
    if not _is_number(value):
        raise ValueError(f"must be {what}, got {value!r}")
    try:
        return float(value)
    except OverflowError:
        return math.inf


def number(low: float, high: float, description: str, *, unit: str = "", low_open: bool = False) -> Checked:
    """A real number in the range (a float in the model)."""
    rng = Range(low, high, unit, low_open)

    def check(value: Any) -> float:
        return rng.check(as_float(value), value)

    return _typed(check, {"type": "number", **rng.json_schema()}, description, rng)


def integer(low: int, high: int, description: str, *, strict: bool = False) -> Checked:
    """A whole number in the range; ``strict`` refuses ``8.0`` and text (Kubernetes' int32 fields)."""
    rng = Range(low, high)

    def check(value: Any) -> int:
        if strict and (isinstance(value, bool) or not isinstance(value, int)):
            raise ValueError(f"must be an integer, got {value!r}")
        number = as_float(value, "a whole number")
        if not (math.isinf(number) or number.is_integer()):
            raise ValueError(f"must be a whole number, got {value!r}")
        return int(rng.check(number, value))

    return _typed(check, {"type": "integer", **rng.json_schema()}, description, rng)


def duration(
    rng: Range, description: str, *, bare_seconds: bool, parse: Callable[[Any], float] = parse_duration
) -> Checked:
    """A duration with a unit (``"50ms"``), in seconds in the model.

    ``bare_seconds``: a bare number is seconds (and the schema says so); otherwise ``parse``
    refuses it.
    """

    def check(value: Any) -> float:
        if isinstance(value, bool) or not (isinstance(value, str) or _is_number(value)):
            raise ValueError(f"{value!r} is not a duration (e.g. '50ms')")
        seconds = as_float(value) if bare_seconds and _is_number(value) else parse(value)
        return rng.check(seconds, value)

    text: dict[str, Any] = {"type": "string", "pattern": DURATION_PATTERN}
    schema = {"anyOf": [text, {"type": "number", **rng.json_schema()}]} if bare_seconds else text
    unit = "A duration with a unit ('50ms', '2s', '1h30m'"
    unit += "; a bare number is seconds)." if bare_seconds else "; a bare number is an error)."
    return _typed(check, schema, f"{description} {unit}", rng)


def percent(
    rng: Range, description: str, *, bare_fraction: bool, parse: Callable[[Any], float] = parse_percent
) -> Checked:
    """A percentage (``"70%"``, ``"<0.1%"`` where bounds are allowed), a fraction in the model."""

    def check(value: Any) -> float:
        if isinstance(value, bool) or not (isinstance(value, str) or _is_number(value)):
            raise ValueError(f"{value!r} is not a percentage (e.g. '70%')")
        return rng.check(parse(value), value)

    text = {"type": "string", "pattern": _BOUND_PATTERN if not bare_fraction else _PERCENT_PATTERN}
    schema: dict[str, Any] = (
        {"anyOf": [text, {"type": "number", **rng.json_schema()}]} if bare_fraction else text
    )
    unit = "A percentage ('70%'"
    unit += "), or a fraction (0.7)." if bare_fraction else "; a bare number is an error)."
    return _typed(check, schema, f"{description} {unit}", rng)


def size(rng: Range, description: str) -> Checked:
    """A size (``"120Mi"``, ``"2gb"``; a bare number is bytes), bytes in the model."""

    def check(value: Any) -> float:
        if isinstance(value, bool) or not (isinstance(value, str) or _is_number(value)):
            raise ValueError(f"{value!r} is not a size (e.g. '120Mi')")
        return rng.check(parse_size(value), value)

    schema = {
        "anyOf": [{"type": "string", "pattern": _SIZE_PATTERN}, {"type": "number", **rng.json_schema()}]
    }
    return _typed(check, schema, f"{description} A size ('120Mi', '2gb'; a bare number is bytes).", rng)


def quantity(
    rng: Range,
    description: str,
    *,
    parse: Callable[[Any], float] = parse_quantity,
    what: str = "a Kubernetes quantity ('200m' = 0.2, '500Mi', 1)",
) -> Checked:
    """A Kubernetes quantity (``"200m"`` is 0.2, ``"500Mi"``, ``1``), a float in the model."""

    def check(value: Any) -> float:
        return rng.check(parse(value), value)

    schema = {
        "anyOf": [{"type": "string", "pattern": _QUANTITY_PATTERN}, {"type": "number", **rng.json_schema()}]
    }
    return _typed(check, schema, f"{description} {what[0].upper()}{what[1:]}.", rng)


def absent(description: str | None = None, **constraints: Any) -> Any:
    """The default of a key that may be left out: the model holds None then, while ``key: null``
    in a file is refused (the field's type has no None, so the schema does not allow it)."""
    return Field(None, description=description, **constraints)


def file_name(description: str) -> Any:
    """Metadata of a path field (``Annotated[str, file_name(...)]``): relative to the file naming it."""
    return Field(min_length=1, description=f"{description} A path relative to this file.")
