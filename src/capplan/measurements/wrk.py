"""wrk and wrk2 console output (``wrk --latency ...`` saved to a file) as one result object.

wrk (``src/wrk.c``, 4.x) prints ``Running 10s test @ URL``, ``N threads and M connections``,
the thread statistics (``Latency avg stdev max +/-stdev``, ``Req/Sec ...``), with ``--latency``
a "Latency Distribution" of the 50/75/90/99th percentiles, then ``N requests in 10.00s, 409.69KB
read``, optionally ``Socket errors: connect c, read r, write w, timeout t`` and ``Non-2xx or 3xx
responses: n``, and ``Requests/sec:`` and ``Transfer/sec:``.  Times carry wrk's units (``us``,
``ms``, ``s``, and ``m``/``h`` for minutes and hours), sizes binary prefixes (``KB`` = 1024 B),
rates decimal ones (``1.05k``).  wrk2 prints its distribution as ``50.000%`` ... ``100.000%``
("HdrHistogram - Recorded Latency") and, with ``--latency``, the "Detailed Percentile
spectrum" that :func:`capplan.measurements.hdr.read_hdr_spectrum` reads; :func:`read_wrk` keeps
it in :attr:`WrkResult.spectrum`.

Everything is in SI units: seconds, requests per second, bytes.  A malformed or missing part
raises :class:`MeasurementError` naming the file and line; percentiles must be non-negative and
must not decrease.
"""

from __future__ import annotations

import math
import os
import re
from dataclasses import dataclass, field

import pandas as pd

from capplan._strict import MAX_COUNT, ascii_count, ascii_float
from capplan.measurements._common import MeasurementError, read_measurement
from capplan.measurements.hdr import spectrum_from_lines
from capplan.units import percentile_quantile

__all__ = ["WrkResult", "read_wrk"]

_TIME = {"ns": 1e-9, "us": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}
_METRIC = {"": 1.0, "k": 1e3, "M": 1e6, "G": 1e9, "T": 1e12, "P": 1e15}
_BINARY = {"": 1.0, "K": 1024.0, "M": 1024.0**2, "G": 1024.0**3, "T": 1024.0**4, "P": 1024.0**5}
_QUANTITY = re.compile(r"([-+]?[0-9.]+(?:[eE][-+]?[0-9]+)?|-?nan|-?inf)([A-Za-z]*)$", re.ASCII)
_RUNNING = re.compile(r"Running (\S+) test @ (\S+)")
_THREADS = re.compile(r"(\S+) threads and (\S+) connections")
_PERCENT = re.compile(r"(\S+)%\s+(\S+)$")
_REQUESTS = re.compile(r"(\S+) requests in (\S+), (\S+?)B? read$")
_SOCKET = re.compile(r"Socket errors: connect (\S+), read (\S+), write (\S+), timeout (\S+)$")


@dataclass(frozen=True)
class WrkResult:
    """One wrk / wrk2 run (seconds, requests per second, bytes).

    ``percentiles`` maps quantiles (0.5, 0.75, 0.9, 0.99 for wrk) to latencies; ``latency`` holds
    the thread statistics ``mean``, ``stdev``, ``max``; ``errors`` the socket errors
    (``connect``, ``read``, ``write``, ``timeout``) and ``non_2xx``; ``spectrum`` wrk2's detailed
    percentile spectrum when printed.
    """

    source: str
    url: str
    threads: int
    connections: int
    requests: int
    duration_s: float
    bytes_read: float
    throughput: float
    transfer_rate: float
    percentiles: dict[float, float]
    latency: dict[str, float] = field(default_factory=dict)
    errors: dict[str, int] = field(default_factory=dict)
    spectrum: pd.DataFrame | None = None

    def __repr__(self) -> str:
        p = ", ".join(f"p{q * 100:g}={v * 1e3:.4g} ms" for q, v in self.percentiles.items())
        return (
            f"WrkResult({self.requests} requests in {self.duration_s:g} s, "
            f"{self.throughput:.6g}/s, {p}, errors={sum(self.errors.values())})"
        )


def _quantity(where: str, text: str, units: dict[str, float], suffix: str = "") -> float:
    """``22.94ms`` / ``1.05k`` / ``409.69KB`` in SI units (``suffix`` is ``"B"`` for sizes)."""
    body = text.removesuffix(suffix) if suffix and text.endswith(suffix) else text
    m = _QUANTITY.match(body)
    value = ascii_float(m.group(1)) if m else None
    if m is None or value is None or m.group(2) not in units or math.isinf(value):
        raise MeasurementError(f"{where}: {text!r} is not a number with one of the units {sorted(units)}")
    return value * units[m.group(2)]


def _count(where: str, text: str) -> int:
    value = ascii_count(text)
    if value is None:
        raise MeasurementError(f"{where}: {text!r} is not a count (ASCII digits up to {MAX_COUNT})")
    return value


