"""A server whose speed varies over time: a step function of slowdown factors, and its estimate.

On shared machines the CPU cost of the same work moves in phases (noisy neighbours, frequency
changes, CPU quota): a run of requests all take longer, then all run fast again.  Service times
are then *correlated in time*, and a queue that sees them in that order waits longer than M/G/c
with the same service-time distribution predicts, because slow requests arrive together.
:class:`Slowdown` describes such a machine for :func:`capplan.sim.simulate_queue`: a service
that starts at time ``t`` lasts ``factor(t)`` times its drawn length.  :func:`split_trace`
estimates it from a server's own record of its requests (start time and service time of each),
separating the machine's slowdown over time from the variation of the requests' own work.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray

from capplan.errors import ParameterError

__all__ = ["Slowdown", "split_trace"]

FloatArray = NDArray[np.float64]


@dataclass(frozen=True)
class Slowdown:
    """Slowdown factors over time, a step function repeated with period ``edges[-1]``.

    Attributes
    ----------
    edges : ndarray
        Step boundaries in seconds, increasing from ``edges[0] = 0``; the last is the period.
    factors : ndarray
        ``factors[k]`` applies to services starting in ``[edges[k], edges[k+1])`` (modulo the
        period); positive and finite.  One fewer than ``edges``.
    """

    edges: FloatArray
    factors: FloatArray

    def __post_init__(self) -> None:
        edges = np.asarray(self.edges, dtype=np.float64)
        factors = np.asarray(self.factors, dtype=np.float64)
        if edges.ndim != 1 or factors.ndim != 1 or edges.size != factors.size + 1 or factors.size < 1:
            raise ParameterError(
                f"a Slowdown needs k >= 1 factors and k + 1 edges, got {factors.size} and {edges.size}"
            )
        if not (edges[0] == 0.0 and np.all(np.isfinite(edges)) and np.all(np.diff(edges) > 0)):
            raise ParameterError("Slowdown edges must start at 0 and increase strictly (seconds)")
        if not (np.all(np.isfinite(factors)) and np.all(factors > 0)):
            raise ParameterError("Slowdown factors must be positive and finite")
        object.__setattr__(self, "edges", edges)
        object.__setattr__(self, "factors", factors)

    @property
    def period(self) -> float:
        """Seconds after which the steps repeat."""
        return float(self.edges[-1])

    @property
    def mean(self) -> float:
        """Time-average factor over one period (what a Poisson arrival sees on average)."""
        return float(np.dot(np.diff(self.edges), self.factors) / self.period)

    def __call__(self, t: ArrayLike) -> FloatArray:
        """The factor at times ``t`` (seconds)."""
        u = np.mod(np.asarray(t, dtype=np.float64), self.period)
        k = np.searchsorted(self.edges, u, side="right") - 1
        return np.asarray(self.factors[np.clip(k, 0, self.factors.size - 1)])

    def shifted(self, offset: float) -> Slowdown:
        """The same steps started ``offset`` seconds into the period (another stretch of the machine)."""
        u = float(np.mod(offset, self.period))
        cut = np.unique(np.concatenate([self.edges[:-1], [u]]))
        later, earlier = cut[cut >= u], cut[cut < u]
        starts = np.concatenate([later - u, earlier + self.period - u])
        return Slowdown(np.append(starts, self.period), self(np.concatenate([later, earlier])))


def split_trace(start: ArrayLike, service: ArrayLike, window: float = 0.025) -> tuple[Slowdown, FloatArray]:
    """Split a server's record of its requests into the machine's slowdown and the requests' work.

    Time is cut into windows of ``window`` seconds from the first start; the factor of a window
    is the mean service time of the requests that started in it over the mean of all of them (a
    window with no request takes the factor of the one before).  Each request's own work is its
    service time over its window's factor.

    Parameters
    ----------
    start : array_like
        When each request started service (seconds, any origin), in any order.
    service : array_like
        How long each one took (seconds, wall clock).
    window : float
        Window length in seconds: long enough to hold several requests (the factor of a window of
        one request is that request's own variation), shorter than the slow phases to be seen.

    Returns
    -------
    (Slowdown, ndarray)
        The slowdown over the trace's span (its time 0 is the first start; the period is the
        span rounded up to whole windows) and the requests' service times with it divided out, for
        ``simulate_queue(service=work, slowdown=slowdown)``.

    Raises
    ------
    ParameterError
        Arrays of different lengths, fewer than 2 requests, a service time that is not positive
        and finite, a start that is not finite, or a window that is not positive.
    """
    t = np.asarray(start, dtype=np.float64)
    s = np.asarray(service, dtype=np.float64)
    if t.ndim != 1 or t.shape != s.shape or t.size < 2:
        raise ParameterError(
            f"start and service must be 1-D arrays of the same >= 2 requests, got {t.shape} and {s.shape}"
        )
    if not (np.all(np.isfinite(t)) and np.all(np.isfinite(s)) and np.all(s > 0)):
        raise ParameterError("start times must be finite and service times positive and finite")
    if not (math.isfinite(window) and window > 0):
        raise ParameterError(f"window must be a positive number of seconds, got {window!r}")
    k = np.floor((t - t.min()) / window).astype(np.int64)
    n = int(k.max()) + 1
    counts = np.bincount(k, minlength=n)
    sums = np.bincount(k, weights=s, minlength=n)
    seen = counts > 0
    filled = np.maximum.accumulate(np.where(seen, np.arange(n), 0))  # last window with a request
    factors = (sums[filled] / counts[filled]) / s.mean()
    slowdown = Slowdown(window * np.arange(n + 1, dtype=np.float64), factors)
    return slowdown, np.asarray(s / factors[k])
