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

from capplan.errors import ParameterError
from capplan.measurements._common import MeasurementError, read_measurement

__all__ = ["read_hdr_spectrum"]

_FOOTER = re.compile(r"([A-Za-z][A-Za-z ]*?)\s*=\s*([-+0-9.eE]+|inf|nan)", re.IGNORECASE)
_KEYS = {"Mean": "mean", "StdDeviation": "std", "Max": "max", "Total count": "total"}


def read_hdr_spectrum(source: str | os.PathLike[str], *, unit: float = 1e-3) -> pd.DataFrame:
    """Read a percentile spectrum (wrk2 ``--latency`` output, or an HdrHistogram text/CSV dump).

    Lines before the spectrum's header (wrk2's run summary) are ignored; the spectrum ends at the
    footer or at the first line that is not a row.

    Raises
    ------
    MeasurementError
        No spectrum header, a malformed row, percentiles outside [0, 1] or decreasing counts
        (the message names the file and line).
    """
    if not (math.isfinite(unit) and unit > 0):
        raise ParameterError(f"unit must be a positive number of seconds per value unit, got {unit!r}")
    label, text = read_measurement(source, caller="read_hdr_spectrum", what="a percentile spectrum")
    lines = text.splitlines()
    start = next(
        (
            i
            for i, ln in enumerate(lines)
            if ln.replace(",", " ").split()[:3] == ["Value", "Percentile", "TotalCount"]
        ),
        None,
    )
    if start is None:
        raise MeasurementError(f"{label}: no 'Value Percentile TotalCount' header of a percentile spectrum")
    rows: list[tuple[float, float, float]] = []
    attrs: dict[str, float] = {}
    for i in range(start + 1, len(lines)):
        line = lines[i].strip()
        if not line:
            continue
        if line.startswith("#"):
            for key, val in _FOOTER.findall(line):
                if key.strip() in _KEYS:
                    attrs[_KEYS[key.strip()]] = float(val)
            continue
        fields = line.replace(",", " ").split()
        if len(fields) != 4:
            if rows:
                break
            raise MeasurementError(
                f"{label}: line {i + 1}: expected 4 fields of a spectrum row, got {line!r}"
            )
        try:
            value, pct, count = float(fields[0]), float(fields[1]), float(fields[2])
        except ValueError:
            raise MeasurementError(f"{label}: line {i + 1}: not numbers: {line!r}") from None
        if not (0.0 <= pct <= 1.0):
            raise MeasurementError(f"{label}: line {i + 1}: percentile {pct!r} outside [0, 1]")
        if rows and (count < rows[-1][2] or value * unit < rows[-1][0]):
            raise MeasurementError(f"{label}: line {i + 1}: values and counts must not decrease")
        rows.append((value * unit, pct, count))
    if not rows:
        raise MeasurementError(f"{label}: the percentile spectrum has no rows")
    frame = pd.DataFrame(rows, columns=["value", "percentile", "count"])
    for key in ("mean", "std", "max"):
        if key in attrs:
            attrs[key] *= unit
    frame.attrs.update(attrs)
    return frame
