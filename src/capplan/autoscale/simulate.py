"""Run an autoscaling policy against a traffic shape: replicas, latency, SLA minutes, cost.

:func:`simulate` couples the controller (:mod:`.controller`, or a policy from :mod:`.policies`)
with the per-interval queueing model (:mod:`.fluid`) in one compiled loop, so a week at 15 s
resolution takes well under a second.

Metrics the HPA reads come from the model, each ``metric_lag`` seconds old:

* ``Resource cpu`` / ``memory``: usage of the pods' requests (see :class:`.Workload`);
* ``Pods`` latency metrics (a name with ``95``/``99`` and ``latency``/``response_time``/
  ``duration``, e.g. the seed's ``response_time_95th_percentile``): that percentile of the
  response time from the fluid model (seconds; ``"200m"`` = 0.2 s);
* ``Pods`` error metrics (a name containing ``error``): the percentage of arrivals dropped in the
  interval (full queue or client time-out), so the seed's target ``"1"`` means 1%; give
  ``signals={"error_rate": 0.2}`` to treat it as a constant input instead;
* request-rate metrics (``requests_per_second``, ``rps``): per pod for ``Pods``, the total for
  ``Object``/``External``; ``queue``/``backlog`` names: the backlog.

Other names need ``signals={name: "cpu" | "memory" | "latency:0.95" | "error_percent" |
"requests_per_second" | "arrival_rate" | "backlog" | <constant>}``.
"""

from __future__ import annotations

import dataclasses
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from capplan._validate import nonnegative, positive, probability
from capplan.autoscale import _kernel as kn
from capplan.autoscale.controller import (
    DEFAULT_DOWNSCALE_STABILIZATION,
    DEFAULT_TOLERANCE,
    BehaviorArrays,
    behavior_arrays,
)
from capplan.autoscale.fluid import FLUID_METHOD, Workload, latency_table
from capplan.autoscale.manifest import HPA, MetricSpec
from capplan.autoscale.policies import Schedule, StepScaling, TargetTracking
from capplan.autoscale.traffic import Traffic
from capplan.errors import ParameterError

__all__ = ["AutoscaleResult", "Policy", "simulate"]

Policy = HPA | TargetTracking | StepScaling | Schedule
_LEVELS = (0.95, 0.99)
_NAMED = {
    "cpu": kn.SIG_CPU,
    "memory": kn.SIG_MEMORY,
    "error_percent": kn.SIG_ERROR,
    "requests_per_second": kn.SIG_RPS,
    "arrival_rate": kn.SIG_ARRIVALS,
    "backlog": kn.SIG_BACKLOG,
}
_PER_POD = {kn.SIG_CPU, kn.SIG_MEMORY, kn.SIG_RPS}
_TOTAL = {kn.SIG_ARRIVALS, kn.SIG_BACKLOG}


def _label(q: float) -> str:
    return f"p{q * 100:g}"


