"""The GI/D/c queue solved exactly on a lattice (Wiener-Hopf factorisation by FFT).

With deterministic service ``D`` and FCFS, customers leave in arrival order and customer ``n``
takes the server customer ``n - c`` frees, so ``W_n = max(0, W_{n-c} + D - (A_n - A_{n-c}))``:
the wait is that of a single-server queue whose inter-arrival time is the sum ``A^(c)`` of ``c``
inter-arrival times (Franx (2001), "A simple solution for the M/D/c waiting time distribution",
Oper. Res. Lett. 29; Tijms (2003), sec. 9.4).  That wait is the maximum of the random walk with
steps ``U = D - A^(c)``, whose distribution Spitzer's identity gives from the Wiener-Hopf
factors of ``1 - E[z^U]`` (Feller vol. 2, ch. XII; Asmussen, *Applied Probability and Queues*
2nd ed. (2003), sec. VIII.3).

On a lattice of step ``h = D/K`` the steps are the masses of ``U`` on cells of width ``h``.  Two
ways to the lattice walk's maximum:

* Wiener-Hopf by FFT: with ``V(z) = (1 - E[z^U])/(1 - 1/z)``, which has no zero on the unit
  circle, the positive-index Fourier coefficients ``c_k`` of ``log V`` give the wait's generating
  function ``exp(sum_{k>0} c_k (1 - z^k))``; ``E[z^U]`` is ``e^{i K theta} phi_A(-theta/h)^c
  sinc(theta/2)`` (the box kernel of the cells) from the inter-arrival characteristic function.
* Where a step is positive with probability below 1e-6 (``P(W > 0)`` may be far below FFT
  round-off) or the lattice would have to span a long ``A^(c)`` (light load, few servers) while
  the wait itself is short (at most 4096 cells): the Lindley recursion
  ``W' = max(0, W + U)`` iterated from ``W = 0`` to its fixed point with direct convolutions of
  positive terms, on ``[0, D + 34/eta]`` (``eta`` the wait's exact decay rate, so ``e^{-34}`` of
  its tail lies beyond).

Towards saturation ``34/eta`` outgrows both: the FFT's lattice then thins to as few as 4 cells per
service time (in heavy traffic the wait spans thousands of them, and M/D/1 stays within 1e-5), and
beyond that (or for arrival SCVs in the tens at moderate load) :func:`affordable` says no and
:class:`LatticeRangeError` is raised.

The atom at zero is off by ``O(h)`` and the moments by ``O(h^2)``; two lattices (``K`` and
``2K``) and Richardson extrapolation remove the leading terms (M/D/1: ``P(W > 0)``, ``E[W]`` and
``E[W^2]`` within ~1e-5 of the exact values, relative, from utilization 0.001 to 0.99).

Inter-arrival times are two-moment phase-type fits given by their parts ``(w1, k1, r1, w2, k2,
r2)`` (:func:`capplan.queueing.phasetype.two_moment_parts`): an Erlang mixture or an H2, both an
Erlang of a random number of phases of one rate (:func:`_phase_counts`).
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass

import numpy as np
from scipy import special

from capplan._validate import FloatArray
from capplan.queueing.phasetype import parts_laplace

__all__ = [
    "LatticePlan",
    "LatticeRangeError",
    "LatticeWait",
    "affordable",
    "deterministic_service_wait",
    "lattice_plan",
]

_MAX_FFT = 1 << 18
_POINTS_PER_SERVICE = 32  # K of the coarse lattice; the fine one has 2K
_MIN_POINTS_PER_SERVICE = 16  # fewer on the FFT's lattice only where the recursion is costlier ...
_MIN_FFT_POINTS = 4  # ... down to this (heavy traffic: M/D/1 within 1e-5 at 4, 1e-4 at 2)
_TAIL_DECAYS = 34.0  # the wait's range: e^{-34} of its tail left beyond it
_TAIL_SDS = 14.0  # the range of A^(c): this many standard deviations, times (1 + SCV)
_CELLS_PER_SCALE = 16  # Lindley lattice: cells per D/(c + 1) ...
_MAX_LINDLEY_POINTS = 2048  # ... up to this many per D
_MAX_LINDLEY_CELLS = 4096  # on the coarse lattice (each step convolves the whole lattice)
_LINDLEY_STEPS = 2000
_RARE_STEP = 1e-6  # P(A^(c) < D) below which the Lindley recursion is iterated instead


class LatticeRangeError(ValueError):
    """The queue is beyond the lattice's reach (see :func:`affordable`)."""


@dataclass(frozen=True)
class LatticeWait:
    """``P(W > 0)``, ``E[W]``, ``E[W^2]`` (seconds) of the GI/D/c queue."""

    prob_wait: float
    mean: float
    second_moment: float


