"""wrk2 / HdrHistogram percentile spectra.

``wrk2 --latency`` (and any HdrHistogram ``outputPercentileDistribution``) prints a "Detailed
Percentile spectrum": rows ``Value Percentile TotalCount 1/(1-Percentile)`` followed by footer
lines ``#[Mean = ..., StdDeviation = ...]``, ``#[Max = ..., Total count = ...]``; the CSV variant
(``useCsvFormat``) has the header ``Value,Percentile,TotalCount,1/(1-Percentile)`` and writes
``Infinity`` in the last column (HdrHistogram documentation, ``AbstractHistogram.
outputPercentileDistribution``).  Values are in the producer's unit - milliseconds for wrk2 -
given by ``unit`` (seconds per value unit, default ``1e-3``).

:func:`read_hdr_spectrum` returns ``value`` (seconds), ``percentile`` (a fraction in [0, 1]) and
``count`` (cumulative); ``frame.attrs`` holds ``mean``, ``std``, ``max`` (seconds) and ``total``
when the footer is present.  ``value``/``count`` are cumulative bucket counts, so the frame can
go to :func:`capplan.fitting.fit_service_time_buckets` as ``le``/``count``.
"""

from __future__ import annotations

import math
import os
import re

import pandas as pd

from capplan._strict import MAX_COUNT, ascii_float
from capplan.errors import ParameterError
from capplan.measurements._common import MeasurementError, read_measurement

__all__ = ["read_hdr_spectrum", "spectrum_from_lines"]

_FOOTER = re.compile(r"([A-Za-z][A-Za-z ]*?)\s*=\s*([-+0-9.eE]+|inf|nan)", re.IGNORECASE)
_KEYS = {"Mean": "mean", "StdDeviation": "std", "Max": "max", "Total count": "total"}


def read_hdr_spectrum(source: str | os.PathLike[str], *, unit: float = 1e-3) -> pd.DataFrame:
    """Read a percentile spectrum (wrk2 ``--latency`` output, or an HdrHistogram text/CSV dump).

    Lines before the spectrum's header (wrk2's run summary) are ignored; the spectrum ends at the
    footer or at the first line that is not a row.

    Raises
    ------
    MeasurementError
        No spectrum header, a malformed row, a negative or non-finite value or count, percentiles
        outside [0, 1] or decreasing values or counts (the message names the file and line).
    """
    if not (math.isfinite(unit) and unit > 0):
        raise ParameterError(f"unit must be a positive number of seconds per value unit, got {unit!r}")
    label, text = read_measurement(source, caller="read_hdr_spectrum", what="a percentile spectrum")
    frame = spectrum_from_lines(label, text.splitlines(), unit)
    if frame is None:
        raise MeasurementError(f"{label}: no 'Value Percentile TotalCount' header of a percentile spectrum")
    return frame


def spectrum_from_lines(label: str, lines: list[str], unit: float) -> pd.DataFrame | None:
    """The spectrum in ``lines`` (see :func:`read_hdr_spectrum`), ``None`` when there is no header."""
    start = next(
        (
            i
            for i, ln in enumerate(lines)
            if ln.replace(",", " ").split()[:3] == ["Value", "Percentile", "TotalCount"]
        ),
        None,
    )
    if start is None:
        return None
    rows: list[tuple[float, float, float]] = []
    attrs: dict[str, float] = {}
    for i in range(start + 1, len(lines)):
        line = lines[i].strip()
        if not line:
            continue
        if line.startswith("#"):
            attrs.update(_footer(label, i + 1, line, unit))
            continue
        fields = line.replace(",", " ").split()
        if len(fields) != 4:
            if rows:
                break
            raise MeasurementError(
                f"{label}: line {i + 1}: expected 4 fields of a spectrum row, got {line!r}"
            )
        rows.append(_row(label, i + 1, fields, unit, rows[-1] if rows else None))
    if not rows:
        raise MeasurementError(f"{label}: the percentile spectrum has no rows")
    frame = pd.DataFrame(rows, columns=["value", "percentile", "count"])
    frame.attrs.update(attrs)
    return frame


def _row(
    label: str, line: int, fields: list[str], unit: float, previous: tuple[float, float, float] | None
) -> tuple[float, float, float]:
    value, pct, count = (ascii_float(f, specials=False) for f in fields[:3])
    if value is None or pct is None or count is None:
        raise MeasurementError(f"{label}: line {line}: not numbers: {' '.join(fields)!r}")
    if not (math.isfinite(value) and value >= 0 and 0 <= count <= MAX_COUNT):
        raise MeasurementError(
            f"{label}: line {line}: value and count must be finite and non-negative, got {' '.join(fields)!r}"
        )
    if not (0.0 <= pct <= 1.0):
        raise MeasurementError(f"{label}: line {line}: percentile {pct!r} outside [0, 1]")
    seconds = value * unit
    if previous is not None and (count < previous[2] or seconds < previous[0] or pct < previous[1]):
        raise MeasurementError(f"{label}: line {line}: values, percentiles and counts must not decrease")
    return (seconds, pct, count)


def _footer(label: str, line: int, text: str, unit: float) -> dict[str, float]:
    """``#[Mean = 1.016, StdDeviation = 0.411]``: the known keys, times in seconds."""
    out: dict[str, float] = {}
    for key, val in _FOOTER.findall(text):
        name = _KEYS.get(key.strip())
        if name is None:
            continue
        number = ascii_float(val, specials=False)
        if number is None or not (math.isfinite(number) and number >= 0):
            raise MeasurementError(
                f"{label}: line {line}: {key.strip()} = {val!r} is not a non-negative number"
            )
        out[name] = number if name == "total" else number * unit
    return out
