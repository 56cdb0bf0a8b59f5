"""Exponential decay rates of waiting-time tails, and wait laws built around them.

For a single-server queue with light-tailed service, ``P(W > t) ~ A exp(-eta t)`` where ``eta > 0``
solves ``M_A(-eta) M_S(eta) = 1`` (``M`` the moment-generating functions of inter-arrival and
service times; Cramér-Lundberg, Asmussen *Applied Probability and Queues* 2nd ed., sec. XIII.5).
With Poisson arrivals this is ``lambda (M_S(eta) - 1) = eta`` and
``A = (1 - rho) / (lambda M_S'(eta) - 1)``.

For ``c`` servers the same equation with the service time ``S/c`` (one server ``c`` times as fast)
gives the exact decay rate of M/M/c (``c mu - lambda``) and of M/D/c (the root of
``lambda (exp(eta D / c) - 1) = eta``; Tijms, *A First Course in Stochastic Models* (2003),
sec. 9.4), and is used as the approximation for other service times.
"""

from __future__ import annotations

import numpy as np

from capplan._validate import FloatArray
from capplan.queueing._sojourn import WaitLaw
from capplan.queueing.service import ServiceShape

__all__ = [
    "INTERPOLATION_KAPPA",
    "conditional_wait_factor",
    "decay_rate",
    "light_traffic_factor",
    "mean_matched_law",
]


def decay_rate(
    lam: FloatArray,
    service: ServiceShape,
    servers: FloatArray | float = 1.0,
    arrival_scv: FloatArray | float = 1.0,
) -> tuple[FloatArray, FloatArray]:
    """``(eta, A)`` of the waiting-time tail of the queue with service ``S/servers``.

    Inter-arrival times are Poisson (``arrival_scv == 1``), deterministic (0) or a gamma fit of the
    given SCV.  ``A`` (relative to ``P(W > 0) = rho``) is returned for Poisson arrivals only, NaN
    otherwise; both are NaN where the service time has no exponential moments.
    """
    shape = lam.shape
    c = np.broadcast_to(np.asarray(servers, dtype=np.float64), shape)
    ca2 = np.broadcast_to(np.asarray(arrival_scv, dtype=np.float64), shape)
    limit = np.broadcast_to(service.mgf_limit(), shape) * c  # abscissa of M_{S/c}
    mean = np.broadcast_to(service.mean, shape)
    poisson = ca2 == 1.0

    def g(eta: FloatArray) -> FloatArray:
        """log M_A(-eta) + log M_{S/c}(eta): negative between 0 and the root, positive after."""
        with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
            log_ms = np.log(service.mgf(eta / c)[0])
            safe = np.where(ca2 > 0, ca2, 1.0)
            log_ma = np.where(ca2 > 0, -np.log1p(safe * eta / lam) / safe, -eta / lam)
            return np.asarray(log_ma + log_ms)

    ok = (limit > 0) & (lam > 0)
    hi = np.where(np.isfinite(limit), limit * (1.0 - 1e-12), c / mean)
    for _ in range(64):  # unbounded MGF (deterministic, uniform): double until g > 0
        grow = ok & np.isinf(limit) & ~(g(hi) > 0)
        if not grow.any():
            break
        hi = np.where(grow, 2.0 * hi, hi)
    ok &= g(hi) > 0
    lo = np.zeros(shape)
    for _ in range(200):
        mid = 0.5 * (lo + hi)
        below = g(mid) < 0
        lo = np.where(below, mid, lo)
        hi = np.where(below, hi, mid)
    eta = 0.5 * (lo + hi)
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        rho = lam * mean / c
        prefactor = (1.0 - rho) / (lam * service.mgf(eta / c)[1] / c - 1.0)
    good = ok & (eta > 0)
    with_a = good & poisson & np.isfinite(prefactor) & (prefactor > 0)
    return np.where(good, eta, np.nan), np.where(with_a, prefactor, np.nan)


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


