"""Exponential decay rates of waiting-time tails, and wait laws built around them.

For a single-server queue with light-tailed service, ``P(W > t) ~ A exp(-eta t)`` where ``eta > 0``
solves ``M_A(-eta) M_S(eta) = 1`` (``M`` the moment-generating functions of inter-arrival and
service times; Cramér-Lundberg, Asmussen *Applied Probability and Queues* 2nd ed., sec. XIII.5).
With Poisson arrivals this is ``lambda (M_S(eta) - 1) = eta`` and
``A = (1 - rho) / (lambda M_S'(eta) - 1)``.

For ``c`` servers the same equation with the service time ``S/c`` (one server ``c`` times as fast)
gives the exact decay rate: the ``c`` busy servers complete work as a superposition of ``c``
renewal processes whose cumulant ``kappa(z)`` is ``c`` times one server's, and the queue seen by
arrivals decays geometrically at the root ``sigma = A*(-kappa(sigma))``; writing
``kappa(sigma) = -c u`` with ``B*(-u) = 1/sigma`` turns this into ``M_A(-eta) M_S(eta/c) = 1``
with ``eta = c u`` (for M/M/c ``c mu - lambda``; for GI/D/c the root of ``e^{eta D} A*(eta)^c =
1`` of the single-server reduction; Tijms, *A First Course in Stochastic Models* (2003),
sec. 9.4).
"""

from __future__ import annotations

import numpy as np

from capplan._numeric import newton_decreasing_array
from capplan._validate import FloatArray
from capplan.queueing._sojourn import WaitLaw
from capplan.queueing.phasetype import parts_log_laplace, two_moment_parts
from capplan.queueing.service import ServiceShape

__all__ = ["arrival_log_laplace", "decay_rate", "mean_matched_law", "moment_matched_law"]


def arrival_log_laplace(
    eta: FloatArray, lam: FloatArray, arrival_scv: FloatArray
) -> tuple[FloatArray, FloatArray]:
    """``log E[exp(-eta A)]`` and its derivative in ``eta`` for inter-arrival times of rate ``lam``
    described by their SCV: deterministic at 0, otherwise the two-moment phase-type fit
    (element-wise)."""
    return parts_log_laplace(two_moment_parts(1.0 / np.asarray(lam), arrival_scv), eta)


def decay_rate(
    lam: FloatArray,
    service: ServiceShape,
    servers: FloatArray | float = 1.0,
    arrival_scv: FloatArray | float = 1.0,
) -> tuple[FloatArray, FloatArray]:
    """``(eta, A)`` of the waiting-time tail of the queue with service ``S/servers``.

    Inter-arrival times are Poisson (``arrival_scv == 1``), deterministic (0) or the two-moment
    phase-type fit of the given SCV.  ``A`` (relative to ``P(W > 0) = rho``) is returned for
    Poisson arrivals only, NaN otherwise; both are NaN where the service time has no exponential
    moments.  The root is found by Newton steps kept inside a bracket
    (:func:`capplan._numeric.newton_decreasing_array`), started from the root of the quadratic in
    the first two moments (the heavy-traffic decay rate ``2 (E[A] - E[S/c]) / (Var A + Var S/c)``).
    """
    shape = lam.shape
    c = np.broadcast_to(np.asarray(servers, dtype=np.float64), shape)
    ca2 = np.broadcast_to(np.asarray(arrival_scv, dtype=np.float64), shape)
    mean = np.broadcast_to(service.mean, shape)
    svc = service.broadcast_to(shape)
    hi = _upper_end(lam, svc, c, ca2)

    def minus_g(eta: FloatArray, mask: np.ndarray) -> tuple[FloatArray, FloatArray]:
        """-(log M_A(-eta) + log M_{S/c}(eta)) and its slope: 0 at 0, positive up to the root,
        negative after (a concave function)."""
        cm = c[mask]
        ls, dls = svc.take(mask).log_mgf(eta / cm)
        la, dla = arrival_log_laplace(eta, lam[mask], ca2[mask])
        return -np.asarray(la + ls), -np.asarray(dla + dls / cm)

    with np.errstate(divide="ignore", invalid="ignore"):
        scv = np.broadcast_to(np.asarray(service.scv, dtype=np.float64), shape)
        drift = 1.0 / lam - mean / c
        start = 2.0 * drift / (ca2 / lam**2 + scv * (mean / c) ** 2)
    eta = newton_decreasing_array(
        minus_g, np.zeros(shape), hi, np.where(np.isfinite(start), start, 0.0), rtol=1e-15
    )
    log_ms, slope = service.log_mgf(eta / c)
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        rho = lam * mean / c
        derivative = np.exp(log_ms) * slope  # E[S exp(eta S / c)]
        prefactor = (1.0 - rho) / (lam * derivative / c - 1.0)
    good = (hi > 0) & (eta > 0)
    with_a = good & (ca2 == 1.0) & np.isfinite(prefactor) & (prefactor > 0)
    return np.where(good, eta, np.nan), np.where(with_a, prefactor, np.nan)