def _phase_counts(parts: tuple[float, ...], limit: int) -> tuple[FloatArray, float]:
    """Probabilities of 0..limit phases of rate ``r`` making up one inter-arrival time, and ``r``.

    An Erlang mixture is a count of phases of its one rate; an H2's slow exponential (rate ``q r``
    with ``r`` the fast rate) is a geometric number of fast phases, each the last with probability
    ``q`` (thinning).
    """
    w1, k1, r1, w2, k2, r2 = parts
    counts = np.zeros(limit + 1)
    if r1 == r2 or w2 == 0.0:
        for w, k in ((w1, k1), (w2, k2)):
            if w > 0 and k <= limit:
                counts[int(k)] += w
        return counts, r1
    fast, slow = (r1, r2) if r1 > r2 else (r2, r1)
    w_fast, w_slow = (w1, w2) if r1 > r2 else (w2, w1)
    q = slow / fast
    n = np.arange(1, limit + 1)
    counts[1] += w_fast
    counts[1:] += w_slow * q * (1.0 - q) ** (n - 1)
    return counts, fast


def _power(pmf: FloatArray, times: int) -> FloatArray:
    """The ``times``-fold convolution of ``pmf`` with itself, truncated to its length."""
    out = np.zeros(pmf.size)
    out[0] = 1.0
    base = pmf.copy()
    while times:
        if times & 1:
            out = np.convolve(out, base)[: pmf.size]
        times >>= 1
        if times:
            base = np.convolve(base, base)[: pmf.size]
    return out


def _sum_phases(parts: tuple[float, ...], servers: int, span: float) -> tuple[FloatArray, float]:
    """Phase counts of ``A^(c)`` (``c``-fold convolution), enough for its law up to ``span``."""
    reach = max(parts[2], parts[5]) * span
    counts, rate = _phase_counts(parts, int(reach + 40.0 * math.sqrt(reach + 1.0) + 60.0))
    return _power(counts, servers), rate


def _decay(parts: tuple[float, ...], servers: int, service: float) -> float:
    """The root ``eta > 0`` of ``eta D + c log A*(eta) = 0``: the wait's exact tail decay rate."""

    def gap(eta: float) -> float:
        return float(eta * service + servers * np.log(parts_laplace(parts, eta)))

    from scipy import optimize  # noqa: PLC0415 - scipy.optimize is slow to import; load on use

    hi = 1.0 / service
    while gap(hi) <= 0.0:
        hi *= 2.0
    # gap is convex, zero at 0 with slope D - c E[A] < 0.  Near 0 it is round-off, about c * 1e-16
    # against a slope that vanishes at saturation, and a bracket there may hold a false root of
    # the noise; so the lower end must be clearly below zero, by at least half the slope's value
    # and by more than 4 c eps: at hi * 1e-12 where it is, else the first such point down from hi.
    slope = service - servers / _inverse_mean(parts)
    noise = 4.0 * servers * float(np.finfo(float).eps)

    def clearly_negative(eta: float) -> bool:
        return gap(eta) < min(0.5 * slope * eta, -noise)

    lo = hi * 1e-12
    if not clearly_negative(lo):
        lo = hi
        while not clearly_negative(lo):
            lo /= 8.0
            if -0.5 * slope * lo < noise:
                raise LatticeRangeError("the decay rate is below round-off: utilization too close to 1")
    return float(optimize.brentq(gap, lo, hi, rtol=1e-12))


