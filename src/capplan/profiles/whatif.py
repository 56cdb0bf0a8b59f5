"""What-if: the service time and capacity after speeding up (or slowing down) functions.

Amdahl's law (Amdahl, AFIPS 1967; Hennessy & Patterson, *Computer Architecture: A
Quantitative Approach*, 5th ed., §1.9): if a fraction :math:`f` of the time is made :math:`s`
times faster, the new time is

.. math:: S' = S\\,\\bigl((1-f) + f/s\\bigr), \\qquad \\text{overall speedup} = S/S'.

For several functions with inclusive shares :math:`f_k` that do not contain each other,
:math:`S' = S\\,(1 - \\sum_k f_k + \\sum_k f_k/s_k)`. It is applied sample by sample: a sampled
stack passing through a target function has its time divided by that function's speedup (the
innermost target when targets are nested, so a callee's own factor wins inside it). A speedup
below 1 is a slowdown.

Capacity follows from the queueing and sizing models: one core at utilisation :math:`U`
completes :math:`U/S` requests per second (utilisation law, Denning & Buzen 1978), and with an
arrival rate and latency targets :func:`capplan.sizing.size_replicas` gives the replica count
before and after. The what-if moves the mean only; the service-time SCV is kept as given.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike

from capplan._validate import FloatArray, as_float_array, positive, utilization_cap
from capplan.errors import ParameterError
from capplan.profiles.demand import RequestDemand, request_demand
from capplan.profiles.frames import frame_matcher
from capplan.profiles.stacks import Stacks
from capplan.sizing import ReplicaSizing, size_replicas

__all__ = ["WhatIf", "amdahl_time", "what_if"]

METHOD = "Amdahl's law on inclusive shares (Hennessy & Patterson §1.9), applied per sampled stack"


def amdahl_time(service_time: ArrayLike, fraction: ArrayLike, speedup: ArrayLike) -> FloatArray:
    """New time :math:`S((1-f) + f/s)` after making a fraction ``f`` of it ``s`` times faster.

    Broadcasts over numpy arrays. ``fraction`` in [0, 1], ``speedup`` > 0.
    """
    s0 = positive("service_time", service_time)
    f = as_float_array("fraction", fraction)
    if np.any((f < 0) | (f > 1)):
        raise ParameterError(f"fraction must lie in [0, 1], got {fraction!r}")
    s = positive("speedup", speedup)
    out: FloatArray = s0 * ((1.0 - f) + f / s)
    return out


@dataclass(frozen=True, eq=False)
class WhatIf:
    """Result of :func:`what_if` (seconds, requests per second).

    ``targets`` has one row per speedup key: ``key, functions`` (matched names),
    ``inclusive_share`` (of the in-scope time), ``speedup``, ``inclusive_share_after`` (its
    share of the new time: what a profile of the changed program should show),
    ``saved_s_per_request``.
    ``sizing_before``/``sizing_after`` are set when an arrival rate and latency targets were
    given.
    """

    speedups: dict[str, float]
    before: RequestDemand
    service_time_after: float
    max_utilization: float
    targets: pd.DataFrame
    sizing_before: ReplicaSizing | None = None
    sizing_after: ReplicaSizing | None = None
    method: str = METHOD

    @property
    def service_time_before(self) -> float:
        """Mean CPU seconds per request as profiled."""
        return self.before.service_time

    @property
    def speedup(self) -> float:
        """Overall speedup :math:`S/S'` (below 1: slower)."""
        return self.service_time_before / self.service_time_after

    @property
    def throughput_per_core_before(self) -> float:
        """Requests per second per core at ``max_utilization``, as profiled."""
        return self.max_utilization / self.service_time_before

    @property
    def throughput_per_core_after(self) -> float:
        """Requests per second per core at ``max_utilization`` after the change."""
        return self.max_utilization / self.service_time_after

    @property
    def replicas_before(self) -> int | None:
        """Replicas needed as profiled (``None`` without arrival rate and targets)."""
        return None if self.sizing_before is None else self.sizing_before.replicas

    @property
    def replicas_after(self) -> int | None:
        """Replicas needed after the change (``None`` without arrival rate and targets)."""
        return None if self.sizing_after is None else self.sizing_after.replicas

    def to_frame(self) -> pd.DataFrame:
        """Before/after table: service time, throughput per core, replicas and binding constraint."""
        rows: list[dict[str, Any]] = [
            {
                "metric": "service_time_ms",
                "before": self.service_time_before * 1e3,
                "after": self.service_time_after * 1e3,
            },
            {
                "metric": "requests_per_s_per_core",
                "before": self.throughput_per_core_before,
                "after": self.throughput_per_core_after,
            },
        ]
        if self.sizing_before is not None and self.sizing_after is not None:
            rows.append(
                {
                    "metric": "replicas",
                    "before": self.sizing_before.replicas,
                    "after": self.sizing_after.replicas,
                }
            )
            rows.append(
                {
                    "metric": "utilization",
                    "before": self.sizing_before.utilization,
                    "after": self.sizing_after.utilization,
                }
            )
            rows.append(
                {
                    "metric": "binding",
                    "before": self.sizing_before.binding,
                    "after": self.sizing_after.binding,
                }
            )
        return pd.DataFrame(rows)

    def __repr__(self) -> str:
        text = ", ".join(f"{k}={v:g}" for k, v in self.speedups.items())
        reps = (
            ""
            if self.replicas_before is None
            else f", replicas {self.replicas_before} -> {self.replicas_after}"
        )
        return (
            f"WhatIf({text}: service time {self.service_time_before * 1e3:.4g} -> "
            f"{self.service_time_after * 1e3:.4g} ms, speedup {self.speedup:.3f}{reps})"
        )


def what_if(
    profile: Stacks,
    speedups: Mapping[str, float],
    *,
    requests: float,
    within: str | None = None,
    cpu_s: float | None = None,
    arrival_rate: float | None = None,
    targets: Mapping[float, float] | None = None,
    workers: int = 1,
    service_scv: float = 1.0,
    arrival_scv: float = 1.0,
    max_utilization: float = 1.0,
    **sizing: Any,
) -> WhatIf:
    """Service time, throughput per core and replicas if functions were ``speedup`` times faster.

    Parameters
    ----------
    profile : Stacks or Profile
        The recording; ``requests`` were served during it.
    speedups : mapping
        ``{"module:function": speedup}`` (see :func:`capplan.profiles.frame_matcher` for keys);
        2 means twice as fast, 0.5 twice as slow.
    requests, within, cpu_s
        As for :func:`capplan.profiles.request_demand`.
    arrival_rate, targets : optional
        Requests per second and ``{quantile: seconds}`` latency targets: when both are given,
        replicas are sized before and after with :func:`capplan.sizing.size_replicas`
        (``workers``, ``service_scv``, ``arrival_scv``, ``max_utilization`` and ``**sizing`` are
        passed on).

    Raises
    ------
    ParameterError
        A speedup that is not positive and finite, or a key matching no function in scope.
    """
    if not isinstance(speedups, Mapping) or not speedups:
        raise ParameterError(
            f"speedups must be a non-empty mapping {{'module:function': factor}}, got {speedups!r}"
        )
    factors = {str(k): float(positive(f"speedups[{k!r}]", v)) for k, v in speedups.items()}
    cap = float(utilization_cap("max_utilization", max_utilization))
    before = request_demand(profile, requests, within=within, cpu_s=cpu_s)
    scoped = profile if within is None else profile.filter(within=within)
    matchers = [(key, frame_matcher(key)) for key in factors]
    hits = {key: [m(f) for f in scoped.frames] for key, m in matchers}
    for key, flags in hits.items():
        if not any(flags):
            scope = "" if within is None else f" within {within!r}"
            raise ParameterError(f"speedups[{key!r}]: no function in the profile{scope} matches this key")
    total = scoped.total_s
    new_total = 0.0
    inclusive = dict.fromkeys(factors, 0.0)
    inclusive_after = dict.fromkeys(factors, 0.0)
    for stack, sec in zip(scoped.stacks, scoped.seconds, strict=True):
        factor = 1.0
        for j in reversed(stack):  # innermost target wins
            found = next((k for k, flags in hits.items() if flags[j]), None)
            if found is not None:
                factor = factors[found]
                break
        new_total += float(sec) / factor
        for key, flags in hits.items():
            if any(flags[j] for j in stack):
                inclusive[key] += float(sec)
                inclusive_after[key] += float(sec) / factor
    after = before.service_time * new_total / total
    rows = []
    for key, flags in hits.items():
        names = sorted(
            {f"{f.module}:{f.function}" for f, hit in zip(scoped.frames, flags, strict=True) if hit}
        )
        share = inclusive[key] / total
        rows.append(
            {
                "key": key,
                "functions": ", ".join(names),
                "inclusive_share": share,
                "speedup": factors[key],
                "inclusive_share_after": inclusive_after[key] / new_total,
                "saved_s_per_request": before.service_time * share * (1.0 - 1.0 / factors[key]),
            }
        )
    sizing_before = sizing_after = None
    if (arrival_rate is None) != (targets is None):
        raise ParameterError("give both arrival_rate and targets to size replicas, or neither")
    if arrival_rate is not None and targets is not None:
        common = dict(
            workers=workers, service_scv=service_scv, arrival_scv=arrival_scv, max_utilization=cap, **sizing
        )
        sizing_before = size_replicas(arrival_rate, targets, service_time=before.service_time, **common)
        sizing_after = size_replicas(arrival_rate, targets, service_time=after, **common)
    return WhatIf(
        speedups=factors,
        before=before,
        service_time_after=after,
        max_utilization=cap,
        targets=pd.DataFrame(rows),
        sizing_before=sizing_before,
        sizing_after=sizing_after,
    )
