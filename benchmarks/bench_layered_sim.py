"""Requests per second of the layered service simulation, against capplan's G/G/c simulator.

Run from the project root::

    .venv/bin/python benchmarks/bench_layered_sim.py           # full run (~25 s on 2 cores)
    .venv/bin/python benchmarks/bench_layered_sim.py --quick   # smoke test, a few seconds

Workloads (utilization 0.7):

* M/M/1 and M/M/4 as layered models: one class with one exponential CPU step, ``c`` single-thread
  processes on ``c`` cores with the work outside the interpreter lock, so only the cores queue;
* a 3-layer model: an API class (CPU, a pooled database hold behind PgBouncer, CPU, a downstream
  wait) and a low-priority batch class, on 4 processes x 8 threads, 2 cores, 90% of the CPU work
  under the interpreter lock.

Each is timed as the whole ``ServiceModel.simulate()`` call (arrivals, kernel, the tables with
batch-means confidence intervals) and as the compiled kernel alone (``_sim_kernel.run`` on the same
inputs).  The baseline, measured in the same run, is capplan's G/G/c simulator
(:func:`capplan.sim.simulate_queue`, ``keep="raw"``) on the same M/M/c workload.  The machine may be
shared and noisy, so every figure is a median over repeats, after a warm-up call that excludes
numba compilation.  The M/M/c mean responses are checked against Erlang C.

Goal checked at the end: >= 2 million requests/s for the 3-layer model (kernel and whole call).
"""

from __future__ import annotations

import argparse
import math
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy import stats

import capplan.layered.simulate as layered_sim
from capplan.layered import Cpu, Hold, LayeredResult, Pool, RequestClass, ServiceModel, Wait, Workers
from capplan.layered._sim_kernel import run as kernel_run
from capplan.queueing import MMc
from capplan.sim import simulate_queue

GOAL_REQUESTS_PER_S = 2e6
RHO = 0.7
CHECK_CI = 3.0  # sanity check: |mean - exact| within this many 95% half-widths (batch means)


@dataclass(frozen=True)
class Sizes:
    customers: int
    repeats: int


FULL = Sizes(customers=1_000_000, repeats=5)
QUICK = Sizes(customers=100_000, repeats=3)


def mmc_model(c: int) -> ServiceModel:
    """M/M/c: exponential CPU work of mean 1 s outside the lock, c processes on c cores."""
    cls = RequestClass("job", RHO * c, (Cpu(1.0, 1.0),))
    return ServiceModel([cls], workers=Workers(c, 1), cores=c, gil_free=1.0)


def three_layer_model() -> ServiceModel:
    api = RequestClass(
        "api", 60.0, (Cpu(0.004, 1.0), Hold("db", 0.006, 1.0), Cpu(0.002, 1.0), Wait(0.01, 1.0))
    )
    batch = RequestClass("batch", 5.0, (Cpu(0.02, 1.0),), priority=-1)
    return ServiceModel(
        [api, batch],
        workers=Workers(4, 8),
        cores=2,
        gil_free=0.1,
        pools={"db": Pool(5, server_limit=12)},
    )


def kernel_inputs(model: ServiceModel, customers: int, seed: int) -> tuple[Any, ...]:
    """The kernel's arguments, built as :func:`capplan.layered.simulate.simulate` builds them."""
    rng = np.random.default_rng(seed)
    arr_t, arr_c = layered_sim._arrivals(model, customers, rng)
    kinds, pool_idx, parts, start = layered_sim._encode(model)
    pools = list(model.pools.values())
    return (
        arr_t, arr_c, *layered_sim._levels(model, arr_c), kinds, pool_idx, parts, start,
        model.workers.processes, model.workers.threads, model.cores, model.lock_share,
        np.array([p.size for p in pools], np.int64),
        np.array([p.server_limit or 0 for p in pools], np.int64),
        int(0.1 * arr_t.size), int(rng.integers(2**31 - 1)),
    )  # fmt: skip


