"""How long a spike the fleet survives: a fluid model of the backlog with delayed retries.

The fixed point (:mod:`capplan.overload.amplification`) says which states exist; whether a given
spike tips the fleet from the good state into the saturated one is a question about the path.
This module follows it with a deterministic fluid model (a delay differential equation, stepped
in time):

* the backlog ``v(t)`` -- seconds of queued work per server -- grows by ``a(t) E[S] / c - 1``
  per second and stays at or above 0, where ``a(t)`` is the rate of attempts (first attempts of
  the spike or the base load, plus retries);
* an attempt sent at ``t`` times out with probability ``p = P(R_x > T - v(t))``: its response is
  the backlog plus the response ``R_x`` of the stationary queue at the current attempt rate
  ``x`` (from :func:`capplan.queueing.queue_model`; ``x`` held at the edge of the good state,
  the attempt rate of ``collapse_load``, above it), and ``p = 1`` once ``v >= T``;
* a timed-out attempt is retried ``T`` plus the mean backoff later (up to ``max_retries`` times,
  within the retry budget's ratio of first attempts).

After the spike the backlog either drains (recovered: empty for a whole retry chain) or passes
the point beyond which every attempt of a whole retry chain times out while retries already keep
the servers over capacity (diverged: the saturated state of the fixed point).  Below
``recovery_load`` every spike is survived; above ``collapse_load`` the fleet is down without one.
:func:`spike_tolerance` finds the longest spike survived by bisection on its length.

The fluid ignores the randomness of a finite fleet, which near the boundary decides either way;
its error against :func:`capplan.sim.simulate_overload` is measured in
``tests/test_overload_models.py`` and in the notebook ``09_overload_and_retries``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from capplan._validate import positive
from capplan.errors import ParameterError
from capplan.overload._fluid import DIVERGED, RECOVERED, fluid_steps
from capplan.overload.amplification import RetryAmplification

__all__ = ["fluid_response", "spike_tolerance"]

_X_POINTS = 24  # attempt rates of the timeout-probability table
_V_POINTS = 65  # backlogs of the table, 0 .. T
_STEPS_PER_TIMEOUT = 40
_BISECTION_RELATIVE = 1e-3
_MAX_LENGTH_TIMEOUTS = 1e5  # a spike this many timeouts long that is survived: survived at any length


@dataclass(frozen=True)
class _Fluid:
    """The model's fluid discretised: step, tables, retry delays, stopping rules."""

    h: float
    work: float
    table: NDArray[np.float64]
    x_step: float
    v_step: float
    delays: NDArray[np.int64]
    budget: NDArray[np.float64]
    settle: int
    diverge_at: float

    @classmethod
    def of(cls, model: RetryAmplification, base: float) -> _Fluid:
        timeout = model.timeout
        h = timeout / _STEPS_PER_TIMEOUT
        x_edge = model._edge[1] * (1 - 1e-9)
        xs = np.linspace(0.0, x_edge, _X_POINTS)
        vs = np.linspace(0.0, timeout, _V_POINTS)
        cdf = np.asarray(model.queue(xs[:, None]).response_cdf(timeout - vs[None, :]), dtype=np.float64)
        table = np.clip(1.0 - cdf, 0.0, 1.0)
        table[:, -1] = 1.0
        retry = model.retry
        k = np.arange(1, retry.max_retries + 1)
        lags = timeout + np.asarray(retry.backoff.mean_delay(k), dtype=np.float64).reshape(-1)
        delays = np.concatenate([[0], np.maximum(1, np.rint(lags / h))]).astype(np.int64)
        budget = np.array([-1.0, 0.0] if retry.budget is None else [retry.budget.ratio, retry.budget.burst])
        chain = float(lags.sum()) if lags.size else timeout
        rho = base / model.capacity
        return cls(
            h=h,
            work=1.0 / model.capacity,
            table=table,
            x_step=float(xs[1] - xs[0]),
            v_step=float(vs[1] - vs[0]),
            delays=delays,
            budget=budget,
            settle=math.ceil(chain / h) + 1,
            diverge_at=timeout + chain * max(1.0 - rho, 0.0),
        )

    def run(
        self, base: float, peak: float, length: float, after: int | None, keep: bool
    ) -> tuple[int, NDArray[np.float64]]:
        warm = self.settle
        spike = max(1, round(length / self.h))
        if after is None:
            after = self.settle + math.ceil(50 * self.diverge_at / self.h) + 10_000
        rates = np.full(warm + spike + after, base)
        rates[warm : warm + spike] = peak
        out = np.zeros((rates.size, 3) if keep else (0, 3))
        code = fluid_steps(
            rates, self.h, self.work, self.table, self.x_step, self.v_step, self.delays, self.budget,
            warm + spike, self.settle, self.diverge_at, out,
        )  # fmt: skip
        return code, out