def _distribution(label: str, lines: list[str], start: int) -> dict[float, float]:
    """``50%  22.94ms`` rows after the "Latency Distribution" line at ``start``."""
    out: dict[float, float] = {}
    for i in range(start + 1, len(lines)):
        m = _PERCENT.match(lines[i].strip())
        if m is None:
            break
        where = f"{label}: line {i + 1}"
        pct = ascii_float(m.group(1), specials=False)
        if pct is None or not 0 < pct <= 100:
            raise MeasurementError(f"{where}: percentile {m.group(1)!r}% is not in (0, 100]")
        value = _quantity(where, m.group(2), _TIME)
        if not value >= 0:
            raise MeasurementError(f"{where}: latency {m.group(2)!r} is not a non-negative time")
        q = 1.0 if pct == 100 else percentile_quantile(pct)
        if out and (q <= max(out) or value < out[max(out)]):
            raise MeasurementError(f"{where}: percentiles and latencies must increase from row to row")
        out[q] = value
    if not out:
        raise MeasurementError(f"{label}: line {start + 1}: 'Latency Distribution' has no percentile rows")
    return out


def _stats(label: str, i: int, line: str) -> dict[str, float]:
    fields = line.split()
    if len(fields) != 5:
        raise MeasurementError(
            f"{label}: line {i + 1}: expected 'Latency avg stdev max +/-stdev', got {line!r}"
        )
    where = f"{label}: line {i + 1}"
    values = [_quantity(where, f, _TIME) for f in fields[1:4]]
    if not all(v >= 0 for v in values):
        raise MeasurementError(f"{where}: latency statistics must be non-negative, got {line!r}")
    return dict(zip(("mean", "stdev", "max"), values, strict=True))


@dataclass
class _Parts:
    """What the lines of a wrk run said, filled in as they are read."""

    url: str = ""
    threads: int = 0
    connections: int = 0
    latency: dict[str, float] = field(default_factory=dict)
    errors: dict[str, int] = field(default_factory=dict)
    percentiles: dict[float, float] | None = None
    requests: int | None = None
    duration_s: float = 0.0
    bytes_read: float = 0.0
    throughput: float | None = None
    transfer_rate: float | None = None


def _line(parts: _Parts, label: str, lines: list[str], i: int) -> None:
    line, where = lines[i].strip(), f"{label}: line {i + 1}"
    if m := _RUNNING.match(line):
        parts.url = m.group(2)
    elif m := _THREADS.fullmatch(line):
        parts.threads, parts.connections = _count(where, m.group(1)), _count(where, m.group(2))
    elif line.startswith("Latency ") and "Distribution" not in line:
        parts.latency = _stats(label, i, line)
    elif line.startswith("Latency Distribution") and parts.percentiles is None:
        parts.percentiles = _distribution(label, lines, i)
    elif m := _REQUESTS.fullmatch(line):
        parts.requests = _count(where, m.group(1))
        parts.duration_s = _quantity(where, m.group(2), _TIME)
        parts.bytes_read = _quantity(where, m.group(3) + "B", _BINARY, "B")
    elif m := _SOCKET.fullmatch(line):
        names = ("connect", "read", "write", "timeout")
        parts.errors.update({n: _count(where, v) for n, v in zip(names, m.groups(), strict=True)})
    elif line.startswith("Non-2xx or 3xx responses:"):
        parts.errors["non_2xx"] = _count(where, line.rsplit(":", 1)[1])
    elif line.startswith("Requests/sec:"):
        parts.throughput = _quantity(where, line.split(":", 1)[1].strip(), _METRIC)
    elif line.startswith("Transfer/sec:"):
        parts.transfer_rate = _quantity(where, line.split(":", 1)[1].strip(), _BINARY, "B")


def read_wrk(source: str | os.PathLike[str]) -> WrkResult:
    """Read wrk or wrk2 console output (a path, or the text).

    Raises
    ------
    MeasurementError
        Not wrk output (no ``requests in`` line, no ``Requests/sec`` or ``Transfer/sec``), a
        malformed number or unit, a negative figure, or percentiles that decrease (the message
        names the file and line).
    """
    label, text = read_measurement(source, caller="read_wrk", what="wrk output")
    lines = text.splitlines()
    parts = _Parts()
    for i in range(len(lines)):
        _line(parts, label, lines, i)
    if parts.requests is None or parts.throughput is None or parts.transfer_rate is None:
        raise MeasurementError(
            f"{label}: not wrk output: expected the lines 'N requests in T, S read', 'Requests/sec:' "
            "and 'Transfer/sec:'"
        )
    figures = {
        "duration": parts.duration_s,
        "Requests/sec": parts.throughput,
        "Transfer/sec": parts.transfer_rate,
    }
    figures["bytes read"] = parts.bytes_read
    for name, value in figures.items():
        if not value >= 0:
            raise MeasurementError(f"{label}: {name} must be non-negative, got {value!r}")
    return WrkResult(
        source=label,
        url=parts.url,
        threads=parts.threads,
        connections=parts.connections,
        requests=parts.requests,
        duration_s=parts.duration_s,
        bytes_read=parts.bytes_read,
        throughput=parts.throughput,
        transfer_rate=parts.transfer_rate,
        percentiles=parts.percentiles or {},
        latency=parts.latency,
        errors=parts.errors,
        spectrum=spectrum_from_lines(label, lines, 1e-3),
    )
