"""The M/G/1 queue: Pollaczek-Khinchine mean (exact) and an exponential-tail wait distribution."""

from __future__ import annotations

from functools import cached_property
from typing import Any

import numpy as np
from numpy.typing import ArrayLike

from capplan._validate import FloatArray, nonnegative, positive, scalar_or_array
from capplan.queueing._base import QueueModel

__all__ = ["MG1"]


class MG1(QueueModel):
    r"""M/G/1 queue, FCFS, service described by its mean and squared coefficient of variation.

    The mean wait is exact (Pollaczek-Khinchine):

    .. math:: W_q = \frac{\rho (1 + c_s^2)}{2 (1 - \rho)}\, E[S], \qquad P(W > 0) = \rho.

    **Approximation** for the distribution: the wait is taken as an atom ``1 - rho`` at zero plus an
    exponential tail with the exact mean, ``P(W > t) = rho exp(-theta t)`` with
    ``theta = 2 (1 - rho) / ((1 + c_s^2) E[S])`` — exact for exponential service (M/M/1), and the
    heavy-traffic limit of Kingman for general service.  Service times in the response-time
    distribution are a two-moment fit (deterministic when ``c_s^2 = 0``, otherwise gamma).  Hence
    ``method == "approx: P-K mean; exponential wait tail; gamma service fit"``.

    References: Kleinrock vol. 1, sec. 5.6 (eq. 5.76); Kingman (1962), "On queues in heavy traffic".

    Parameters
    ----------
    arrival_rate : array_like
        lambda, requests per second (>= 0).
    service_rate : array_like
        mu = 1/E[S], per second (> 0).
    service_scv : array_like, default 1
        Var[S]/E[S]^2 (0 deterministic, 1 exponential, > 1 more variable).
    """

    method = "approx: P-K mean (exact); exponential wait tail; gamma service fit"
    _params = ("arrival_rate", "service_rate", "service_scv")

    def __init__(
        self, arrival_rate: ArrayLike, service_rate: ArrayLike, service_scv: ArrayLike = 1.0
    ) -> None:
        lam = nonnegative("arrival_rate", arrival_rate)
        mu = positive("service_rate", service_rate)
        scv = nonnegative("service_scv", service_scv)
        self.arrival_rate, self.service_rate, self.service_scv = np.broadcast_arrays(lam, mu, scv)
        self.servers = np.ones_like(self.arrival_rate)

    @property
    def prob_wait(self) -> Any:
        """P(W > 0) = rho (exact for M/G/1); 1 when unstable."""
        return scalar_or_array(np.minimum(self._rho, 1.0))

    @cached_property
    def _theta(self) -> FloatArray:
        rho = self._rho
        theta = 2.0 * (1.0 - rho) * self.service_rate / (1.0 + self.service_scv)
        return np.asarray(np.where(rho < 1.0, theta, 0.0))

    @property
    def _service_scv(self) -> FloatArray:
        return self.service_scv
