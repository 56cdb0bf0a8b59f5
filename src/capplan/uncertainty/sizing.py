"""Replicas under uncertain inputs: Monte Carlo draws through the plan's queueing models.

Every draw picks the throughput, each class's share of it, service time and SCV independently from
their stated distributions; :func:`capplan.uncertainty.propagate.replicas_required` sizes every
draw of a class at once.  The answer at ``confidence`` is the ``confidence``-quantile of the
draws' requirement (per class, and of the total).  The tornado varies one uncertain input at a
time from its 5th to its 95th percentile with every other input at its median.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from capplan._validate import FloatArray
from capplan.errors import ParameterError
from capplan.sizing.replicas import _scenarios, replicas_for_availability
from capplan.uncertainty.propagate import ClassModel, needed_at, replicas_required
from capplan.uncertainty.quantities import Point, Uncertain
from capplan.uncertainty.result import UncertainSizing

__all__ = ["ClassInputs", "size_under_uncertainty"]

#: Where each input of the tornado is set: its 5th and 95th percentiles.
TORNADO_LEVELS = (0.05, 0.95)


@dataclass(frozen=True)
class ClassInputs:
    """One operation class: its sizing model and its (possibly uncertain) share, service time, SCV.

    ``service_time=None`` uses ``model.service`` (a fitted distribution).  ``availability`` is
    ``(uptime target, one replica's availability)`` when the plan sizes for uptime too
    (:func:`capplan.sizing.replicas_for_availability`).
    """

    model: ClassModel
    share: Uncertain = field(default_factory=lambda: Point(1.0))
    service_time: Uncertain | None = None
    scv: Uncertain = field(default_factory=lambda: Point(1.0))
    availability: tuple[float, float] | None = None


def _inputs(rate: Uncertain, classes: Mapping[str, ClassInputs]) -> dict[str, Uncertain]:
    """Every input by name (``rate``, ``mix.<class>``, ``service_time.<class>``, ``scv.<class>``)."""
    out: dict[str, Uncertain] = {"rate": rate}
    for name, c in classes.items():
        out[f"mix.{name}"] = c.share
        if c.service_time is not None:
            out[f"service_time.{name}"] = c.service_time
        out[f"scv.{name}"] = c.scv
    return out


def _requirements(classes: Mapping[str, ClassInputs], values: Mapping[str, FloatArray]) -> pd.DataFrame:
    """Replicas per class and in total for rows of input values (one column per input)."""
    rate = values["rate"]
    out = {}
    for name, c in classes.items():
        share = np.clip(values[f"mix.{name}"], 0.0, 1.0)
        times = values.get(f"service_time.{name}")
        need = replicas_required(c.model, rate * share, times, values[f"scv.{name}"])
        out[name] = _with_availability(c, need)
    frame = pd.DataFrame(out)
    frame["total"] = frame.sum(axis=1)
    return frame


def _with_availability(c: ClassInputs, need: FloatArray) -> FloatArray:
    """At least the k-out-of-n count for uptime, k the fewest replicas up in any failure scenario."""
    if c.availability is None:
        return need
    uptime, each = c.availability
    scenarios = list(_scenarios(c.model.redundancy, c.model.zones).values())
    out = need.copy()
    for n in np.unique(need[np.isfinite(need)]):
        required = int(min(s(np.array([n]))[0] for s in scenarios))
        count = replicas_for_availability(uptime, mtbf=each, mttr=1.0 - each, required=required).replicas
        out[need == n] = max(n, count)
    return out


def size_under_uncertainty(
    rate: Uncertain,
    classes: Mapping[str, ClassInputs],
    *,
    confidence: float = 0.9,
    draws: int = 4000,
    rng: np.random.Generator | int = 0,
) -> UncertainSizing:
    """Replicas per class and in total at ``confidence``, from ``draws`` Monte Carlo draws.

    Parameters
    ----------
    rate : Uncertain
        The throughput (requests/s) shared by the classes.
    classes : mapping of str to ClassInputs
        Per operation class: its model and its uncertain share, service time and SCV.
    confidence : float, default 0.9
        The quantile of the draws' requirement reported (0.9: enough replicas in 90% of draws).
    draws : int, default 4000
        Monte Carlo draws; the inputs are independent.
    rng : numpy.random.Generator or int
        The generator, or a seed for one.
    """
    needed_at(confidence, np.zeros(1))  # checks the level
    if not classes:
        raise ParameterError("classes: give at least one operation class")
    if isinstance(draws, bool) or int(draws) != draws or draws < 1:
        raise ParameterError(f"draws must be a whole number >= 1, got {draws!r}")
    gen = rng if isinstance(rng, np.random.Generator) else np.random.default_rng(rng)
    inputs = _inputs(rate, classes)
    values = {name: dist.draw(gen, int(draws)) for name, dist in inputs.items()}
    requirement = _requirements(classes, values)
    medians = {name: dist.quantile(0.5) for name, dist in inputs.items()}
    one_row = {k: np.array([v]) for k, v in medians.items()}
    return UncertainSizing(
        confidence=float(confidence),
        draws=requirement,
        at_medians={str(k): float(v) for k, v in _requirements(classes, one_row).iloc[0].items()},
        sensitivity=_tornado(classes, inputs, medians),
        inputs={name: dist.describe() for name, dist in inputs.items() if not isinstance(dist, Point)},
    )


def _tornado(
    classes: Mapping[str, ClassInputs], inputs: Mapping[str, Uncertain], medians: Mapping[str, float]
) -> pd.DataFrame:
    """Total replicas with each uncertain input at its 5th and 95th percentile, others at medians;
    widest swing first."""
    varied = [name for name, dist in inputs.items() if not isinstance(dist, Point)]
    columns = ["input", "stated", "low", "high", "replicas_at_low", "replicas_at_high", "swing"]
    if not varied:
        return pd.DataFrame(columns=columns)
    rows = {name: np.full(2 * len(varied), value) for name, value in medians.items()}
    for i, name in enumerate(varied):
        rows[name][2 * i : 2 * i + 2] = [inputs[name].quantile(p) for p in TORNADO_LEVELS]
    total = _requirements(classes, rows)["total"].to_numpy()
    frame = pd.DataFrame(
        {
            "input": varied,
            "stated": [inputs[n].describe() for n in varied],
            "low": _rows_at(rows, varied, 0),
            "high": _rows_at(rows, varied, 1),
            "replicas_at_low": total[0::2],
            "replicas_at_high": total[1::2],
        }
    )
    frame["swing"] = (frame["replicas_at_high"] - frame["replicas_at_low"]).abs()
    return frame.sort_values("swing", ascending=False, kind="stable").reset_index(drop=True)[columns]


def _rows_at(rows: Mapping[str, FloatArray], varied: list[str], end: int) -> list[float]:
    """Each varied input's value at its low (``end=0``) or high (``end=1``) row."""
    return [float(rows[name][2 * i + end]) for i, name in enumerate(varied)]
