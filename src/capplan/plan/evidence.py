"""Service-time evidence: what a plan knows about how long one request takes, and where it came from.

Every plan rests on a service time per operation class.  It can be stated (an engineer's number),
measured by a profiler (CPU seconds per request), by a load test or by Prometheus (latency at low
load), or given as a fitted distribution.  :class:`ServiceEvidence` carries the number, its
variability and its source, so the report can say what each recommendation rests on.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from capplan._validate import nonnegative, positive
from capplan.errors import ParameterError

__all__ = ["ServiceEvidence", "stated"]


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
