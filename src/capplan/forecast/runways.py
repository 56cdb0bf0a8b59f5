"""Runway: the date the forecast load first exceeds what the fleet (or the autoscaler) can carry.

The plan sizes each operation class for its share of the throughput; its fleet carries up to
``headroom x rate`` of that class and still meets every target (latency percentiles, utilization,
after the failures checked) -- :attr:`capplan.sizing.ReplicaSizing.headroom`.  Divided by the
class's share of the throughput, that is the total throughput at which the class stops meeting its
targets (:func:`class_capacity`); the smallest over the classes is the fleet's.

With an HPA in the plan, the same for the class it scales at the manifest's ``maxReplicas``
(:attr:`capplan.plan.components.AutoscalingCheck.max_capacity`): the date the autoscaler, scaled
out as far as it may go, stops meeting the class's targets.

The crossing of a capacity by each forecast curve (median and the bounds of the 80% and 95%
prediction intervals) is the first step above it, interpolated linearly from the step before.  The
upper bounds cross first: their crossings are the early end of an interval for the date, the
lower bounds' the late end.  (Pointwise bands give an approximate interval for a first-passage
time; it is the usual reading of a fan chart.)
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from capplan.errors import ParameterError
from capplan.forecast.accuracy import Accuracy, evaluate
from capplan.forecast.model import Forecast, TrafficModel, fit_traffic

if TYPE_CHECKING:
    from capplan.plan.model import CapacityPlan

__all__ = ["CURVES", "PlanRunway", "Runway", "class_capacity", "plan_runway", "runway"]

#: Forecast curves in the order their crossings come: earliest (upper 95%) to latest (lower 95%).
CURVES = ("upper_95", "upper_80", "median", "lower_80", "lower_95")


@dataclass(frozen=True)
class Runway:
    """When each forecast curve first exceeds ``capacity`` (requests/s); None: not before ``end``."""

    label: str
    capacity: float
    crossings: dict[str, pd.Timestamp | None]
    start: pd.Timestamp
    end: pd.Timestamp

    @property
    def runs_out(self) -> pd.Timestamp | None:
        """The median forecast's crossing."""
        return self.crossings["median"]

    def describe(self) -> str:
        """One line: the median date and the 80% and 95% ranges."""

        def date(t: pd.Timestamp | None) -> str:
            return f"after {self.end:%Y-%m-%d}" if t is None else f"{t:%Y-%m-%d}"

        c = self.crossings
        head = (
            f"not within the horizon (to {self.end:%Y-%m-%d})"
            if self.runs_out is None
            else f"on {self.runs_out:%Y-%m-%d}"
        )
        return (
            f"{self.label}: {self.capacity:,.0f} requests/s runs out {head} "
            f"(80%: {date(c['upper_80'])} to {date(c['lower_80'])}; "
            f"95%: {date(c['upper_95'])} to {date(c['lower_95'])})"
        )


def _crossing(times: pd.DatetimeIndex, values: np.ndarray, capacity: float) -> pd.Timestamp | None:
    above = np.flatnonzero(values > capacity)
    if above.size == 0:
        return None
    i = int(above[0])
    if i == 0:
        return pd.Timestamp(times[0])
    v0, v1 = float(values[i - 1]), float(values[i])
    fraction = (capacity - v0) / (v1 - v0)
    return pd.Timestamp(times[i - 1] + (times[i] - times[i - 1]) * fraction)


def runway(forecast: Forecast, capacity: float, label: str = "fleet") -> Runway:
    """The crossings of ``capacity`` (requests/s) by each curve of ``forecast``."""
    cap = float(capacity)
    if not (np.isfinite(cap) and cap >= 0):
        raise ParameterError(f"capacity must be a rate >= 0 in requests/s, got {capacity!r}")
    frame = forecast.frame
    times = pd.DatetimeIndex(frame.index)
    crossings = {name: _crossing(times, frame[name].to_numpy(), cap) for name in CURVES}
    return Runway(label, cap, crossings, pd.Timestamp(times[0]), pd.Timestamp(times[-1]))


def class_capacity(plan: CapacityPlan) -> pd.DataFrame:
    """Per sized class: ``replicas``, ``share`` of the throughput, ``class_capacity`` (the class's
    own rate at which its planned replicas still meet every target), ``capacity`` (the total
    throughput at which that happens, ``class_capacity / share``) and the sizing's ``binding``."""
    rows = []
    for op_class, sizing in plan.replicas.items():
        share = plan.mix.get(op_class, 1.0)
        carried = sizing.headroom * sizing.arrival_rate
        rows.append(
            {
                "class": op_class,
                "replicas": sizing.replicas,
                "share": share,
                "class_capacity": carried,
                "capacity": carried / share,
                "binding": sizing.binding,
            }
        )
    if not rows:
        raise ParameterError(
            "plan: no operation class could be sized, so the fleet has no capacity to forecast against"
        )
    return pd.DataFrame(rows).set_index("class")