@functools.lru_cache(maxsize=4)
def _circle(size: int) -> tuple[FloatArray, np.ndarray, FloatArray]:
    """The circle's ``size`` points, shared by every lattice of that size (read-only): the angles
    ``theta_m = 2 pi m/size`` (``m`` folded to ``-size/2..size/2``), ``1 - 1/z_m`` with
    ``z_m = e^{i theta_m}``, and the cells' box kernel ``sinc(theta_m/2)``."""
    m = np.arange(size)
    folded = np.where(m <= size // 2, m, m - size)
    z = np.exp(2j * np.pi * folded / size)
    with np.errstate(divide="ignore", invalid="ignore"):
        denominator = 1.0 - 1.0 / z
    theta = 2.0 * np.pi * folded / size
    out = (theta, denominator, np.sinc(theta / (2.0 * np.pi)))
    for a in out:
        a.flags.writeable = False
    return out


@functools.lru_cache(maxsize=4)
def _shift(points: int, size: int) -> np.ndarray:
    """``e^{i K theta_m}`` on the circle (read-only): the step ``D`` of ``K`` cells."""
    out = np.asarray(np.exp(1j * points * _circle(size)[0]))
    out.flags.writeable = False
    return out


def _maximum(phi: np.ndarray, drift: float) -> FloatArray:
    """Masses of the walk's maximum on ``0..size/2``, from ``E[z^U]`` on the circle's
    ``size`` points (angles ``2 pi m/size``) and ``drift = -E[U]`` in lattice steps.  The tiny
    negative ringing is kept: clipping it would bias the moments."""
    size = phi.size
    with np.errstate(divide="ignore", invalid="ignore"):
        v = (1.0 - phi) / _circle(size)[1]
    v[0] = drift  # the limit at z = 1
    log_v = np.log(np.abs(v)) + 1j * np.unwrap(np.angle(v))
    log_v -= 2j * np.pi * np.round(log_v[0].imag / (2.0 * np.pi))
    cep = np.fft.fft(log_v) / size  # log V(theta_m) = sum_k c_k exp(i k theta_m)
    positive = np.zeros(size, dtype=complex)
    positive[1 : size // 2] = cep[1 : size // 2]
    log_pgf = positive.sum() - np.fft.ifft(positive) * size
    return np.asarray(np.real(np.fft.fft(np.exp(log_pgf)) / size)[: size // 2])


def _cf_steps(parts: tuple[float, ...], servers: int, points: int, size: int, h: float) -> np.ndarray:
    """``E[z^U]`` on the circle from the characteristic function (box kernel of the cells)."""
    theta, _, kernel = _circle(size)
    cf = parts_laplace(parts, 1j * theta / h)  # E[exp(-i theta A / h)]
    # The product starts from a writable copy, as it did from the freshly computed factor: numpy
    # multiplies into such temporaries in place, and keeping that keeps every bit of the result.
    return np.asarray(_shift(points, size).copy() * cf**servers * kernel)


def _cdf(phases: tuple[FloatArray, float], x: FloatArray) -> FloatArray:
    """``P(A^(c) <= x) = sum_k Pois(k; r x) P(N <= k)``: the ``N``-th event of a Poisson process
    of rate ``r`` has come by ``x`` (sums of positive terms, accurate however small)."""
    n_pmf, rate = phases
    n_cdf = np.cumsum(n_pmf)
    k = np.arange(n_cdf.size, dtype=np.float64)
    mu = rate * np.asarray(x, dtype=np.float64)[:, None]
    log_pois = k[None, :] * np.log(np.maximum(mu, 1e-300)) - mu - special.gammaln(k + 1.0)[None, :]
    return np.asarray(np.minimum(np.exp(log_pois) @ n_cdf, 1.0))


def _lindley(phases: tuple[FloatArray, float], points: int, h: float, cells: int) -> FloatArray:
    """The stationary law of ``W' = max(0, W + U)`` on the lattice ``0..cells-1``, iterated from
    ``W = 0`` until it no longer changes, with direct (positive) convolutions: used in light
    traffic, where the walk's maximum is reached within a few steps and ``P(W > 0)`` may be far
    below FFT round-off.  Steps below ``-cells`` all empty the queue alike."""
    edges = np.asarray((np.arange(cells + points) + 0.5) * h, dtype=np.float64)
    masses = np.diff(np.concatenate([[0.0], _cdf(phases, edges)]))  # A^(c) in cells 0..cells+points-1
    up = np.maximum(masses[::-1], 0.0)  # U = D - A from D - (cells + points - 1) h up to D
    up /= max(float(up.sum()), 1.0)  # round-off must not create mass, or the iteration never settles
    beyond = 1.0 - float(up.sum())  # A^(c) past the cells: back to zero from anywhere
    offset = cells - 1  # index of U = 0 in ``up``
    wait = np.zeros(cells)
    wait[0] = 1.0
    for _ in range(_LINDLEY_STEPS):
        full = np.convolve(wait, up)  # W + U at index (W + U)/h + offset
        new = full[offset : offset + cells].copy()
        new[0] += full[:offset].sum() + beyond * wait.sum()
        # Converged when the positive waits (however small their total) stop changing.
        if np.abs(new[1:] - wait[1:]).sum() <= 1e-12 * new[1:].sum():
            return new
        wait = new
    return wait


def _moments(pmf: FloatArray, h: float) -> tuple[float, float, float]:
    x = np.arange(pmf.size) * h
    total = float(pmf.sum())
    return float(pmf[1:].sum()) / total, float(pmf @ x) / total, float(pmf @ (x * x)) / total


def _inverse_mean(parts: tuple[float, ...]) -> float:
    w1, k1, r1, w2, k2, r2 = parts
    return 1.0 / (w1 * k1 / r1 + w2 * k2 / r2)


@dataclass(frozen=True)
class LatticePlan:
    """How one GI/D/c queue is solved: by FFT (``use_cf``) or the Lindley recursion, with
    ``points`` cells per service time on the coarse lattice, over ``span`` (seconds);
    ``near_limit`` where a quantity that decides affordability is within 1% of its bound."""

    use_cf: bool
    points: int
    span: float
    reach: float
    near_limit: bool
    phases: tuple[FloatArray, float] | None = None  # of A^(c) up to D + reach, for the recursion


#: How near its bound a deciding quantity makes a plan ``near_limit`` (relative).
_NEAR = 1.01


def _plan(parts: tuple[float, ...], scv: float, servers: int, service: float) -> LatticePlan | None:
    """The cheaper of the two ways that resolves the queue, or None where neither is affordable:
    the FFT would need fewer than ``_MIN_FFT_POINTS`` cells per service time and the recursion more
    than ``_MAX_LINDLEY_CELLS`` cells (heavy traffic, or very bursty arrivals)."""
    mean_a = 1.0 / _inverse_mean(parts)
    eta = _decay(parts, servers, service)
    reach = service + _TAIL_DECAYS / eta  # one step reaches D; beyond, the tail decays at eta
    span_cf = servers * mean_a + _TAIL_SDS * math.sqrt(servers * scv) * mean_a * (1.0 + scv) + reach
    lindley = int(min(_MAX_LINDLEY_POINTS, max(2 * _POINTS_PER_SERVICE, _CELLS_PER_SCALE * (servers + 1))))
    cells = reach * lindley / service
    # The phases up to D + reach serve the recursion too; where it is too long for it, up to D.
    phases = _sum_phases(parts, servers, service + (reach if cells <= _MAX_LINDLEY_CELLS else 0.0))
    step_up = float(_cdf(phases, np.array([service]))[0])
    rare = step_up < _RARE_STEP
    afforded = _MAX_FFT * service / (4.0 * span_cf)  # cells per service time of the FFT's lattice
    # FFT round-off would swamp a P(W > 0) this small; and a lattice too long for the FFT at
    # _MIN_POINTS_PER_SERVICE cells means a light load for few servers, where excursions are short.
    if rare or (afforded < _MIN_POINTS_PER_SERVICE and cells <= _MAX_LINDLEY_CELLS):
        # resolve the wait itself: in light traffic ~ D/(c + 1), the first of c residuals
        near = step_up * _NEAR >= _RARE_STEP if rare else cells * _NEAR > _MAX_LINDLEY_CELLS
        if cells > _MAX_LINDLEY_CELLS:
            phases = _sum_phases(parts, servers, service + reach)
        return LatticePlan(False, lindley, reach, reach, near, phases)
    if afforded < _MIN_FFT_POINTS:
        return None
    points = int(min(_POINTS_PER_SERVICE, afforded))
    return LatticePlan(True, points, span_cf, reach, afforded < _MIN_FFT_POINTS * _NEAR)


def lattice_plan(parts: tuple[float, ...], scv: float, servers: int, service: float) -> LatticePlan | None:
    """How :func:`deterministic_service_wait` would solve this queue, or None where the lattice
    cannot (a few root evaluations)."""
    try:
        return _plan(parts, scv, servers, service)
    except LatticeRangeError:
        return None


def affordable(parts: tuple[float, ...], scv: float, servers: int, service: float) -> bool:
    """Whether :func:`deterministic_service_wait` solves this queue."""
    return lattice_plan(parts, scv, servers, service) is not None


def deterministic_service_wait(
    parts: tuple[float, ...], scv: float, servers: int, service: float, plan: LatticePlan | None = None
) -> LatticeWait:
    """Exact wait moments of the stable GI/D/c queue (module docstring).

    ``parts`` describe the inter-arrival time's phase-type fit, ``scv`` its SCV (it sizes the
    lattice), ``service`` is the constant service time; ``plan``, if given, is
    :func:`lattice_plan`'s for these arguments.  Raises :class:`LatticeRangeError` where the
    lattice is not :func:`affordable`.
    """
    plan = plan or _plan(parts, scv, servers, service)
    if plan is None:
        raise LatticeRangeError("the GI/D/c lattice would need more points than it affords")
    gap = servers * (1.0 / _inverse_mean(parts)) - service
    results = []
    for k in (plan.points, 2 * plan.points):
        h = service / k
        if plan.use_cf:
            size = 1 << max(10, math.ceil(math.log2(2.0 * plan.span / h)))
            pmf = _maximum(_cf_steps(parts, servers, k, size, h), gap / h)
        else:
            assert plan.phases is not None
            pmf = _lindley(plan.phases, k, h, math.ceil(plan.reach / h) + 1)
        results.append(_moments(pmf, h))
    (p_c, m1_c, m2_c), (p_f, m1_f, m2_f) = results
    # The atom's error is O(h), the moments' O(h^2) (cells keep the mean of U to O(h^2)).
    return LatticeWait(
        min(max(2.0 * p_f - p_c, 0.0), 1.0),
        max((4.0 * m1_f - m1_c) / 3.0, 0.0),
        max((4.0 * m2_f - m2_c) / 3.0, 0.0),
    )
