"""Waiting times on a grid, for service times without exponential moments (lognormal, Weibull ...).

The M/G/1 wait is a geometric sum of equilibrium residual service times (Pollaczek-Khinchine /
Beneš): with ``rho = lambda E[S]`` and ``S_e`` having density ``P(S > x)/E[S]``,

    W = S_e,1 + ... + S_e,N,      P(N = n) = (1 - rho) rho^n,

so on a grid of step ``h`` (residual masses by rounding to the nearest grid point) the
distribution of ``W`` is ``(1 - rho) / (1 - rho phi)`` in the Fourier domain, ``phi`` the
transform of the residual masses — one FFT, exact up to the grid step and the truncation of the
range (Abate & Whitt 1992, "The Fourier-series method for inverting transforms of probability
distributions", sec. 11; Embrechts et al. 1993 for heavy tails).

For ``c`` servers and general arrivals (:class:`~capplan.queueing.GGc`) the conditional wait
``W | W > 0`` is taken as that of the M/G/1 queue with service ``S/c`` (one server ``c`` times as
fast, the same utilization), scaled by ``(c_a^2 + c_s^2)/(1 + c_s^2)`` so its mean is the
Allen-Cunneen mean.  For ``c = 1`` with Poisson arrivals this is exact.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from capplan._numeric import bisect_decreasing
from capplan._validate import FloatArray
from capplan.queueing.service import ServiceShape

__all__ = ["GridWait", "grid_wait", "grid_waits"]

_POINTS = 2**16
_RANGE_MEANS = 60.0  # grid range in conditional mean waits
_RANGE_QUANTILE = 1 - 1e-7  # ... and at least this service quantile (scaled by 1/c), times 4


@dataclass(frozen=True)
class GridWait:
    """Wait distribution: an atom at 0 plus masses ``cells[j]`` spread evenly over the grid cell
    ``[(j - 1/2) step, (j + 1/2) step)`` (clipped at 0), as rounding to the grid put them there."""

    step: float
    atom: float
    cells: FloatArray

    @property
    def points(self) -> FloatArray:
        """Cell centres."""
        return np.arange(self.cells.size, dtype=np.float64) * self.step

    @property
    def pmf(self) -> FloatArray:
        """Masses at the cell centres, the atom included in the first."""
        out = self.cells.copy()
        out[0] += self.atom
        return out

    def _knots(self) -> tuple[FloatArray, FloatArray]:
        edges = np.concatenate([[0.0], (np.arange(self.cells.size) + 0.5) * self.step])
        cum = np.minimum(self.atom + np.concatenate([[0.0], np.cumsum(self.cells)]), 1.0)
        return edges, cum

    def cdf(self, t: FloatArray) -> FloatArray:
        """P(W <= t), piecewise linear inside the cells."""
        edges, cum = self._knots()
        return np.asarray(np.interp(t, edges, cum, left=0.0, right=1.0))

    def quantile(self, p: FloatArray) -> FloatArray:
        edges, cum = self._knots()
        out = np.interp(p, cum, edges)
        return np.asarray(np.where(p <= self.atom, 0.0, out))

    def response_cdf(self, t: FloatArray, service_cdf: Any) -> FloatArray:
        """P(W + S <= t): the atom's term plus, per cell, Simpson's average of F_S(t - w) over the cell."""
        tt = np.atleast_1d(np.asarray(t, dtype=np.float64))
        keep = self.cells > 1e-16
        centre = self.points[keep]
        lo = np.maximum(centre - 0.5 * self.step, 0.0)
        hi = centre + 0.5 * self.step
        w = self.cells[keep]
        out = np.empty(tt.shape)
        for i, ti in enumerate(tt.flat):
            sel = lo <= ti
            a, m, b = ti - lo[sel], ti - 0.5 * (lo[sel] + hi[sel]), np.maximum(ti - hi[sel], 0.0)
            avg = (service_cdf(a) + 4.0 * service_cdf(np.maximum(m, 0.0)) + service_cdf(b)) / 6.0
            out.flat[i] = self.atom * float(service_cdf(ti)) + float(np.dot(w[sel], avg))
        return out.reshape(np.shape(t))

    def response_quantile(self, p: float, service: Any) -> float:
        """Quantile of W + S by bisection between max(q_W, q_S) and q_W(p') + q_S(p')."""
        lo = max(float(self.quantile(np.asarray(p))), float(service.ppf(p)))
        p_hi = 0.5 * (1 + p)
        hi = float(self.quantile(np.asarray(p_hi))) + float(service.ppf(p_hi)) + self.step

        def minus_cdf(t: FloatArray, _: np.ndarray) -> FloatArray:
            return -self.response_cdf(t, service.cdf)

        root = bisect_decreasing(
            minus_cdf, np.array([-p]), np.array([lo]), np.array([hi]), iterations=60, rtol=1e-9
        )
        return float(root[0])


def grid_wait(rho: float, prob_wait: float, servers: float, scale: float, service: ServiceShape) -> GridWait:
    """Wait on a grid: ``P(W > 0) = prob_wait``; ``W | W > 0`` is ``scale`` times the conditional wait
    of the M/G/1 queue with utilization ``rho`` and service ``S/servers`` (module docstring)."""
    mean = float(service.mean) / servers
    cond_mean = (1.0 + float(service.scv)) * mean / (2.0 * (1.0 - rho))
    reach = 4.0 * float(service.quantile(np.asarray(_RANGE_QUANTILE))) / servers
    span = max(_RANGE_MEANS * cond_mean, reach)
    n = _POINTS
    h = span / n
    # Residual masses by rounding: F_e((j + 1/2) h) - F_e((j - 1/2) h), with F_e = 1 - residual_sf
    # evaluated exactly (not by a quadrature on the coarse grid, whose excess mass near a singular
    # density at 0 would push rho * sum(masses) to the pole of the transform at high load).
    edges = np.asarray((np.arange(n) + 0.5) * h * servers, dtype=np.float64)
    cdf = 1.0 - np.asarray(service.residual_sf(edges), dtype=np.float64)
    masses = np.clip(np.diff(np.concatenate([[0.0], cdf])), 0.0, None)
    spectrum = np.fft.rfft(masses, 2 * n)
    wait = np.fft.irfft((1.0 - rho) / (1.0 - rho * spectrum), 2 * n)[:n]
    wait = np.clip(wait, 0.0, None)
    conditional = wait.copy()
    conditional[0] -= 1.0 - rho
    conditional = np.clip(conditional, 0.0, None)
    total = conditional.sum()
    if not total > 0:
        return GridWait(h * scale, 1.0, np.zeros(n))
    cells = prob_wait * conditional / total
    if not math.isfinite(float(cells.sum())):
        raise ArithmeticError("waiting-time grid did not converge")
    return GridWait(h * scale, 1.0 - prob_wait, cells)


def grid_waits(
    rho: FloatArray, prob_wait: FloatArray, servers: FloatArray, scale: FloatArray, service: ServiceShape
) -> np.ndarray:
    """Object array of :class:`GridWait` over the broadcast parameters (None where unstable)."""
    shape = np.broadcast_shapes(rho.shape, prob_wait.shape, servers.shape, scale.shape)
    args = [np.broadcast_to(a, shape) for a in (rho, prob_wait, servers, scale)]
    out = np.empty(shape, dtype=object)
    memo: dict[tuple[float, ...], GridWait | None] = {}
    for idx in np.ndindex(shape):
        key = tuple(float(a[idx]) for a in args)
        if key not in memo:
            r, pw, c, k = key
            memo[key] = grid_wait(r, pw, c, k, service) if r < 1.0 else None
        out[idx] = memo[key]
    return out
