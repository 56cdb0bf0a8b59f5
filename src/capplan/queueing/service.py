"""Service-time shapes for the response-time distribution: survival, quantiles, and the
exponential-tail integral that convolving with an exponentially distributed wait needs.

For a wait component ``W' ~ Exp(theta)`` independent of the service time ``S``,

    P(W' + S > t) = P(S > t) + I(t),      I(t) = E[exp(-theta (t - S)); S <= t].

* :class:`TwoMomentService` describes ``S`` by its mean and SCV only: deterministic for SCV 0
  (below 1e-10), otherwise the two-moment phase-type fit of :mod:`capplan.queueing.phasetype`, a
  mixture of at most two gamma distributions with integer shapes.  For one gamma component with
  shape ``k`` ``I`` has the closed form ``g(t) M(1, k + 1, delta t)`` with ``delta = 1/beta -
  theta``, ``beta`` the gamma scale, ``g(t) = exp(-t/beta)(t/beta)^k / Gamma(k + 1)`` and ``M``
  Kummer's function (Abramowitz & Stegun 13.1.2, 13.1.27); when ``delta t > k`` the equivalent
  ``exp(-theta t)(beta delta)^-k P(k, delta t)`` is used so nothing overflows.  ``k = 1``
  (exponential) reduces to ``M(1, 2, z) = expm1(z)/z``, the exact M/M/c case.
* :class:`DistributionService` uses a given distribution's own shape (a SciPy frozen distribution
  or :class:`capplan.distributions.HyperExponential`): a hyperexponential has the closed form per
  phase; any other distribution is integrated by Gauss-Legendre quadrature after the change of
  variable ``u = 1 - exp(-theta (t - s))``, which puts the nodes where the exponential weight is,
  in the form ``I(t) = F(t) e^{-theta t} + int_0^U [S(t + ln(1-u)/theta) - S(t)] du`` whose terms
  are both non-negative (no cancellation), with nodes graded towards ``s = 0`` where densities
  may be singular.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Hashable
from functools import cache, cached_property
from typing import Any

import numpy as np
from numpy.typing import ArrayLike
from scipy import special

from capplan._numeric import newton_decreasing_array
from capplan._validate import FloatArray, nonnegative, positive
from capplan.distributions import HyperExponential
from capplan.errors import ParameterError
from capplan.queueing.phasetype import DETERMINISTIC_SCV, parts_log_laplace, two_moment_parts

__all__ = [
    "DETERMINISTIC_SCV",
    "DistributionService",
    "ServiceShape",
    "TwoMomentService",
    "distribution_key",
    "resolve_service",
    "service_shape",
]

_QUAD_NODES = 128
_QUAD_CHUNK = 8192


@cache
def _gauss_legendre(n: int) -> tuple[FloatArray, FloatArray]:
    x, w = np.polynomial.legendre.leggauss(n)
    return np.asarray(x), np.asarray(w)


def _gamma_tail_integral(t: FloatArray, k: FloatArray, beta: FloatArray, theta: FloatArray) -> FloatArray:
    """I(t) for gamma service (shape k, scale beta) and t > 0, 0 < theta < inf."""
    delta = 1.0 / beta - theta
    z = delta * t
    out = np.empty(t.shape)
    big = z > k
    small = ~big
    x = t[small] / beta[small]
    ks = k[small]
    log_g = -x + ks * np.log(x) - special.gammaln(ks + 1.0)
    zs = z[small]
    m = np.empty(x.shape)
    expo = ks == 1.0
    with np.errstate(invalid="ignore", divide="ignore"):
        m[expo] = np.where(zs[expo] == 0.0, 1.0, np.expm1(zs[expo]) / zs[expo])
    m[~expo] = special.hyp1f1(1.0, ks[~expo] + 1.0, zs[~expo])
    out[small] = np.exp(log_g) * m
    kb = k[big]
    log_i = -theta[big] * t[big] - kb * np.log(beta[big] * delta[big]) + np.log(special.gammainc(kb, z[big]))
    out[big] = np.exp(log_i)
    return out


class ServiceShape:
    """Interface: ``mean``, ``scv``, ``sf(t)``, ``quantile(p)``, ``tail_integral(t, theta)``.

    ``take(mask)`` and ``broadcast_to(shape)`` select and align element-wise parameters with the
    points being evaluated (shapes described by scalars return themselves).
    """

    mean: FloatArray
    scv: FloatArray
    label: str = ""
    #: ``tail_integral`` in closed form (not by quadrature): a response time's survival is then
    #: smooth to round-off, and its derivative from :meth:`density` matches it (a Newton search).
    closed_form_tail: bool = False

    def broadcast_to(self, shape: tuple[int, ...]) -> ServiceShape:
        return self

    def take(self, mask: np.ndarray) -> ServiceShape:
        return self

    def as_column(self) -> ServiceShape:
        """The same shapes with a trailing axis, to evaluate each against a row of points."""
        return self

    def sf(self, t: FloatArray) -> FloatArray:
        raise NotImplementedError

    def density(self, t: FloatArray) -> FloatArray | None:
        """The density at ``t > 0``, or None where the shape has none to give (a constant)."""
        return None

    def quantile(self, p: FloatArray) -> FloatArray:
        raise NotImplementedError

    def quantile_bounds(self, p: FloatArray) -> tuple[FloatArray, FloatArray]:
        """Bounds ``lo <= quantile(p) <= hi``, cheaper than the quantile where a shape has them
        (a bracket for a root search needs no more)."""
        q = self.quantile(p)
        return q, q

    def tail_integral(self, t: FloatArray, theta: FloatArray) -> FloatArray:
        raise NotImplementedError

    def mgf_limit(self) -> FloatArray:
        """Abscissa of convergence of E[exp(eta S)]: the MGF is finite for eta below it.

        0 means no exponential moment is known (heavy or unsupported tails).
        """
        return np.zeros(np.shape(self.mean))

    def mgf(self, eta: FloatArray) -> tuple[FloatArray, FloatArray]:
        """``(E[exp(eta S)], E[S exp(eta S)])`` for ``0 <= eta < mgf_limit()``: what a shape gives
        where :meth:`log_mgf` has no form of its own."""
        raise NotImplementedError

    def log_mgf(self, eta: FloatArray) -> tuple[FloatArray, FloatArray]:
        """``log E[exp(eta S)]`` and its derivative in ``eta``, for ``0 <= eta < mgf_limit()``
        (shapes with gamma components keep the logarithm's relative precision near 0)."""
        with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
            m, dm = self.mgf(eta)
            return np.log(m), dm / m

    def residual_sf(self, x: FloatArray) -> FloatArray:
        """Survival function of the equilibrium residual service time, ``E[(S - x)+] / E[S]``."""
        raise NotImplementedError


class TwoMomentService(ServiceShape):
    """Service described by mean and SCV: deterministic (SCV ~ 0) or its two-moment phase-type fit
    (:mod:`capplan.queueing.phasetype`: Erlang mixture below SCV 1, exponential at 1, balanced H2
    above), as a mixture of two gamma components with integer shapes (element-wise arrays)."""

    label = "phase-type two-moment fit"
    closed_form_tail = True

    def __init__(self, mean: ArrayLike, scv: ArrayLike) -> None:
        self.mean, self.scv = (np.asarray(a, dtype=np.float64) for a in np.broadcast_arrays(mean, scv))
        w1, k1, r1, w2, k2, r2 = two_moment_parts(self.mean, self.scv)
        self._det = np.isinf(k1)
        self._parts = ((w1, np.where(self._det, 1.0, k1), r1), (w2, k2, r2))

    def _map(self, fn: Callable[[FloatArray], FloatArray]) -> TwoMomentService:
        """The same fits with ``fn`` applied to every parameter array (select, align, reshape)."""
        out = object.__new__(TwoMomentService)
        out.mean, out.scv, out._det = fn(self.mean), fn(self.scv), fn(self._det)
        out._parts = tuple(tuple(fn(a) for a in part) for part in self._parts)  # type: ignore[assignment]
        return out

    def broadcast_to(self, shape: tuple[int, ...]) -> TwoMomentService:
        return self._map(lambda a: np.broadcast_to(a, shape))

    def take(self, mask: np.ndarray) -> TwoMomentService:
        return self._map(lambda a: a[mask])

    def as_column(self) -> TwoMomentService:
        return self._map(lambda a: a[..., None])

    def _components(self, x: FloatArray) -> tuple[FloatArray, tuple[tuple[Any, ...], ...]]:
        """``x`` and the parts broadcast against each other."""
        arrays = np.broadcast_arrays(
            np.asarray(x, dtype=np.float64), self._det, *self._parts[0], *self._parts[1]
        )
        xx, det = arrays[0], arrays[1]
        return xx, ((det,), tuple(arrays[2:5]), tuple(arrays[5:8]))

    def sf(self, t: FloatArray) -> FloatArray:
        tt, ((det,), *parts) = self._components(t)
        mean = np.broadcast_to(self.mean, tt.shape)
        out = np.zeros(tt.shape)
        for w, k, r in parts:
            out += w * special.gammaincc(k, np.maximum(tt, 0.0) * r)
        return np.asarray(np.where(det, np.where(tt < mean, 1.0, 0.0), np.minimum(out, 1.0)))

    def quantile_bounds(self, p: FloatArray) -> tuple[FloatArray, FloatArray]:
        """The quantiles of the two gamma components, smaller first: a mixture's quantile lies
        between its components' (its cdf is below ``p`` at the smaller, above at the larger); both
        the quantile of the one component where the other has weight 0."""
        lo, hi, _ = self._part_quantiles(p)
        return lo, hi

    def _part_quantiles(self, p: FloatArray) -> tuple[FloatArray, FloatArray, FloatArray]:
        """:meth:`quantile_bounds`, and the components' quantiles averaged by their weights."""
        pp, ((det,), *parts) = self._components(p)
        mean = np.broadcast_to(self.mean, pp.shape)
        bounds = [special.gammaincinv(k, pp) / r for _, k, r in parts]
        # one component of weight 1 (the exponential; an Erlang fit at SCV 1/k): its quantile
        only = np.where(parts[1][0] == 0.0, bounds[0], bounds[1])
        single = (parts[0][0] == 0.0) | (parts[1][0] == 0.0)
        lo = np.where(single, only, np.minimum(*bounds))
        hi = np.where(single, only, np.maximum(*bounds))
        average = parts[0][0] * bounds[0] + parts[1][0] * bounds[1]
        return np.asarray(np.where(det, mean, lo)), np.asarray(np.where(det, mean, hi)), np.asarray(average)

    def quantile(self, p: FloatArray) -> FloatArray:
        lo, hi, average = self._part_quantiles(p)
        out = lo.copy()
        mixed = lo != hi
        if mixed.any():
            pp = np.broadcast_to(np.asarray(p, dtype=np.float64), lo.shape)
            sub = self.broadcast_to(lo.shape).take(mixed)
            target = 1.0 - pp[mixed]

            def excess(t: FloatArray, mask: np.ndarray) -> tuple[FloatArray, FloatArray]:
                here = sub.take(mask)
                return here.sf(t) - target[mask], -here._density(t)

            # start between the components' quantiles, nearer the heavier component's
            out[mixed] = newton_decreasing_array(excess, lo[mixed], hi[mixed], average[mixed])
        return out

    def density(self, t: FloatArray) -> FloatArray | None:
        """The gamma mixture's density at ``t > 0``; None if any fit is a constant."""
        return None if self._det.any() else self._density(t)

    def _density(self, t: FloatArray) -> FloatArray:
        """Density of the gamma mixture at ``t > 0`` (not for the deterministic fits)."""
        tt, (_, *parts) = self._components(t)
        out = np.zeros(tt.shape)
        for w, k, r in parts:
            with np.errstate(divide="ignore", invalid="ignore"):
                log_f = k * np.log(r) + (k - 1.0) * np.log(tt) - r * tt - special.gammaln(k)
            out += np.where(w > 0, w * np.exp(log_f), 0.0)
        return out

    def tail_integral(self, t: FloatArray, theta: FloatArray) -> FloatArray:
        tt, ((det,), *parts) = self._components(t)
        th = np.broadcast_to(np.asarray(theta, dtype=np.float64), tt.shape)
        mean = np.broadcast_to(self.mean, tt.shape)
        out = np.zeros(tt.shape)
        after = tt[det] - mean[det]
        out[det] = np.where(after >= 0, np.exp(-th[det] * np.maximum(after, 0.0)), 0.0)
        g = ~det
        for w, k, r in parts:
            used = g & (w > 0)
            out[used] += w[used] * _gamma_tail_integral(tt[used], k[used], 1.0 / r[used], th[used])
        return out

    def residual_sf(self, x: FloatArray) -> FloatArray:
        xx, ((det,), *parts) = self._components(x)
        xx = np.maximum(xx, 0.0)
        mean = np.broadcast_to(self.mean, xx.shape)
        excess = np.zeros(xx.shape)
        for w, k, r in parts:
            z = xx * r
            excess += w * (k / r * special.gammaincc(k + 1.0, z) - xx * special.gammaincc(k, z))
        uniform = np.clip(1.0 - xx / mean, 0.0, 1.0)  # deterministic: uniform residual on [0, d]
        return np.asarray(np.clip(np.where(det, uniform, excess / mean), 0.0, 1.0))

    def mgf_limit(self) -> FloatArray:
        (w1, _, r1), (w2, _, r2) = self._parts
        limit = np.minimum(np.where(w1 > 0, r1, np.inf), np.where(w2 > 0, r2, np.inf))
        return np.asarray(np.where(self._det, np.inf, limit))

    def log_mgf(self, eta: FloatArray) -> tuple[FloatArray, FloatArray]:
        (w1, k1, r1), (w2, k2, r2) = self._parts
        k1 = np.where(self._det, np.inf, k1)
        value, slope = parts_log_laplace((w1, k1, r1, w2, k2, r2), -np.asarray(eta, dtype=np.float64))
        return value, -slope


def distribution_key(dist: Any) -> Hashable:
    """A hashable key equal for equal distributions: a SciPy frozen distribution by its family and
    parameters, a hashable object (e.g. :class:`HyperExponential`) by value, any other by identity
    (the key holds the object, so that identity is not reused while the key is kept)."""
    family = getattr(dist, "dist", None)
    if family is not None and hasattr(dist, "args") and hasattr(dist, "kwds"):
        key = (type(family), family.name, tuple(dist.args), tuple(sorted(dist.kwds.items())))
        try:
            hash(key)
        except TypeError:
            return ("id", id(dist), dist)
        return key
    try:
        hash(dist)
    except TypeError:
        return ("id", id(dist), dist)
    return ("object", dist)


_SUMMARIES: dict[Hashable, tuple[float, float, float]] = {}


def _summary(dist: Any) -> tuple[float, float, float]:
    """``(lower end of the support, mean, variance)``, remembered per distribution (SciPy computes
    them afresh on every call, and every queue model built for a search asks)."""
    key = distribution_key(dist)
    if key not in _SUMMARIES:
        if len(_SUMMARIES) >= 256:
            _SUMMARIES.clear()
        low = float(dist.support()[0]) if hasattr(dist, "support") else 0.0
        _SUMMARIES[key] = (low, float(dist.mean()), float(dist.var()))
    return _SUMMARIES[key]


class DistributionService(ServiceShape):
    """Service with the shape of a given distribution (scalar parameters, broadcast everywhere)."""

    def __init__(self, dist: Any) -> None:
        for attr in ("sf", "ppf", "mean", "var"):
            if not hasattr(dist, attr):
                raise ParameterError(
                    f"service must be a scipy.stats frozen distribution, got {type(dist).__name__}"
                )
        low, mean, var = _summary(dist)
        if not low >= 0:
            raise ParameterError(f"service distribution has negative support (lower bound {low!r})")
        if not (math.isfinite(mean) and mean > 0 and math.isfinite(var)):
            raise ParameterError(
                f"service distribution needs a finite positive mean and variance, got {mean!r}, {var!r}"
            )
        self.dist = dist
        self.closed_form_tail = isinstance(dist, HyperExponential)
        self.mean = np.asarray(mean)
        self.scv = np.asarray(var / mean**2)
        name = dist.dist.name if hasattr(dist, "dist") else type(dist).__name__
        self.label = f"{name} distribution"

    def sf(self, t: FloatArray) -> FloatArray:
        return np.asarray(self.dist.sf(np.maximum(t, 0.0)), dtype=np.float64)

    def density(self, t: FloatArray) -> FloatArray | None:
        pdf = getattr(self.dist, "pdf", None)
        return None if pdf is None else np.asarray(pdf(np.maximum(t, 0.0)), dtype=np.float64)

    def quantile(self, p: FloatArray) -> FloatArray:
        return np.asarray(self.dist.ppf(p), dtype=np.float64)

    def tail_integral(self, t: FloatArray, theta: FloatArray) -> FloatArray:
        t, theta = np.broadcast_arrays(np.asarray(t, dtype=np.float64), np.asarray(theta, dtype=np.float64))
        if isinstance(self.dist, HyperExponential):
            h = self.dist
            one = np.ones(t.shape)
            return np.asarray(
                h.p * _gamma_tail_integral(t, one, one * h.mean1, theta)
                + (1 - h.p) * _gamma_tail_integral(t, one, one * h.mean2, theta)
            )
        return self._quadrature(t, theta)

    def residual_sf(self, x: FloatArray) -> FloatArray:
        x = np.maximum(np.asarray(x, dtype=np.float64), 0.0)
        if isinstance(self.dist, HyperExponential):
            h = self.dist
            part = h.p * h.mean1 * np.exp(-x / h.mean1) + (1 - h.p) * h.mean2 * np.exp(-x / h.mean2)
            return np.asarray(part / h.mean())
        knots, values = self._residual_table
        return np.asarray(np.interp(x, knots, values, right=0.0))

    @cached_property
    def _residual_table(self) -> tuple[FloatArray, FloatArray]:
        """``E[(S - x)+]/E[S]`` on a log-spaced grid, by the trapezoid rule on the survival function."""
        mean = float(self.mean)
        top = max(float(self.dist.ppf(1 - 1e-13)), 10 * mean)
        knots = np.concatenate([[0.0], np.geomspace(mean * 1e-9, 2 * top, 20_000)])
        sf = np.asarray(self.dist.sf(knots), dtype=np.float64)
        pieces = 0.5 * (sf[1:] + sf[:-1]) * np.diff(knots)
        tail = np.concatenate([np.cumsum(pieces[::-1])[::-1], [0.0]])
        return knots, np.clip(tail / mean, 0.0, 1.0)

    def _family(self) -> tuple[str, tuple[float, ...], float, float]:
        dist = self.dist
        if isinstance(dist, HyperExponential) or not hasattr(dist, "dist"):
            return type(dist).__name__, (), 0.0, 1.0
        shapes, loc, scale = dist.dist._parse_args(*dist.args, **dist.kwds)
        return str(dist.dist.name), tuple(float(s) for s in shapes), float(loc), float(scale)

    def mgf_limit(self) -> FloatArray:
        if isinstance(self.dist, HyperExponential):
            return np.asarray(1.0 / max(self.dist.mean1, self.dist.mean2))
        name, _, _, scale = self._family()
        if name in ("expon", "gamma", "erlang"):
            return np.asarray(1.0 / scale)
        if name == "uniform":
            return np.asarray(np.inf)
        return np.asarray(0.0)

    def mgf(self, eta: FloatArray) -> tuple[FloatArray, FloatArray]:
        eta = np.asarray(eta, dtype=np.float64)
        name, _, loc, scale = self._family()
        if name == "uniform":
            # E[exp(eta U)] on [loc, loc + scale], via expm1 so small eta is exact.
            a, w = loc, scale
            x = eta * w
            with np.errstate(invalid="ignore", divide="ignore"):
                ratio = np.where(x == 0, 1.0, np.expm1(x) / x)
                d_ratio = np.where(x == 0, 0.5, (x * np.exp(x) - np.expm1(x)) / x**2)
            m = np.exp(eta * a) * ratio
            return m, a * m + np.exp(eta * a) * w * d_ratio
        raise ParameterError(f"no moment-generating function for {self.label}")

    def log_mgf(self, eta: FloatArray) -> tuple[FloatArray, FloatArray]:
        eta = np.asarray(eta, dtype=np.float64)
        if isinstance(self.dist, HyperExponential):
            h = self.dist
            parts = (h.p, 1.0, 1.0 / h.mean1, 1.0 - h.p, 1.0, 1.0 / h.mean2)
            value, slope = parts_log_laplace(parts, -eta)
            return value, -slope
        name, shapes, loc, scale = self._family()
        if name in ("expon", "gamma", "erlang"):
            k = shapes[0] if shapes else 1.0
            value, slope = parts_log_laplace((1.0, k, 1.0 / scale, 0.0, 1.0, 1.0), -eta)
            return loc * eta + value, loc - slope
        return super().log_mgf(eta)

    def _quadrature(self, t: FloatArray, theta: FloatArray) -> FloatArray:
        x, w = _gauss_legendre(_QUAD_NODES)
        flat_t, flat_theta = t.ravel(), theta.ravel()
        out = np.empty(flat_t.shape)
        for start in range(0, flat_t.size, _QUAD_CHUNK):
            tt = flat_t[start : start + _QUAD_CHUNK, None]
            th = flat_theta[start : start + _QUAD_CHUNK, None]
            upper = -np.expm1(-th * tt)
            v = 0.5 * (x + 1.0)
            # u = U (1 - (1 - v)^4) clusters nodes at u = U (s = 0), where densities such as
            # gamma or Weibull with shape < 1 are singular; du = 4 U (1 - v)^3 dv.
            u = upper * (1.0 - (1.0 - v) ** 4)
            jac = 4.0 * (1.0 - v) ** 3
            s = tt + np.log1p(-u) / th
            sf_t = self.sf(tt)
            integrand = (self.sf(np.maximum(s, 0.0)) - sf_t) * jac
            integral = 0.5 * upper[:, 0] * (integrand @ w)
            out[start : start + _QUAD_CHUNK] = (1.0 - sf_t[:, 0]) * np.exp(-th[:, 0] * tt[:, 0]) + integral
        return out.reshape(t.shape)


def service_shape(service: Any, mean: ArrayLike, scv: ArrayLike) -> ServiceShape:
    """:class:`DistributionService` for a distribution, else :class:`TwoMomentService`."""
    if service is None:
        return TwoMomentService(mean, scv)
    return DistributionService(service)


def resolve_service(
    service_rate: ArrayLike | None, service_scv: ArrayLike | None, service: Any
) -> tuple[FloatArray, FloatArray, Any]:
    """Service rate and SCV from either (``service_rate``, ``service_scv``) or a distribution.

    Returns ``(mu, scv, dist)`` with ``dist`` None for the two-moment description.
    """
    if service is not None:
        if service_rate is not None or service_scv is not None:
            raise ParameterError("give either service (a distribution) or service_rate/service_scv, not both")
        shape = DistributionService(service)
        return np.asarray(1.0 / shape.mean), np.asarray(shape.scv), service
    if service_rate is None:
        raise ParameterError("service_rate is required (or give service, a distribution)")
    mu = positive("service_rate", service_rate)
    scv = nonnegative("service_scv", 1.0 if service_scv is None else service_scv)
    return mu, scv, None
