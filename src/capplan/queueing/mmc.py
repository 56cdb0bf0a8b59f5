"""The M/M/c queue: Poisson arrivals, exponential service, c servers, FCFS (exact)."""

from __future__ import annotations

from functools import cached_property
from typing import Any

import numpy as np
from numpy.typing import ArrayLike

from capplan._validate import integer_count, nonnegative, positive, scalar_or_array
from capplan.queueing._base import QueueModel
from capplan.queueing._erlang_kernel import log_erlang_c_ufunc
from capplan.queueing._sojourn import WaitLaw
from capplan.queueing.service import ServiceShape, TwoMomentService

__all__ = ["MMc"]


class MMc(QueueModel):
    r"""M/M/c queue (exact).

    With offered load :math:`a = \lambda/\mu` and utilization :math:`\rho = a/c < 1`:

    .. math::

        P_w = C(c, a), \qquad P(W > t) = C(c, a)\, e^{-(c\mu - \lambda) t},\qquad
        W_q = \frac{C(c, a)}{c\mu - \lambda},

    and the response time ``T = W + S`` with ``S ~ Exp(mu)`` independent of ``W`` (FCFS), whose
    distribution is the mixture of ``S`` and the hypoexponential ``Exp(c mu - lambda) + Exp(mu)``
    (computed without cancellation when the two rates coincide).

    References: Kleinrock, *Queueing Systems* vol. 1 (1975), sec. 3.5; Gross, Shortle, Thompson &
    Harris, *Fundamentals of Queueing Theory* 4th ed. (2008), sec. 2.3 and eq. (2.39).

    Parameters
    ----------
    arrival_rate : array_like
        lambda, requests per second (>= 0).
    service_rate : array_like
        mu, completions per second per server (> 0).
    servers : array_like
        c, integer >= 1.

    An unstable queue (rho >= 1) is not an error: ``prob_wait`` is 1 and waiting quantities are inf.
    """

    method = "exact"
    _params = ("arrival_rate", "service_rate", "servers")

    def __init__(self, arrival_rate: ArrayLike, service_rate: ArrayLike, servers: ArrayLike = 1) -> None:
        lam = nonnegative("arrival_rate", arrival_rate)
        mu = positive("service_rate", service_rate)
        c = integer_count("servers", servers)
        self.arrival_rate, self.service_rate, self.servers = np.broadcast_arrays(lam, mu, c)

    @property
    def offered_load(self) -> Any:
        """a = lambda / mu, in Erlangs."""
        return scalar_or_array(self.arrival_rate / self.service_rate)

    @cached_property
    def _wait_law(self) -> WaitLaw:
        a = self.arrival_rate / self.service_rate
        prob_wait = np.exp(log_erlang_c_ufunc(self.servers, a))
        return WaitLaw.exponential(
            prob_wait, np.maximum(self.servers * self.service_rate - self.arrival_rate, 0.0)
        )

    @cached_property
    def _service(self) -> ServiceShape:
        return TwoMomentService(1.0 / self.service_rate, 1.0)
