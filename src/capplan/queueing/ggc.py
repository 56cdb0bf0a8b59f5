"""The G/G/c queue by the Allen-Cunneen approximation."""

from __future__ import annotations

from functools import cached_property
from typing import Any

import numpy as np
from numpy.typing import ArrayLike

from capplan._validate import FloatArray, integer_count, nonnegative, positive, scalar_or_array
from capplan.queueing._base import QueueModel
from capplan.queueing._erlang_kernel import log_erlang_c_ufunc

__all__ = ["GGc"]


class GGc(QueueModel):
    r"""G/G/c queue (approximation), from the SCVs of inter-arrival and service times.

    Allen-Cunneen mean wait: the M/M/c mean scaled by the variability of arrivals and service,

    .. math:: W_q \approx \frac{C(c, a)}{c\mu - \lambda} \cdot \frac{c_a^2 + c_s^2}{2}.

    **Approximation** for the distribution: ``P(W > 0) = C(c, a)`` (the M/M/c value) and an
    exponential tail with the Allen-Cunneen mean, ``theta = (c mu - lambda) * 2 / (c_a^2 + c_s^2)``;
    service in the response time is a two-moment fit (deterministic or gamma).  With ``c = 1`` and
    Poisson arrivals (``c_a^2 = 1``) this is exactly the Pollaczek-Khinchine mean of :class:`MG1`.

    References: Allen, *Probability, Statistics, and Queueing Theory* 2nd ed. (1990), sec. 6.3,
    eq. (6.33); Whitt (1993), "Approximations for the GI/G/m queue", Prod. Oper. Manag. 2(2).

    Parameters
    ----------
    arrival_rate, service_rate : array_like
        lambda and mu (per second).
    servers : array_like of int
        c >= 1.
    arrival_scv, service_scv : array_like, default 1
        Squared coefficients of variation of inter-arrival and service times (>= 0).
    """

    method = "approx: Allen-Cunneen mean; Erlang-C P(wait); exponential wait tail; gamma service fit"
    _params = ("arrival_rate", "service_rate", "servers", "arrival_scv", "service_scv")

    def __init__(
        self,
        arrival_rate: ArrayLike,
        service_rate: ArrayLike,
        servers: ArrayLike = 1,
        arrival_scv: ArrayLike = 1.0,
        service_scv: ArrayLike = 1.0,
    ) -> None:
        lam = nonnegative("arrival_rate", arrival_rate)
        mu = positive("service_rate", service_rate)
        c = integer_count("servers", servers)
        ca2 = nonnegative("arrival_scv", arrival_scv)
        cs2 = nonnegative("service_scv", service_scv)
        (self.arrival_rate, self.service_rate, self.servers, self.arrival_scv, self.service_scv) = (
            np.broadcast_arrays(lam, mu, c, ca2, cs2)
        )

    @cached_property
    def _prob_wait(self) -> FloatArray:
        a = self.arrival_rate / self.service_rate
        return np.asarray(np.exp(log_erlang_c_ufunc(self.servers, a)))

    @property
    def prob_wait(self) -> Any:
        """P(W > 0), approximated by Erlang C of the M/M/c queue with the same rates."""
        return scalar_or_array(self._prob_wait)

    @cached_property
    def _theta(self) -> FloatArray:
        gap = np.maximum(self.servers * self.service_rate - self.arrival_rate, 0.0)
        var = 0.5 * (self.arrival_scv + self.service_scv)
        with np.errstate(divide="ignore", invalid="ignore"):
            theta = np.where(var > 0, gap / np.where(var > 0, var, 1.0), np.where(gap > 0, np.inf, 0.0))
        return np.asarray(theta)

    @property
    def _service_scv(self) -> FloatArray:
        return self.service_scv
