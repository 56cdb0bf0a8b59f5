"""Base class of the FCFS queue models: parameters in, waiting and sojourn distributions out.

A subclass declares its parameters and three quantities (lifelines-style): ``prob_wait`` (the
probability that an arrival waits), ``wait_rate`` (``theta``, the decay rate of the exponential tail
of the wait, ``P(W > t) = prob_wait * exp(-theta t)``), and ``service_scv``.  Everything else —
means, Little's law, CDFs and quantiles of wait and response — is derived here, so every model
answers the same questions in the same units (seconds, requests/second).
"""

from __future__ import annotations

from functools import cached_property
from typing import Any, ClassVar

import numpy as np
from numpy.typing import ArrayLike

from capplan._validate import FloatArray, nonnegative, probability, scalar_or_array
from capplan.queueing import _sojourn

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
    def prob_wait(self) -> Any:
        """Probability that an arrival has to wait, P(W > 0)."""
        raise NotImplementedError

    @property
    def _theta(self) -> FloatArray:
        raise NotImplementedError

    @property
    def _service_scv(self) -> FloatArray:
        raise NotImplementedError

    # -- derived quantities -------------------------------------------------------------------
    @cached_property
    def _rho(self) -> FloatArray:
        return np.asarray(self.arrival_rate / (self.servers * self.service_rate))

    @cached_property
    def _stable(self) -> FloatArray:
        return np.asarray(self._rho < 1.0)

    @property
    def utilization(self) -> Any:
        """Offered utilization per server, rho = lambda / (c mu); >= 1 means unstable."""
        return scalar_or_array(self._rho)

    @property
    def throughput(self) -> Any:
        """Completed requests per second: lambda when stable, c mu (the capacity) otherwise."""
        return scalar_or_array(np.minimum(self.arrival_rate, self.servers * self.service_rate))

    @property
    def wait_rate(self) -> Any:
        """Decay rate theta (1/s) of the tail P(W > t) = prob_wait exp(-theta t); 0 if unstable."""
        return scalar_or_array(self._theta)

    @cached_property
    def _mean_wait(self) -> FloatArray:
        pw = np.asarray(self.prob_wait, dtype=np.float64)
        with np.errstate(divide="ignore"):
            return np.where(self._theta > 0, pw / np.where(self._theta > 0, self._theta, 1.0), np.inf)

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

    def _tail_params(self) -> tuple[FloatArray, FloatArray, FloatArray, FloatArray]:
        pw = np.asarray(self.prob_wait, dtype=np.float64)
        return pw, self._theta, 1.0 / self.service_rate, self._service_scv

    def wait_cdf(self, t: ArrayLike) -> Any:
        """P(W <= t) for the waiting time in queue; 0 for every finite t when unstable."""
        tt = nonnegative("t", t, allow_inf=True)
        pw, theta, _, _ = self._tail_params()
        with np.errstate(invalid="ignore"):
            decay = np.exp(-theta * tt)
        decay = np.where(tt == 0, 1.0, np.where(np.isinf(tt), np.where(theta > 0, 0.0, 1.0), decay))
        return scalar_or_array(np.asarray(1.0 - pw * decay))

    def wait_quantile(self, p: ArrayLike) -> Any:
        """Smallest t with P(W <= t) >= p, seconds (0 inside the atom at zero; inf if unstable)."""
        pp = probability("p", p)
        pw, theta, _, _ = self._tail_params()
        return scalar_or_array(_sojourn.wait_quantile(pp, pw, theta))

    def response_cdf(self, t: ArrayLike) -> Any:
        """P(T <= t) for the response (sojourn) time T = W + S."""
        tt = nonnegative("t", t, allow_inf=True)
        pw, theta, mean, scv = self._tail_params()
        finite = np.isfinite(tt)
        surv = _sojourn.response_survival(np.where(finite, tt, 0.0), pw, theta, mean, scv)
        surv = np.where(finite, surv, np.where(theta > 0, 0.0, 1.0))
        return scalar_or_array(np.asarray(1.0 - surv))

    def response_quantile(self, p: ArrayLike) -> Any:
        """p-quantile of the response time, seconds (inf if unstable)."""
        pp = probability("p", p)
        pw, theta, mean, scv = self._tail_params()
        return scalar_or_array(_sojourn.response_quantile(pp, pw, theta, mean, scv))