@dataclass(frozen=True, repr=False)
class PlanRunway:
    """Result of :func:`plan_runway`: the fitted model, the forecast, a runway per class and the
    fleet's (the earliest), the autoscaler's at its ``maxReplicas`` when the plan has an HPA, and
    the held-back accuracy when it was measured."""

    horizon: str
    model: TrafficModel
    forecast: Forecast
    capacities: pd.DataFrame
    classes: tuple[Runway, ...]
    accuracy: Accuracy | None
    autoscaler: Runway | None = None
    autoscaler_replicas: int | None = None

    @property
    def runways(self) -> tuple[Runway, ...]:
        """The classes' runways, then the autoscaler's."""
        return self.classes + (() if self.autoscaler is None else (self.autoscaler,))

    @property
    def fleet(self) -> Runway:
        """The binding class's runway (lowest capacity)."""
        return min(self.classes, key=lambda r: r.capacity)

    def to_frame(self) -> pd.DataFrame:
        """Per class (then the autoscaler at ``maxReplicas``): replicas, capacity (requests/s of
        the whole throughput) and the crossing date of every curve."""
        frame = self.capacities[["replicas", "capacity"]].copy()
        if self.autoscaler is not None:
            row = pd.DataFrame(
                {"replicas": [self.autoscaler_replicas], "capacity": [self.autoscaler.capacity]},
                index=pd.Index([self.autoscaler.label], name=frame.index.name),
            )
            frame = pd.concat([frame, row])
        for name in CURVES:
            frame[name] = [r.crossings[name] for r in self.runways]
        return frame

    def to_dict(self) -> dict[str, Any]:
        """Plain-JSON-ready content (dates as ISO 8601 strings, null when not within the horizon)."""
        acc = self.accuracy
        replicas = {str(k): int(v) for k, v in self.capacities["replicas"].items()}
        return {
            "horizon": self.horizon,
            "model": self.model.method,
            "growth_per_year": self.model.growth_per_year,
            "forecast_start": self.forecast.frame.index[0].isoformat(),
            "forecast_end": self.forecast.frame.index[-1].isoformat(),
            "runs_out": _iso(self.fleet.runs_out),
            "binding_class": self.fleet.label,
            "classes": [
                {
                    "class": r.label,
                    "replicas": replicas[r.label],
                    "capacity_per_s": r.capacity,
                    **{name: _iso(t) for name, t in r.crossings.items()},
                }
                for r in self.classes
            ],
            "autoscaler": None
            if self.autoscaler is None
            else {
                "label": self.autoscaler.label,
                "max_replicas": self.autoscaler_replicas,
                "capacity_per_s": self.autoscaler.capacity,
                **{name: _iso(t) for name, t in self.autoscaler.crossings.items()},
            },
            "accuracy": None
            if acc is None
            else {
                "holdout_weeks": acc.holdout_weeks,
                "mase": acc.mase,
                "naive_mase": acc.naive_mase,
                **{f"coverage_{round(q * 100)}": c for q, c in acc.coverage.items()},
            },
        }

    def __repr__(self) -> str:
        return f"PlanRunway({self.horizon}: {self.fleet.describe()})"


def _iso(t: pd.Timestamp | None) -> str | None:
    return None if t is None else t.isoformat()


def plan_runway(
    plan: CapacityPlan,
    history: pd.Series,
    horizon: str = "90d",
    *,
    holdout_weeks: int | None = 4,
    source: str = "history",
    **fit_options: Any,
) -> PlanRunway:
    """Fit ``history`` (requests/s of the plan's throughput), forecast ``horizon`` ahead and find
    when the forecast exceeds each class's capacity in ``plan`` (:func:`class_capacity`).  With
    ``holdout_weeks``, also score the model on that many held-back weeks (:func:`evaluate`)."""
    capacities = class_capacity(plan)
    model = fit_traffic(history, source=source, **fit_options)
    forecast = model.forecast(horizon)
    classes = tuple(runway(forecast, float(row["capacity"]), str(c)) for c, row in capacities.iterrows())
    accuracy = None
    if holdout_weeks is not None:
        accuracy = evaluate(model.history, holdout_weeks=holdout_weeks, source=source, **fit_options)
    scaling = plan.autoscaling
    if scaling is None or scaling.max_capacity is None:
        return PlanRunway(horizon, model, forecast, capacities, classes, accuracy)
    # The HPA scales one class's deployment: its maxReplicas carry that class's max_capacity,
    # which is max_capacity / share of the whole throughput.
    n = scaling.hpa.max_replicas
    label = f"{scaling.op_class}, HPA max {n}"
    total = scaling.max_capacity / plan.mix.get(scaling.op_class, 1.0)
    return PlanRunway(
        horizon, model, forecast, capacities, classes, accuracy, runway(forecast, total, label), n
    )
