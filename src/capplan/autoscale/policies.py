"""Autoscaling policies to compare with the HPA: AWS target tracking, AWS step scaling, schedules.

* :class:`TargetTracking` -- Application Auto Scaling / EC2 Auto Scaling target tracking on average
  CPU: CloudWatch 1-minute datapoints; the scale-out alarm fires after ``scale_out_points`` (3)
  datapoints above the target, the scale-in alarm after ``scale_in_points`` (15) below 90% of
  it (the alarms the service creates for a target tracking policy, as CloudWatch shows them);
  capacity is added "proportional to the metric value as fast as it can":
  ``ceil(in_service * metric / target)``, applied only when it exceeds the capacity already
  asked for (warming pods count); scale-in waits for the scale-in cooldown (300 s), while a
  scale-out is never blocked by it.  (AWS, "Target tracking scaling policies for Application
  Auto Scaling", "How target tracking scaling works", and the ``ScaleInCooldown`` reference.)
* :class:`StepScaling` -- a CloudWatch alarm (threshold, evaluation periods) with step
  adjustments by how far the metric is beyond the threshold, ``ChangeInCapacity`` or
  ``PercentChangeInCapacity`` (AWS, "Step and simple scaling policies for Amazon EC2 Auto Scaling").
* :class:`Schedule` -- a replica count per time (scheduled actions, or a forecast turned into
  replicas by :func:`predictive_schedule`); as ``floor`` of an HPA it raises ``minReplicas`` over
  time, the way a cron that patches the HPA does.

These follow the documented behaviour, not AWS's internal code: alarm evaluation is on whole
1-minute periods and the metric is the per-pod CPU of serving pods.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from capplan._validate import FloatArray, nonnegative, positive
from capplan.autoscale.traffic import Traffic
from capplan.errors import ParameterError

__all__ = ["Schedule", "StepAdjustment", "StepScaling", "TargetTracking", "predictive_schedule"]

MODE_TARGET, MODE_STEP = 1, 2
# indices into the packed AWS parameter vector
A_MODE, A_PERIOD, A_TARGET, A_OUT_POINTS, A_IN_POINTS, A_IN_RATIO, A_IN_COOLDOWN = 0, 1, 2, 3, 4, 5, 6
A_MIN, A_MAX, A_HI, A_HI_POINTS, A_LO, A_LO_POINTS, A_PERCENT, A_OUT_COOLDOWN = 7, 8, 9, 10, 11, 12, 13, 14
_N_PARAMS = 15


def _count(name: str, value: int, low: int = 1) -> int:
    if isinstance(value, bool) or int(value) != value or value < low:
        raise ParameterError(f"{name} must be an integer >= {low}, got {value!r}")
    return int(value)


@dataclass(frozen=True)
class TargetTracking:
    """AWS target tracking on average CPU utilization (``target`` as a fraction, e.g. 0.7)."""

    target: float
    min_capacity: int = 1
    max_capacity: int = 100
    scale_in_cooldown: float = 300.0
    scale_out_points: int = 3
    scale_in_points: int = 15
    scale_in_ratio: float = 0.9
    period: float = 60.0

    def __post_init__(self) -> None:
        positive("target", self.target)
        _count("min_capacity", self.min_capacity)
        if _count("max_capacity", self.max_capacity) < self.min_capacity:
            raise ParameterError(
                f"max_capacity must be >= min_capacity ({self.min_capacity}), got {self.max_capacity}"
            )
        nonnegative("scale_in_cooldown", self.scale_in_cooldown)
        _count("scale_out_points", self.scale_out_points)
        _count("scale_in_points", self.scale_in_points)
        positive("scale_in_ratio", self.scale_in_ratio)
        positive("period", self.period)

    def packed(self, dt: float) -> tuple[FloatArray, FloatArray, FloatArray]:
        """Parameter vector and (empty) step tables for the kernel."""
        p = np.zeros(_N_PARAMS)
        p[A_MODE] = MODE_TARGET
        p[A_PERIOD] = _steps("period", self.period, dt)
        p[A_TARGET] = self.target * 100.0
        p[A_OUT_POINTS] = self.scale_out_points
        p[A_IN_POINTS] = self.scale_in_points
        p[A_IN_RATIO] = self.scale_in_ratio
        p[A_IN_COOLDOWN] = self.scale_in_cooldown / dt
        p[A_MIN], p[A_MAX] = self.min_capacity, self.max_capacity
        empty = np.zeros((0, 3))
        return p, empty, empty


@dataclass(frozen=True)
class StepAdjustment:
    """Add ``adjustment`` when ``lower <= metric - threshold < upper`` (percentage points of CPU)."""

    lower: float
    upper: float
    adjustment: float


@dataclass(frozen=True)
class StepScaling:
    """AWS step scaling on average CPU: a high alarm adding capacity and a low alarm removing it.

    Thresholds are CPU fractions (0.7); step bounds are in percentage points beyond the threshold
    (``StepAdjustment(0, 15, 1)`` adds one pod while CPU is 0-15 points above it).  Low-alarm
    adjustments are negative and their bounds are at or below 0.
    """

    high_threshold: float
    high_steps: Sequence[StepAdjustment]
    low_threshold: float
    low_steps: Sequence[StepAdjustment]
    min_capacity: int = 1
    max_capacity: int = 100
    high_points: int = 1
    low_points: int = 5
    percent: bool = False
    cooldown: float = 300.0
    period: float = 60.0
    _rows: tuple[FloatArray, FloatArray] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        positive("high_threshold", self.high_threshold)
        positive("low_threshold", self.low_threshold)
        if self.low_threshold >= self.high_threshold:
            raise ParameterError(
                f"low_threshold must be below high_threshold ({self.high_threshold}), "
                f"got {self.low_threshold}"
            )
        _count("min_capacity", self.min_capacity)
        if _count("max_capacity", self.max_capacity) < self.min_capacity:
            raise ParameterError(
                f"max_capacity must be >= min_capacity ({self.min_capacity}), got {self.max_capacity}"
            )
        _count("high_points", self.high_points)
        _count("low_points", self.low_points)
        nonnegative("cooldown", self.cooldown)
        positive("period", self.period)
        rows = []
        for name, steps, sign in (("high_steps", self.high_steps, 1), ("low_steps", self.low_steps, -1)):
            if not steps:
                raise ParameterError(f"{name} is empty: give at least one StepAdjustment")
            arr = np.array([(s.lower, s.upper, s.adjustment) for s in steps], dtype=np.float64)
            if (arr[:, 0] >= arr[:, 1]).any():
                raise ParameterError(f"{name}: each step needs lower < upper")
            if (np.sign(arr[:, 2]) != sign).any():
                raise ParameterError(f"{name}: adjustments must be {'positive' if sign > 0 else 'negative'}")
            rows.append(arr)
        object.__setattr__(self, "_rows", (rows[0], rows[1]))

    def packed(self, dt: float) -> tuple[FloatArray, FloatArray, FloatArray]:
        """Parameter vector and the high/low step tables for the kernel."""
        p = np.zeros(_N_PARAMS)
        p[A_MODE] = MODE_STEP
        p[A_PERIOD] = _steps("period", self.period, dt)
        p[A_MIN], p[A_MAX] = self.min_capacity, self.max_capacity
        p[A_HI], p[A_HI_POINTS] = self.high_threshold * 100.0, self.high_points
        p[A_LO], p[A_LO_POINTS] = self.low_threshold * 100.0, self.low_points
        p[A_PERCENT] = 1.0 if self.percent else 0.0
        p[A_IN_COOLDOWN] = self.cooldown / dt
        p[A_OUT_COOLDOWN] = self.cooldown / dt
        return p, self._rows[0], self._rows[1]


@dataclass(frozen=True, eq=False)
class Schedule:
    """Replicas per traffic interval (scheduled actions or a forecast); see :func:`predictive_schedule`."""

    replicas: np.ndarray
    name: str = "schedule"

    def __post_init__(self) -> None:
        r = np.asarray(self.replicas)
        if r.ndim != 1 or r.size == 0:
            raise ParameterError("replicas must be a non-empty 1-d array")
        if (~np.isfinite(r.astype(float))).any() or (r < 1).any() or (r != np.floor(r)).any():
            raise ParameterError("replicas must be integers >= 1")
        object.__setattr__(self, "replicas", r.astype(np.int64))

    def __repr__(self) -> str:
        return f"Schedule({self.name!r}, {self.replicas.min()}..{self.replicas.max()} replicas)"


def predictive_schedule(
    forecast: Traffic,
    per_pod_rate: float,
    *,
    lead: float = 300.0,
    window: float = 900.0,
    min_replicas: int = 1,
    max_replicas: int = 1_000,
) -> Schedule:
    """Replicas from a rate forecast: ``ceil(max forecast over the next window / per_pod_rate)``.

    The count for time ``t`` covers the forecast peak of ``[t, t + lead + window]`` so that pods
    started ``lead`` seconds ahead are ready for it (AWS predictive scaling launches capacity
    ahead of the forecast in the same spirit).  ``per_pod_rate`` is what a pod may carry at the
    utilization you plan for, e.g. ``0.7 * workload.capacity``.
    """
    rate = float(positive("per_pod_rate", per_pod_rate))
    ahead = round((float(nonnegative("lead", lead)) + float(nonnegative("window", window))) / forecast.step)
    r = forecast.rate
    padded = np.concatenate((r, np.full(ahead, r[-1])))
    windows = np.lib.stride_tricks.sliding_window_view(padded, ahead + 1)[: r.size]
    need = np.ceil(windows.max(axis=1) / rate - 1e-9)
    replicas = np.clip(need, _count("min_replicas", min_replicas), _count("max_replicas", max_replicas))
    return Schedule(replicas.astype(np.int64), name=f"forecast of {forecast.name}")


def _steps(name: str, seconds: float, dt: float) -> float:
    k = seconds / dt
    if abs(k - round(k)) > 1e-9 or round(k) < 1:
        raise ParameterError(f"{name}={seconds:g} s must be a whole number (>= 1) of steps of {dt:g} s")
    return float(round(k))