#: Calibrated on the simulator (docs/accuracy.md): the interpolation exponent per sqrt(c) between
#: the light- and heavy-traffic conditional mean waits, for service SCV <= 1 and > 1.  Least-squares
#: fits over the grid (benchmarks/fit_interpolation_kappa.py) gave 0.33-0.37 (deterministic,
#: Erlang-2, Erlang-4) and 0.58-0.80 (hyperexponential SCV 2 and 4, lognormal SCV 4).
INTERPOLATION_KAPPA = (0.35, 0.70)
_U = np.concatenate([[0.0], np.geomspace(1e-6, 1e7, 1500)])
_ROWS = 2000


def light_traffic_factor(service: ServiceShape, servers: FloatArray) -> FloatArray:
    """``c E[min of c equilibrium residual service times] / E[S]``, element-wise.

    When an arrival finds all ``c`` servers busy in light traffic, it waits for the first of ``c``
    independent equilibrium residual service times: this factor scales the M/M/c conditional mean
    wait ``E[S]/(c (1 - rho))`` to the light-traffic limit (1 for exponential service, ``c/(c+1)``
    for deterministic, ``(1 + c_s^2)/2`` for one server).  Computed as
    ``int_0^inf S_e(E[S] u / c)^c du`` on a log-spaced grid.
    """
    c = np.asarray(servers, dtype=np.float64)
    shape = np.broadcast_shapes(c.shape, np.shape(service.mean))
    svc = service.broadcast_to(shape)
    cc = np.broadcast_to(c, shape).ravel()
    mean = np.broadcast_to(svc.mean, shape).ravel()
    scv = np.broadcast_to(svc.scv, shape).ravel()
    # Dividing by the same rule applied to exp(-u) (exactly 1) cancels the discretisation error,
    # so exponential service gives exactly 1; one server gives exactly (1 + c_s^2)/2.
    norm = float(np.trapezoid(np.exp(-_U), _U))
    out = 0.5 * (1.0 + scv)  # exact for one server
    many = np.flatnonzero(cc > 1.0)
    for start in range(0, many.size, _ROWS):  # rows of points x grid nodes, bounded memory
        rows = many[start : start + _ROWS]
        chunk = np.zeros(cc.size, dtype=bool)
        chunk[rows] = True
        shapes = svc.take(chunk.reshape(shape)).as_column() if np.ndim(svc.mean) else svc
        x = mean[rows, None] * _U / cc[rows, None]
        values = np.asarray(shapes.residual_sf(x), dtype=np.float64)
        out[rows] = np.trapezoid(values ** cc[rows, None], _U, axis=1) / norm
    return out.reshape(shape)


def conditional_wait_factor(
    service: ServiceShape, servers: FloatArray, rho: FloatArray, arrival_scv: FloatArray
) -> FloatArray:
    """Conditional mean wait of G/G/c over that of M/M/c, ``E[W | W > 0] c (1 - rho) / E[S]``.

    Interpolates between the light-traffic limit :func:`light_traffic_factor` and the heavy-traffic
    (Kingman / Allen-Cunneen) limit ``(c_a^2 + c_s^2)/2`` with weight ``rho^(kappa sqrt(c))``, kappa
    from :data:`INTERPOLATION_KAPPA`; for ``c = 1`` both limits coincide (P-K).
    """
    light = light_traffic_factor(service, servers)
    heavy = 0.5 * (np.asarray(arrival_scv) + np.asarray(service.scv))
    # D/D/c never waits below saturation; the light-traffic limit assumes Poisson arrivals.
    light = np.where(heavy == 0.0, 0.0, light)
    kappa = np.where(np.asarray(service.scv) <= 1.0, INTERPOLATION_KAPPA[0], INTERPOLATION_KAPPA[1])
    weight = np.asarray(rho) ** (kappa * np.sqrt(servers))
    return np.asarray(light + (heavy - light) * weight)
