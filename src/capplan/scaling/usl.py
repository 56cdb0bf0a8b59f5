"""The Universal Scalability Law and Amdahl's law, fitted to throughput measured at several
concurrencies, with the latency they imply and the concurrency where a latency target breaks.

USL (Gunther, *Guerrilla Capacity Planning*, Springer 2007, eq. 4.31 and sec. 5.2)::

    X(N) = gamma N / (1 + alpha (N - 1) + beta N (N - 1))

``alpha`` is contention (serialisation), ``beta`` coherency (crosstalk), ``gamma`` the throughput
of one user.  Throughput peaks at ``N* = sqrt((1 - alpha)/beta)`` (eq. 4.33).  Amdahl's law is the
case ``beta = 0``: ``X(N) = gamma N / (1 + alpha (N - 1))``, which never peaks and tends to
``gamma/alpha``.  The parameter names, bounds (``0 <= alpha, beta <= 1``, ``gamma >= 0``) and the
starting point (``gamma = max(X/N)``, ``alpha = 0.01``, ``beta = 1e-4``) are those of the R
package ``usl`` (Moeding, ``usl.solve.nlxb``), so the fits agree with it.

Latency by Little's law for a closed system of ``N`` users with think time ``Z``
(Lazowska et al., *Quantitative System Performance*, 1984, sec. 3.3): ``R(N) = N/X(N) - Z``.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
from numpy.typing import ArrayLike

from capplan._validate import FloatArray, nonnegative, positive, scalar_or_array
from capplan.errors import ParameterError
from capplan.scaling._fitted import FittedLaw

__all__ = ["USL", "Amdahl", "LatencyKnee", "fit_amdahl", "fit_usl", "quantile_ratio"]


@dataclass(frozen=True)
class LatencyKnee:
    """Where a latency target breaks on a fitted law.

    ``concurrency`` is the (real) concurrency at which the predicted latency equals the target
    (``inf`` if it never does), ``max_concurrency`` the largest whole number of users that still
    meets it (0 if even one user misses it; ``inf`` if no concurrency breaks it, when
    ``alpha = beta = 0``), ``throughput`` the predicted throughput at ``max_concurrency`` and
    ``latency`` the predicted latency there (NaN when ``max_concurrency`` is 0 or ``inf``).
    ``past_peak`` says whether the target breaks only after throughput has already peaked (then
    the peak binds, not the SLA).
    """

    target: float
    concurrency: float
    max_concurrency: float
    throughput: float
    latency: float
    past_peak: bool
    method: str


class _ScalingLaw(FittedLaw):
    x_name: ClassVar[str] = "concurrency"
    y_name: ClassVar[str] = "throughput"

    @property
    def alpha(self) -> float:
        """Contention coefficient (R ``usl``'s ``alpha``; Gunther's ``sigma``)."""
        self._check_fitted()
        return float(self.params_["alpha"])

    @property
    def gamma(self) -> float:
        """Throughput of a single user (R ``usl``'s ``gamma``), in the unit of the data."""
        self._check_fitted()
        return float(self.params_["gamma"])

    @property
    def beta(self) -> float:
        """Coherency coefficient (R ``usl``'s ``beta``; Gunther's ``kappa``)."""
        return 0.0

    @property
    def peak_concurrency(self) -> float:
        """``N* = sqrt((1 - alpha)/beta)``, where throughput peaks (``inf`` if ``beta = 0``)."""
        self._check_fitted()
        b = self.beta
        return math.sqrt(max(1.0 - self.alpha, 0.0) / b) if b > 0 else math.inf

    @property
    def max_throughput(self) -> float:
        """``X(N*)``; with ``beta = 0`` the asymptote ``gamma/alpha`` (``inf`` if ``alpha = 0`` too)."""
        n = self.peak_concurrency
        if math.isfinite(n):
            return float(self(n))
        return self.gamma / self.alpha if self.alpha > 0 else math.inf

    def latency(self, concurrency: ArrayLike, think_time: float = 0.0) -> Any:
        """Mean response time by Little's law, ``R(N) = N/X(N) - Z`` (seconds if X is per second).

        ``think_time`` ``Z`` is the time each user waits between requests (0 for a closed loop
        with no pause, as in a load test with ``wait_time = constant(0)``).
        """
        n = positive("concurrency", concurrency)
        z = float(nonnegative("think_time", think_time))
        x = self._f(self.params_.to_numpy(), np.atleast_1d(n).ravel()).reshape(n.shape)
        return scalar_or_array(np.asarray(n / x - z))

    def latency_knee(
        self, latency_target: float, *, think_time: float = 0.0, quantile_ratio: float = 1.0
    ) -> LatencyKnee:
        """The concurrency at which the predicted latency reaches ``latency_target``.

        The law predicts the *mean* latency.  For a percentile target (an SLA's p95), pass
        ``quantile_ratio`` = measured percentile / measured mean (see :func:`quantile_ratio`):
        the knee is where ``quantile_ratio * R(N) = target``.  That assumes the ratio stays as
        measured (an approximation; ``method`` says so).  ``R(N) + Z = D(N)/gamma`` with ``D`` the
        law's denominator, a quadratic in ``N``, so the knee has a closed form.
        """
        target = float(positive("latency_target", latency_target))
        z = float(nonnegative("think_time", think_time))
        ratio = float(positive("quantile_ratio", quantile_ratio))
        if ratio < 1.0:
            raise ParameterError(f"quantile_ratio must be >= 1 (a percentile above the mean), got {ratio!r}")
        a, b, g = self.alpha, self.beta, self.gamma
        # D(N) = 1 + a (N - 1) + b N (N - 1) = b N^2 + (a - b) N + (1 - a) <= g (target/ratio + Z)
        rhs = g * (target / ratio + z)
        c0 = (1.0 - a) - rhs
        if b > 0:
            lin = a - b
            root = (-lin + math.sqrt(lin * lin - 4.0 * b * c0)) / (2.0 * b)
        elif a > 0:
            root = -c0 / a
        else:
            root = math.inf if c0 <= 0 else 0.0
        # inf: no finite concurrency breaks the target (reported as 0 whole users meeting it
        # only when even one user misses it)
        if math.isinf(root):
            n_max: float = math.inf
        else:
            n_max = self._whole_users(root, lambda n: ratio * float(self.latency(n, z)) <= target)
        if 1 <= n_max < math.inf:
            thr = float(self(float(n_max)))
            lat = float(self.latency(float(n_max), z))
        else:
            thr, lat = math.nan, math.nan
        method = "exact for the fitted law's mean latency"
        if ratio != 1.0:
            method = f"approximate: percentile = {ratio:g} x mean latency (ratio held at its measured value)"
        return LatencyKnee(
            target=target,
            concurrency=float(root),
            max_concurrency=n_max,
            throughput=thr,
            latency=lat,
            past_peak=bool(root > self.peak_concurrency),
            method=method,
        )

    @staticmethod
    def _whole_users(root: float, meets: Callable[[float], bool]) -> float:
        """The largest whole ``N >= 1`` with ``meets(N)`` next to the closed-form ``root`` (0 if
        none): the root's floor, moved by one where rounding put a target met exactly (a target
        taken from the law at a whole ``N``) on the wrong side."""
        n = float(math.floor(root)) if root >= 1 else 0.0
        if meets(n + 1.0):
            return n + 1.0
        if n >= 1 and not meets(n):
            return n - 1.0
        return n


class USL(_ScalingLaw):
    """Universal Scalability Law ``X(N) = gamma N / (1 + alpha (N-1) + beta N (N-1))``.

    Gunther, *Guerrilla Capacity Planning* (2007), eq. 4.31; fitted as the R package ``usl``
    does.  Fit with :func:`fit_usl` (or ``USL().fit(concurrency, throughput)``).
    """

    param_names: ClassVar[tuple[str, ...]] = ("alpha", "beta", "gamma")
    lower: ClassVar[tuple[float, ...]] = (0.0, 0.0, 0.0)
    upper: ClassVar[tuple[float, ...]] = (1.0, 1.0, math.inf)
    label: ClassVar[str] = "USL"

    @property
    def beta(self) -> float:
        self._check_fitted()
        return float(self.params_["beta"])

    @staticmethod
    def _f(theta: FloatArray, x: FloatArray) -> FloatArray:
        a, b, g = theta
        return np.asarray(g * x / (1.0 + a * (x - 1.0) + b * x * (x - 1.0)))

    @staticmethod
    def _gradient(theta: FloatArray, x: FloatArray) -> FloatArray:
        a, b, g = theta
        d = 1.0 + a * (x - 1.0) + b * x * (x - 1.0)
        dd = g * x / (d * d)
        return np.column_stack([-dd * (x - 1.0), -dd * x * (x - 1.0), x / d])

    @staticmethod
    def _start(x: FloatArray, y: FloatArray) -> FloatArray:
        return np.array([0.01, 1e-4, float(np.max(y / x))])


class Amdahl(_ScalingLaw):
    """Amdahl's law ``X(N) = gamma N / (1 + alpha (N - 1))`` (the USL with ``beta = 0``).

    Amdahl (1967), in the form of Gunther, *Guerrilla Capacity Planning* (2007), eq. 4.13.
    """

    param_names: ClassVar[tuple[str, ...]] = ("alpha", "gamma")
    lower: ClassVar[tuple[float, ...]] = (0.0, 0.0)
    upper: ClassVar[tuple[float, ...]] = (1.0, math.inf)
    label: ClassVar[str] = "Amdahl"

    @staticmethod
    def _f(theta: FloatArray, x: FloatArray) -> FloatArray:
        a, g = theta
        return np.asarray(g * x / (1.0 + a * (x - 1.0)))

    @staticmethod
    def _gradient(theta: FloatArray, x: FloatArray) -> FloatArray:
        a, g = theta
        d = 1.0 + a * (x - 1.0)
        return np.column_stack([-g * x * (x - 1.0) / (d * d), x / d])

    @staticmethod
    def _start(x: FloatArray, y: FloatArray) -> FloatArray:
        return np.array([0.01, float(np.max(y / x))])


def fit_usl(concurrency: ArrayLike, throughput: ArrayLike) -> USL:
    """Fit the Universal Scalability Law to throughput measured at several concurrencies.

    Parameters
    ----------
    concurrency, throughput
        Positive, same length, at least 3 points (6 or more recommended; fewer warn).

    Returns
    -------
    USL
        With ``alpha``, ``beta``, ``gamma``, ``peak_concurrency``, ``max_throughput``,
        ``summary()``, ``confidence_intervals()``, ``predict(n)`` (with a band), ``latency(n)``,
        ``latency_knee(target)`` and ``plot()``.

    Warns
    -----
    FitWarning
        Fewer than 6 points, or a parameter at a bound (``beta = 0`` means the data show no
        retrograde region; Amdahl's law may be enough).
    """
    return USL().fit(concurrency, throughput)


def fit_amdahl(concurrency: ArrayLike, throughput: ArrayLike) -> Amdahl:
    """Fit Amdahl's law ``X(N) = gamma N / (1 + alpha (N - 1))``; see :func:`fit_usl`."""
    return Amdahl().fit(concurrency, throughput)


def quantile_ratio(quantile_latency: ArrayLike, mean_latency: ArrayLike) -> float:
    """Median over load levels of measured percentile latency / measured mean latency.

    The factor :meth:`USL.latency_knee` needs to turn a mean-latency prediction into a
    percentile one.  Raises :class:`ParameterError` for mismatched or non-positive inputs.
    """
    q = positive("quantile_latency", quantile_latency).ravel()
    m = positive("mean_latency", mean_latency).ravel()
    if q.shape != m.shape:
        raise ParameterError(
            f"quantile_latency and mean_latency must have the same length, got {q.size} and {m.size}"
        )
    return float(np.median(q / m))
