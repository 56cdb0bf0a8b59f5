"""Cost of capplan.layered.size_service: the bundled plan's service, and notebook 03's.

Run from the project root::

    .venv/bin/python benchmarks/bench_layered_sizing.py            # 3 repeats (~1-2 min on 2 cores)
    .venv/bin/python benchmarks/bench_layered_sizing.py --quick    # 1 repeat

**The bundled plan's service** (``data/capacity-plan.yaml``: the call ``capplan plan`` makes,
recorded while the plan runs): median seconds of ``size_service`` and of one ``.solve()`` of the
chosen layout after a zone loss, with the network's recursion compiled (the default) and in
NumPy (``solve_network(..., compiled=False)``, the reference recursion), each also as a multiple
of a stable baseline timed in the same run: ``capplan.sizing.size_replicas`` (M/M/c, Erlang C)
of the same total load.  The goals: ``size_service`` <= 50 ms, the whole plan <= 1 s warm.

Measured on the shared 2-core machine, medians of 5 (the same script run on the code before the
compiled fixed point, the truncated counts and the lean verdicts, and after; the ratio to the
Erlang C sizing, 7.5-7.9 ms in both runs, is what carries over between runs):

=========================  ======================  ====================  ======
                           size_service            one solve             solves
=========================  ======================  ====================  ======
before (FFT, NumPy)        1.234 s (157 x)         49.3 ms (6.3 x)       32
after, NumPy fixed point   0.651 s (87 x)          25.9 ms (3.5 x)       32
after, compiled            0.362 s (48 x)          12.6 ms (1.7 x)       32
recursion, NumPy           1.150 s (111 x)         39.0 ms (3.8 x)       28
recursion, compiled        0.325 s (31 x)          11.3 ms (1.1 x)       28
=========================  ======================  ====================  ======

The last two rows are the mean-value recursion by population (one pass, no fixed point; its
NumPy reference loops over the populations, hence slower than the vectorised fixed point was),
Erlang C baseline 10.4 ms in that run.  Of a compiled solve the recursion takes well under a
millisecond; most of the time is the response-time quantiles
(``capplan.queueing._sojourn.response_quantile``, about 7 ms per solve, half of it the phase-type
quantiles that bracket it) and building the result's tables.

**Notebook 03's service**:

Scenario: the example plan's three classes at the SLA's peak (10,000 requests/s: 20% critical,
75% standard, 5% batch) with notebook 03's assumed anatomy, 4 cores per replica, the default
candidates (processes 1-8, threads 1-32, pool sizes 1-threads: 84 layouts), the 70% CPU ceiling,
N+1, one of 3 zones lost and PgBouncer's 3,000 client connections.

Baseline, measured in the same run: one ``.solve()`` of the chosen layout after a zone loss.  The
search's wall time is printed in seconds and as a multiple of that solve, beside the number of
solves it made.  Not run, an estimate: bisecting every layout without the floors, the cap probe
and the reused verdicts would take about log2 of its replica range, 10 or more solves per layout,
over 800 in all.
Figures are medians of repeats (the machine is shared).
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import importlib
import inspect
import statistics
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from bench_erlang import median_seconds
from capplan.layered import Cpu, Hold, Memory, Pool, RequestClass, ServiceModel, Wait, Workers, size_service
from capplan.plan import load_plan_inputs
from capplan.sizing import size_replicas

PLAN = Path(__file__).resolve().parents[1] / "data" / "capacity-plan.yaml"

TARGETS = {
    "critical_operations": {0.5: 0.05, 0.95: 0.2, 0.99: 0.5, 0.999: 1.0},
    "standard_operations": {0.5: 0.1, 0.95: 0.4, 0.99: 1.0, 0.999: 2.0},
    "batch_operations": {0.5: 5.0, 0.95: 15.0, 0.99: 30.0},
}
#: The fleet's limits: 70% CPU, N+1, one of 3 zones lost, PgBouncer's 3,000 client connections.
LIMITS = {"max_utilization": {"cores": 0.7}, "spare": 1, "zones": 3, "max_connections": 3000}


def example_service() -> ServiceModel:
    """Notebook 03's service (its section 2 states the assumptions)."""
    query = 0.005
    critical = (Cpu(0.012), Hold("db", query), Wait(0.015, scv=6.0, name="downstream"), Cpu(0.008))
    batch = (Cpu(0.0125), Hold("db", query)) * 8 + (Wait(1.86, name="export"),)
    classes = [
        RequestClass("critical_operations", 2000.0, critical),
        RequestClass("standard_operations", 7500.0, (Cpu(0.0016225445),)),
        RequestClass("batch_operations", 500.0, batch),
    ]
    memory = Memory(per_worker=30 * 2**20, per_request=4 * 2**20, base=200 * 2**20)
    return ServiceModel(classes, Workers(1, 1), cores=4, gil_free=0.05, pools={"db": Pool(1)}, memory=memory)


