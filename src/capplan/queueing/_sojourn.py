"""Distribution of the sojourn time T = W + S of a FCFS queue whose wait has an exponential tail.

All models in :mod:`capplan.queueing` that report waiting-time percentiles describe the wait ``W``
by an atom at zero and an exponential tail,

    P(W > t) = P_w exp(-theta t),

which is exact for M/M/c (Kleinrock, *Queueing Systems* vol. 1, sec. 3.5: theta = c mu - lambda)
and the standard approximation otherwise.  The service time ``S`` of the tagged customer is
independent of its wait and is described by its mean and squared coefficient of variation (SCV):
deterministic when the SCV is 0 (below 1e-10), otherwise a gamma distribution with shape ``k = 1/SCV``
(exponential when ``k = 1``).  Then, with ``beta = mean * SCV`` the gamma scale,

    P(T > t) = P(S > t) + P_w * I(t),    I(t) = E[exp(-theta (t - S)); S <= t],

and ``I`` has the closed form (integrating the gamma density against the exponential)

    I(t) = g(t) * M(1, k + 1, delta t),      delta = 1/beta - theta,
    g(t) = exp(-t/beta) (t/beta)^k / Gamma(k + 1),

with ``M`` Kummer's confluent hypergeometric function (Abramowitz & Stegun 13.1.2, 13.1.27).
When ``delta t > k`` the equivalent form ``exp(-theta t) (beta delta)^-k P(k, delta t)`` (regularized
lower incomplete gamma ``P``) is used instead, so no term overflows.  For exponential service
(``k = 1``) ``M(1, 2, z) = expm1(z)/z``, which gives the exact M/M/c sojourn distribution.
"""

from __future__ import annotations

import numpy as np
from scipy import special

from capplan._numeric import bisect_decreasing
from capplan._validate import FloatArray

__all__ = ["response_quantile", "response_survival", "service_quantile", "wait_quantile"]

#: Service SCVs below this are treated as deterministic (the gamma shape 1/SCV would exceed 1e10,
#: a standard deviation below 1e-5 of the mean, where the special functions lose accuracy).
DETERMINISTIC_SCV = 1e-10


def wait_quantile(p: FloatArray, prob_wait: FloatArray, theta: FloatArray) -> FloatArray:
    """Quantile of W: 0 below the atom, ``log(P_w/(1-p))/theta`` above it; inf if theta == 0."""
    p, prob_wait, theta = np.broadcast_arrays(p, prob_wait, theta)
    out = np.zeros(p.shape)
    tail = (1.0 - p) < prob_wait
    with np.errstate(divide="ignore"):
        out[tail] = np.log(prob_wait[tail] / (1.0 - p[tail])) / theta[tail]
    return out


def service_quantile(p: FloatArray, mean: FloatArray, scv: FloatArray) -> FloatArray:
    """Quantile of the two-moment service-time fit (deterministic or gamma)."""
    p, mean, scv = np.broadcast_arrays(p, mean, scv)
    out = np.array(mean, dtype=np.float64, copy=True)
    gam = scv >= DETERMINISTIC_SCV
    out[gam] = special.gammaincinv(1.0 / scv[gam], p[gam]) * mean[gam] * scv[gam]
    return out


def _service_survival(t: FloatArray, mean: FloatArray, scv: FloatArray) -> FloatArray:
    out = np.where(t < mean, 1.0, 0.0)
    gam = scv >= DETERMINISTIC_SCV
    k = 1.0 / scv[gam]
    out[gam] = special.gammaincc(k, t[gam] * k / mean[gam])
    return out