def _rates(model: RetryAmplification, base_rate: float, spike_rate: float) -> tuple[float, float]:
    if not isinstance(model, RetryAmplification):
        raise ParameterError(f"model must be a RetryAmplification, got {type(model).__name__}")
    return float(positive("base_rate", base_rate)), float(positive("spike_rate", spike_rate))


def spike_tolerance(model: RetryAmplification, base_rate: float, spike_rate: float) -> float:
    """The longest spike at ``spike_rate`` first attempts/s after which the fleet recovers, seconds.

    ``inf`` when the fleet survives a spike of any length (``base_rate`` below
    ``model.recovery_load``, or a spike no higher than the base), 0 when it is down without one
    (``base_rate`` above ``model.collapse_load``).  See the module docstring for the model.
    """
    base, peak = _rates(model, base_rate, spike_rate)
    if base >= model.collapse_load:
        return 0.0
    if base < model.recovery_load or peak <= base:
        return math.inf
    fluid = _Fluid.of(model, base)
    limit = _MAX_LENGTH_TIMEOUTS * model.timeout

    def survives(length: float) -> bool:
        return fluid.run(base, peak, length, None, keep=False)[0] == RECOVERED

    lo, hi = 0.0, model.timeout
    while survives(hi):
        lo, hi = hi, 2 * hi
        if hi > limit:
            return math.inf
    while hi - lo > max(_BISECTION_RELATIVE * hi, fluid.h):
        mid = 0.5 * (lo + hi)
        lo, hi = (mid, hi) if survives(mid) else (lo, mid)
    return lo


def fluid_response(
    model: RetryAmplification,
    base_rate: float,
    spike_rate: float,
    length: float,
    *,
    after: float | None = None,
) -> pd.DataFrame:
    """The fluid model's path through a spike: ``time`` (0 at the spike's start), ``backlog`` (s of
    work per server), ``attempt_rate`` and ``goodput`` (per second), and ``attrs["outcome"]``
    (``"recovered"``, ``"diverged"`` or ``"undecided"``).

    ``after`` seconds are followed after the spike (default: until the outcome is clear).
    """
    base, peak = _rates(model, base_rate, spike_rate)
    length = float(positive("length", length))
    fluid = _Fluid.of(model, base)
    steps = None if after is None else math.ceil(float(positive("after", after)) / fluid.h)
    code, out = fluid.run(base, peak, length, steps, keep=True)
    used = np.flatnonzero(out[:, 1] > 0)
    out = out[: used[-1] + 1] if used.size else out[:0]
    frame = pd.DataFrame(
        {
            "time": (np.arange(out.shape[0]) - fluid.settle) * fluid.h,
            "backlog": out[:, 0],
            "attempt_rate": out[:, 1],
            "goodput": out[:, 2],
        }
    )
    frame.attrs["outcome"] = {RECOVERED: "recovered", DIVERGED: "diverged"}.get(code, "undecided")
    return frame
