"""Waiting-time laws and the response-time distribution T = W + S of FCFS queues.

A :class:`WaitLaw` describes the wait ``W`` as an atom at zero plus shifted exponential components,

    P(W > t) = sum_i w_i * (1 if t < s_i else exp(-r_i (t - s_i))),

which is exact for M/M/c (one component, ``s = 0``, ``r = c mu - lambda``; Kleinrock, *Queueing
Systems* vol. 1, sec. 3.5) and the form of every approximation in :mod:`capplan.queueing`.  The
service time ``S`` of the tagged customer is independent of its wait (FCFS), so

    P(T > t) = (1 - sum_i w_i) P(S > t) + sum_i w_i [P(S > t - s_i) + I_i(t - s_i)],

with ``I_i(x) = E[exp(-r_i (x - S)); S <= x]`` supplied by the service shape
(:mod:`capplan.queueing.service`).  A component with rate 0 means the queue is unstable.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike

from capplan._numeric import bisect_decreasing, narrow_decreasing, newton_decreasing_array
from capplan._validate import FloatArray
from capplan.queueing.service import ServiceShape

__all__ = ["WaitLaw", "response_quantile", "response_survival", "wait_quantile", "wait_survival"]


@dataclass(frozen=True)
class WaitLaw:
    """Weights, shifts and rates of the exponential components, with a leading component axis."""

    weight: FloatArray
    shift: FloatArray
    rate: FloatArray

    @classmethod
    def exponential(cls, prob_wait: ArrayLike, rate: ArrayLike) -> WaitLaw:
        """One component: ``P(W > t) = prob_wait * exp(-rate t)``."""
        w, r = np.broadcast_arrays(
            np.asarray(prob_wait, dtype=np.float64), np.asarray(rate, dtype=np.float64)
        )
        return cls(w[None].copy(), np.zeros((1, *w.shape)), r[None].copy())

    @property
    def shape(self) -> tuple[int, ...]:
        return tuple(self.weight.shape[1:])

    @property
    def prob_wait(self) -> FloatArray:
        """P(W > 0)."""
        return np.asarray(np.minimum(self.weight.sum(axis=0), 1.0))

    @property
    def unstable(self) -> np.ndarray:
        return np.asarray(((self.rate == 0.0) & (self.weight > 0)).any(axis=0))

    @property
    def mean(self) -> FloatArray:
        """E[W] implied by the law (inf when unstable)."""
        with np.errstate(divide="ignore", invalid="ignore"):
            parts = np.where(self.weight > 0, self.weight * (self.shift + 1.0 / self.rate), 0.0)
        return np.asarray(np.where(self.unstable, np.inf, parts.sum(axis=0)))

    def broadcast_to(self, shape: tuple[int, ...]) -> WaitLaw:
        k = self.weight.shape[0]
        current = self.weight.shape[1:]
        lead = (k,) + (1,) * (len(shape) - len(current)) + current  # align trailing axes, not the K axis
        return WaitLaw(
            *(np.broadcast_to(a.reshape(lead), (k, *shape)) for a in (self.weight, self.shift, self.rate))
        )

    def take(self, mask: np.ndarray) -> WaitLaw:
        return WaitLaw(self.weight[:, mask], self.shift[:, mask], self.rate[:, mask])

    def as_column(self) -> WaitLaw:
        """The same law with a trailing axis, to evaluate each against a row of points."""
        return WaitLaw(self.weight[..., None], self.shift[..., None], self.rate[..., None])


def _component_survival(t: FloatArray, shift: FloatArray, rate: FloatArray) -> FloatArray:
    with np.errstate(invalid="ignore", over="ignore"):
        tail = np.exp(-rate * np.maximum(t - shift, 0.0))
    return np.where(t < shift, 1.0, np.where(np.isinf(rate), 0.0, tail))


def wait_survival(t: FloatArray, law: WaitLaw) -> FloatArray:
    """P(W > t), broadcasting ``t`` against the law; 1 everywhere when unstable."""
    return _wait_survival(t, law)[0]


def _wait_survival(t: FloatArray, law: WaitLaw) -> tuple[FloatArray, FloatArray]:
    """P(W > t) and its derivative in ``t`` (0 where unstable)."""
    t = np.asarray(t, dtype=np.float64)
    shape = np.broadcast_shapes(t.shape, law.shape)
    law = law.broadcast_to(shape)
    tt = np.broadcast_to(t, shape)
    total, slope = np.zeros(shape), np.zeros(shape)
    for i in range(law.weight.shape[0]):
        part = law.weight[i] * _component_survival(tt, law.shift[i], law.rate[i])
        total += part
        with np.errstate(invalid="ignore"):
            slope -= np.where((tt > law.shift[i]) & np.isfinite(law.rate[i]), law.rate[i] * part, 0.0)
    return np.where(law.unstable, 1.0, total), np.where(law.unstable, 0.0, slope)


def wait_quantile(p: FloatArray, law: WaitLaw) -> FloatArray:
    """Smallest t with P(W <= t) >= p: 0 inside the atom at zero, inf when unstable."""
    p = np.asarray(p, dtype=np.float64)
    shape = np.broadcast_shapes(p.shape, law.shape)
    law = law.broadcast_to(shape)
    pp = np.broadcast_to(p, shape)
    total = law.weight.sum(axis=0)
    out = np.zeros(shape)
    tail = (1.0 - pp) < total
    with np.errstate(divide="ignore", invalid="ignore"):
        bound = law.shift + np.log(total / (1.0 - pp)) / law.rate  # per-component upper bounds
    bound = np.where(law.weight > 0, bound, 0.0)
    hi = bound.max(axis=0)
    if law.weight.shape[0] == 1:
        out[tail] = hi[tail]
    elif tail.any():
        sub = law.take(tail)

        target = 1.0 - pp[tail]

        def excess(tm: FloatArray, mask: np.ndarray) -> tuple[FloatArray, FloatArray]:
            value, slope = _wait_survival(tm, sub.take(mask))
            return value - target[mask], slope

        # the survival is flat (the total weight, above the target) below the first shift
        lo = np.where(sub.weight > 0, sub.shift, np.inf).min(axis=0)
        lo = np.where(np.isfinite(lo), np.minimum(lo, hi[tail]), 0.0)
        # the bound is the root itself where the components decay alike: a hair above it, the
        # root is inside the bracket rather than at its end
        up = hi[tail] * (1.0 + 1e-9)
        out[tail] = newton_decreasing_array(excess, lo, up, 0.5 * (lo + up))
    return np.where(law.unstable, np.inf, out)


def response_survival(t: FloatArray, law: WaitLaw, service: ServiceShape) -> FloatArray:
    """P(T > t) for T = W + S (module docstring), broadcasting ``t`` against the parameters."""
    return _response(t, law, service, slope=False)[0]


def _response(
    t: FloatArray, law: WaitLaw, service: ServiceShape, *, slope: bool
) -> tuple[FloatArray, FloatArray | None]:
    """P(T > t) and, with ``slope`` (and a service with a density), its derivative in ``t``:
    ``-(1 - sum_i w_i) f_S(t) - sum_i w_i r_i I_i(t - s_i)`` (as ``d/dx [P(S > x) + I(x)] =
    -r I(x)``); None without."""
    t = np.asarray(t, dtype=np.float64)
    shape = np.broadcast_shapes(t.shape, law.shape, np.shape(service.mean))
    law = law.broadcast_to(shape)
    svc = service.broadcast_to(shape)
    tt = np.broadcast_to(t, shape)
    out = np.ones(shape)
    live = (tt > 0) & ~law.unstable
    if not live.any():
        return out, np.zeros(shape) if slope else None
    lw, sv, tl = law.take(live), svc.take(live), tt[live]
    density = sv.density(tl) if slope else None
    atom = 1.0 - lw.weight.sum(axis=0)
    res = atom * sv.sf(tl)
    der = -atom * density if density is not None else None
    for i in range(lw.weight.shape[0]):
        x = tl - lw.shift[i]
        part = np.ones(x.shape)
        pos = x > 0
        if pos.any():
            rate = lw.rate[i][pos]
            sub = sv.take(pos)
            integral = np.zeros(rate.shape)
            finite = np.isfinite(rate)
            if finite.any():
                integral[finite] = sub.take(finite).tail_integral(x[pos][finite], rate[finite])
            part[pos] = sub.sf(x[pos]) + integral
            if der is not None:
                der[pos] -= lw.weight[i][pos] * np.where(finite, rate * integral, 0.0)
        res = res + lw.weight[i] * part
    out[live] = np.clip(res, 0.0, 1.0)
    if der is None:
        return out, None
    deriv = np.zeros(shape)
    deriv[live] = der
    return out, deriv


def response_quantile(
    p: FloatArray, law: WaitLaw, service: ServiceShape, *, rtol: float = 4e-16
) -> FloatArray:
    """Quantile of T = W + S (to relative ``rtol``) by a root search between bounds that always
    bracket it.

    ``T >= W`` and ``T >= S`` give the lower bound ``max(q_W(p), q_S(p))``; the union bound gives
    the upper bound ``q_W(p') + q_S(p')`` with ``p' = (1 + p)/2`` (``q_S`` replaced by a bound of
    the service shape's where that is cheaper).  Where the service has a density and its tail
    integral is in closed form, Newton steps inside that bracket find the root (the survival's
    derivative is in :func:`_response`); otherwise two vectorised narrowing rounds cut the bracket
    4096-fold before the Illinois steps.
    """
    p = np.asarray(p, dtype=np.float64)
    shape = np.broadcast_shapes(p.shape, law.shape, np.shape(service.mean))
    law = law.broadcast_to(shape)
    svc = service.broadcast_to(shape)
    pp = np.broadcast_to(p, shape)
    out = np.full(shape, np.inf)
    stable = ~law.unstable
    if not stable.any():
        return out
    lw, sv, ps = law.take(stable), svc.take(stable), np.ascontiguousarray(pp[stable])
    lo = np.maximum(wait_quantile(ps, lw), sv.quantile_bounds(ps)[0])
    p_hi = 0.5 * (1.0 + ps)
    hi = wait_quantile(p_hi, lw) + sv.quantile_bounds(p_hi)[1]

    if sv.closed_form_tail and sv.density(lo) is not None:
        target = 1.0 - ps

        def excess(tm: FloatArray, mask: np.ndarray) -> tuple[FloatArray, FloatArray]:
            value, slope = _response(tm, lw.take(mask), sv.take(mask), slope=True)
            assert slope is not None
            return value - target[mask], slope

        out[stable] = newton_decreasing_array(excess, lo, hi, 0.5 * (lo + hi), rtol=rtol)
        return out

    def survival(tm: FloatArray, mask: np.ndarray) -> FloatArray:
        return response_survival(tm, lw.take(mask), sv.take(mask))

    def survival_rows(tm: FloatArray, mask: np.ndarray) -> FloatArray:
        return response_survival(tm, lw.take(mask).as_column(), sv.take(mask).as_column())

    lo, hi = narrow_decreasing(survival_rows, 1.0 - ps, lo, hi)
    out[stable] = bisect_decreasing(survival, 1.0 - ps, lo, hi, rtol=rtol)
    return out