@dataclass(frozen=True, eq=False)
class AutoscaleResult:
    """Timeline and totals of one simulated run.

    ``timeline`` has one row per interval: ``time_s``, ``arrival_rate`` (1/s), ``replicas_desired``
    (pods that exist and are paid for), ``replicas_ready`` (serving), ``utilization`` (CPU of a
    serving pod, fraction of its request), ``memory_utilization``, ``p95_s``, ``p99_s`` (and any
    other SLA percentile), ``backlog`` (requests), ``dropped`` (requests in the interval) and
    ``error_rate`` (dropped fraction of arrivals).
    """

    timeline: pd.DataFrame
    policy: str
    step: float
    sla: dict[float, float]
    price_per_replica_hour: float
    method: str

    @property
    def replica_hours(self) -> float:
        """Pod-hours paid for (pods count from creation, not readiness)."""
        return float(self.timeline["replicas_desired"].sum() * self.step / 3600.0)

    @property
    def cost(self) -> float:
        """``replica_hours * price_per_replica_hour``."""
        return self.replica_hours * self.price_per_replica_hour

    @property
    def sla_violation_minutes(self) -> dict[str, float]:
        """Minutes in which each percentile target was missed, e.g. ``{"p99 <= 0.5 s": 12.5}``."""
        out = {}
        for q, t in sorted(self.sla.items()):
            over = self.timeline[f"{_label(q)}_s"].to_numpy() > t
            out[f"{_label(q)} <= {t:g} s"] = float(over.sum() * self.step / 60.0)
        return out

    @property
    def dropped(self) -> float:
        """Requests dropped over the run."""
        return float(self.timeline["dropped"].sum())

    def between(self, start: float, end: float) -> AutoscaleResult:
        """The part of the run with ``start <= time_s < end`` (seconds), for totals over a window."""
        t = self.timeline["time_s"]
        part = self.timeline[(t >= start) & (t < end)].reset_index(drop=True)
        if part.empty:
            raise ParameterError(f"no interval in [{start:g}, {end:g}) s")
        return dataclasses.replace(self, timeline=part)

    def totals(self) -> dict[str, float]:
        """Replica-hours, cost, peak replicas, dropped requests and SLA minutes missed, rounded."""
        out: dict[str, float] = {
            "replica_hours": round(self.replica_hours, 2),
            "cost": round(self.cost, 2),
            "peak_replicas": int(self.timeline["replicas_desired"].max()),
            "dropped_requests": round(self.dropped, 1),
        }
        for name, minutes in self.sla_violation_minutes.items():
            out[f"minutes over {name}"] = round(minutes, 2)
        return out

    def __repr__(self) -> str:
        parts = ", ".join(f"{k}={v}" for k, v in self.totals().items())
        return f"AutoscaleResult({self.policy}: {parts})"