def _gamma_tail_integral(t: FloatArray, k: FloatArray, beta: FloatArray, theta: FloatArray) -> FloatArray:
    """I(t) of the module docstring for gamma service (t > 0)."""
    delta = 1.0 / beta - theta
    z = delta * t
    out = np.empty(t.shape)
    big = z > k
    small = ~big
    # Kummer form, bounded for z <= k.
    x = t[small] / beta[small]
    ks = k[small]
    log_g = -x + ks * np.log(x) - special.gammaln(ks + 1.0)
    exp_case = ks == 1.0
    m = np.empty(x.shape)
    zs = z[small]
    with np.errstate(invalid="ignore", divide="ignore"):
        m[exp_case] = np.where(zs[exp_case] == 0.0, 1.0, np.expm1(zs[exp_case]) / zs[exp_case])
    m[~exp_case] = special.hyp1f1(1.0, ks[~exp_case] + 1.0, zs[~exp_case])
    out[small] = np.exp(log_g) * m
    # Incomplete-gamma form, for z > k where M would grow like exp(z).
    kb = k[big]
    log_i = -theta[big] * t[big] - kb * np.log(beta[big] * delta[big]) + np.log(special.gammainc(kb, z[big]))
    out[big] = np.exp(log_i)
    return out


def response_survival(
    t: FloatArray, prob_wait: FloatArray, theta: FloatArray, mean: FloatArray, scv: FloatArray
) -> FloatArray:
    """P(T > t) for T = W + S as described in the module docstring (broadcasting)."""
    t, prob_wait, theta, mean, scv = np.broadcast_arrays(
        np.asarray(t, dtype=np.float64), prob_wait, theta, mean, scv
    )
    out = np.ones(t.shape)
    unstable = theta == 0.0
    positive = (t > 0) & ~unstable
    out[unstable] = 1.0
    if not positive.any():
        return out
    tp, pw, th, mu_, c2 = (a[positive] for a in (t, prob_wait, theta, mean, scv))
    surv = _service_survival(tp, mu_, c2)
    res = np.empty(tp.shape)
    det = c2 < DETERMINISTIC_SCV
    # Deterministic service d: T > t iff t < d or W > t - d.
    after = tp[det] - mu_[det]
    with np.errstate(invalid="ignore"):
        res[det] = np.where(after < 0, 1.0, pw[det] * np.exp(-th[det] * np.maximum(after, 0.0)))
    g = ~det
    inf_rate = np.isinf(th[g])
    k = 1.0 / c2[g]
    beta = mu_[g] * c2[g]
    integral = np.zeros(k.shape)
    fin = ~inf_rate
    integral[fin] = _gamma_tail_integral(tp[g][fin], k[fin], beta[fin], th[g][fin])
    res[g] = surv[g] + pw[g] * integral
    out[positive] = np.clip(res, 0.0, 1.0)
    return out


def response_quantile(
    p: FloatArray, prob_wait: FloatArray, theta: FloatArray, mean: FloatArray, scv: FloatArray
) -> FloatArray:
    """Quantile of T = W + S, by bisection between bounds that always bracket it.

    Since ``T >= W`` and ``T >= S``, ``max(q_W(p), q_S(p))`` is a lower bound; by the union bound
    ``q_W(p') + q_S(p')`` with ``p' = (1 + p)/2`` is an upper bound.
    """
    p, prob_wait, theta, mean, scv = np.broadcast_arrays(p, prob_wait, theta, mean, scv)
    out = np.full(p.shape, np.inf)
    stable = theta > 0
    if not stable.any():
        return out
    ps, pw, th, mu_, c2 = (np.ascontiguousarray(a[stable]) for a in (p, prob_wait, theta, mean, scv))
    lo = np.maximum(wait_quantile(ps, pw, th), service_quantile(ps, mu_, c2))
    p_hi = 0.5 * (1.0 + ps)
    hi = wait_quantile(p_hi, pw, th) + service_quantile(p_hi, mu_, c2)

    def survival(tm: FloatArray, mask: np.ndarray) -> FloatArray:
        return response_survival(tm, pw[mask], th[mask], mu_[mask], c2[mask])

    out[stable] = bisect_decreasing(survival, 1.0 - ps, lo, hi)
    return out