def median_rate(customers: int, repeats: int, run: Callable[[int], object]) -> tuple[float, object]:
    """Median requests/s of ``run(i)`` over ``repeats`` calls, and the first call's result."""
    seconds, first = [], None
    for i in range(repeats):
        start = time.perf_counter()
        result = run(i)
        seconds.append(time.perf_counter() - start)
        first = result if i == 0 else first
    return customers / statistics.median(seconds), first


def measure(model: ServiceModel, sizes: Sizes, seed: int) -> tuple[float, float, object]:
    """Requests/s of the kernel alone and of the whole ``simulate()`` call, and its first result."""
    model.simulate(1_000, seed=seed)
    n = sizes.customers
    inputs = kernel_inputs(model, n, seed)
    kernel, _ = median_rate(n, sizes.repeats, lambda i: kernel_run(*inputs))
    whole, result = median_rate(n, sizes.repeats, lambda i: model.simulate(n, seed=seed + i))
    return kernel, whole, result


def baseline(c: int, sizes: Sizes, seed: int) -> float:
    service = stats.expon(scale=1.0)
    simulate_queue(RHO * c, service, c, 1_000, seed=seed)
    rate, _ = median_rate(
        sizes.customers,
        sizes.repeats,
        lambda i: simulate_queue(RHO * c, service, c, sizes.customers, seed=seed + i, keep="raw"),
    )
    return rate


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--quick", action="store_true", help="small sizes, for a smoke test")
    parser.add_argument("--seed", type=int, default=2_024)
    args = parser.parse_args(argv)
    sizes = QUICK if args.quick else FULL
    n, seed = sizes.customers, args.seed
    workloads = [("M/M/1", mmc_model(1), 1), ("M/M/4", mmc_model(4), 4), ("3-layer", three_layer_model(), 0)]
    print(
        f"layered simulation, {n:,} requests per run, median of {sizes.repeats} runs "
        f"(2 shared, noisy cores; numba compilation excluded by a warm-up call)"
    )
    print(f"  {'workload':<8} {'kernel req/s':>14} {'simulate() req/s':>17} {'G/G/c req/s':>13} {'ratio':>7}")
    ok, goal_rates = True, {}
    for label, model, c in workloads:
        kernel, whole, result = measure(model, sizes, seed)
        base = baseline(c, sizes, seed) if c else math.nan
        base_text, ratio = (
            (f"{base:>13,.0f}", f"{kernel / base:>6.2f}x") if c else (f"{'-':>13}", f"{'-':>7}")
        )
        print(f"  {label:<8} {kernel:>14,.0f} {whole:>17,.0f} {base_text} {ratio}")
        if c:
            ok &= check_mmc(label, result, c)
        else:
            goal_rates = {"kernel": kernel, "simulate()": whole}
    print("  ratio: the kernel's requests/s over the G/G/c simulator's on the same M/M/c workload")
    for name, rate in goal_rates.items():
        verdict = "PASS" if rate >= GOAL_REQUESTS_PER_S else "FAIL"
        goal = f"{GOAL_REQUESTS_PER_S / 1e6:g}M"
        print(f"goal: 3-layer {name} >= {goal} requests/s: {verdict} ({rate / 1e6:.2f}M)")
    return 0 if ok else 1


def check_mmc(label: str, result: object, c: int) -> bool:
    """Print the simulated mean response against Erlang C; True when within ``CHECK_CI`` half-widths."""
    assert isinstance(result, LayeredResult)
    exact = float(MMc(RHO * c, 1.0, c).mean_response)
    row = result.classes.loc["job", ["response_mean", "response_mean_ci"]].to_numpy(dtype=np.float64)
    mean, half = float(row[0]), float(row[1])
    ok = abs(mean - exact) <= CHECK_CI * half
    print(
        f"    sanity {label}: mean response {mean:.4f} s +- {half:.4f} (95%), Erlang C {exact:.4f} s: "
        f"{'ok' if ok else 'MISMATCH'}"
    )
    return ok


if __name__ == "__main__":
    raise SystemExit(main())
