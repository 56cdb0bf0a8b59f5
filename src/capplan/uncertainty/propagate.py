"""Replicas needed for arrays of (rate, service time, SCV) at once: the Monte Carlo's inner step.

For one operation class, :func:`replicas_required` returns, element by element, the count that
:func:`capplan.sizing.size_replicas` returns for that element's numbers — with the same queue per
replica (M/M/c by Erlang C when both SCVs are 1, else :class:`capplan.queueing.GGc`), the same
constraints (every percentile target and the utilization cap, with all replicas up, N+k and a zone
lost) — but for every element in one vectorised search instead of one call each:

1. every failure scenario runs the same per-replica queue with fewer replicas up, so the fleet
   passes exactly when each scenario's replicas up reach ``u*``, the fewest replicas up that meet
   every target; the search is for ``u*`` alone;
2. ``u*`` starts at the utilization cap's floor ``ceil(lambda E[S] / (c cap))`` for each element,
   gallops (+1, +2, +4, ...) while the element fails, then bisects: all failing elements are
   tested in one queue-model call per step;
3. the fleet is the smallest ``N`` with ``N``, ``N - k`` and ``N - ceil(N / zones)`` all ``>= u*``.

Elements repeated exactly (a point input drawn 4,000 times) are solved once.  An element whose
service time alone misses a target (no count can meet it) gets ``inf``.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, cast

import numpy as np
from numpy.typing import NDArray

from capplan._validate import FloatArray
from capplan.errors import ParameterError
from capplan.sizing.replicas import Balancing, _Replicas, _scenarios

__all__ = ["ClassModel", "replicas_required"]

_LIMIT = 10_000_000


@dataclass(frozen=True)
class ClassModel:
    """What sizing one class needs besides its uncertain numbers (as in ``size_replicas``).

    ``service`` is a service-time distribution used instead of a mean and SCV (evidence fitted to
    samples); it is used only when :func:`replicas_required` gets no service times.
    """

    targets: Mapping[float, float]
    workers: int
    max_utilization: float
    redundancy: int = 0
    zones: int | None = None
    balancing: Balancing = "random"
    arrival_scv: float = 1.0
    service: Any = None

    def fleet(self, service_time: FloatArray | None, scv: FloatArray) -> _Replicas:
        """The per-replica queue for these elements."""
        if service_time is None:
            return _Replicas(self.workers, None, 1.0, self.service, self.arrival_scv, self.balancing)
        # _Replicas is typed for one service; its queue models broadcast arrays of them elementwise.
        mu, cs2 = cast(float, 1.0 / service_time), cast(float, scv)
        return _Replicas(self.workers, mu, cs2, None, self.arrival_scv, self.balancing)


def replicas_required(
    model: ClassModel, rate: FloatArray, service_time: FloatArray | None, scv: FloatArray
) -> FloatArray:
    """Replicas needed per element (float array, ``inf`` where no count meets the targets).

    ``rate``, ``service_time`` (mean, seconds) and ``scv`` are 1-D arrays of one length;
    ``service_time=None`` uses ``model.service`` (a distribution) for every element.
    """
    rate = np.asarray(rate, dtype=float)
    times = None if service_time is None else np.asarray(service_time, dtype=float)
    columns = [rate, np.broadcast_to(np.asarray(scv, dtype=float), rate.shape)]
    if times is not None:
        columns.append(times)
    unique, inverse = np.unique(np.column_stack(columns), axis=0, return_inverse=True)
    u_rate, u_scv = unique[:, 0], unique[:, 1]
    u_time = None if times is None else unique[:, 2]
    up = _fewest_up(model, u_rate, u_time, u_scv)
    return _fleet_size(model, up)[np.ravel(inverse)]


def _fewest_up(model: ClassModel, rate: FloatArray, times: FloatArray | None, scv: FloatArray) -> FloatArray:
    """``u*`` per element: the fewest replicas up meeting every constraint (inf: none can)."""
    goals = {float(q): float(t) for q, t in model.targets.items()}
    probe = model.fleet(times, scv).model(rate, np.ones_like(rate))
    feasible = np.ones(rate.shape, dtype=bool)
    for q, t in goals.items():
        feasible &= np.broadcast_to(probe.service_quantile(q), rate.shape) < t
    mean = times if times is not None else np.full(rate.shape, float(model.service.mean()))
    cap = min(model.max_utilization, 1.0)
    floor = np.maximum(1.0, np.ceil(rate * mean / (model.workers * cap) * (1 - 1e-9)))
    out = np.full(rate.shape, np.inf)
    idx = np.flatnonzero(feasible)
    if idx.size:

        def passes(where: NDArray[np.intp], up: FloatArray) -> NDArray[np.bool_]:
            fleet = model.fleet(None if times is None else times[where], scv[where])
            return np.asarray(fleet.why_not(rate[where], up, goals, model.max_utilization) == "", dtype=bool)

        guess = floor[idx]
        if times is None or np.any(scv != 1.0) or model.arrival_scv != 1.0:
            # Start from the M/M/c answer with the same mean (Erlang C, vectorised and cheap): a
            # G/G/c element then needs a few solves, not one per step of a search from the floor.
            mmc = dataclasses.replace(model, arrival_scv=1.0)
            guess = _fewest_up(mmc, rate[idx], mean[idx], np.ones(idx.size))
        out[idx] = _smallest_passing(passes, idx, floor[idx], guess)
    return out


def _smallest_passing(test: Any, idx: NDArray[np.intp], floor: FloatArray, guess: FloatArray) -> FloatArray:
    """Per element, the smallest integer ``>= floor`` passing ``test`` (monotone: fail then pass).

    Starts at ``guess`` (at least ``floor``); gallops up (+1, +2, +4, ...) while the element fails,
    or down from a passing guess until one fails, then bisects; each step tests every element still
    open in one call of ``test(indices, candidates)``.
    """
    low = floor - 1.0  # known to fail (below the floor, or tested)
    high = np.full(floor.shape, np.inf)  # known to pass
    tested_low = np.zeros(floor.shape, dtype=bool)
    cand = np.maximum(np.where(np.isfinite(guess), guess, floor), floor)
    step = np.ones_like(floor)
    while (open_ := high - low > 1).any():
        where = np.flatnonzero(open_)
        ok = np.asarray(test(idx[where], cand[where]), dtype=bool)
        high[where[ok]] = cand[where[ok]]
        low[where[~ok]] = cand[where[~ok]]
        tested_low[where[~ok]] = True
        up, down = ~np.isfinite(high[where]), np.isfinite(high[where]) & ~tested_low[where]
        nxt = np.floor((low[where] + high[where]) / 2)
        nxt = np.where(up, low[where] + step[where], nxt)
        nxt = np.where(down, np.maximum(low[where] + 1, high[where] - step[where]), nxt)
        step[where] = np.where(up | down, step[where] * 2, step[where])
        cand[where] = nxt
        if np.any(cand[where] > _LIMIT):
            raise ParameterError(f"more than {_LIMIT} replicas would be needed")
    return high


def _fleet_size(model: ClassModel, up: FloatArray) -> FloatArray:
    """Smallest fleet ``N`` whose every failure scenario leaves at least ``up`` replicas up.

    Starts from lower bounds (``N - k >= up``; ``N - ceil(N/z) >= up`` implies
    ``N >= up z / (z - 1)``) and adds one where a scenario still falls short.
    """
    scenarios = list(_scenarios(model.redundancy, model.zones).values())
    finite = np.isfinite(up)
    need = up[finite]
    fleet = need + model.redundancy
    if model.zones is not None:
        fleet = np.maximum(fleet, np.ceil(need * model.zones / (model.zones - 1) * (1 - 1e-12)))
    while (short := np.min([s(fleet) for s in scenarios], axis=0) < need).any():
        fleet[short] += 1.0
    out = np.full(up.shape, np.inf)
    out[finite] = fleet
    return out


def needed_at(confidence: float, values: FloatArray) -> float:
    """The ``confidence``-quantile of ``values`` as one of them (the smallest value whose share of
    draws at or below it reaches ``confidence``; ``inverted_cdf`` in numpy's terms)."""
    if not 0 < confidence < 1 or math.isnan(confidence):
        raise ParameterError(f"confidence must be in (0, 1), got {confidence!r}")
    return float(np.quantile(values, confidence, method="inverted_cdf"))