def plan_call() -> tuple[ServiceModel, dict[str, Any], dict[str, Any]]:
    """The ``size_service`` call the bundled plan makes: model, targets and keywords."""
    plan_service: Any = importlib.import_module("capplan.plan.service")
    calls: list[tuple[ServiceModel, dict[str, Any], dict[str, Any]]] = []
    original = plan_service.size_service

    def record(model: ServiceModel, targets: dict[str, Any], **kw: Any) -> Any:
        calls.append((model, targets, kw))
        return original(model, targets, **kw)

    plan_service.size_service = record
    try:
        load_plan_inputs(PLAN).plan()
    finally:
        plan_service.size_service = original
    return calls[0]


@contextlib.contextmanager
def numpy_iteration() -> Iterator[bool]:
    """Solve the network with the NumPy reference recursion inside the block (False where this
    version of capplan has no other)."""
    solve_mod: Any = importlib.import_module("capplan.layered.solve")
    original = solve_mod.solve_network
    if "compiled" not in inspect.signature(original).parameters:
        yield False
        return
    solve_mod.solve_network = functools.partial(original, compiled=False)
    try:
        yield True
    finally:
        solve_mod.solve_network = original


def erlang_baseline(model: ServiceModel, repeats: int) -> float:
    """Median seconds of the M/M/c (Erlang C) replica sizing of the same total load: 64 workers
    per replica, the mean service time over all classes, p99 <= 2 s, 70% CPU, N+1, 3 zones."""
    rate = sum(c.rate for c in model.classes)
    mean = sum(c.rate * sum(s.mean for s in c.steps) for c in model.classes) / rate
    call = functools.partial(
        size_replicas,
        rate,
        {0.99: 2.0},
        workers=64,
        service_time=mean,
        max_utilization=0.7,
        redundancy=1,
        zones=3,
    )
    call()
    return median_seconds(call, 5 * repeats)


def bench_plan(repeats: int) -> None:
    model, targets, kw = plan_call()
    sized = size_service(model, targets, **kw)
    worst = sized.model.scaled(sized.replicas / min(sized.scenarios.values()))
    base = erlang_baseline(model, repeats)
    print(f"bundled plan: {sized.replicas} replicas x ({sized.layout}), {sized.solves} solves")
    print(f"  baseline, M/M/c (Erlang C) sizing of the same load: {base * 1e3:.2f} ms")
    variants: list[tuple[str, contextlib.AbstractContextManager[bool]]] = [
        ("as installed", contextlib.nullcontext(True)),
        ("NumPy recursion", numpy_iteration()),
    ]
    for name, context in variants:
        with context as available:
            if not available:
                continue
            search = median_seconds(lambda: size_service(model, targets, **kw), repeats)
            one = median_seconds(worst.solve, 5 * repeats)
        print(
            f"  {name}: size_service {search:.3f} s ({search / base:.0f} x baseline), "
            f"one solve {one * 1e3:.1f} ms ({one / base:.1f} x baseline)"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="one repeat")
    args = parser.parse_args()
    bench_plan(1 if args.quick else 5)
    service = example_service()
    runs = [size_service(service, TARGETS, **LIMITS) for _ in range(1 if args.quick else 3)]  # type: ignore[arg-type]
    sized = runs[-1]
    worst = sized.model.scaled(sized.replicas / min(sized.scenarios.values()))
    solve_times = []
    for _ in range(5):
        started = time.perf_counter()
        worst.solve()
        solve_times.append(time.perf_counter() - started)
    search = statistics.median(r.seconds for r in runs)
    one = statistics.median(solve_times)
    print(f"decision: {sized.replicas} replicas x ({sized.layout})")
    print(f"layouts: {len(sized.candidates)}, solves: {sized.solves}")
    print(f"search: {search:.1f} s (median of {len(runs)}); one solve of the chosen layout: {one:.3f} s")
    print(f"search / one solve: {search / one:.0f}")


if __name__ == "__main__":
    main()