def simulate(
    traffic: Traffic,
    policy: Policy,
    workload: Workload,
    *,
    sync_period: float = 15.0,
    pod_startup: float = 30.0,
    readiness_delay: float = 15.0,
    cpu_initialization_period: float = 300.0,
    metric_lag: float | Mapping[str, float] | None = None,
    signals: Mapping[str, str | float] | None = None,
    tolerance: float = DEFAULT_TOLERANCE,
    downscale_stabilization: float = DEFAULT_DOWNSCALE_STABILIZATION,
    initial_replicas: int | None = None,
    floor: Schedule | None = None,
    sla: Mapping[float, float] | None = None,
    price_per_replica_hour: float = 0.0,
) -> AutoscaleResult:
    """Simulate ``policy`` scaling pods of ``workload`` under ``traffic``.

    Parameters
    ----------
    traffic : Traffic
        Arrival rate per interval; its ``step`` is the simulation's resolution and must divide
        ``sync_period``.
    policy : HPA, TargetTracking, StepScaling or Schedule
        Who sets the replica count.
    workload : Workload
        What a pod does with requests.
    sync_period : float
        Seconds between HPA syncs (``--horizontal-pod-autoscaler-sync-period``, 15 s).
    pod_startup : float
        Seconds a new pod is Pending (scheduling, image pull, container start): no metrics, no
        traffic.
    readiness_delay : float
        Further seconds Running before Ready (warm-up, readiness probe); then it serves.
    cpu_initialization_period : float
        ``--horizontal-pod-autoscaler-cpu-initialization-period`` (300 s): within it a pod's CPU
        sample is ignored if the pod is not ready or the sample predates readiness.
    metric_lag : float or mapping, optional
        Age of the metric values at a sync, seconds (one for all, or per metric name).  Default
        15 s for Resource metrics (metrics-server) and 30 s for the others (a Prometheus scrape
        plus adapter); for AWS policies the CloudWatch lag (default 60 s).
    signals : mapping, optional
        What each custom metric name measures (see the module notes).
    tolerance, downscale_stabilization : float
        Controller flags (0.1 and 300 s).
    initial_replicas : int, optional
        Ready pods at time 0 (default: the policy's count for the first interval's load at its
        CPU target, within its bounds).
    floor : Schedule, optional
        For an HPA: ``minReplicas`` raised to this per-interval count (a predictive or scheduled
        floor under the reactive controller), never above ``maxReplicas``.
    sla : mapping, optional
        ``{quantile: seconds}`` targets counted in :attr:`AutoscaleResult.sla_violation_minutes`.
    price_per_replica_hour : float
        Price of one pod for one hour.

    Returns
    -------
    AutoscaleResult

    Notes
    -----
    How the pods look to the replica calculator at a sync (``groupPods`` in
    ``replica_calculator.go``): a Pending pod is *unready* for every metric; a pod that was not
    yet running at the sample time has *no metric* (missing); for CPU, within the CPU
    initialization period a pod is unready while not Ready or while its sample predates its
    readiness, and after it while not Ready (a pod never Ready stays within
    ``delayOfInitialReadinessStatus`` of its last transition).  A started pod that serves no
    traffic yet reports its idle CPU and memory; it reports no latency or error samples (Pods
    metrics), so it counts as missing for those.  Scaling to zero and the alpha per-direction
    tolerance (``behavior.*.tolerance``) are not modelled.
    """
    if not isinstance(traffic, Traffic):
        raise ParameterError(f"traffic must be a Traffic, got {type(traffic).__name__}")
    if not isinstance(workload, Workload):
        raise ParameterError(f"workload must be a Workload, got {type(workload).__name__}")
    dt = traffic.step
    sync_every = _whole("sync_period", sync_period, dt)
    start_steps = _ceil_steps("pod_startup", pod_startup, dt)
    ready_steps = _ceil_steps("readiness_delay", readiness_delay, dt)
    cpu_init = float(nonnegative("cpu_initialization_period", cpu_initialization_period))
    tol = float(nonnegative("tolerance", tolerance))
    price = float(nonnegative("price_per_replica_hour", price_per_replica_hour))
    goals = {
        float(probability("sla quantile", q)): float(positive("sla target", t))
        for q, t in (sla or {}).items()
    }
    rate = np.ascontiguousarray(traffic.rate)
    levels = sorted(set(_LEVELS) | set(goals))
    metrics = np.zeros((0, 7))
    if isinstance(policy, HPA):
        metrics, extra = _metric_table(policy, signals or {}, metric_lag, dt, levels)
        levels = sorted(set(levels) | set(extra))
        metrics, _ = _metric_table(policy, signals or {}, metric_lag, dt, levels)
    rho_grid, table = latency_table(workload, levels)
    arrays = _policy_arrays(policy, floor, downscale_stabilization, metric_lag, dt, rate.size)
    init = arrays.initial_replicas(float(rate[0]), workload.capacity, initial_replicas)
    series, lat = kn.run(
        rate,
        dt,
        sync_every,
        arrays.kind,
        init,
        max(arrays.capacity, init),
        start_steps,
        ready_steps,
        cpu_init,
        workload.packed(),
        rho_grid,
        table,
        np.asarray(levels, dtype=np.float64),
        metrics,
        tol,
        arrays.lo,
        arrays.hi,
        arrays.behavior,
        arrays.floor,
        arrays.aws,
        arrays.hi_steps,
        arrays.lo_steps,
        arrays.lag_steps,
    )
    timeline = _timeline(traffic, rate, series, lat, levels)
    return AutoscaleResult(timeline, arrays.name, dt, goals, price, FLUID_METHOD)


@dataclass(frozen=True)
class _PolicyArrays:
    """A policy as the compiled loop reads it: kind, bounds, CPU target, and its packed settings."""

    kind: int
    name: str
    lo: int
    hi: int
    target: float
    capacity: int
    floor: np.ndarray
    behavior: BehaviorArrays
    aws: np.ndarray = dataclasses.field(default_factory=lambda: np.zeros(15))
    hi_steps: np.ndarray = dataclasses.field(default_factory=lambda: np.zeros((0, 3)))
    lo_steps: np.ndarray = dataclasses.field(default_factory=lambda: np.zeros((0, 3)))
    lag_steps: int = 0

    def initial_replicas(self, lam0: float, per_pod: float, given: int | None) -> int:
        """Ready pods at time 0: ``given``, or the policy's count for the first load at its target."""
        if given is not None:
            return int(positive("initial_replicas", given))
        if self.kind == kn.POLICY_SCHEDULE:
            return int(self.floor[0])
        return int(min(max(math.ceil(lam0 / (per_pod * self.target) - 1e-9), self.lo, 1), self.hi))


