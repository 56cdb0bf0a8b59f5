"""The G/G/c queue from the SCVs of inter-arrival and service times (or a service distribution)."""

from __future__ import annotations

from functools import cached_property
from typing import Any

import numpy as np
from numpy.typing import ArrayLike

from capplan._validate import FloatArray, integer_count, nonnegative
from capplan.queueing._base import QueueModel
from capplan.queueing._gigc import wait_moments_many
from capplan.queueing._grid import grid_waits
from capplan.queueing._sojourn import WaitLaw
from capplan.queueing._tails import decay_rate, moment_matched_law
from capplan.queueing.service import ServiceShape, resolve_service, service_shape

__all__ = ["GGc"]


class GGc(QueueModel):
    r"""G/G/c queue, FCFS: inter-arrival and service times described by their SCVs.

    Each time gets a two-moment phase-type fit (:mod:`capplan.queueing.phasetype`: Erlang mixture
    below SCV 1, exponential at 1, balanced-means H2 above, a constant at 0), and the queue of those
    fits is solved (:mod:`capplan.queueing._gigc` lists where each method is used):

    * exactly by the matrix-geometric method (PH/PH/c) for service SCV >= 1/2 and up to 32 servers;
      PH/M/c (exponential service) and GI/D/c (deterministic service, on a lattice) exactly for
      any number of servers;
    * beyond 32 servers, PH/M/c scaled by the PH/PH/32 : PH/M/32 ratio at the same
      ``(1 - rho) sqrt(c)``; between service SCV 0 and 1/2, the parabola through the exact values
      at 0, 1/2 and 1; below arrival SCV 1/4, scaled from 1/4 as in Whitt's QNA; constant service
      nearer saturation than its lattice reaches (e.g. beyond 0.996 for one server and arrival
      SCV 4), PH/M/c times the ratios moved to their heavy-traffic limits — approximations, named
      in :attr:`method`.

    That gives ``P(W > 0)``, ``E[W]`` and ``E[W^2]``; the wait distribution is an atom at zero plus
    a law with those moments whose tail decays at the exact asymptotic rate ``eta``, the root of
    ``M_A(-eta) M_S(eta/c) = 1`` (:func:`capplan.queueing._tails.moment_matched_law`).  Service
    times without exponential moments given as a distribution (``service=``, e.g. lognormal) keep
    their own tail: the conditional wait is the c-fold-server M/G/1 wait computed on a grid, scaled
    to the mean.  In the response time ``T = W + S`` the service time has the given distribution's
    shape, or the phase-type fit.

    Every method is continuous in both SCVs (but for constant service with arrival SCVs of about
    70 and more: :mod:`capplan.queueing._gigc`), and the waits and percentiles rise with utilization
    and as servers are removed (checked by property tests).  Accuracy against the simulator:
    ``docs/accuracy.md``.

    References: Neuts, *Matrix-Geometric Solutions in Stochastic Models* (1981); Latouche &
    Ramaswami (1999); Tijms, *A First Course in Stochastic Models* (2003), sec. 9.3-9.4; Whitt
    (1983), "The queueing network analyzer", Bell Syst. Tech. J. 62(9); Halfin & Whitt (1981),
    "Heavy-traffic limits for queues with many exponential servers", Oper. Res. 29(3).

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
        :class:`capplan.distributions.HyperExponential`); its mean and SCV set the wait, its shape
        the response time.
    """

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
    def _moments(self) -> tuple[FloatArray, FloatArray, FloatArray, frozenset[str]]:
        """``P(W > 0)``, ``E[W]``, ``E[W^2]`` (seconds) per element, and the methods used (the
        elements' PH/PH/c queues solved in stacks: :func:`capplan.queueing._gigc.wait_moments_many`)."""
        shape = self.arrival_rate.shape
        prob, mean, second = np.ones(shape), np.full(shape, np.inf), np.full(shape, np.inf)
        stable = self._rho < 1.0
        methods: set[str] = set() if stable.all() else {"unstable"}
        moments = wait_moments_many(
            self._rho[stable].tolist(),
            self.servers[stable].tolist(),
            self.arrival_scv[stable].tolist(),
            self.service_scv[stable].tolist(),
        )
        scale = 1.0 / self.service_rate[stable]
        prob[stable] = [w.prob_wait for w in moments]
        mean[stable] = np.array([w.mean for w in moments]) * scale
        second[stable] = np.array([w.second_moment for w in moments]) * scale**2
        methods = methods.union(*(w.methods for w in moments))
        return prob, mean, second, frozenset(methods)

    @property
    def method(self) -> str:  # type: ignore[override]
        """The methods behind these numbers; ``approx`` marks approximations."""
        names = sorted(self._moments[3] - {"unstable", "no waiting"}) or ["exact (no waiting)"]
        return "; ".join(names)

    @cached_property
    def _wait_law(self) -> WaitLaw:
        prob, mean, second, _ = self._moments
        shape = self.arrival_rate.shape
        eta = np.full(shape, np.nan)
        if np.any(self._service.mgf_limit() > 0):
            eta, _ = decay_rate(
                self.arrival_rate, self._service.broadcast_to(shape), self.servers, self.arrival_scv
            )
        return moment_matched_law(prob, mean, second, eta)

    @cached_property
    def _grid(self) -> Any:
        if self.service is None or np.any(self._service.mgf_limit() > 0):
            return None
        law = self._wait_law
        prob, mean, _, _ = self._moments
        rho = np.minimum(self._rho, 1.0)
        with np.errstate(divide="ignore", invalid="ignore"):
            # The c-fold-server M/G/1 conditional mean is (1 + c_s^2) E[S] / (2 c (1 - rho)).
            fast_server = (1.0 + self.service_scv) / (2.0 * self.servers * self.service_rate * (1.0 - rho))
            scale = np.where(prob > 0, mean / prob / fast_server, 1.0)
        return grid_waits(self._rho, law.prob_wait, self.servers, scale, self._service)

    @cached_property
    def _service(self) -> ServiceShape:
        return service_shape(self.service, 1.0 / self.service_rate, self.service_scv)
