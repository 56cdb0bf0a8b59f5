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

How it is computed, so that a search over many loads stays cheap:

* The residual masses and their transform depend on the service, ``c`` and the step only, not on
  the load: they are computed once and cached (:class:`_Residuals`; the step is the same for every
  load whose range is set by the service's quantile, the usual case).
* The conditional wait's masses ``x_j`` are the inverse transform of
  ``Z = (1 - rho) rho phi / (1 - rho phi)`` on ``2n`` points, kept on ``j < n``.  Their total, the
  normalisation, is ``sum_{j<n} x_j = Z_0/2 + (4/2n) sum_{k odd} Re(Z_k / (1 - e^{2 pi i k/2n}))``
  (the transform of the indicator of ``j < n`` vanishes at the other even frequencies): one pass
  over half the spectrum, no inverse FFT.
* Latency percentiles need only the first cells.  The first ``L`` masses of the geometric sum
  depend on the first ``L`` residual masses only, so they come from a transform of length
  ``4L``, the masses damped by ``r^j`` (``r^{4L} = e^{-32}``) so that the wrap-around of the
  shorter transform is below ``1e-14``, then undamped (Abate & Whitt 1992, sec. 5, the damping of
  the Fourier-series method).  Heads come in power-of-two lengths (the longest computed serves
  every shorter need: heads of different lengths agree to rounding); past ``n/4`` cells the full
  inverse transform is used.
"""

from __future__ import annotations

import math
from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import Any

import numpy as np
from numpy.typing import NDArray

from capplan._validate import FloatArray
from capplan.queueing.service import ServiceShape, distribution_key

__all__ = ["GridWait", "grid_wait", "grid_waits", "service_key"]

_POINTS = 2**16
_RANGE_MEANS = 60.0  # grid range in conditional mean waits
_RANGE_QUANTILE = 1 - 1e-7  # ... and at least this service quantile (scaled by 1/c), times 4
_DAMPING = 32.0  # a head's transform is damped by exp(-_DAMPING) over its length
_HEAD_MIN = 512  # shortest head computed


def service_key(service: ServiceShape) -> Hashable:
    """A hashable key equal for equal service distributions (:func:`distribution_key`)."""
    return distribution_key(getattr(service, "dist", service))


class _LRU(OrderedDict[Hashable, Any]):
    """A small least-recently-used cache."""

    def __init__(self, limit: int) -> None:
        super().__init__()
        self.limit = limit

    def get_or(self, key: Hashable, make: Callable[..., Any], *args: Any) -> Any:
        """The value cached under ``key``, else ``make(*args)`` (then cached)."""
        if key in self:
            self.move_to_end(key)
            return self[key]
        value = self[key] = make(*args)
        if len(self) > self.limit:
            self.popitem(last=False)
        return value


_residual_grids = _LRU(8)  # ~2.6 MB each
_waits = _LRU(64)
_reaches = _LRU(64)


class _Residuals:
    """Residual-service masses of the ``servers``-fold fast server on the grid of step ``step``,
    and the transforms every load's wait is computed from."""

    def __init__(self, service: ServiceShape, servers: float, step: float, n: int = _POINTS) -> None:
        # Residual masses by rounding: F_e((j + 1/2) h) - F_e((j - 1/2) h), with F_e = 1 - residual_sf
        # evaluated exactly (not by a quadrature on the coarse grid, whose excess mass near a singular
        # density at 0 would push rho * sum(masses) to the pole of the transform at high load).
        edges = np.asarray((np.arange(n) + 0.5) * step * servers, dtype=np.float64)
        cdf = 1.0 - np.asarray(service.residual_sf(edges), dtype=np.float64)
        self.masses = np.clip(np.diff(np.concatenate([[0.0], cdf])), 0.0, None)
        self.n = n
        self.spectrum = np.fft.rfft(self.masses, 2 * n)
        # Odd frequencies k < n: phi = a + ib, and Re(Z_k / (1 - e^{i theta_k})) with
        # 1 / (1 - e^{i theta}) = 1/2 + (i/2) cot(theta/2) is (1 - rho) rho (P - rho Q) / den.
        odd = self.spectrum[1:n:2]
        a, b = odd.real, odd.imag
        cot = 1.0 / np.tan(np.pi * np.arange(1, n, 2) / (2 * n))
        self._odd = (a, b, 0.5 * a - 0.5 * b * cot, 0.5 * (a * a + b * b))
        self._heads: dict[int, tuple[NDArray[np.complex128], FloatArray]] = {}

    def total(self, rho: float) -> float:
        """``sum_{j<n}`` of the conditional wait's masses (before normalisation)."""
        a, b, p, q = self._odd
        sigma = float(self.spectrum[0].real)
        lead = (1.0 - rho) * rho * sigma / (1.0 - rho * sigma)
        den = (1.0 - rho * a) ** 2 + (rho * b) ** 2
        odd = float(np.sum((p - rho * q) / den))
        return 0.5 * lead + 2.0 / self.n * (1.0 - rho) * rho * odd

    def _damped(self, size: int) -> tuple[NDArray[np.complex128], FloatArray]:
        """The damped masses' transform of length ``4 size`` and the undamping factors of the head."""
        if size not in self._heads:
            length = 4 * size
            decay = _DAMPING / length
            damped = self.masses[:length] * np.exp(-decay * np.arange(min(length, self.n)))
            self._heads[size] = (np.fft.rfft(damped, length), np.exp(decay * np.arange(size)))
        return self._heads[size]

    def head(self, rho: float, size: int) -> FloatArray:
        """The first ``size`` conditional masses (``size`` a power of two, ``4 size <= n``)."""
        spectrum, undamp = self._damped(size)
        z = (1.0 - rho) * rho * spectrum / (1.0 - rho * spectrum)
        return np.clip(np.fft.irfft(z, 4 * size)[:size] * undamp, 0.0, None)

    def full(self, rho: float) -> FloatArray:
        """All ``n`` conditional masses, by the inverse transform on ``2n`` points."""
        z = (1.0 - rho) * rho * self.spectrum / (1.0 - rho * self.spectrum)
        return np.clip(np.fft.irfft(z, 2 * self.n)[: self.n], 0.0, None)


class _Geometric:
    """Cells of a gridded wait computed on demand: ``norm`` times the conditional masses."""

    def __init__(self, residuals: _Residuals, rho: float, norm: float) -> None:
        self.residuals, self.rho, self.norm = residuals, rho, norm
        self.size = residuals.n
        self._longest = np.empty(0)

    def head(self, count: int) -> FloatArray:
        """At least ``count`` leading cells: the longest head computed so far when it is long enough
        (heads of different lengths agree to rounding), else a new power-of-two head."""
        if self._longest.size >= count:
            return self._longest
        size = max(_HEAD_MIN, 1 << max(int(count) - 1, 0).bit_length())
        r = self.residuals
        full = 4 * size > self.size
        cells = self.norm * (r.full(self.rho) if full else r.head(self.rho, size))
        if not math.isfinite(float(cells.sum())):
            raise ArithmeticError("waiting-time grid did not converge")
        self._longest = cells
        return cells


class _Fixed:
    """Cells given as an array."""

    def __init__(self, cells: FloatArray) -> None:
        self.cells = np.asarray(cells, dtype=np.float64)
        self.size = self.cells.size

    def head(self, count: int) -> FloatArray:
        return self.cells


class GridWait:
    """Wait distribution: an atom at 0 plus masses ``cells[j]`` spread evenly over the grid cell
    ``[(j - 1/2) step, (j + 1/2) step)`` (clipped at 0), as rounding to the grid put them there.

    ``cells`` may be an array or computed on demand; :meth:`head` gives the first cells, exactly,
    without computing the rest.
    """

    def __init__(self, step: float, atom: float, cells: FloatArray | _Geometric | _Fixed) -> None:
        self.step, self.atom = float(step), float(atom)
        self._cells = cells if isinstance(cells, _Geometric | _Fixed) else _Fixed(cells)
        self._knot_cache: tuple[FloatArray, FloatArray, FloatArray] | None = None

    @property
    def size(self) -> int:
        return int(self._cells.size)

    def head(self, count: int) -> FloatArray:
        """At least ``min(count, size)`` leading cells (all of them once ``count`` nears ``size``)."""
        return self._cells.head(min(int(count), self.size))

    def head_until(self, t: float) -> FloatArray:
        """Leading cells covering ``[0, t]``, and the next one."""
        if not math.isfinite(t):
            return self.cells
        return self.head(int(min(math.ceil(max(t, 0.0) / self.step + 0.5) + 2, self.size)))

    @property
    def cells(self) -> FloatArray:
        return self._cells.head(self.size)

    @property
    def points(self) -> FloatArray:
        """Cell centres."""
        return np.arange(self.size, dtype=np.float64) * self.step

    @property
    def pmf(self) -> FloatArray:
        """Masses at the cell centres, the atom included in the first."""
        out = self.cells.copy()
        out[0] += self.atom
        return out

    def _knots(self, cells: FloatArray) -> tuple[FloatArray, FloatArray]:
        """Cell edges and the CDF there, for the leading ``cells`` (kept for the last head used)."""
        if self._knot_cache is None or self._knot_cache[0] is not cells:
            edges = np.concatenate([[0.0], (np.arange(cells.size) + 0.5) * self.step])
            cum = np.minimum(self.atom + np.concatenate([[0.0], np.cumsum(cells)]), 1.0)
            self._knot_cache = (cells, edges, cum)
        return self._knot_cache[1], self._knot_cache[2]

    def cdf(self, t: FloatArray) -> FloatArray:
        """P(W <= t), piecewise linear inside the cells."""
        edges, cum = self._knots(self.head_until(float(np.max(t, initial=0.0))))
        right = 1.0 if edges.size > self.size else cum[-1]
        return np.asarray(np.interp(t, edges, cum, left=0.0, right=right))

    def quantile(self, p: FloatArray) -> FloatArray:
        top = float(np.max(p, initial=0.0))
        count = _HEAD_MIN
        cells = self.head(count)
        while cells.size < self.size and self.atom + float(cells.sum()) < top:
            count = 2 * cells.size
            cells = self.head(count)
        edges, cum = self._knots(cells)
        out = np.interp(p, cum, edges)
        return np.asarray(np.where(p <= self.atom, 0.0, out))

    def response_cdf(self, t: FloatArray, service_cdf: Any) -> FloatArray:
        """P(W + S <= t): the atom's term plus, per cell, Simpson's average of F_S(t - w) over the cell."""
        from capplan.queueing._grid_response import response_cdf  # noqa: PLC0415 - module cycle

        tt = np.asarray(t, dtype=np.float64)
        flat = tt.ravel()
        out = response_cdf([self] * flat.size, flat, service_cdf)
        return out.reshape(tt.shape)

    def response_quantile(self, p: float, service: Any) -> float:
        """Quantile of W + S (see :func:`capplan.queueing._grid_response.response_quantiles`)."""
        from capplan.queueing._grid_response import response_quantiles  # noqa: PLC0415 - module cycle

        return float(response_quantiles([self], np.array([float(p)]), service)[0])


def _reach(service: ServiceShape, key: Hashable, servers: float) -> float:
    """Four times the service's ``_RANGE_QUANTILE`` quantile, scaled by ``1/servers``."""
    top = _reaches.get_or(key, service.quantile, np.asarray(_RANGE_QUANTILE))
    return 4.0 * float(top) / servers


def grid_wait(rho: float, prob_wait: float, servers: float, scale: float, service: ServiceShape) -> GridWait:
    """Wait on a grid: ``P(W > 0) = prob_wait``; ``W | W > 0`` is ``scale`` times the conditional wait
    of the M/G/1 queue with utilization ``rho`` and service ``S/servers`` (module docstring)."""
    key = service_key(service)
    mean = float(service.mean) / servers
    cond_mean = (1.0 + float(service.scv)) * mean / (2.0 * (1.0 - rho))
    span = max(_RANGE_MEANS * cond_mean, _reach(service, key, servers))
    h = span / _POINTS
    residuals = _residual_grids.get_or((key, servers, h), _Residuals, service, servers, h)
    total = residuals.total(rho)
    if not total > 0:
        return GridWait(h * scale, 1.0, np.zeros(_POINTS))
    if not math.isfinite(total):
        raise ArithmeticError("waiting-time grid did not converge")
    return GridWait(h * scale, 1.0 - prob_wait, _Geometric(residuals, rho, prob_wait / total))


def grid_waits(
    rho: FloatArray, prob_wait: FloatArray, servers: FloatArray, scale: FloatArray, service: ServiceShape
) -> np.ndarray:
    """Object array of :class:`GridWait` over the broadcast parameters (None where unstable).

    Waits are cached by their parameters and the service, so models rebuilt at loads already
    solved (a search's candidates, then its answer) reuse them.
    """
    shape = np.broadcast_shapes(rho.shape, prob_wait.shape, servers.shape, scale.shape)
    args = [np.broadcast_to(a, shape) for a in (rho, prob_wait, servers, scale)]
    out = np.empty(shape, dtype=object)
    key = service_key(service)
    for idx in np.ndindex(shape):
        r, pw, c, k = (float(a[idx]) for a in args)
        if r < 1.0:
            out[idx] = _waits.get_or((key, r, pw, c, k), grid_wait, r, pw, c, k, service)
        else:
            out[idx] = None
    return out
