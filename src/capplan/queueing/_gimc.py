"""The PH/M/c queue (phase-type arrivals, exponential service) solved exactly for any ``c``.

Beyond ``c`` the queue is the GI/M/c queue of Takács: an arrival finds ``m`` waiting with a
geometric law of ratio ``sigma``, the root in (0, 1) of ``sigma = A*(c mu (1 - sigma))`` (``A*`` the
Laplace transform of the inter-arrival time), and the wait of one that waits is exponential with
rate ``c mu (1 - sigma)`` (Gross, Shortle, Thompson & Harris, *Fundamentals of Queueing Theory*
4th ed. (2008), sec. 5.3; Tijms (2003), sec. 9.3).  In the quasi-birth-death form (level = number
in system, phase = the inter-arrival phase) the rate matrix of the homogeneous part is
``R = t alpha (s I - T)^-1`` with ``s = c mu (1 - sigma)``.

The probability of waiting needs the levels below ``c``.  Because arrivals enter through one
vector (``U = t alpha`` has rank one), linear level reduction there costs one solve with a
``phases x phases`` matrix per level; it runs compiled, with the level masses carried in log
scale so that ``c`` up to 1e4 and more neither overflows nor underflows.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable
from typing import Any

import numpy as np

from capplan.queueing.phasetype import GammaMixture

__all__ = ["PHMcWait", "gimc_sigma", "solve_phmc"]


def gimc_sigma(laplace: Callable[[float], float], rate: float, arrival_scv: float, rho: float) -> float:
    """The root ``sigma`` in (0, 1) of ``sigma = A*(rate (1 - sigma))`` for utilization ``rho < 1``.

    ``rate`` is the full service capacity ``c mu``.  The bracket's upper end ``1 - delta`` keeps
    clear of the trivial root at 1: ``delta`` is below the second-order turning point
    ``2 rho (1 - rho)/(1 + c_a^2)``.
    """
    from scipy import optimize  # noqa: PLC0415 - scipy.optimize is slow to import; load on use

    delta = 0.1 * rho * (1.0 - rho) / (1.0 + arrival_scv)

    def gap(sigma: float) -> float:
        return float(laplace(rate * (1.0 - sigma))) - sigma

    return float(optimize.brentq(gap, 0.0, 1.0 - delta, xtol=1e-16, rtol=1e-15, maxiter=200))


@functools.cache
def _kernel() -> Any:
    import numba  # noqa: PLC0415 - compiled on first use, not at import

    @numba.njit(cache=True, nogil=True)
    def arrival_masses(alpha, gen, exits, mu, servers, r_top):  # type: ignore[no-untyped-def]
        """Log-scaled level masses ``(log mass of levels < c, pi_c (normalised), log scale of pi_c)``.

        Level reduction from the top: ``M_c = T - c mu I + c mu R``; ``r_n = alpha (-M_{n+1})^-1``;
        ``M_n = T - n mu I + (n + 1) mu t r_n``, each diagonal recomputed from the off-diagonal
        rates (Grassmann, Taksar & Heyman 1985) so no cancellation builds up.  Then ``pi_0 M_0 =
        0`` and ``pi_{n+1} = (pi_n t) r_n``.
        """
        size = alpha.size
        rows = np.empty((servers, size))
        m = gen + servers * mu * r_top
        for n in range(servers, -1, -1):
            # The censored chain on levels <= n conserves probability: its level-n diagonal is minus
            # the rates out of it (down, n mu, and to other phases), not a difference (GTH).
            for i in range(size):
                m[i, i] = 0.0
                m[i, i] = -(n * mu + m[i].sum())
            if n == 0:
                break
            rows[n - 1] = np.linalg.solve(-m.T, alpha)
            m = gen + n * mu * np.outer(exits, rows[n - 1])
        # pi_0: left null vector of M_0 (one equation replaced by normalisation)
        system = m.T.copy()
        system[size - 1, :] = 1.0
        rhs = np.zeros(size)
        rhs[size - 1] = 1.0
        pi = np.linalg.solve(system, rhs)
        log_scale = 0.0
        log_below = -np.inf
        for n in range(servers):
            total = pi.sum()
            level_log = log_scale + math.log(total)
            hi = max(log_below, level_log)
            log_below = hi + math.log(math.exp(log_below - hi) + math.exp(level_log - hi))
            flow = (pi @ exits) / total
            pi = flow * rows[n]
            log_scale = level_log
            if flow <= 0.0:
                return log_below, pi, -np.inf
        return log_below, pi, log_scale

    return arrival_masses


class PHMcWait:
    """``P(W > 0)``, ``E[W]``, ``E[W^2]`` and ``sigma`` of the stable PH/M/c queue."""

    def __init__(self, prob_wait: float, mean: float, second_moment: float, sigma: float) -> None:
        self.prob_wait, self.mean, self.second_moment, self.sigma = prob_wait, mean, second_moment, sigma


def solve_phmc(arrival: GammaMixture, mu: float, servers: int) -> PHMcWait:
    """Exact wait moments of the PH/M/c queue with these inter-arrival times (utilization < 1)."""
    lam = 1.0 / arrival.mean
    rho = lam / (servers * mu)
    capacity = servers * mu
    sigma = gimc_sigma(lambda s: float(arrival.laplace(s)), capacity, arrival.scv, rho)
    alpha, gen = arrival.phase_type()
    exits = -gen.sum(axis=1)
    s = capacity * (1.0 - sigma)
    r_vec = np.linalg.solve((s * np.eye(alpha.size) - gen).T, alpha)  # alpha (sI - T)^-1
    r_top = np.outer(exits, r_vec)
    log_below, pi_c, log_c = _kernel()(alpha, gen, exits, mu, servers, r_top)
    # pi_c (I - R)^-1 = pi_c (I + R / (1 - sigma)); arrivals see it weighted by the exit rates.
    tail_mass = float(pi_c.sum() + (pi_c @ exits) * r_vec.sum() / (1.0 - sigma))
    top = max(log_below, log_c + math.log(tail_mass)) if tail_mass > 0 else log_below
    total = math.exp(log_below - top) + (tail_mass * math.exp(log_c - top) if tail_mass > 0 else 0.0)
    waiting = (pi_c @ exits) / (lam * (1.0 - sigma))
    prob_wait = float(min(1.0, waiting * math.exp(log_c - top) / total)) if math.isfinite(log_c) else 0.0
    decay = capacity * (1.0 - sigma)
    return PHMcWait(prob_wait, prob_wait / decay, 2.0 * prob_wait / decay**2, sigma)
