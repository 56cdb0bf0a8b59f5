"""The compiled time loop: pods (pending, starting, ready), the policy's decisions, the fluid queue.

One interval of ``dt`` seconds per step.  At each sync the policy sets the replica count; new pods
are Pending for ``start_steps`` intervals, then Running but not Ready for ``ready_steps``, then
serve.  Scale-down removes the newest pods first (a ReplicaSet deletes pending and not-ready pods
before ready ones, then the most recently ready).  The pods' metrics at a sync are those of the
interval ``lag`` steps before it.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit
from numpy.typing import NDArray

from capplan.autoscale.controller import (
    BehaviorArrays,
    average_value_replicas,
    hpa_sync,
    plain_replicas,
    value_replicas,
)
from capplan.autoscale.fluid import W_CPU_REQUEST, W_IDLE_CPU, W_MEM_BASE, W_MEM_REQUEST, fluid_interval
from capplan.autoscale.policies import (
    A_HI,
    A_HI_POINTS,
    A_IN_COOLDOWN,
    A_IN_POINTS,
    A_IN_RATIO,
    A_LO,
    A_LO_POINTS,
    A_MAX,
    A_MIN,
    A_MODE,
    A_OUT_COOLDOWN,
    A_OUT_POINTS,
    A_PERCENT,
    A_PERIOD,
    A_TARGET,
    MODE_TARGET,
)

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.int64]

POLICY_HPA, POLICY_AWS, POLICY_SCHEDULE = 0, 1, 2
# metric kinds (column 0 of the metric table)
K_RESOURCE, K_PODS, K_VALUE, K_AVERAGE = 0, 1, 2, 3
# signals (column 2)
SIG_CPU, SIG_MEMORY, SIG_LATENCY, SIG_ERROR, SIG_RPS, SIG_ARRIVALS, SIG_BACKLOG, SIG_CONSTANT = range(8)
# metric table columns
M_KIND, M_UTIL, M_SIGNAL, M_TARGET, M_LAG, M_QIDX, M_CONST = range(7)
# series rows
S_CPU, S_MEM, S_ERR, S_RPS, S_ARR, S_BACKLOG, S_DROPPED, S_READY, S_PODS = range(9)
N_SERIES = 9
_FAR_PAST = -(10**12)


@njit(cache=True)
def _signal(
    sig: int, qidx: int, const: float, s: int, series: FloatArray, lat: FloatArray
) -> float:  # pragma: no cover
    if sig == SIG_CPU:
        return float(series[S_CPU, s])
    if sig == SIG_MEMORY:
        return float(series[S_MEM, s])
    if sig == SIG_LATENCY:
        return float(lat[qidx, s])
    if sig == SIG_ERROR:
        return float(series[S_ERR, s])
    if sig == SIG_RPS:
        return float(series[S_RPS, s])
    if sig == SIG_ARRIVALS:
        return float(series[S_ARR, s])
    if sig == SIG_BACKLOG:
        return float(series[S_BACKLOG, s])
    return const


@njit(cache=True)
def _proposal(
    m: FloatArray,
    k: int,
    dt: float,
    n_pods: int,
    create: IntArray,
    start_steps: int,
    ready_steps: int,
    cpu_init: float,
    tolerance: float,
    w: FloatArray,
    series: FloatArray,
    lat: FloatArray,
) -> int:  # pragma: no cover
    """The replica calculator for one metric at step ``k`` (``-1`` when it cannot be computed)."""
    s = k - 1 - int(m[M_LAG])
    if s < 0:
        return -1
    kind = int(m[M_KIND])
    sig = int(m[M_SIGNAL])
    qidx = int(m[M_QIDX])
    util = m[M_UTIL] > 0.5
    target = m[M_TARGET]
    value = _signal(sig, qidx, m[M_CONST], s, series, lat)
    if kind in (K_VALUE, K_AVERAGE):
        v = float(round(value * 1000.0))
        if kind == K_AVERAGE:
            return average_value_replicas(n_pods, v, target, tolerance)
        ready_now = 0
        for i in range(n_pods):
            if create[i] + start_steps + ready_steps <= k:
                ready_now += 1
        return value_replicas(n_pods, ready_now, v, target, tolerance)
    n_ready = 0
    n_missing = 0
    n_unready = 0
    total = 0.0
    # resource values are percent of request; AverageValue targets want milli-cores / milli-bytes
    scale = 1.0 if util else (w[W_CPU_REQUEST] if sig == SIG_CPU else w[W_MEM_REQUEST]) * 10.0
    for i in range(n_pods):
        run = create[i] + start_steps
        rdy = run + ready_steps
        if k < run:  # Pending
            n_unready += 1
            continue
        if kind == K_RESOURCE:
            if s < run:  # no sample from before the pod ran
                n_missing += 1
                continue
            if sig == SIG_CPU:
                unready = k < rdy or s < rdy if (k - create[i]) * dt < cpu_init else k < rdy
                if unready:
                    n_unready += 1
                    continue
            pod_value = value if rdy <= s else _idle(sig, w)
            if util:
                total += pod_value
            else:
                total += float(round(pod_value * scale))
            n_ready += 1
        else:  # Pods metric: only pods that served during the sample report it
            if s < rdy:
                n_missing += 1
                continue
            total += float(round(value * 1000.0))
            n_ready += 1
    return plain_replicas(n_pods, n_ready, total, n_missing, n_unready, target, tolerance, util)


@njit(cache=True)
def _idle(sig: int, w: FloatArray) -> float:  # pragma: no cover
    """Percent of request used by a started pod that serves no traffic yet."""
    if sig == SIG_CPU:
        return float(w[W_IDLE_CPU] / w[W_CPU_REQUEST] * 100.0)
    return float(w[W_MEM_BASE] / w[W_MEM_REQUEST] * 100.0)


@njit(cache=True)
def _aws_decide(
    k: int,
    n_pods: int,
    n_ready: int,
    p: FloatArray,
    hi_steps: FloatArray,
    lo_steps: FloatArray,
    dps: FloatArray,
    e: int,
    last_change: int,
) -> int:  # pragma: no cover
    """Target tracking or step scaling at evaluation ``e`` (datapoints ``dps[:e+1]``)."""
    mode = int(p[A_MODE])
    lo_cap = int(p[A_MIN])
    hi_cap = int(p[A_MAX])
    metric = dps[e]
    new = n_pods
    if mode == MODE_TARGET:
        target = p[A_TARGET]
        out_pts = int(p[A_OUT_POINTS])
        in_pts = int(p[A_IN_POINTS])
        high = e + 1 >= out_pts
        for i in range(e - out_pts + 1, e + 1):
            if i < 0 or not dps[i] > target:
                high = False
        low = e + 1 >= in_pts
        for i in range(e - in_pts + 1, e + 1):
            if i < 0 or not dps[i] < p[A_IN_RATIO] * target:
                low = False
        if high:
            want = math.ceil(n_ready * metric / target - 1e-9)
            if want > n_pods:
                new = want
        elif low and k - last_change >= p[A_IN_COOLDOWN]:
            want = max(math.ceil(n_ready * metric / target - 1e-9), 1)
            if want < n_pods:
                new = want
    else:
        hi_pts = int(p[A_HI_POINTS])
        lo_pts = int(p[A_LO_POINTS])
        high = e + 1 >= hi_pts
        for i in range(e - hi_pts + 1, e + 1):
            if i < 0 or not dps[i] > p[A_HI]:
                high = False
        low = e + 1 >= lo_pts
        for i in range(e - lo_pts + 1, e + 1):
            if i < 0 or not dps[i] < p[A_LO]:
                low = False
        if high and k - last_change >= p[A_OUT_COOLDOWN]:
            adj = _step(hi_steps, metric - p[A_HI])
            new = n_pods + _adjust(n_pods, adj, p[A_PERCENT] > 0.5)
        elif low and k - last_change >= p[A_IN_COOLDOWN]:
            adj = _step(lo_steps, metric - p[A_LO])
            new = n_pods + _adjust(n_pods, adj, p[A_PERCENT] > 0.5)
    return min(max(new, lo_cap), hi_cap)


@njit(cache=True)
def _step(steps: FloatArray, beyond: float) -> float:  # pragma: no cover
    for i in range(steps.shape[0]):
        if steps[i, 0] <= beyond < steps[i, 1]:
            return float(steps[i, 2])
    return 0.0


@njit(cache=True)
def _adjust(n: int, adj: float, percent: bool) -> int:  # pragma: no cover
    if not percent:
        return int(adj)
    change = n * adj / 100.0
    # AWS: a percent change between -1 and 1 is one pod; larger ones are truncated toward zero
    if 0.0 < abs(change) < 1.0:
        return 1 if change > 0 else -1
    return int(change)


@njit(cache=True)
def run(
    rate: FloatArray,
    dt: float,
    sync_every: int,
    policy: int,
    init_replicas: int,
    capacity: int,
    start_steps: int,
    ready_steps: int,
    cpu_init: float,
    w: FloatArray,
    rho_grid: FloatArray,
    table: FloatArray,
    levels: FloatArray,
    metrics: FloatArray,
    tolerance: float,
    min_replicas: int,
    max_replicas: int,
    behavior: BehaviorArrays,
    floor: IntArray,
    aws: FloatArray,
    hi_steps: FloatArray,
    lo_steps: FloatArray,
    metric_lag: int,
) -> tuple[FloatArray, FloatArray]:  # pragma: no cover
    """Simulate; returns ``(series, latency)`` with rows ``S_*`` and one latency row per level."""
    n = rate.size
    series = np.zeros((N_SERIES, n))
    lat = np.zeros((table.shape[0], n))
    lat_tmp = np.zeros(table.shape[0])
    create = np.full(capacity, _FAR_PAST, dtype=np.int64)
    n_pods = init_replicas
    n_sync = n // sync_every + 2
    t_sync = np.zeros(n_sync)
    rec = np.zeros(n_sync, dtype=np.int64)
    rec_ok = np.zeros(n_sync, dtype=np.bool_)
    up_ev = np.zeros(n_sync, dtype=np.int64)
    down_ev = np.zeros(n_sync, dtype=np.int64)
    props = np.zeros(metrics.shape[0], dtype=np.int64)
    period = int(aws[A_PERIOD]) if policy == POLICY_AWS else 1
    dps = np.zeros(n // period + 2)
    e = -1
    last_change = -(10**9)
    j = 0
    backlog = 0.0
    ready_delay = start_steps + ready_steps
    for k in range(n):
        new = n_pods
        if policy == POLICY_HPA and k > 0 and k % sync_every == 0:
            for m in range(metrics.shape[0]):
                props[m] = _proposal(
                    metrics[m],
                    k,
                    dt,
                    n_pods,
                    create,
                    start_steps,
                    ready_steps,
                    cpu_init,
                    tolerance,
                    w,
                    series,
                    lat,
                )
            lowest = min(max(min_replicas, floor[k]), max_replicas)
            new = hpa_sync(
                j,
                k * dt,
                n_pods,
                props,
                lowest,
                max_replicas,
                behavior,
                t_sync,
                rec,
                rec_ok,
                up_ev,
                down_ev,
            )
            j += 1
        elif policy == POLICY_SCHEDULE and k % sync_every == 0:
            new = floor[k]
        elif policy == POLICY_AWS and k > 0 and k % period == 0:
            hi = k - metric_lag
            lo = hi - period
            if lo >= 0:
                acc = 0.0
                cnt = 0
                for i in range(lo, hi):
                    if series[S_READY, i] > 0:
                        acc += series[S_CPU, i]
                        cnt += 1
                e += 1
                dps[e] = acc / cnt if cnt > 0 else 0.0
                n_ready_now = 0
                for i in range(n_pods):
                    if create[i] + ready_delay <= k:
                        n_ready_now += 1
                new = _aws_decide(k, n_pods, n_ready_now, aws, hi_steps, lo_steps, dps, e, last_change)
        new = min(max(new, 1), capacity)
        if new != n_pods:
            last_change = k
            for i in range(n_pods, new):
                create[i] = k
            n_pods = new
        n_serving = 0
        for i in range(n_pods):
            if create[i] + ready_delay <= k:
                n_serving += 1
        backlog, dropped, thr, cpu, mem = fluid_interval(
            rate[k], n_serving, backlog, dt, w, rho_grid, table, levels, lat_tmp
        )
        series[S_CPU, k] = cpu
        series[S_MEM, k] = mem
        lam_dt = rate[k] * dt
        series[S_ERR, k] = 100.0 * dropped / lam_dt if lam_dt > 0 else 0.0
        series[S_RPS, k] = thr / n_serving if n_serving > 0 else 0.0
        series[S_ARR, k] = rate[k]
        series[S_BACKLOG, k] = backlog
        series[S_DROPPED, k] = dropped
        series[S_READY, k] = n_serving
        series[S_PODS, k] = n_pods
        for q in range(lat_tmp.shape[0]):
            lat[q, k] = lat_tmp[q]
    return series, lat
