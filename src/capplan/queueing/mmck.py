"""The M/M/c/K queue: c servers and room for K customers in total (exact)."""

from __future__ import annotations

from functools import cached_property
from typing import Any

import numpy as np
from numpy.typing import ArrayLike

from capplan._validate import FloatArray, integer_count, nonnegative, positive, scalar_or_array
from capplan.errors import ParameterError
from capplan.queueing._erlang_kernel import log_erlang_b_ufunc

__all__ = ["MMcK"]


def _log_geometric_sum(log_r: FloatArray, n: FloatArray) -> FloatArray:
    """log(sum_{j=0}^{n-1} r^j) for r = exp(log_r) > 0 and integer n >= 0, without overflow."""
    with np.errstate(divide="ignore"):
        out = np.log(n)  # r == 1; -inf for the empty sum n == 0
    pos = log_r > 0
    neg = log_r < 0
    # r > 1: log((r^n - 1)/(r - 1)) = n L - L' where both expm1 terms are handled in log space.
    pos &= n > 0
    neg &= n > 0
    lp = log_r[pos]
    npos = n[pos]
    out[pos] = npos * lp + np.log(-np.expm1(-npos * lp)) - lp - np.log(-np.expm1(-lp))
    ln = log_r[neg]
    out[neg] = np.log(-np.expm1(n[neg] * ln)) - np.log(-np.expm1(ln))
    return out


def _truncated_geometric_mean(log_r: FloatArray, m: FloatArray) -> FloatArray:
    """E[J] for P(J = j) proportional to r^j, j = 0..m (r = exp(log_r))."""
    x = -log_r
    mean = np.empty(x.shape)
    small = np.abs(x) * (m + 1.0) < 1e-2
    # Series about r = 1: m/2 - x m(m+2)/12 + x^3 ((m+1)^4 - 1)/720.
    xs, ms = x[small], m[small]
    mean[small] = ms / 2 - xs * ms * (ms + 2) / 12 + xs**3 * ((ms + 1) ** 4 - 1) / 720
    xl, ml = x[~small], m[~small]
    with np.errstate(over="ignore"):  # expm1 -> inf gives the exact limit 0 for the second term
        mean[~small] = 1.0 / np.expm1(xl) - (ml + 1.0) / np.expm1((ml + 1.0) * xl)
    return mean


