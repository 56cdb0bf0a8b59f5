"""Arrival-rate shapes on a uniform time grid: diurnal days, spikes, k6 ramp stages, CSV traces.

A :class:`Traffic` is the mean arrival rate (requests per second) in each interval of ``step``
seconds, starting at time 0.  Shapes compose: ``add_spike(diurnal(...), ...)``.  Rates must be
finite and non-negative; anything else raises :class:`~capplan.errors.ParameterError` naming the
parameter (and, for files, the row).
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike

from capplan._validate import FloatArray, nonnegative, positive
from capplan.errors import ParameterError, UnitError
from capplan.units import parse_duration

__all__ = ["Traffic", "add_spike", "constant", "diurnal", "from_csv", "k6_stages"]


@dataclass(frozen=True, eq=False)
class Traffic:
    """Mean arrival rate (1/s) per interval of ``step`` s; interval ``k`` is ``[k step, (k+1) step)``."""

    rate: FloatArray
    step: float
    name: str = "traffic"

    def __post_init__(self) -> None:
        step = float(positive("step", self.step))
        rate = np.ascontiguousarray(np.asarray(self.rate, dtype=np.float64).ravel())
        if rate.size == 0:
            raise ParameterError("rate is empty: give at least one interval")
        bad = ~np.isfinite(rate) | (rate < 0)
        if bad.any():
            i = int(np.argmax(bad))
            raise ParameterError(
                f"rate[{i}] (t={i * step:g} s) must be a finite non-negative arrival rate, "
                f"got {float(rate[i])!r}"
            )
        rate.setflags(write=False)
        object.__setattr__(self, "rate", rate)
        object.__setattr__(self, "step", step)

    @property
    def times(self) -> FloatArray:
        """Start of each interval, seconds."""
        return np.arange(self.rate.size, dtype=np.float64) * self.step

    @property
    def duration(self) -> float:
        """Total length, seconds."""
        return float(self.rate.size * self.step)

    @property
    def peak(self) -> float:
        """Highest interval rate, 1/s."""
        return float(self.rate.max())

    @property
    def mean(self) -> float:
        """Time-average rate, 1/s."""
        return float(self.rate.mean())

    def rate_at(self, t: ArrayLike) -> FloatArray:
        """The (piecewise-constant) rate at times ``t``; 0 outside ``[0, duration)``."""
        tt = np.asarray(t, dtype=np.float64)
        idx = np.floor(tt / self.step).astype(np.int64)
        inside = (idx >= 0) & (idx < self.rate.size)
        return np.where(inside, self.rate[np.clip(idx, 0, self.rate.size - 1)], 0.0)

    def to_frame(self) -> pd.DataFrame:
        """Columns ``time_s`` and ``arrival_rate``."""
        return pd.DataFrame({"time_s": self.times, "arrival_rate": self.rate})

    def __repr__(self) -> str:
        return (
            f"Traffic({self.name!r}, {self.rate.size} steps of {self.step:g} s, "
            f"mean {self.mean:.4g}/s, peak {self.peak:.4g}/s)"
        )


def _grid(duration: float, step: float) -> FloatArray:
    n = round(float(positive("duration", duration)) / float(positive("step", step)))
    if n < 1:
        raise ParameterError(f"duration={duration!r} is shorter than one step of {step!r} s")
    return (np.arange(n, dtype=np.float64) + 0.5) * step


def constant(rate: float, duration: float, *, step: float = 15.0) -> Traffic:
    """A flat rate for ``duration`` seconds."""
    lam = float(nonnegative("rate", rate))
    t = _grid(duration, step)
    return Traffic(np.full(t.size, lam), step, name=f"constant {lam:g}/s")


def diurnal(
    base: float,
    peak: float,
    *,
    days: float = 1.0,
    peak_hour: float = 14.0,
    sharpness: float = 2.0,
    step: float = 15.0,
) -> Traffic:
    """A daily cycle between ``base`` (at ``peak_hour - 12``) and ``peak`` (at ``peak_hour``).

    ``rate(t) = base + (peak - base) * ((1 + cos(2 pi (h - peak_hour) / 24)) / 2) ** sharpness``
    with ``h`` the hour of day; ``sharpness > 1`` narrows the busy hours.  Evaluated at each
    interval's midpoint.
    """
    lo = float(nonnegative("base", base))
    hi = float(nonnegative("peak", peak))
    if hi < lo:
        raise ParameterError(f"peak must be >= base ({lo:g}), got {hi:g}")
    k = float(positive("sharpness", sharpness))
    t = _grid(float(positive("days", days)) * 86400.0, step)
    hours = t / 3600.0
    shape = ((1.0 + np.cos(2.0 * np.pi * (hours - float(peak_hour)) / 24.0)) / 2.0) ** k
    return Traffic(lo + (hi - lo) * shape, step, name=f"diurnal {lo:g}-{hi:g}/s")


def add_spike(
    traffic: Traffic,
    start: float | str,
    duration: float | str,
    extra: float,
    *,
    rise: float | str = 60.0,
    fall: float | str = 60.0,
) -> Traffic:
    """``traffic`` plus a trapezoidal spike of ``extra`` requests/s (ramps ``rise`` and ``fall``).

    Times are seconds or duration strings (``"13h"``, ``"10m"``).  The spike is at full height
    from ``start + rise`` to ``start + rise + duration``.
    """
    t0 = _seconds("start", start)
    d = _seconds("duration", duration)
    up, down = _seconds("rise", rise), _seconds("fall", fall)
    h = float(nonnegative("extra", extra))
    mid = traffic.times + traffic.step / 2.0
    ramp_up = np.clip((mid - t0) / up, 0.0, 1.0) if up > 0 else (mid >= t0).astype(float)
    t_end = t0 + up + d
    ramp_down = np.clip(1.0 - (mid - t_end) / down, 0.0, 1.0) if down > 0 else (mid < t_end).astype(float)
    return Traffic(
        traffic.rate + h * np.minimum(ramp_up, ramp_down), traffic.step, name=f"{traffic.name} + spike"
    )


def k6_stages(
    stages: Iterable[Mapping[str, Any] | Sequence[Any]],
    *,
    rate_per_vu: float = 1.0,
    start_vus: float = 0.0,
    step: float = 15.0,
) -> Traffic:
    """The arrival rate of a k6 ``stages`` ramp: virtual users interpolated linearly per stage.

    Each stage is ``{"duration": "2m", "target": 100}`` (or a ``(duration, target)`` pair); the
    VU count moves linearly from the previous target to this one over the stage, as k6's
    ramping-VUs executor does.  A closed loop of VUs each sending a request then sleeping
    ``z`` seconds offers about ``1 / (z + response time)`` requests/s per VU: ``rate_per_vu``.
    """
    per_vu = float(positive("rate_per_vu", rate_per_vu))
    times = [0.0]
    vus = [float(nonnegative("start_vus", start_vus))]
    for i, s in enumerate(stages):
        if isinstance(s, Mapping):
            if "duration" not in s or "target" not in s:
                raise ParameterError(f"stages[{i}] needs 'duration' and 'target', got {dict(s)!r}")
            dur, target = s["duration"], s["target"]
        else:
            dur, target = s
        times.append(times[-1] + _seconds(f"stages[{i}].duration", dur))
        vus.append(float(nonnegative(f"stages[{i}].target", target)))
    if len(times) == 1:
        raise ParameterError("stages is empty")
    mid = _grid(times[-1], step)
    return Traffic(np.interp(mid, times, vus) * per_vu, step, name="k6 stages")


def from_csv(
    path: str | os.PathLike[str],
    *,
    time_column: str = "time_s",
    rate_column: str = "arrival_rate",
    step: float | None = None,
) -> Traffic:
    """A trace from a CSV file with a time column (seconds) and a rate column (requests/s).

    Rows must be in increasing time; each rate holds until the next row.  With ``step`` the
    trace is resampled (time-averaged) onto that grid; by default the rows must be evenly
    spaced and give the grid themselves.
    """
    try:
        df = pd.read_csv(path)
    except (OSError, pd.errors.ParserError, UnicodeDecodeError) as exc:
        raise ParameterError(f"{path}: cannot be read as CSV ({exc})") from None
    for col in (time_column, rate_column):
        if col not in df.columns:
            raise ParameterError(f"{path}: no column {col!r}; columns are {list(df.columns)}")
    t = pd.to_numeric(df[time_column], errors="coerce").to_numpy(dtype=np.float64)
    r = pd.to_numeric(df[rate_column], errors="coerce").to_numpy(dtype=np.float64)
    for column, values in ((time_column, t), (rate_column, r)):
        bad = ~np.isfinite(values)
        if bad.any():
            i = int(np.argmax(bad))
            raise ParameterError(
                f"{path}: row {i + 2}: {column} is not a finite number: {df[column].iloc[i]!r}"
            )
    neg = r < 0
    if neg.any():
        i = int(np.argmax(neg))
        raise ParameterError(f"{path}: row {i + 2}: {rate_column} must be non-negative, got {r[i]!r}")
    if t.size < 2:
        raise ParameterError(f"{path}: need at least two rows, got {t.size}")
    dt = np.diff(t)
    if (dt <= 0).any():
        i = int(np.argmax(dt <= 0))
        raise ParameterError(
            f"{path}: row {i + 3}: {time_column} must increase, got {t[i + 1]!r} after {t[i]!r}"
        )
    label = os.path.basename(os.fspath(path))
    if step is None:
        if not np.allclose(dt, dt[0], rtol=1e-9, atol=1e-9):
            raise ParameterError(f"{path}: rows are not evenly spaced in time; pass step= to resample")
        return Traffic(r, float(dt[0]), name=label)
    h = float(positive("step", step))
    edges = np.append(t, t[-1] + dt[-1]) - t[0]
    cum = np.concatenate(([0.0], np.cumsum(r * np.diff(edges))))
    grid = np.arange(0.0, edges[-1] + 1e-9, h)
    if grid.size < 2:
        raise ParameterError(f"{path}: the trace is shorter than step={h:g} s")
    area = np.interp(grid, edges, cum)
    return Traffic(np.diff(area) / h, h, name=label)


def _seconds(name: str, value: float | str) -> float:
    if isinstance(value, str):
        try:
            return parse_duration(value)
        except UnitError as exc:
            raise ParameterError(f"{name}: {exc}") from None
    return float(nonnegative(name, value))
