"""PH/PH/c queues solved as one stack against the same queues solved one by one.

Run from the project root::

    .venv/bin/python benchmarks/bench_qbd.py            # ~1 min on 2 cores
    .venv/bin/python benchmarks/bench_qbd.py --quick

For each server count: ``--stack`` queues with H2 inter-arrival times (SCV 2) and H2 service
(SCV 1.5) at utilizations drawn from [0.3, 0.9], solved by ``solve_phphc_many`` in one call, and
a sample of the same queues by ``solve_phphc`` one at a time (medians of repeats; the machine is
shared).  Prints milliseconds per queue, the ratio, and the largest relative difference between
the two answers.
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np

from capplan.queueing._qbd import QBDWait, solve_phphc, solve_phphc_many
from capplan.queueing.phasetype import GammaMixture, two_moment_fits


def queues(servers: int, count: int, seed: int) -> tuple[list[GammaMixture], list[GammaMixture]]:
    rho = np.random.default_rng(seed).uniform(0.3, 0.9, count)
    arrivals = two_moment_fits(1.0 / (rho * servers), np.full(count, 2.0))
    services = two_moment_fits(np.ones(count), np.full(count, 1.5))
    assert all(a is not None for a in arrivals) and all(s is not None for s in services)
    return arrivals, services  # type: ignore[return-value]


def largest_difference(stacked: list[QBDWait], alone: list[QBDWait]) -> float:
    worst = 0.0
    for a, b in zip(stacked, alone, strict=False):
        for x, y in ((a.prob_wait, b.prob_wait), (a.mean, b.mean), (a.second_moment, b.second_moment)):
            worst = max(worst, abs(x - y) / abs(y))
    return worst


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--stack", type=int, default=1000)
    args = parser.parse_args()
    stack = 100 if args.quick else args.stack
    sample = 20 if args.quick else 100
    repeats = 1 if args.quick else 3
    print(f"{'servers':>7} {'stacked ms/queue':>17} {'alone ms/queue':>15} {'ratio':>7} {'max rel diff':>13}")
    for servers in (1, 4, 16):
        arrivals, services = queues(servers, stack, seed=servers)
        stacked_times, alone_times = [], []
        for _ in range(repeats):
            start = time.perf_counter()
            stacked = solve_phphc_many(arrivals, services, servers)
            stacked_times.append((time.perf_counter() - start) / stack)
            start = time.perf_counter()
            alone = [solve_phphc(a, s, servers) for a, s in zip(arrivals[:sample], services, strict=False)]
            alone_times.append((time.perf_counter() - start) / sample)
        per_stacked, per_alone = statistics.median(stacked_times), statistics.median(alone_times)
        diff = largest_difference(stacked, alone)
        print(
            f"{servers:7d} {per_stacked * 1e3:17.3f} {per_alone * 1e3:15.3f} "
            f"{per_alone / per_stacked:7.1f} {diff:13.1e}"
        )


if __name__ == "__main__":
    main()
