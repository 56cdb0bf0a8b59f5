"""Service-time evidence: what a plan knows about how long one request takes, and where it came from.

Every plan rests on a service time per operation class.  It can be stated (an engineer's number),
measured by a profiler (CPU seconds per request), by a load test or by Prometheus (latency at low
load), or given as a fitted distribution.  :class:`ServiceEvidence` carries the number, its
variability and its source, so the report can say what each recommendation rests on.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import ArrayLike

from capplan._validate import nonnegative, positive
from capplan.errors import ParameterError
from capplan.profiles import Profile

if TYPE_CHECKING:
    from capplan.fitting import FittedServiceTime

__all__ = ["ServiceEvidence", "best_fit", "from_fit", "from_profile", "from_samples", "stated"]


@dataclass(frozen=True)
class ServiceEvidence:
    """The service time of one operation class (seconds of work per request on one worker).

    Attributes
    ----------
    op_class : str
        The SLA's operation class (e.g. ``"critical_operations"``).
    mean_s : float
        Mean service time, seconds.
    scv : float
        Squared coefficient of variation (1 = exponential, 0 = constant).
    source : str
        Where the number comes from, e.g. ``"stated"`` or ``"py-spy profile data/profiles/x.json"``.
    distribution : object, optional
        A SciPy-style distribution (``sf``/``ppf``/``mean``) or samples, when known; the queueing
        models then use its whole shape, which makes p99 trustworthy for skewed services.
    """

    op_class: str
    mean_s: float
    scv: float = 1.0
    source: str = "stated"
    distribution: Any = None

    def __post_init__(self) -> None:
        if not self.op_class:
            raise ParameterError("op_class: must name an operation class, got ''")
        positive("mean_s", self.mean_s)
        nonnegative("scv", self.scv)

    def describe(self) -> str:
        """One line for a report, e.g. ``critical_operations: 40 ms mean, SCV 1 (stated)``."""
        shape = "distribution given" if self.distribution is not None else f"SCV {self.scv:g}"
        return f"{self.op_class}: {self.mean_s * 1e3:.4g} ms mean, {shape} ({self.source})"


def stated(
    service_times: Mapping[str, float], *, scv: float | Mapping[str, float] = 1.0
) -> list[ServiceEvidence]:
    """Evidence from stated mean service times ``{class: seconds}`` (SCV 1 unless given)."""
    if not service_times:
        raise ParameterError("service_times: give at least one {operation class: seconds}")
    out = []
    for op_class, mean in service_times.items():
        class_scv = scv[op_class] if isinstance(scv, Mapping) and op_class in scv else scv
        if isinstance(class_scv, Mapping):
            class_scv = 1.0
        out.append(ServiceEvidence(op_class, float(mean), float(class_scv), "stated"))
    return out


def from_profile(
    profile: Profile | Sequence[Profile],
    op_class: str,
    *,
    requests: float,
    within: str | None = None,
    cpu_s: float | None = None,
    scv: float = 1.0,
) -> ServiceEvidence:
    """Evidence from a profiler trace that covered ``requests`` requests of ``op_class``.

    The mean is the service demand :math:`D = T/N` of :meth:`capplan.profiles.Profile.demand`
    (CPU seconds in scope over requests; ``within`` a request-handler function to count only its
    samples, ``cpu_s`` the process's own CPU time to correct for runnable-but-waiting samples).  A
    profile gives a mean, not a spread: ``scv`` (default 1, exponential) is an assumption the
    source line states.

    Several profiles (e.g. a directory of them, one per replica or per hour) that together covered
    ``requests`` requests give :math:`D = \\sum_i T_i / N`, with the sampling errors added in
    quadrature; ``cpu_s`` then does not apply.
    """
    profiles = [profile] if isinstance(profile, Profile) else list(profile)
    if not profiles:
        raise ParameterError("profile: give at least one profile")
    if cpu_s is not None and len(profiles) > 1:
        raise ParameterError(f"cpu_s: applies to one profile, got {len(profiles)} profiles")
    demands = [p.demand(requests, within=within, cpu_s=cpu_s) for p in profiles]
    service_time = sum(d.service_time for d in demands)
    if cpu_s is None:
        se = math.sqrt(sum(d.service_time_se**2 for d in demands))
        basis = f"+-{se * 1e3:.2g} ms sampling error"
    else:
        basis = f"CPU time {cpu_s:g} s from the process clock, split by the profile"
    tools = "/".join(sorted({p.tool for p in profiles}))
    files = profiles[0].source if len(profiles) == 1 else f"{len(profiles)} files {profiles[0].source} ..."
    source = (
        f"{tools} profile{'s' if len(profiles) > 1 else ''} {files}{f' within {within}' if within else ''}: "
        f"{requests:g} requests, {basis}, SCV {scv:g} assumed"
    )
    return ServiceEvidence(op_class, float(service_time), float(scv), source)


def from_samples(op_class: str, samples: ArrayLike, *, source: str = "samples") -> ServiceEvidence:
    """Evidence from measured service times (e.g. latencies at low load): the empirical distribution.

    The queueing models use the samples themselves as the service-time distribution, so the
    tail of the measurement carries into the predicted percentiles.
    """
    x = np.asarray(samples, dtype=float).ravel()
    if x.size < 2 or not np.all(np.isfinite(x)) or np.any(x <= 0):
        raise ParameterError(
            f"samples: need at least two finite, positive service times, got {x.size} values"
        )
    mean = float(x.mean())
    scv = float(x.var(ddof=1) / mean**2)
    return ServiceEvidence(op_class, mean, scv, f"{source}: {x.size} samples", x)


def from_fit(op_class: str, fit: FittedServiceTime) -> ServiceEvidence:
    """Evidence from a fitted service-time distribution (:func:`capplan.fitting.fit_service_time`)."""
    source = f"{fit.family} fit to {fit.source_} (n = {fit.n_:g})"
    return ServiceEvidence(op_class, float(fit.mean_), float(fit.scv_), source, fit.distribution_)


def best_fit(
    op_class: str,
    samples: ArrayLike | None = None,
    *,
    le: ArrayLike | None = None,
    counts: ArrayLike | None = None,
    source: str = "measurements",
    families: tuple[str, ...] = ("gamma", "lognormal"),
) -> ServiceEvidence:
    """Evidence from the best-fitting (lowest AIC) distribution of ``families``.

    Give latency ``samples``, or histogram buckets: upper bounds ``le`` (seconds) and cumulative
    ``counts`` — a Prometheus ``*_bucket`` series, or a load test's percentile spectrum (the
    percentile values as ``le``, the quantile levels times the request count as ``counts``).
    """
    from capplan.fitting import compare_service_times  # noqa: PLC0415 - SciPy's fitting loads on use

    table, fits = compare_service_times(samples, le=le, counts=counts, families=families)
    evidence = from_fit(op_class, fits[str(table["family"].iloc[0])])  # sorted by AIC, best first
    return ServiceEvidence(
        op_class, evidence.mean_s, evidence.scv, f"{source}: {evidence.source}", evidence.distribution
    )
