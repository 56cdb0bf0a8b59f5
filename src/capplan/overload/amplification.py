"""The retry-amplification fixed point: where timeouts and retries make a fleet fall over for good.

Method (a mean-field fixed point, the reduced-load argument of the Erlang fixed point):
first attempts arrive at rate ``lam``; each attempt times out with probability ``p(x)`` -- the
probability that the response time of a queue fed with attempts at the total rate ``x``
exceeds the timeout ``T`` (from :func:`capplan.queueing.queue_model`; 1 when ``x`` reaches the
capacity ``c mu``).  A timed-out attempt is retried up to ``R`` times, so a request makes
``A(p) = 1 + min(p + p^2 + ... + p^R, b)`` attempts on average (``b`` the retry budget's
ratio).  The server does the work of every attempt, timed out or not (it does not know the
client gave up), so a steady state is a solution of

    x = lam * A(p(x)).

Solutions are read off the curve ``lam(x) = x / A(p(x))`` (the first-attempt load that sustains
attempt rate ``x``): where it rises the solution is stable, where it falls it is unstable.  Two
loads follow:

* ``recovery_load = c mu / (1 + min(R, b))``.  Above it a *saturated* state also exists: the
  queue grows without bound, every attempt times out and is retried, and attempts arrive at
  ``lam (1 + min(R, b)) >= c mu``, which keeps the queue growing.  A spike that pushes the
  queue past the point of no return leaves the fleet down after the spike has passed; it
  recovers only once the first-attempt load drops below ``recovery_load``.
* ``collapse_load = max_x lam(x)`` (a saddle-node: the stable and unstable solutions meet).
  Above it no good state exists: the fleet falls over without any spike.

Between the two the fleet is *vulnerable* (bistable: good and saturated states, separated by the
unstable one) in the sense of Bronson et al. (2021); below ``recovery_load`` it is *stable*.

The mean field treats attempts as Poisson and independent of each other's timeouts; retries come
in bursts, and a finite fleet leaves a metastable good state near ``collapse_load`` sooner than
the fixed point says.  Its error against :func:`capplan.sim.simulate_overload` is measured in
``tests/test_overload_models.py`` and published in the notebook ``09_overload_and_retries``.

References
----------
N. Bronson, A. Aghayev, A. Charapko, T. Zhu, "Metastable Failures in Distributed Systems",
HotOS 2021.  L. Huang et al., "Metastable Failures in the Wild", OSDI 2022 (retry amplification
as the most common sustaining effect).  R. J. Gibbens, P. J. Hunt, F. P. Kelly, "Bistability in
communication networks", in *Disorder in Physical Systems*, Oxford 1990, and F. P. Kelly, "Loss
networks", Ann. Appl. Probab. 1(3), 1991 (the Erlang fixed point, its multiple solutions and
their stability).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import cached_property
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike

from capplan._validate import FloatArray, integer_count, nonnegative, positive
from capplan.errors import ParameterError
from capplan.overload.policy import ClientPolicy, RetryPolicy
from capplan.queueing import QueueModel, queue_model

__all__ = ["RetryAmplification"]

#: Utilizations of the attempt-rate grid: even up to 0.9, then ever closer to 1 (p rises steeply).
_GRID = np.concatenate([np.linspace(0.0, 0.9, 181)[1:], 1.0 - np.geomspace(0.1, 1e-6, 220)[1:]])
#: States of a fixed point.
STATES = ("good", "unstable", "saturated")


@dataclass(frozen=True)
class RetryAmplification:
    """Timeouts and retries against ``servers`` servers: the retry-amplification fixed point.

    Parameters
    ----------
    client : ClientPolicy
        The attempt timeout (finite) and the retry policy.
    servers : int
        Servers behind the clients (c).
    service_rate : float, optional
        1 / mean service time, per server; with ``service_scv`` (default 1: exponential) ...
    service_scv : float
        ... the two moments of the service time; or
    service : distribution, optional
        the service-time distribution itself (a SciPy frozen distribution), as for
        :func:`capplan.queueing.queue_model`.

    Notes
    -----
    See the module docstring for the method and its assumptions.
    """

    client: ClientPolicy
    servers: int
    service_rate: float | None = None
    service_scv: float = 1.0
    service: Any = None

    def __post_init__(self) -> None:
        if not isinstance(self.client, ClientPolicy):
            raise ParameterError(f"client must be a capplan ClientPolicy, got {type(self.client).__name__}")
        if not math.isfinite(self.client.timeout):
            raise ParameterError("client.timeout must be finite: without a timeout nothing is retried")
        object.__setattr__(self, "servers", int(integer_count("servers", self.servers)))
        if self.service is None:
            if self.service_rate is None:
                raise ParameterError("service_rate is required (or give service, a distribution)")
            object.__setattr__(self, "service_rate", float(positive("service_rate", self.service_rate)))
        object.__setattr__(self, "service_scv", float(nonnegative("service_scv", self.service_scv)))

    # -- the queue behind the clients ----------------------------------------------------------
    def queue(self, attempt_rate: ArrayLike) -> QueueModel:
        """The queueing model fed with attempts at ``attempt_rate`` per second."""
        return queue_model(
            attempt_rate, self.service_rate, self.servers, service_scv=self.service_scv, service=self.service
        )

    @cached_property
    def capacity(self) -> float:
        """Attempts per second the servers complete when always busy, ``c mu``."""
        return float(self.queue(1.0).service_rate) * self.servers

    @property
    def timeout(self) -> float:
        return self.client.timeout

    @property
    def retry(self) -> RetryPolicy:
        return self.client.retry

    @property
    def method(self) -> str:
        model = self.queue(0.5 * self.capacity)
        return f"retry-amplification fixed point (mean field) over {type(model).__name__}: {model.method}"

    def timeout_probability(self, attempt_rate: ArrayLike) -> Any:
        """P(response > timeout) of an attempt when attempts arrive at ``attempt_rate`` (1 at capacity)."""
        x = nonnegative("attempt_rate", attempt_rate, allow_inf=True)
        stable = x < self.capacity
        safe = np.where(stable, x, 0.0)
        p = 1.0 - np.asarray(self.queue(safe).response_cdf(self.timeout), dtype=np.float64)
        out = np.where(stable, np.clip(p, 0.0, 1.0), 1.0)
        return float(out) if out.ndim == 0 else out

    def amplification(self, p: ArrayLike) -> Any:
        """Attempts per request, ``1 + min(p + ... + p^R, budget)``, when attempts fail with ``p``."""
        out = 1.0 + np.asarray(self.retry.retries_per_request(p), dtype=np.float64)
        return float(out) if out.ndim == 0 else out

    def first_attempt_rate(self, attempt_rate: ArrayLike) -> Any:
        """The first-attempt load that sustains ``attempt_rate``: ``x / A(p(x))`` (the fixed-point curve)."""
        x = nonnegative("attempt_rate", attempt_rate, allow_inf=True)
        out = x / np.asarray(self.amplification(self.timeout_probability(x)), dtype=np.float64)
        return float(out) if out.ndim == 0 else out

    # -- thresholds -----------------------------------------------------------------------------
    @cached_property
    def _curve(self) -> tuple[FloatArray, FloatArray]:
        x = _GRID * self.capacity
        return x, np.asarray(self.first_attempt_rate(x), dtype=np.float64)

    @cached_property
    def recovery_load(self) -> float:
        """First-attempt load below which the fleet recovers from any spike: ``c mu / (1 + min(R, b))``.

        Above it a spike long enough leaves the fleet in the saturated state after the spike has
        passed, and the load must fall below this value before it recovers.
        """
        return self.capacity / (1.0 + self.retry.retry_limit)

    @cached_property
    def _edge(self) -> tuple[float, float]:
        """``(collapse_load, its attempt rate)``: the maximum of the curve, refined between grid points."""
        x, lam = self._curve
        i = int(np.argmax(lam))
        if i >= x.size - 2 or lam[i] <= self.recovery_load:  # rising to the end: no bistable region
            return self.recovery_load, self.capacity
        from scipy import optimize  # noqa: PLC0415 - scipy.optimize is slow to import; load on use

        res = optimize.minimize_scalar(
            lambda v: -float(self.first_attempt_rate(v)),
            bounds=(float(x[i - 1]), float(x[i + 1])),
            method="bounded",
            options={"xatol": 1e-10 * self.capacity},
        )
        best = max(float(-res.fun), float(lam[i]))
        return best, float(res.x) if best > lam[i] else float(x[i])

    @property
    def collapse_load(self) -> float:
        """First-attempt load above which no good state exists: the fleet falls over by itself."""
        return self._edge[0]

    @property
    def bistable(self) -> bool:
        """True when a vulnerable region exists (``recovery_load < collapse_load``)."""
        return self.collapse_load > self.recovery_load * (1 + 1e-9)

    # -- fixed points ---------------------------------------------------------------------------
    def fixed_points(self, arrival_rate: ArrayLike) -> pd.DataFrame:
        """Every steady state at each first-attempt load, good, unstable and saturated.

        Columns ``first_attempt_rate, state, stable, attempt_rate, timeout_probability,
        amplification, utilization, goodput, request_failure``.  The saturated state has attempts
        at ``lam (1 + min(R, b))``, a timeout probability of 1, zero goodput and an unbounded
        queue; ``utilization`` is the offered ``x / (c mu)`` (above 1 when saturated).
        """
        lams = np.atleast_1d(positive("arrival_rate", arrival_rate)).ravel()
        x, curve = self._curve
        rows = []
        for lam in lams:
            for root in self._roots(float(lam), x, curve):
                rows.append(self._row(float(lam), root))
            if lam >= self.recovery_load:
                rows.append(self._saturated(float(lam)))
        return pd.DataFrame(rows, columns=_COLUMNS)

    def operating_point(self, arrival_rate: float) -> pd.Series:
        """The state the fleet settles in from an empty start: the good one if it exists, else saturated."""
        frame = self.fixed_points(arrival_rate)
        return frame.iloc[0]

    def _roots(self, lam: float, x: FloatArray, curve: FloatArray) -> list[float]:
        """Attempt rates below capacity where ``lam(x) = lam`` (grid sign changes, then brentq)."""
        from scipy import optimize  # noqa: PLC0415 - see _edge

        g = np.concatenate([[-lam], curve - lam])  # lam(0) = 0
        xs = np.concatenate([[0.0], x])
        out = []
        for i in np.flatnonzero(np.sign(g[:-1]) != np.sign(g[1:])):
            a, b = float(xs[i]), float(xs[i + 1])
            if g[i + 1] == 0.0:
                out.append(b)
                continue
            out.append(
                optimize.brentq(
                    lambda v: float(self.first_attempt_rate(v)) - lam, a, b, xtol=1e-12 * self.capacity
                )
            )
        return out

    def _row(self, lam: float, x: float) -> dict[str, Any]:
        p = float(self.timeout_probability(x))
        amp = float(self.amplification(p))
        h = 1e-7 * self.capacity
        slope = float(self.first_attempt_rate(x + h)) - float(self.first_attempt_rate(max(x - h, 0.0)))
        stable = slope > 0
        goodput = x * (1.0 - p)
        return {
            "first_attempt_rate": lam,
            "state": "good" if stable else "unstable",
            "stable": stable,
            "attempt_rate": x,
            "timeout_probability": p,
            "amplification": amp,
            "utilization": x / self.capacity,
            "goodput": goodput,
            "request_failure": max(0.0, 1.0 - goodput / lam),
        }

    def _saturated(self, lam: float) -> dict[str, Any]:
        amp = 1.0 + self.retry.retry_limit
        return {
            "first_attempt_rate": lam,
            "state": "saturated",
            "stable": True,
            "attempt_rate": lam * amp,
            "timeout_probability": 1.0,
            "amplification": amp,
            "utilization": lam * amp / self.capacity,
            "goodput": 0.0,
            "request_failure": 1.0,
        }

    def __repr__(self) -> str:
        return (
            f"RetryAmplification(capacity {self.capacity:.6g}/s, timeout {self.timeout:g} s, "
            f"{self.retry.max_retries} retries; recovery_load {self.recovery_load:.6g}/s, "
            f"collapse_load {self.collapse_load:.6g}/s)"
        )


_COLUMNS = [
    "first_attempt_rate",
    "state",
    "stable",
    "attempt_rate",
    "timeout_probability",
    "amplification",
    "utilization",
    "goodput",
    "request_failure",
]
