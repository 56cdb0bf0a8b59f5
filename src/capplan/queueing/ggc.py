"""The G/G/c queue by the Allen-Cunneen approximation."""

from __future__ import annotations

from functools import cached_property
from typing import Any

import numpy as np
from numpy.typing import ArrayLike

from capplan._validate import FloatArray, integer_count, nonnegative
from capplan.queueing._base import QueueModel
from capplan.queueing._erlang_kernel import log_erlang_c_ufunc
from capplan.queueing._grid import grid_waits
from capplan.queueing._sojourn import WaitLaw
from capplan.queueing._tails import conditional_wait_factor, decay_rate, mean_matched_law
from capplan.queueing.service import ServiceShape, resolve_service, service_shape

__all__ = ["GGc"]


class GGc(QueueModel):
    r"""G/G/c queue (approximation), from the SCVs of inter-arrival and service times.

    Mean wait: ``P(W > 0)`` is Erlang C (the M/M/c value) and the conditional mean wait is the M/M/c
    one, ``1/(c mu - lambda)``, times a factor that interpolates between its light-traffic limit
    (``c E[min of c residual service times]/E[S]``: 1 for exponential, ``c/(c+1)`` for deterministic
    service) and its heavy-traffic limit, the Allen-Cunneen / Kingman factor
    ``(c_a^2 + c_s^2)/2``, with weight ``rho^(kappa sqrt(c))``:

    .. math:: W_q \approx \frac{C(c, a)}{c\mu - \lambda}
              \Big[r_{LT} + \Big(\frac{c_a^2 + c_s^2}{2} - r_{LT}\Big)\rho^{\kappa\sqrt{c}}\Big].

    **Calibrated on simulation**: ``kappa = 0.35`` for service SCV <= 1 and ``0.70`` above
    (least-squares fits over the accuracy grid gave 0.33-0.37 and 0.58-0.80).  With Poisson
    arrivals this cut the mean-wait error over the grid from max 96% (plain Allen-Cunneen, in the
    first published ``docs/accuracy.md``) to max 15%, median 0.6-6.7% per service distribution.
    With one server, or exponential service and Poisson arrivals, both limits coincide (P-K, M/M/c
    exactly).

    Distribution: a tail that decays at the rate of one server ``c`` times as fast — the root
    ``eta`` of ``M_A(-eta) M_S(eta/c) = 1``, exact for M/M/c and M/D/c — shaped to keep the mean
    (:func:`capplan.queueing._tails.mean_matched_law`); for service times without exponential
    moments, the conditional wait of that fast server computed exactly on a grid and scaled to the
    mean.  In the response time the service time has the given distribution's shape, or a two-moment
    fit (deterministic or gamma).

    Measured against the simulator over 324 configurations (``docs/accuracy.md``): with the service
    distribution given (``service=``), p99 response median 0.3%, max 13.6% (99% of points within
    10%; the worst are hyperexponential SCV 4 service on 2-4 servers, under-estimated); with only
    mean and SCV, max 32.5% (the gamma fit misplaces a lognormal or hyperexponential tail).  Known
    limit: ``P(W > 0)`` ignores the arrival SCV, so with non-Poisson arrivals the mean wait can be
    off by 25-80% even where p99 is right.

    References: Allen, *Probability, Statistics, and Queueing Theory* 2nd ed. (1990), sec. 6.3,
    eq. (6.33); Whitt (1993), "Approximations for the GI/G/m queue", Prod. Oper. Manag. 2(2);
    Tijms, *A First Course in Stochastic Models* (2003), sec. 9.4.

    Parameters
    ----------
    arrival_rate : array_like
        lambda (per second).
    service_rate : array_like, optional
        mu per server (per second).
    servers : array_like of int
        c >= 1.
    arrival_scv, service_scv : array_like, default 1
        Squared coefficients of variation of inter-arrival and service times (>= 0).
    service : distribution, optional
        Instead of ``service_rate``/``service_scv``: a SciPy frozen distribution (or
        :class:`capplan.distributions.HyperExponential`).
    """

    method = (
        "approx: Erlang-C P(wait); light/heavy-traffic interpolated mean (calibrated); "
        "wait tail at the c-fold-server decay rate; service shape as given or gamma fit"
    )
    _params = ("arrival_rate", "service_rate", "servers", "arrival_scv", "service_scv")

    def __init__(
        self,
        arrival_rate: ArrayLike,
        service_rate: ArrayLike | None = None,
        servers: ArrayLike = 1,
        arrival_scv: ArrayLike = 1.0,
        service_scv: ArrayLike | None = None,
        *,
        service: Any = None,
    ) -> None:
        lam = nonnegative("arrival_rate", arrival_rate)
        mu, cs2, self.service = resolve_service(service_rate, service_scv, service)
        c = integer_count("servers", servers)
        ca2 = nonnegative("arrival_scv", arrival_scv)
        (self.arrival_rate, self.service_rate, self.servers, self.arrival_scv, self.service_scv) = (
            np.broadcast_arrays(lam, mu, c, ca2, cs2)
        )

    @cached_property
    def _wait_law(self) -> WaitLaw:
        a = self.arrival_rate / self.service_rate
        prob_wait = np.exp(log_erlang_c_ufunc(self.servers, a))
        gap = np.maximum(self.servers * self.service_rate - self.arrival_rate, 0.0)
        stable = gap > 0
        factor = self._conditional_factor
        # Conditional mean wait: the M/M/c value 1/(c mu - lambda) times the interpolated factor.
        with np.errstate(divide="ignore", invalid="ignore"):
            theta = np.where(stable, gap / factor, 0.0)
            theta = np.where(stable & (factor == 0), np.inf, theta)
        kingman = WaitLaw.exponential(prob_wait, theta)
        if not stable.any() or np.all(self._service.mgf_limit() == 0):
            return kingman
        with np.errstate(divide="ignore", invalid="ignore"):
            mean_wait = np.where(stable, prob_wait / theta, np.inf)
        shape = self.arrival_rate.shape
        eta, prefactor = decay_rate(
            self.arrival_rate, self._service.broadcast_to(shape), self.servers, self.arrival_scv
        )
        # decay_rate's constant is relative to P(W > 0) = rho of the one-fast-server queue.
        return mean_matched_law(prob_wait, mean_wait, eta, prefactor * prob_wait / self._rho, kingman)

    @cached_property
    def _conditional_factor(self) -> FloatArray:
        """E[W | W > 0] relative to M/M/c's, light- to heavy-traffic interpolation (see _tails)."""
        rho = np.minimum(self._rho, 1.0)
        return conditional_wait_factor(self._service, self.servers, rho, self.arrival_scv)

    @cached_property
    def _grid(self) -> Any:
        if self.service is None or np.any(self._service.mgf_limit() > 0):
            return None
        law = self._wait_law
        # The c-fold-server M/G/1 conditional mean is (1 + c_s^2)/2 times M/M/c's: rescale to ours.
        scale = self._conditional_factor / (0.5 * (1.0 + self.service_scv))
        return grid_waits(self._rho, law.prob_wait, self.servers, scale, self._service)

    @cached_property
    def _service(self) -> ServiceShape:
        return service_shape(self.service, 1.0 / self.service_rate, self.service_scv)
