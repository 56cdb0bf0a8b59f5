"""Per-request CPU demand from a profile: the service time that feeds the queueing models.

If a profile covers :math:`N` requests and holds :math:`T` CPU seconds in scope (all of it, or
only the samples inside a request-handler marker function), the mean CPU demand per request
is :math:`D = T/N` — the service demand of operational analysis (Denning & Buzen, "The
operational analysis of queueing network models", Computing Surveys 10(3), 1978, §3: the
service demand law :math:`D = U/X = B/C`, busy time over completions). Per function, the
demand is its self or inclusive time over :math:`N`.

Error: :math:`T` is :math:`n` samples times the interval; counting :math:`n` as Poisson gives a
relative standard error :math:`1/\\sqrt{n}` for :math:`D` (a sampling error only: it does not
cover requests that differ from the ones profiled, or profiler overhead).

Sampling profilers count a thread as busy while it is *runnable*: py-spy reads the thread's
scheduler state, and scalene's percentages are shares of wall time. On a machine with more
runnable threads than cores, a thread waiting for a core is counted too, so :math:`T`
overstates CPU time. Shares are not affected that way (waiting is spread over all functions
alike); give ``cpu_s`` — the process's own CPU clock, or :math:`U/X` from a load test — and
the demand is ``cpu_s / N`` split by the profile's shares.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import pandas as pd

from capplan._validate import positive
from capplan.profiles.stacks import Stacks
from capplan.profiles.tables import function_table
from capplan.queueing import QueueModel, queue_model
from capplan.sizing import ReplicaSizing, size_replicas

__all__ = ["RequestDemand", "request_demand"]


@dataclass(frozen=True, eq=False)
class RequestDemand:
    """CPU seconds per request, in total (``service_time``) and per function (``table``).

    ``table`` columns: ``function, module, file, self_s_per_request,
    inclusive_s_per_request, self_share, inclusive_share, self_share_se, inclusive_share_se``
    (shares of the in-scope time).
    """

    requests: float
    cpu_s: float
    samples: float
    service_time: float
    service_time_se: float
    within: str | None
    table: pd.DataFrame
    method: str = "service demand law D = T/N (Denning & Buzen 1978); Poisson sampling error"
    cpu_source: str = "profile"

    @property
    def service_rate(self) -> float:
        """Requests per second one core (one worker) completes when busy: :math:`1/D`."""
        return 1.0 / self.service_time

    def queue_model(
        self, arrival_rate: float, servers: int = 1, *, arrival_scv: float = 1.0, service_scv: float = 1.0
    ) -> QueueModel:
        """The queue of ``servers`` workers with this service time (M/M/c or G/G/c)."""
        return queue_model(arrival_rate, self.service_rate, servers, arrival_scv, service_scv)

    def size_replicas(
        self, arrival_rate: float, targets: Mapping[float, float], **kwargs: Any
    ) -> ReplicaSizing:
        """:func:`capplan.sizing.size_replicas` with ``service_time`` = this demand."""
        return size_replicas(arrival_rate, targets, service_time=self.service_time, **kwargs)

    def __repr__(self) -> str:
        return (
            f"RequestDemand(requests={self.requests:g}, service_time={self.service_time * 1e3:.4g} ms "
            f"± {self.service_time_se * 1e3:.2g} ms, cpu_s={self.cpu_s:.4g}, samples={self.samples:.0f}, "
            f"within={self.within!r}, cpu={self.cpu_source})"
        )


def request_demand(
    profile: Stacks, requests: float, *, within: str | None = None, cpu_s: float | None = None
) -> RequestDemand:
    """CPU demand per request of a profile that served ``requests`` requests.

    Parameters
    ----------
    profile : Stacks or Profile
        The recording.
    requests : float
        Requests completed during the recording (> 0).
    within : str, optional
        Marker function (``"module:function"``, e.g. the request handler): only samples inside
        it count, so start-up, imports and idle loops drop out.
    cpu_s : float, optional
        Measured CPU seconds of the same ``requests`` (process CPU clock, or utilisation times
        duration from a load test). The total then comes from it and only the split between
        functions from the profile; ``service_time_se`` is 0 (the clock's error is not known
        here) and ``cpu_source`` says ``"measured"``.

    Raises
    ------
    ParameterError
        For ``requests <= 0``; :class:`ProfileError` when no sample is inside ``within``.
    """
    n = float(positive("requests", requests))
    scoped = profile if within is None else profile.filter(within=within)
    table = function_table(scoped)
    measured = cpu_s is not None
    cpu = float(positive("cpu_s", cpu_s)) if cpu_s is not None else scoped.total_s
    table["self_s"] = table["self_share"] * cpu
    table["inclusive_s"] = table["inclusive_share"] * cpu
    out = pd.DataFrame(
        {
            "function": table["function"],
            "module": table["module"],
            "file": table["file"],
            "self_s_per_request": table["self_s"] / n,
            "inclusive_s_per_request": table["inclusive_s"] / n,
            "self_share": table["self_share"],
            "inclusive_share": table["inclusive_share"],
            "self_share_se": table["self_share_se"],
            "inclusive_share_se": table["inclusive_share_se"],
        }
    )
    samples = scoped.total_samples
    d = cpu / n
    se = 0.0 if measured else d / samples**0.5  # a Profile always has samples
    return RequestDemand(
        requests=n,
        cpu_s=cpu,
        samples=samples,
        service_time=d,
        service_time_se=se,
        within=within,
        table=out,
        cpu_source="measured" if measured else "profile",
    )
