"""What the measurement readers share: their error type and the path-or-text reader."""

from __future__ import annotations

import csv
import math
import os

from capplan._sources import read_text_source
from capplan._strict import ascii_float
from capplan.errors import CapplanError

__all__ = ["MeasurementError", "csv_records", "number", "read_measurement"]


class MeasurementError(CapplanError, ValueError):
    """A measurement file or API answer is malformed; the message names the source and the line or key."""


def read_measurement(source: str | os.PathLike[str], *, caller: str, what: str) -> tuple[str, str]:
    """``(label, text)`` of a measurement given as a path or as the file's text (text has a newline)."""
    return read_text_source(
        source,
        is_text=lambda s: "\n" in s,
        caller=caller,
        text_label="<text>",
        expects="a path or the file's text",
        what=what,
        error=MeasurementError,
    )


def csv_records(
    label: str, text: str, required: tuple[str, ...]
) -> tuple[list[str], list[tuple[int, dict[str, str]]]]:
    """Header and ``(line number, row)`` pairs of a CSV text; every ``required`` column must exist.

    Raises :class:`MeasurementError` naming the file and line for an empty file, a missing
    column, or a row with a different number of fields than the header.
    """
    lines = text.splitlines()
    reader = csv.reader(lines)
    try:
        header = [h.strip() for h in next(reader)]
    except StopIteration:
        raise MeasurementError(f"{label}: empty file, expected a CSV header") from None
    except csv.Error as exc:
        raise MeasurementError(f"{label}: line 1: not CSV ({exc})") from None
    missing = [c for c in required if c not in header]
    if missing:
        raise MeasurementError(f"{label}: line 1: missing column(s) {missing}; header is {header}")
    rows: list[tuple[int, dict[str, str]]] = []
    try:
        for fields in reader:
            line = reader.line_num
            if not fields or all(not f.strip() for f in fields):
                continue
            if len(fields) != len(header):
                raise MeasurementError(
                    f"{label}: line {line}: {len(fields)} fields, the header has {len(header)}"
                )
            rows.append((line, dict(zip(header, fields, strict=True))))
    except csv.Error as exc:
        raise MeasurementError(f"{label}: line {reader.line_num}: not CSV ({exc})") from None
    return header, rows


_NA = {"", "n/a", "na", "nan"}


def number(
    label: str, line: int, column: str, text: str, *, allow_na: bool = True, finite: bool = True
) -> float:
    """A CSV field as a float; ``N/A`` and empty become NaN when ``allow_na``.

    Only ASCII decimal numbers are read (not ``1_000`` or other scripts' digits); a value out of
    float range, or ``inf`` unless ``finite`` is false, is an error naming the file, line and column.
    """
    value = text.strip()
    if value.lower() in _NA:
        if allow_na:
            return math.nan
        raise MeasurementError(f"{label}: line {line}: column {column!r} is empty")
    parsed = ascii_float(value)
    if parsed is None or math.isnan(parsed):
        raise MeasurementError(f"{label}: line {line}: column {column!r}: {text!r} is not a number")
    if finite and math.isinf(parsed):
        raise MeasurementError(f"{label}: line {line}: column {column!r}: {text!r} is not a finite number")
    return parsed