def _policy_arrays(
    policy: Policy,
    floor: Schedule | None,
    downscale_stabilization: float,
    metric_lag: float | Mapping[str, float] | None,
    dt: float,
    n: int,
) -> _PolicyArrays:
    no_floor = np.zeros(n, dtype=np.int64)
    no_policies = np.zeros((0, 3), np.int64)
    no_behavior: BehaviorArrays = (True, 0.0, 0.0, 0, no_policies, 0, no_policies)
    if isinstance(policy, HPA):
        floor_arr = no_floor if floor is None else _schedule_array(floor, n)
        cpu_targets = [
            m.target / 100.0 for m in policy.metrics if m.name == "cpu" and m.target_type == "Utilization"
        ]
        return _PolicyArrays(
            kind=kn.POLICY_HPA,
            name=f"HPA {policy.name}",
            lo=policy.min_replicas,
            hi=policy.max_replicas,
            target=min(cpu_targets) if cpu_targets else 1.0,
            capacity=max(policy.max_replicas, int(floor_arr.max())),
            floor=floor_arr,
            behavior=behavior_arrays(policy, downscale_stabilization),
        )
    if isinstance(policy, (TargetTracking, StepScaling)):
        aws, hi_steps, lo_steps = policy.packed(dt)
        lag = 60.0 if metric_lag is None else float(nonnegative("metric_lag", metric_lag))  # type: ignore[arg-type]
        return _PolicyArrays(
            kind=kn.POLICY_AWS,
            name=type(policy).__name__,
            lo=policy.min_capacity,
            hi=policy.max_capacity,
            target=policy.target if isinstance(policy, TargetTracking) else policy.high_threshold,
            capacity=policy.max_capacity,
            floor=no_floor,
            behavior=no_behavior,
            aws=aws,
            hi_steps=hi_steps,
            lo_steps=lo_steps,
            lag_steps=round(lag / dt),
        )
    if isinstance(policy, Schedule):
        floor_arr = _schedule_array(policy, n)
        return _PolicyArrays(
            kind=kn.POLICY_SCHEDULE,
            name=policy.name,
            lo=int(floor_arr[0]),
            hi=int(floor_arr[0]),
            target=1.0,
            capacity=int(floor_arr.max()),
            floor=floor_arr,
            behavior=no_behavior,
        )
    raise ParameterError(
        f"policy must be an HPA, TargetTracking, StepScaling or Schedule, got {type(policy).__name__}"
    )


def _timeline(
    traffic: Traffic, rate: np.ndarray, series: np.ndarray, lat: np.ndarray, levels: list[float]
) -> pd.DataFrame:
    """The compiled loop's series as the result's timeline (utilizations as fractions)."""
    timeline = pd.DataFrame(
        {
            "time_s": traffic.times,
            "arrival_rate": rate,
            "replicas_desired": series[kn.S_PODS].astype(np.int64),
            "replicas_ready": series[kn.S_READY].astype(np.int64),
            "utilization": series[kn.S_CPU] / 100.0,
            "memory_utilization": series[kn.S_MEM] / 100.0,
        }
    )
    for i, q in enumerate(levels):
        timeline[f"{_label(q)}_s"] = lat[i]
    timeline["backlog"] = series[kn.S_BACKLOG]
    timeline["dropped"] = series[kn.S_DROPPED]
    timeline["error_rate"] = series[kn.S_ERR] / 100.0
    return timeline


def _whole(name: str, seconds: float, dt: float) -> int:
    k = float(positive(name, seconds)) / dt
    if abs(k - round(k)) > 1e-9 or round(k) < 1:
        raise ParameterError(f"{name}={seconds:g} s must be a whole number of traffic steps of {dt:g} s")
    return round(k)


def _ceil_steps(name: str, seconds: float, dt: float) -> int:
    return math.ceil(float(nonnegative(name, seconds)) / dt - 1e-9)


def _schedule_array(schedule: Schedule, n: int) -> np.ndarray:
    r = schedule.replicas
    if r.size < n:
        raise ParameterError(f"the schedule has {r.size} intervals, the traffic {n}")
    return np.ascontiguousarray(r[:n], dtype=np.int64)