class MMcK:
    r"""M/M/c/K queue (exact): ``c`` servers, at most ``K >= c`` customers in the system.

    Arrivals finding ``K`` present are blocked (lost).  With ``a = lambda/mu``, ``rho = a/c`` and
    ``m = K - c`` waiting places, the stationary distribution is ``p_n = p_0 a^n/n!`` for
    ``n <= c`` and ``p_c rho^(n-c)`` above (Gross et al., *Fundamentals of Queueing Theory* 4th ed.,
    sec. 2.5, eqs. 2.52-2.56).  Writing the first part through Erlang B,
    ``sum_{n<=c} p_n = p_c / B(c, a)``, gives closed forms evaluated in log space:

    .. math::

        p_c = \Big(\tfrac{1}{B(c,a)} - 1 + \sum_{j=0}^{m} \rho^j\Big)^{-1},\qquad
        P_{block} = p_K = p_c \rho^m,\qquad L_q = p_c \sum_{j=0}^{m} j \rho^j .

    Any load is allowed (the system is always stable); ``K == c`` is the Erlang loss system.

    Parameters
    ----------
    arrival_rate : array_like
        lambda, offered requests per second (>= 0).
    service_rate : array_like
        mu per server, per second (> 0).
    servers : array_like of int
        c >= 1.
    capacity : array_like of int
        K >= c, the maximum number in the system (in service plus waiting).
    """

    method = "exact"

    def __init__(
        self, arrival_rate: ArrayLike, service_rate: ArrayLike, servers: ArrayLike, capacity: ArrayLike
    ) -> None:
        lam = nonnegative("arrival_rate", arrival_rate)
        mu = positive("service_rate", service_rate)
        c = integer_count("servers", servers)
        k = integer_count("capacity", capacity)
        lam, mu, c, k = np.broadcast_arrays(lam, mu, c, k)
        if (k < c).any():
            bad = np.flatnonzero((k < c).ravel())[0]
            raise ParameterError(
                f"capacity must be >= servers, got capacity={float(k.ravel()[bad]):g} "
                f"with servers={float(c.ravel()[bad]):g}"
            )
        self.arrival_rate, self.service_rate, self.servers, self.capacity = lam, mu, c, k

    def __repr__(self) -> str:
        vals = (self.arrival_rate, self.service_rate, self.servers, self.capacity)
        if all(v.ndim == 0 for v in vals):
            lam, mu, c, k = (float(v) for v in vals)
            return f"MMcK(arrival_rate={lam:.6g}, service_rate={mu:.6g}, servers={c:.0f}, capacity={k:.0f})"
        return f"MMcK(shape={self.arrival_rate.shape})"

    @cached_property
    def _state(self) -> dict[str, FloatArray]:
        lam, mu, c, k = self.arrival_rate, self.service_rate, self.servers, self.capacity
        shape = lam.shape
        a = lam / mu
        m = k - c
        busy = lam > 0
        p_block = np.zeros(shape)
        log_admit = np.zeros(shape)  # log(1 - p_K), computed without subtracting from 1
        log_queue_admitted = np.full(shape, -np.inf)  # log P(c <= n < K)
        mean_j = np.zeros(shape)
        p_queue = np.zeros(shape)  # P(n >= c)
        if busy.any():
            ab, cb, mb = a[busy], c[busy], m[busy]
            log_rho = np.log(ab / cb)
            y = -log_erlang_b_ufunc(cb, ab)  # -log B >= 0
            with np.errstate(divide="ignore"):
                log_inv_b_minus_1 = np.where(y > 0, y + np.log(-np.expm1(-y)), -np.inf)
            log_g = _log_geometric_sum(log_rho, mb + 1.0)  # sum_{j=0}^{m} rho^j
            log_g_short = _log_geometric_sum(log_rho, mb)  # sum_{j=0}^{m-1} rho^j
            log_pc = -np.logaddexp(log_inv_b_minus_1, log_g)
            with np.errstate(invalid="ignore"):
                log_tail = np.where(mb > 0, mb * log_rho, 0.0)
            p_block[busy] = np.exp(log_pc + log_tail)
            log_admit[busy] = log_pc + np.logaddexp(log_inv_b_minus_1, log_g_short)
            log_queue_admitted[busy] = log_pc + log_g_short
            mean_j[busy] = _truncated_geometric_mean(log_rho, mb)
            p_queue[busy] = np.exp(log_pc + log_g)
        lq = p_queue * mean_j
        admitted = lam * np.exp(log_admit)
        with np.errstate(divide="ignore", invalid="ignore"):
            wq = np.where(admitted > 0, lq / np.where(admitted > 0, admitted, 1.0), 0.0)
        pw = np.exp(log_queue_admitted - log_admit)
        return {
            "p_block": p_block,
            "lq": lq,
            "throughput": admitted,
            "wq": wq,
            "prob_wait": np.clip(pw, 0.0, 1.0),
            "busy": admitted / mu,
        }

    @property
    def blocking_probability(self) -> Any:
        """P(an arrival finds K present and is lost) = p_K (PASTA)."""
        return scalar_or_array(self._state["p_block"])

    @property
    def throughput(self) -> Any:
        """Admitted (and completed) requests per second, lambda (1 - p_K)."""
        return scalar_or_array(self._state["throughput"])

    @property
    def utilization(self) -> Any:
        """Fraction of time a server is busy, lambda (1 - p_K) / (c mu)."""
        return scalar_or_array(self._state["busy"] / self.servers)

    @property
    def prob_wait(self) -> Any:
        """Probability that an admitted arrival has to wait."""
        return scalar_or_array(self._state["prob_wait"])

    @property
    def mean_queue_length(self) -> Any:
        """Mean number waiting, L_q."""
        return scalar_or_array(self._state["lq"])

    @property
    def mean_number_in_system(self) -> Any:
        """Mean number present, L = L_q + mean busy servers."""
        return scalar_or_array(self._state["lq"] + self._state["busy"])

    @property
    def mean_wait(self) -> Any:
        """Mean wait of admitted requests, W_q = L_q / throughput (Little), seconds."""
        return scalar_or_array(self._state["wq"])

    @property
    def mean_response(self) -> Any:
        """Mean response time of admitted requests, W_q + 1/mu, seconds."""
        return scalar_or_array(self._state["wq"] + 1.0 / self.service_rate)
