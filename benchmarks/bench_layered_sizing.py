"""Cost of capplan.layered.size_service on the bundled example (notebook 03's service).

Run from the project root::

    .venv/bin/python benchmarks/bench_layered_sizing.py            # 3 repeats (~1-2 min on 2 cores)
    .venv/bin/python benchmarks/bench_layered_sizing.py --quick    # 1 repeat

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
import statistics
import time

from capplan.layered import Cpu, Hold, Memory, Pool, RequestClass, ServiceModel, Wait, Workers, size_service

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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="one repeat")
    args = parser.parse_args()
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