def _upper_end(lam: FloatArray, service: ServiceShape, c: FloatArray, ca2: FloatArray) -> FloatArray:
    """A point past the decay rate (``log M_A(-eta) + log M_{S/c}(eta) > 0``), or 0 where there is
    none (no exponential moments, no arrivals, or an unstable queue)."""
    limit = np.broadcast_to(service.mgf_limit(), lam.shape) * c  # abscissa of M_{S/c}

    def g(eta: FloatArray) -> FloatArray:
        return np.asarray(arrival_log_laplace(eta, lam, ca2)[0] + service.log_mgf(eta / c)[0])

    mean = np.broadcast_to(service.mean, lam.shape)
    ok = (limit > 0) & (lam > 0) & (lam * mean < c)
    hi = np.where(np.isfinite(limit), limit * (1.0 - 1e-12), c / mean)
    for _ in range(64):  # unbounded MGF (deterministic, uniform): double until g > 0
        grow = ok & np.isinf(limit) & ~(g(hi) > 0)
        if not grow.any():
            break
        hi = np.where(grow, 2.0 * hi, hi)
    ok &= g(hi) > 0
    return np.where(ok, hi, 0.0)


def mean_matched_law(
    prob_wait: FloatArray, mean_wait: FloatArray, eta: FloatArray, prefactor: FloatArray, fallback: WaitLaw
) -> WaitLaw:
    """A wait law with tail decay rate ``eta``, ``P(W > 0) = prob_wait`` and mean ``mean_wait``.

    If ``A >= prob_wait`` (low-variance service), or ``A`` is unknown: ``P(W > t) = prob_wait`` up to
    a shift ``t0`` and ``prob_wait exp(-eta (t - t0))`` after it, ``t0`` set by the mean.  If
    ``A < prob_wait``: the tail ``A exp(-eta t)`` plus a faster component ``(prob_wait - A)
    exp(-zeta t)`` carrying the rest of the mean.  Where neither fits (or ``eta`` is NaN) the
    exponential ``fallback`` is kept.
    """
    with np.errstate(divide="ignore", invalid="ignore"):
        shift = mean_wait / prob_wait - 1.0 / eta
        rest = mean_wait - prefactor / eta
        zeta = (prob_wait - prefactor) / rest
    known = np.isfinite(eta) & (prob_wait > 0)
    low_var = ~(prefactor < prob_wait)  # True also where A is NaN
    one = known & low_var & (shift >= 0)
    two = known & ~low_var & (rest > 0)
    weight = np.concatenate([fallback.weight, np.zeros_like(fallback.weight)])
    shifts = np.concatenate([fallback.shift, np.zeros_like(fallback.shift)])
    rates = np.concatenate([fallback.rate, np.ones_like(fallback.rate)])
    shifts[0] = np.where(one, shift, shifts[0])
    rates[0] = np.where(one | two, eta, rates[0])
    weight[0] = np.where(two, prefactor, weight[0])
    weight[1] = np.where(two, prob_wait - prefactor, 0.0)
    rates[1] = np.where(two, zeta, 1.0)
    return WaitLaw(weight, shifts, rates)


def moment_matched_law(
    prob_wait: FloatArray, mean: FloatArray, second_moment: FloatArray, eta: FloatArray
) -> WaitLaw:
    """A wait law with ``P(W > 0)``, ``E[W]`` and ``E[W^2]`` as given and tail decay rate ``eta``.

    With ``m1, m2`` the conditional moments of ``W | W > 0``: if ``m1 eta >= 1`` (a wait less
    variable than exponential at that decay) ``P(W > t | W > 0)`` is 1 up to the shift
    ``m1 - 1/eta`` and ``exp(-eta (t - shift))`` after it; otherwise a mixture of the slow
    ``exp(-eta t)`` and one faster exponential, weights and rate set by ``m1`` and ``m2``.  Where
    ``eta`` is NaN (no exponential moments) or the mixture would need a negative weight, the
    exponential with mean ``m1``.  Unstable points (``mean`` inf) get rate 0.
    """
    p = np.asarray(prob_wait, dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        m1 = np.where(p > 0, mean / p, 0.0)
        m2 = np.where(p > 0, second_moment / p, 0.0)
        slow = 1.0 / eta
        fast = (m1 * slow - 0.5 * m2) / (slow - m1)
        w = (m1 - fast) / (slow - fast)
    unstable = ~np.isfinite(mean)
    known = np.isfinite(eta) & (p > 0) & ~unstable
    shifted = known & (m1 * eta >= 1.0)
    mixed = known & ~shifted & (fast > 0) & (fast < slow) & (w > 0) & (w <= 1)
    with np.errstate(divide="ignore"):
        plain_rate = np.where(unstable, 0.0, 1.0 / np.where(m1 > 0, m1, 1.0))
    weight = np.stack([np.where(mixed, p * w, np.where(unstable, 1.0, p)), np.where(mixed, p * (1 - w), 0.0)])
    shift = np.stack([np.where(shifted, m1 - slow, 0.0), np.zeros(p.shape)])
    with np.errstate(divide="ignore"):
        second_rate = np.where(mixed, 1.0 / np.where(mixed, fast, 1.0), 1.0)
    rate = np.stack([np.where(shifted | mixed, eta, plain_rate), second_rate])
    return WaitLaw(weight, shift, rate)
