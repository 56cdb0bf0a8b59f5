"""Per-interval (fluid) queueing model of a pool of identical pods, with backlog carried over.

In each interval of ``dt`` seconds with arrival rate ``lambda`` and ``n`` serving pods of ``c``
workers each (capacity ``mu = n c / S`` requests/s for mean service time ``S``):

* **backlog** (fluid approximation; Newell, *Applications of Queueing Theory*, 2nd ed. 1982,
  ch. 2): ``B' = max(0, B + (lambda - mu) dt)``, then cut to ``min(queue_limit * n, timeout * mu)``;
  the excess is *dropped* (a full queue or a client time-out);
* **latency percentiles**: the larger of the pointwise-stationary percentile (Green & Kolesar,
  "The pointwise stationary approximation for queues with nonstationary arrivals", Management
  Science 37(1), 1991) of one pod's M/M/c or G/G/c queue (random balancing) at
  ``rho = min(lambda / mu, rho_cap)``, from :mod:`capplan.queueing`, and the fluid delay of the
  backlog ``B_q / mu`` plus the service-time percentile, where ``B_q`` is the backlog's
  q-quantile over the interval (it moves linearly from ``B`` to ``B'``);
* **CPU** per pod ``(idle_cpu + cpu_per_request * throughput / n) / cpu_request``, **memory**
  ``(memory_base + memory_per_request * in_flight) / memory_request`` with in-flight requests by
  Little's law plus the backlog share.

This is an approximation (``method`` says so); its error against the request-level simulator
:func:`capplan.sim.simulate_queue` under time-varying load is measured in
``tests/test_autoscale_fluid.py``.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from numba import njit

from capplan._validate import FloatArray, nonnegative, positive, probability
from capplan.errors import ParameterError
from capplan.queueing import queue_model

__all__ = ["FLUID_METHOD", "Workload", "latency_table"]

FLUID_METHOD = (
    "fluid backlog per interval + pointwise-stationary M/M/c or G/G/c percentiles per pod "
    "(approximation; random load balancing)"
)

# Indices into the packed workload vector used by the compiled kernel.
W_SERVICE, W_WORKERS, W_CPU_PER_REQ, W_CPU_REQUEST, W_IDLE_CPU = 0, 1, 2, 3, 4
W_MEM_BASE, W_MEM_PER_REQ, W_MEM_REQUEST, W_TIMEOUT, W_QUEUE_LIMIT, W_RHO_CAP = 5, 6, 7, 8, 9, 10
_GRID = 512


@dataclass(frozen=True)
class Workload:
    """What one pod does with requests (seconds, cores, bytes).

    Parameters
    ----------
    service_time : float
        Mean service time S of one request, seconds.
    workers : int
        Requests a pod serves at once (threads, processes, event-loop slots).
    service_scv, arrival_scv : float
        Squared coefficients of variation; both 1 gives the exact M/M/c per pod.
    cpu_request : float, optional
        The pod's CPU request, cores (default ``workers``).
    cpu_per_request : float, optional
        CPU seconds a request burns (default ``service_time``: CPU-bound).
    idle_cpu : float
        Cores used with no traffic (also by a started pod not yet ready).
    memory_request, memory_base, memory_per_request : float
        Bytes: the request, the idle footprint, and the extra per in-flight request.
    timeout : float
        Client time-out, seconds: backlog that would wait longer is dropped (inf: never).
    queue_limit : float
        Requests a pod can hold waiting (inf: unbounded); beyond it arrivals are dropped.
    rho_cap : float
        Highest utilization at which the stationary percentile is used (see module notes).
    """

    service_time: float
    workers: int = 1
    service_scv: float = 1.0
    arrival_scv: float = 1.0
    cpu_request: float | None = None
    cpu_per_request: float | None = None
    idle_cpu: float = 0.0
    memory_request: float = 512 * 2.0**20
    memory_base: float = 256 * 2.0**20
    memory_per_request: float = 256 * 2.0**10
    timeout: float = math.inf
    queue_limit: float = math.inf
    rho_cap: float = 0.98

    def __post_init__(self) -> None:
        positive("service_time", self.service_time)
        if isinstance(self.workers, bool) or int(self.workers) != self.workers or self.workers < 1:
            raise ParameterError(f"workers must be an integer >= 1, got {self.workers!r}")
        nonnegative("service_scv", self.service_scv)
        nonnegative("arrival_scv", self.arrival_scv)
        if self.cpu_request is not None:
            positive("cpu_request", self.cpu_request)
        if self.cpu_per_request is not None:
            nonnegative("cpu_per_request", self.cpu_per_request)
        nonnegative("idle_cpu", self.idle_cpu)
        positive("memory_request", self.memory_request)
        nonnegative("memory_base", self.memory_base)
        nonnegative("memory_per_request", self.memory_per_request)
        positive("timeout", self.timeout, allow_inf=True)
        nonnegative("queue_limit", self.queue_limit, allow_inf=True)
        probability("rho_cap", self.rho_cap)

    @property
    def capacity(self) -> float:
        """Requests/s one pod completes when busy: ``workers / service_time``."""
        return self.workers / self.service_time

    def packed(self) -> FloatArray:
        """The vector the compiled kernel reads (``W_*`` indices)."""
        return np.array(
            [
                self.service_time,
                float(self.workers),
                self.service_time if self.cpu_per_request is None else self.cpu_per_request,
                float(self.workers) if self.cpu_request is None else self.cpu_request,
                self.idle_cpu,
                self.memory_base,
                self.memory_per_request,
                self.memory_request,
                self.timeout,
                self.queue_limit,
                self.rho_cap,
            ]
        )


def latency_table(workload: Workload, quantiles: Sequence[float]) -> tuple[FloatArray, FloatArray]:
    """Response-time percentiles of one pod against utilization, for interpolation in the kernel.

    Returns ``(rho, table)`` with ``rho`` from 0 to ``rho_cap`` (denser near the cap) and
    ``table[i, j]`` the ``quantiles[i]`` response time at ``rho[j]`` from
    :func:`capplan.queueing.queue_model` (M/M/c exact, else G/G/c).
    """
    rho, table = _table(workload, tuple(float(q) for q in quantiles))
    return rho.copy(), table.copy()


@functools.lru_cache(maxsize=64)
def _table(workload: Workload, quantiles: tuple[float, ...]) -> tuple[FloatArray, FloatArray]:
    """Cached by workload and levels: a search simulates the same pods many times."""
    x = np.linspace(0.0, 1.0, _GRID)
    rho = workload.rho_cap * (1.0 - (1.0 - x) ** 3)
    mu = 1.0 / workload.service_time
    lam = rho * workload.workers * mu
    model = queue_model(lam, mu, workload.workers, workload.arrival_scv, workload.service_scv)
    table = np.vstack([np.asarray(model.response_quantile(float(q)), dtype=np.float64) for q in quantiles])
    if not np.isfinite(table).all():
        raise ParameterError("the queue model returned a non-finite percentile below rho_cap; lower rho_cap")
    return rho, np.ascontiguousarray(table)


@njit(cache=True)
def fluid_interval(
    lam: float,
    n_serving: int,
    backlog: float,
    dt: float,
    w: FloatArray,
    rho_grid: FloatArray,
    table: FloatArray,
    levels: FloatArray,
    out_lat: FloatArray,
) -> tuple[float, float, float, float, float]:  # pragma: no cover - compiled
    """Advance one interval; returns ``(backlog', dropped, throughput, cpu_pct, mem_pct)``.

    ``table`` comes from :func:`latency_table` for the percentile ``levels``; ``out_lat[i]``
    receives the ``levels[i]`` response time (inf with no serving pod).
    """
    s = w[W_SERVICE]
    c = w[W_WORKERS]
    mu = n_serving * c / s
    b1 = backlog + (lam - mu) * dt
    b1 = max(b1, 0.0)
    if n_serving > 0:
        cap = min(w[W_QUEUE_LIMIT] * n_serving, w[W_TIMEOUT] * mu)
    elif w[W_QUEUE_LIMIT] < np.inf or w[W_TIMEOUT] < np.inf:
        cap = 0.0
    else:
        cap = np.inf
    dropped = 0.0
    if b1 > cap:
        dropped = b1 - cap
        b1 = cap
    served = lam * dt + backlog - b1 - dropped
    served = max(served, 0.0)
    thr = served / dt
    if n_serving == 0:
        for i in range(out_lat.shape[0]):
            out_lat[i] = np.inf
        return (
            b1,
            dropped,
            thr,
            w[W_IDLE_CPU] / w[W_CPU_REQUEST] * 100.0,
            w[W_MEM_BASE] / w[W_MEM_REQUEST] * 100.0,
        )
    rho = min(lam / mu, w[W_RHO_CAP])
    lo = min(backlog, b1)
    hi = max(backlog, b1)
    for i in range(table.shape[0]):
        latency = np.interp(rho, rho_grid, table[i])
        if hi > 0.0:
            # backlog q-quantile over the interval, served at mu, after the service percentile
            delayed = table[i, 0] + (lo + levels[i] * (hi - lo)) / mu
            latency = max(latency, delayed)
        out_lat[i] = latency
    per_pod = thr / n_serving
    cpu = (w[W_IDLE_CPU] + w[W_CPU_PER_REQ] * per_pod) / w[W_CPU_REQUEST] * 100.0
    in_flight = per_pod * s + 0.5 * (backlog + b1) / n_serving
    mem = (w[W_MEM_BASE] + w[W_MEM_PER_REQ] * in_flight) / w[W_MEM_REQUEST] * 100.0
    return b1, dropped, thr, cpu, mem
