"""Compile capplan's numba kernels into numba's on-disk cache, once, after installing.

``make install`` runs ``python -m capplan.warmup``.  The kernels are ``njit(cache=True)``: the first
call compiles a kernel for its argument types and stores the machine code beside the module (in
``__pycache__``, or under ``NUMBA_CACHE_DIR``), and every later process loads it in milliseconds.
Without this step the first ``capplan plan`` after an install would spend several seconds
compiling.  Each call below is a small run of the public API with the argument types the real
calls use, so it compiles exactly the specialisations they need.
"""

from __future__ import annotations

import time
import warnings
from collections.abc import Callable

import numpy as np

__all__ = ["compile_kernels"]

#: An autoscaling/v2 HPA with every kind of metric the controller kernel reads.
_HPA = """
apiVersion: autoscaling/v2
kind: HorizontalPodAutoscaler
metadata: {name: warmup}
spec:
  scaleTargetRef: {apiVersion: apps/v1, kind: Deployment, name: warmup}
  minReplicas: 1
  maxReplicas: 10
  metrics:
  - {type: Resource, resource: {name: cpu, target: {type: Utilization, averageUtilization: 70}}}
  - {type: Resource, resource: {name: memory, target: {type: Utilization, averageUtilization: 80}}}
  - type: Pods
    pods: {metric: {name: response_time_95th_percentile}, target: {type: AverageValue, averageValue: 200m}}
  - type: Pods
    pods: {metric: {name: error_rate}, target: {type: AverageValue, averageValue: "1"}}
  behavior:
    scaleUp:
      stabilizationWindowSeconds: 60
      policies: [{type: Percent, value: 100, periodSeconds: 15}]
    scaleDown:
      policies: [{type: Pods, value: 2, periodSeconds: 60}]
      selectPolicy: Min
"""


def _autoscaling() -> None:
    from capplan import autoscale as au  # noqa: PLC0415 - each part loads only what it compiles

    traffic = au.add_spike(au.diurnal(50.0, 200.0, days=1 / 24), 600.0, 300.0, 300.0)
    pod = au.Workload(service_time=0.040, workers=4, timeout=10.0)
    hpa = au.load_hpa(_HPA)
    au.simulate(traffic, hpa, pod, sla={0.95: 0.2, 0.99: 0.5}, price_per_replica_hour=0.2)
    au.simulate(traffic, au.TargetTracking(0.7, max_capacity=10), pod)
    au.fixed_fleet(traffic, pod, {0.99: 0.5}, max_utilization=0.7)


def _caches() -> None:
    from capplan import caches  # noqa: PLC0415
    from capplan.sizing import size_cache  # noqa: PLC0415

    popularity = caches.zipf_popularity(5_000, 0.9)
    keys, _ = caches.zipf_trace(20_000, 5_000, 0.9, rng=1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", caches.CatalogFractionWarning)
        size_cache(popularity, 1000.0, backend_latency=0.02, db_hold_time=0.005)
        caches.cache_size_for_hit_ratio(popularity, 0.9)
    caches.ttl_hit_ratio(popularity, 60.0, request_rate=1000.0)
    caches.miss_ratio_curve(keys)
    caches.miss_ratio_curve(keys, sample_rate=0.5)
    caches.simulate_cache(keys, 500)


def _simulation() -> None:
    from capplan.distributions import lognormal  # noqa: PLC0415
    from capplan.sim import simulate_queue  # noqa: PLC0415

    simulate_queue(6.0, lognormal(1.0, 1.0), 8, 10_000, seed=1)
    simulate_queue(6.0, lognormal(1.0, 1.0), 8, 10_000, seed=1, keep="stats")


def _queueing() -> None:
    from capplan.queueing import erlang  # noqa: PLC0415

    for formula in (erlang.erlang_b, erlang.erlang_c):  # the scalar kernel, then the ufunc
        formula(8, 5.0)
        formula(np.array([8.0, 16.0]), np.array([5.0, 12.0]))


def _layered() -> None:
    from capplan import layered as ly  # noqa: PLC0415

    cls = ly.RequestClass("a", 50.0, (ly.Cpu(0.004), ly.Hold("db", 0.004), ly.Wait(0.002)))
    model = ly.ServiceModel(
        [cls], workers=ly.Workers(2, 4), cores=2, pools={"db": ly.Pool(2, server_limit=3)}
    )
    model.simulate(1_000, seed=1)
    model.solve()  # the analytic solve's recursion (capplan.layered._network_kernel)


#: What gets compiled, in the order the bundled plan needs it.
PARTS: dict[str, Callable[[], None]] = {
    "queueing": _queueing,
    "autoscaling": _autoscaling,
    "caches": _caches,
    "simulation": _simulation,
    "layered": _layered,
}


def compile_kernels(parts: tuple[str, ...] = tuple(PARTS)) -> dict[str, float]:
    """Run the small calls of ``parts`` (compiling and caching their kernels); seconds per part."""
    seconds = {}
    for name in parts:
        t0 = time.perf_counter()
        PARTS[name]()
        seconds[name] = time.perf_counter() - t0
    return seconds


def main() -> None:
    np.seterr(all="ignore")
    for name, took in compile_kernels().items():
        print(f"capplan: compiled the {name} kernels ({took:.1f} s)")


if __name__ == "__main__":
    main()