def _signal_for(m: MetricSpec, path: str, override: str | float | None) -> tuple[int, float | None, float]:
    """``(signal code, quantile or None, constant)`` for one metric."""
    if m.type in ("Resource", "ContainerResource"):
        if m.name not in ("cpu", "memory"):
            raise ParameterError(f"{path}: resource {m.name!r} is not modelled; use cpu or memory")
        return (_NAMED[m.name], None, 0.0)
    spec: Any = override
    if spec is None:
        lname = m.name.lower()
        pct = re.search(r"(?:p|_|^)(50|90|95|99(?:9)?)(?:th)?(?:_|$|p)", lname)
        if any(w in lname for w in ("latency", "response_time", "duration")) and pct:
            digits = pct.group(1)
            spec = f"latency:0.{digits}" if digits != "999" else "latency:0.999"
        elif "error" in lname:
            spec = "error_percent"
        elif any(w in lname for w in ("requests_per_second", "rps", "http_requests")):
            spec = "requests_per_second" if m.type == "Pods" else "arrival_rate"
        elif "queue" in lname or "backlog" in lname:
            spec = "backlog"
        else:
            raise ParameterError(
                f"{path}: cannot tell what metric {m.name!r} measures; pass signals={{{m.name!r}: ...}} "
                f"(one of {sorted(_NAMED)}, 'latency:<quantile>', or a constant)"
            )
    if isinstance(spec, (int, float)) and not isinstance(spec, bool):
        return (kn.SIG_CONSTANT, None, float(nonnegative(f"signals[{m.name!r}]", spec)))
    if isinstance(spec, str) and spec.startswith("latency:"):
        try:
            q = float(spec.split(":", 1)[1])
        except ValueError:
            raise ParameterError(f"signals[{m.name!r}]: bad quantile in {spec!r}") from None
        return (kn.SIG_LATENCY, float(probability(f"signals[{m.name!r}] quantile", q)), 0.0)
    if spec not in _NAMED:
        raise ParameterError(
            f"signals[{m.name!r}] must be one of {sorted(_NAMED)}, 'latency:<q>' or a number, got {spec!r}"
        )
    code = _NAMED[spec]
    if m.type == "Pods" and code in _TOTAL:
        raise ParameterError(
            f"{path}: {spec!r} is a total, not a per-pod value; use an Object or External metric"
        )
    if m.type != "Pods" and code in _PER_POD:
        raise ParameterError(f"{path}: {spec!r} is per pod; use a Pods or Resource metric")
    return (code, None, 0.0)


def _metric_table(
    hpa: HPA,
    signals: Mapping[str, str | float],
    metric_lag: float | Mapping[str, float] | None,
    dt: float,
    levels: list[float],
) -> tuple[np.ndarray, list[float]]:
    rows = []
    extra = []
    for i, m in enumerate(hpa.metrics):
        path = f"spec.metrics[{i}] ({m.type} {m.name})"
        code, q, const = _signal_for(m, path, signals.get(m.name))
        resource = m.type in ("Resource", "ContainerResource")
        if metric_lag is None:
            lag = 15.0 if resource else 30.0
        elif isinstance(metric_lag, Mapping):
            lag = float(metric_lag.get(m.name, 15.0 if resource else 30.0))
        else:
            lag = float(metric_lag)
        lag_steps = round(float(nonnegative(f"metric_lag for {m.name}", lag)) / dt)
        if resource:
            kind = kn.K_RESOURCE
        elif m.type == "Pods":
            kind = kn.K_PODS
        else:
            kind = kn.K_VALUE if m.target_type == "Value" else kn.K_AVERAGE
        util = m.target_type == "Utilization"
        target = m.target if util else float(round(m.target * 1000.0))
        qidx = 0
        if q is not None:
            extra.append(q)
            qidx = levels.index(q) if q in levels else 0
        rows.append([kind, 1.0 if util else 0.0, code, target, lag_steps, qidx, const])
    return np.array(rows, dtype=np.float64).reshape(-1, 7), extra
