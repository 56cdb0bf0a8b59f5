"""Base class of the FCFS queue models: parameters in, waiting and sojourn distributions out.

A subclass declares its parameters and two things (lifelines-style): its waiting-time law (an atom
at zero plus exponential components, see :mod:`capplan.queueing._sojourn`) and its service-time
shape (:mod:`capplan.queueing.service`).  Everything else — means, Little's law, CDFs and quantiles
of wait and response — is derived here, so every model answers the same questions in the same
units (seconds, requests/second).
"""

from __future__ import annotations

from functools import cached_property
from typing import Any, ClassVar

import numpy as np
from numpy.typing import ArrayLike

from capplan._validate import FloatArray, nonnegative, probability, scalar_or_array
from capplan.queueing import _sojourn
from capplan.queueing._grid_response import cdf_function, response_cdf, response_quantiles
from capplan.queueing.service import ServiceShape

__all__ = ["QueueModel"]


def _fmt(value: FloatArray) -> str:
    if value.ndim == 0:
        return f"{float(value):.6g}"
    return f"array(shape={value.shape})"


class QueueModel:
    """Common interface of :class:`MMc`, :class:`MG1` and :class:`GGc`.

    Parameters are broadcast against each other, so one model object can describe a whole sweep.
    """

    method: ClassVar[str] = ""
    _params: ClassVar[tuple[str, ...]] = ()

    arrival_rate: FloatArray
    service_rate: FloatArray
    servers: FloatArray

    def __repr__(self) -> str:
        args = ", ".join(f"{name}={_fmt(getattr(self, name))}" for name in self._params)
        return f"{type(self).__name__}({args})"

    # -- to be provided by subclasses -------------------------------------------------------
    @property
    def _wait_law(self) -> _sojourn.WaitLaw:
        """The waiting-time law (see :mod:`capplan.queueing._sojourn`)."""
        raise NotImplementedError

    @property
    def _service(self) -> ServiceShape:
        """The service-time shape used in the response-time distribution."""
        raise NotImplementedError

    @property
    def _grid(self) -> Any:
        """Per-element :class:`~capplan.queueing._grid.GridWait` (an object array), or None when the
        wait law's closed forms apply.  Models set it for service times without exponential moments."""
        return None

    @property
    def _service_distribution(self) -> Any:
        """The service-time distribution object behind a grid (see :attr:`_grid`)."""
        return getattr(self, "service", None)

    def _on_grid(self, values: FloatArray, fn: Any, unstable_value: float) -> FloatArray:
        """Apply ``fn(grid_wait, value)`` element-wise over the broadcast of ``values`` and the model."""
        grid = self._grid
        shape = np.broadcast_shapes(np.shape(values), grid.shape)
        vals = np.broadcast_to(values, shape)
        cells = np.broadcast_to(grid, shape)
        out = np.empty(shape)
        for idx in np.ndindex(shape):
            cell = cells[idx]
            out[idx] = unstable_value if cell is None else fn(cell, float(vals[idx]))
        return out

    def _on_grids(self, values: FloatArray, fn: Any, unstable_value: float) -> FloatArray:
        """``fn(grid_waits, values)`` for every stable element of the broadcast of ``values`` and the
        model, in one call (pairs flattened); ``unstable_value`` elsewhere."""
        grid = self._grid
        shape = np.broadcast_shapes(np.shape(values), grid.shape)
        vals = np.broadcast_to(values, shape).ravel()
        cells = np.broadcast_to(grid, shape).ravel()
        out = np.full(vals.shape, unstable_value)
        live = np.array([cell is not None for cell in cells], dtype=bool)
        if live.any():
            out[live] = fn(list(cells[live]), vals[live])
        return out.reshape(shape)

    # -- derived quantities -------------------------------------------------------------------
    @cached_property
    def _rho(self) -> FloatArray:
        return np.asarray(self.arrival_rate / (self.servers * self.service_rate))

    @property
    def utilization(self) -> Any:
        """Offered utilization per server, rho = lambda / (c mu); >= 1 means unstable."""
        return scalar_or_array(self._rho)

    @property
    def throughput(self) -> Any:
        """Completed requests per second: lambda when stable, c mu (the capacity) otherwise."""
        return scalar_or_array(np.minimum(self.arrival_rate, self.servers * self.service_rate))

    @property
    def prob_wait(self) -> Any:
        """Probability that an arrival has to wait, P(W > 0) (1 when unstable)."""
        return scalar_or_array(self._wait_law.prob_wait)

    @property
    def wait_rate(self) -> Any:
        """Decay rate (1/s) of the slowest exponential component of the wait's tail; 0 if unstable."""
        law = self._wait_law
        rate = np.where(law.weight > 0, law.rate, np.inf).min(axis=0)
        return scalar_or_array(np.asarray(np.where(np.isinf(rate), 0.0, rate)))

    @cached_property
    def _mean_wait(self) -> FloatArray:
        return self._wait_law.mean

    @property
    def mean_wait(self) -> Any:
        """Mean time in queue before service starts, seconds (inf when unstable)."""
        return scalar_or_array(self._mean_wait)

    @property
    def mean_service(self) -> Any:
        """Mean service time 1/mu, seconds."""
        return scalar_or_array(1.0 / self.service_rate)

    @property
    def mean_response(self) -> Any:
        """Mean response (sojourn) time = mean wait + mean service, seconds."""
        return scalar_or_array(self._mean_wait + 1.0 / self.service_rate)

    @property
    def mean_queue_length(self) -> Any:
        """Mean number waiting, L_q = lambda W_q (Little's law)."""
        return scalar_or_array(self.arrival_rate * self._mean_wait)

    @property
    def mean_number_in_system(self) -> Any:
        """Mean number in the system, L = lambda T (Little's law)."""
        return scalar_or_array(self.arrival_rate * (self._mean_wait + 1.0 / self.service_rate))

    def wait_cdf(self, t: ArrayLike) -> Any:
        """P(W <= t) for the waiting time in queue; 0 for every finite t when unstable."""
        tt = nonnegative("t", t, allow_inf=True)
        if self._grid is not None:
            return scalar_or_array(self._on_grid(tt, lambda g, x: float(g.cdf(np.asarray(x))), 0.0))
        law = self._wait_law
        surv = _sojourn.wait_survival(np.where(np.isfinite(tt), tt, 0.0), law)
        surv = np.where(np.isfinite(tt), surv, np.where(law.unstable, 1.0, 0.0))
        return scalar_or_array(np.asarray(1.0 - surv))

    def wait_quantile(self, p: ArrayLike) -> Any:
        """Smallest t with P(W <= t) >= p, seconds (0 inside the atom at zero; inf if unstable)."""
        pp = probability("p", p)
        if self._grid is not None:
            return scalar_or_array(self._on_grid(pp, lambda g, x: float(g.quantile(np.asarray(x))), np.inf))
        return scalar_or_array(_sojourn.wait_quantile(pp, self._wait_law))

    def response_cdf(self, t: ArrayLike) -> Any:
        """P(T <= t) for the response (sojourn) time T = W + S."""
        tt = nonnegative("t", t, allow_inf=True)
        if self._grid is not None:
            cdf = cdf_function(self._service_distribution)
            return scalar_or_array(self._on_grids(tt, lambda g, x: response_cdf(g, x, cdf), 0.0))
        law = self._wait_law
        finite = np.isfinite(tt)
        surv = _sojourn.response_survival(np.where(finite, tt, 0.0), law, self._service)
        surv = np.where(finite, surv, np.where(law.unstable, 1.0, 0.0))
        return scalar_or_array(np.asarray(1.0 - surv))

    def response_quantile(self, p: ArrayLike) -> Any:
        """p-quantile of the response time, seconds (inf if unstable)."""
        pp = probability("p", p)
        if self._grid is not None:
            dist = self._service_distribution
            return scalar_or_array(self._on_grids(pp, lambda g, x: response_quantiles(g, x, dist), np.inf))
        return scalar_or_array(_sojourn.response_quantile(pp, self._wait_law, self._service))

    def service_quantile(self, p: ArrayLike) -> Any:
        """p-quantile of the service time alone (what the response time tends to with many servers)."""
        pp = probability("p", p)
        svc = self._service
        shape = np.broadcast_shapes(pp.shape, np.shape(svc.mean))
        return scalar_or_array(svc.broadcast_to(shape).quantile(np.broadcast_to(pp, shape)))
