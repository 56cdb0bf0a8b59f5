"""Compiled scalar kernels for the Erlang B and C formulas, in log space.

Erlang B is the ratio of a Poisson probability to a Poisson distribution function,

    B(c, a) = p(c; a) / P(X <= c),   X ~ Poisson(a),   P(X <= c) = Q(c + 1, a),

with ``Q`` the regularized upper incomplete gamma function.  Three ingredients keep it exact
(relative error ~1e-13) for any ``c`` up to 1e6 and beyond, with no overflow:

* ``log p(c; a)`` by Loader's saddle-point form (Loader 2000, "Fast and accurate computation of
  binomial probabilities"): ``-stirlerr(c) - bd0(c, a) - log(2 pi c)/2``, where ``bd0`` is computed
  by a series when ``c`` is close to ``a``, so no catastrophic cancellation of ``c log a - a -
  log c!``;
* ``Q(c + 1, a)`` from SciPy's ``gammaincc`` (Temme's uniform expansion for large arguments) where
  it cannot underflow;
* far in overload (``a`` well above ``c``), ``1/B = sum_j c!/((c-j)! a^j)``, a series of
  decreasing terms (Jagerman 1974, eq. 3).
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable
from typing import Any, cast

import llvmlite.binding
import numba
import numpy as np
from numba import types
from numba.extending import get_cython_function_address
from numpy.typing import ArrayLike

__all__ = ["log_erlang_b", "log_erlang_b_ufunc", "log_erlang_c", "log_erlang_c_ufunc"]

# cython_special exports ``double gammaincc(double, double, int skip_dispatch)``.  The kernels call
# it by a symbol name registered with the JIT linker in each process (not by a ctypes pointer,
# whose address numba would bake into the machine code), so their compiled code can be cached on
# disk like every other kernel.
_GAMMAINCC = "capplan_scipy_gammaincc"
llvmlite.binding.add_symbol(
    _GAMMAINCC, get_cython_function_address("scipy.special.cython_special", "gammaincc")
)
_gammaincc: Any = types.ExternalFunction(_GAMMAINCC, types.float64(types.float64, types.float64, types.intc))

_HALF_LOG_2PI = 0.5 * math.log(2.0 * math.pi)
# Far-overload threshold, in standard deviations of Poisson(a) above c.  Below it SciPy's
# gammaincc is accurate to ~1e-13 relative (checked against mpmath for c up to 1e6); above it the
# series converges in at most ~4,000 terms (c = 1e6) and is accurate to ~1e-14.
_FAR_SIGMAS = 8.0


@numba.njit(cache=True, nogil=True)
def _stirlerr(n: float) -> float:
    """log(n!) - [(n + 1/2) log n - n + log(2 pi)/2]  (Loader 2000, sec. 2)."""
    if n <= 15.0:
        return math.lgamma(n + 1.0) - (n + 0.5) * math.log(n) + n - _HALF_LOG_2PI
    nn = n * n
    s0 = 1.0 / 12.0
    s1 = 1.0 / 360.0
    s2 = 1.0 / 1260.0
    s3 = 1.0 / 1680.0
    s4 = 1.0 / 1188.0
    if n > 500.0:
        return (s0 - s1 / nn) / n
    if n > 80.0:
        return (s0 - (s1 - s2 / nn) / nn) / n
    if n > 35.0:
        return (s0 - (s1 - (s2 - s3 / nn) / nn) / nn) / n
    return (s0 - (s1 - (s2 - (s3 - s4 / nn) / nn) / nn) / nn) / n


@numba.njit(cache=True, nogil=True)
def _bd0(x: float, mu: float) -> float:
    """x log(x/mu) + mu - x, without cancellation when x is close to mu (Loader 2000)."""
    if abs(x - mu) < 0.1 * (x + mu):
        v = (x - mu) / (x + mu)
        s = (x - mu) * v
        ej = 2.0 * x * v
        v2 = v * v
        j = 1
        while j < 1000:
            ej *= v2
            s1 = s + ej / (2 * j + 1)
            if s1 == s:
                return s1
            s = s1
            j += 1
        return s
    if mu * 1e300 < x:  # x / mu would overflow (mu tiny or subnormal): take the logs apart
        return x * (math.log(x) - math.log(mu)) + mu - x
    return x * math.log(x / mu) + mu - x


@numba.njit(cache=True, nogil=True)
def _log_poisson_pmf(k: float, mu: float) -> float:
    if k == 0.0:
        return -mu
    return -_stirlerr(k) - _bd0(k, mu) - _HALF_LOG_2PI - 0.5 * math.log(k)


@numba.njit(cache=True, nogil=True)
def log_erlang_b(c: float, a: float) -> float:
    """log B(c, a) for integer ``c >= 1`` and ``a >= 0`` (``-inf`` when ``a == 0``)."""
    if a == 0.0:
        return -math.inf
    if math.isinf(a):
        return 0.0
    if a > c + _FAR_SIGMAS * math.sqrt(c + 1.0) + _FAR_SIGMAS:
        # 1/B = sum_{j=0}^{c} prod_{i<j} (c - i)/a; terms fall at least geometrically (c/a < 1).
        total = 1.0
        term = 1.0
        j = 0.0
        while j < c:
            term *= (c - j) / a
            total += term
            if term < 1e-18 * total:
                break
            j += 1.0
        return -math.log(total)
    q = _gammaincc(c + 1.0, a, 1)
    return _log_poisson_pmf(c, a) - math.log(q)


@numba.njit(cache=True, nogil=True)
def log_erlang_c(c: float, a: float) -> float:
    """log C(c, a); ``0`` (C = 1) when ``a >= c``."""
    if a >= c:
        return 0.0
    log_b = log_erlang_b(c, a)
    b = math.exp(log_b)
    # C = c B / (c - a + a B); c - a is exact near saturation (Sterbenz).
    return log_b + math.log(c) - math.log((c - a) + a * b)


def _log_erlang_b_elementwise(c: float, a: float) -> float:  # pragma: no cover - compiled
    return log_erlang_b(c, a)


def _log_erlang_c_elementwise(c: float, a: float) -> float:  # pragma: no cover - compiled
    return log_erlang_c(c, a)


_Scalar2 = Callable[[float, float], float]
_vectorize = cast(Callable[..., Callable[[_Scalar2], np.ufunc]], numba.vectorize)
_SIGNATURES = ["float64(float64, float64)"]


# The ufuncs are compiled once into numba's on-disk cache (``python -m capplan.warmup``) and built
# from it on first use, which keeps even that load out of the commands that never evaluate an
# Erlang formula.
@functools.cache
def _ufunc(which: str) -> np.ufunc:
    kernel = _log_erlang_b_elementwise if which == "b" else _log_erlang_c_elementwise
    return _vectorize(_SIGNATURES, nopython=True, cache=True)(kernel)


def log_erlang_b_ufunc(servers: ArrayLike, offered_load: ArrayLike) -> Any:
    """log B(c, a) elementwise: a compiled numpy ufunc (float64 in and out), built on first use."""
    return _ufunc("b")(servers, offered_load)


def log_erlang_c_ufunc(servers: ArrayLike, offered_load: ArrayLike) -> Any:
    """log C(c, a) elementwise: a compiled numpy ufunc (float64 in and out), built on first use."""
    return _ufunc("c")(servers, offered_load)
