"""Customers per second of capplan's queue simulator against Ciw, on the same M/M/8 model.

Run from the project root (Ciw is a benchmark-only dependency, see ``benchmarks/requirements.txt``)::

    .venv/bin/python benchmarks/bench_sim.py           # full run (~30 s on 2 cores)
    .venv/bin/python benchmarks/bench_sim.py --quick   # smoke test, a few seconds

Model: M/M/8 FCFS, arrival rate 6.4/s, exponential service with mean 1 s (utilization 0.8).
Ciw (https://ciw.readthedocs.io) runs until 200,000 customers have finished; capplan simulates
200,000 customers (the like-for-like comparison) and 10,000,000 (where its fixed per-call overhead
is amortised), with per-customer records (``keep="raw"``) and with streaming statistics only
(``keep="stats"``).  Both simulators' mean waits are checked against the exact M/M/8 value.

Goals checked at the end: capplan >= 20 million customers/s, and >= 300x Ciw's customers/s.  The
machine may be shared and noisy, so every figure is a median over repeats, and capplan's first
(JIT-compiling) call is excluded by a warm-up call.
"""

from __future__ import annotations

import argparse
import gc
import math
import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import ciw
import numpy as np
from numpy.typing import NDArray
from scipy import stats

from capplan.queueing import MMc
from capplan.sim import SimulationResult, simulate_queue

ARRIVAL_RATE = 6.4
MEAN_SERVICE = 1.0
SERVERS = 8

GOAL_CUSTOMERS_PER_S = 20e6
GOAL_RATIO = 300.0

WARMUP_FRACTION = 0.1  # capplan's default warm-up; the same share of Ciw's records is discarded
BATCHES = 20  # batch means for the standard error of the mean wait (capplan's default)
CHECK_STANDARD_ERRORS = 3.0  # sanity check: |mean wait - exact| within this many standard errors


@dataclass(frozen=True)
class Sizes:
    ciw_customers: int
    ciw_repeats: int
    small_repeats: int  # capplan at ciw_customers (the like-for-like comparison)
    large_customers: int
    large_repeats: int
    overhead_repeats: int


FULL = Sizes(
    ciw_customers=200_000,
    ciw_repeats=3,
    small_repeats=15,
    large_customers=10_000_000,
    large_repeats=7,
    overhead_repeats=50,
)
QUICK = Sizes(
    ciw_customers=20_000,
    ciw_repeats=2,
    small_repeats=5,
    large_customers=1_000_000,
    large_repeats=3,
    overhead_repeats=10,
)


@dataclass(frozen=True)
class Timing:
    """Median wall time of repeated runs of one simulation, and its speed."""

    label: str
    customers: int
    seconds: list[float]

    @property
    def median(self) -> float:
        return statistics.median(self.seconds)

    @property
    def rate(self) -> float:
        return self.customers / self.median


@dataclass(frozen=True)
class WaitCheck:
    """A simulated mean wait against the exact value, with a batch-means standard error."""

    label: str
    mean: float
    standard_error: float
    exact: float

    @property
    def relative(self) -> float:
        return self.mean / self.exact - 1.0

    @property
    def ok(self) -> bool:
        return abs(self.mean - self.exact) <= CHECK_STANDARD_ERRORS * self.standard_error

    def line(self) -> str:
        return (
            f"  {self.label}: {self.mean:.4f} s +- {self.standard_error:.4f}  "
            f"({self.relative:+.1%} vs exact; SE {self.standard_error / self.exact:.1%}; "
            f"within {CHECK_STANDARD_ERRORS:g} SE: {'ok' if self.ok else 'MISMATCH'})"
        )


def batch_mean_and_error(values: NDArray[np.float64], batches: int = BATCHES) -> tuple[float, float]:
    """Mean of ``values`` and its batch-means standard error over consecutive batches."""
    means = np.array([chunk.mean() for chunk in np.array_split(values, batches)])
    return float(values.mean()), float(means.std(ddof=1) / math.sqrt(batches))


# -- Ciw -----------------------------------------------------------------------------------------
def ciw_network() -> Any:
    return ciw.create_network(
        arrival_distributions=[ciw.dists.Exponential(ARRIVAL_RATE)],
        service_distributions=[ciw.dists.Exponential(1.0 / MEAN_SERVICE)],
        number_of_servers=[SERVERS],
    )


def run_ciw(customers: int, seed: int) -> tuple[float, list[Any]]:
    """Seconds to build, run (until ``customers`` have finished) and collect one Ciw simulation."""
    network = ciw_network()
    ciw.seed(seed)
    gc.collect()
    start = time.perf_counter()
    sim = ciw.Simulation(network)
    sim.simulate_until_max_customers(customers, method="Finish")
    records = sim.get_all_records()
    return time.perf_counter() - start, records


def ciw_waits(records: Sequence[Any]) -> NDArray[np.float64]:
    """Waits of the served customers in arrival order, after discarding the warm-up share."""
    served = sorted((r for r in records if r.record_type == "service"), key=lambda r: r.arrival_date)
    waits = np.array([r.waiting_time for r in served], dtype=np.float64)
    return waits[int(waits.size * WARMUP_FRACTION) :]


# -- capplan -------------------------------------------------------------------------------------
# Built once, outside the timings, like Ciw's network (a SciPy frozen distribution costs ~0.4 ms).
SERVICE = stats.expon(scale=MEAN_SERVICE)


def run_capplan(customers: int, seed: int, keep: Literal["raw", "stats"]) -> SimulationResult:
    return simulate_queue(
        ARRIVAL_RATE,
        SERVICE,
        SERVERS,
        customers,
        seed=seed,
        keep=keep,
        warmup=WARMUP_FRACTION,
        batches=BATCHES,
    )


def time_runs(
    label: str, customers: int, repeats: int, run: Callable[[int], object]
) -> tuple[Timing, object]:
    """Time ``run(i)`` for i in range(repeats); return the timing and the first run's result.

    No ``gc.collect()`` between runs: a full collection walks every live object (SciPy, pandas,
    numba) and leaves the CPU caches cold, which costs a millisecond-scale call ~0.7 ms.
    """
    seconds = []
    first: object = None
    for i in range(repeats):
        start = time.perf_counter()
        result = run(i)
        seconds.append(time.perf_counter() - start)
        if i == 0:
            first = result
        del result
    return Timing(label, customers, seconds), first


def capplan_check(label: str, result: object, exact: float) -> WaitCheck:
    assert isinstance(result, SimulationResult)
    summary = result.summary(confidence=0.95)
    row = summary.loc["wait_mean", ["estimate", "ci_low", "ci_high"]].to_numpy(dtype=np.float64)
    estimate, low, high = (float(x) for x in row)
    se = (high - low) / 2 / float(stats.t.ppf(0.975, BATCHES - 1))
    return WaitCheck(label, estimate, se, exact)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--quick", action="store_true", help="small sizes, for a smoke test")
    parser.add_argument("--seed", type=int, default=2_024, help="base seed of both simulators")
    args = parser.parse_args(argv)
    sizes = QUICK if args.quick else FULL
    seed: int = args.seed
    exact = float(MMc(ARRIVAL_RATE, 1.0 / MEAN_SERVICE, SERVERS).mean_wait)
    n_small, n_large = sizes.ciw_customers, sizes.large_customers

    # Ciw: build + simulate_until_max_customers(method="Finish") + get_all_records, per run.
    ciw_seconds: list[float] = []
    ciw_counts: list[int] = []
    first_records: list[Any] = []
    for i in range(sizes.ciw_repeats):
        seconds, records = run_ciw(n_small, seed + i)
        ciw_seconds.append(seconds)
        ciw_counts.append(len(records))
        if i == 0:
            first_records = records
        del records
    ciw_time = Timing("Ciw", ciw_counts[0], ciw_seconds)
    if len(set(ciw_counts)) != 1:
        print(f"note: Ciw record counts differ between runs: {ciw_counts}")
    ciw_mean, ciw_se = batch_mean_and_error(ciw_waits(first_records))
    del first_records

    # capplan: warm-up calls exclude numba compilation (or loading it from numba's cache).
    for keep in ("raw", "stats"):
        run_capplan(1_000, seed, keep)
    overhead, _ = time_runs(
        "overhead", 1_000, sizes.overhead_repeats, lambda i: run_capplan(1_000, seed, "raw")
    )
    small, small_result = time_runs(
        f'{n_small:,} customers, keep="raw"',
        n_small,
        sizes.small_repeats,
        lambda i: run_capplan(n_small, seed + i, "raw"),
    )
    large, large_result = time_runs(
        f'{n_large:,} customers, keep="raw"',
        n_large,
        sizes.large_repeats,
        lambda i: run_capplan(n_large, seed + i, "raw"),
    )
    large_stats, _ = time_runs(
        f'{n_large:,} customers, keep="stats"',
        n_large,
        sizes.large_repeats,
        lambda i: run_capplan(n_large, seed + i, "stats"),
    )
    checks = [
        WaitCheck(f"Ciw, {n_small:,} customers", ciw_mean, ciw_se, exact),
        capplan_check(f"capplan, {n_small:,} customers", small_result, exact),
        capplan_check(f"capplan, {n_large:,} customers", large_result, exact),
    ]
    del small_result, large_result

    mode = "quick" if args.quick else "full"
    rho = ARRIVAL_RATE * MEAN_SERVICE / SERVERS
    print(
        f"capplan simulator vs Ciw {ciw.__version__}: M/M/{SERVERS}, arrivals {ARRIVAL_RATE:g}/s, "
        f"exponential service mean {MEAN_SERVICE:g} s, utilization {rho:g} ({mode})"
    )
    print(
        "  every figure is a MEDIAN over repeated runs (2 shared, noisy cores); capplan's numba "
        "compilation is excluded by a warm-up call"
    )
    print(
        f"  Ciw, until {n_small:,} customers finished: {ciw_time.rate:>14,.0f} customers/s  "
        f"(median {ciw_time.median:.2f} s over {sizes.ciw_repeats} runs, "
        f"{ciw_time.customers:,} records; build + simulate + get_all_records)"
    )
    for t in (small, large, large_stats):
        print(
            f"  capplan, {t.label}: {t.rate:>14,.0f} customers/s  "
            f"(median {t.median * 1e3:.1f} ms over {len(t.seconds)} runs; "
            f"range {min(t.seconds) * 1e3:.1f}-{max(t.seconds) * 1e3:.1f} ms)"
        )
    print(
        f"  capplan per-call overhead, at most (median of {sizes.overhead_repeats} calls with 1,000 "
        f"customers): {overhead.median * 1e3:.2f} ms, i.e. {overhead.median / small.median:.1%} of "
        f"the {n_small:,}-customer call"
    )
    print("  ratio capplan / Ciw (customers/s):")
    for t in (small, large, large_stats):
        print(f"    capplan {t.label}: {t.rate / ciw_time.rate:,.0f}x")

    print(
        f"sanity: mean wait, exact M/M/{SERVERS} = {exact:.4f} s "
        f"(first {WARMUP_FRACTION:.0%} discarded; +- is one batch-means standard error, {BATCHES} batches)"
    )
    for check in checks:
        print(check.line())

    print("goals (PASS/FAIL for each capplan measurement):")
    for t in (small, large, large_stats):
        ok_rate = t.rate >= GOAL_CUSTOMERS_PER_S
        ratio = t.rate / ciw_time.rate
        ok_ratio = ratio >= GOAL_RATIO
        print(
            f"  {t.label}: >= {GOAL_CUSTOMERS_PER_S / 1e6:g}M customers/s: {'PASS' if ok_rate else 'FAIL'} "
            f"({t.rate / 1e6:.1f}M);  >= {GOAL_RATIO:g}x Ciw: "
            f"{'PASS' if ok_ratio else 'FAIL'} ({ratio:,.0f}x)"
        )
    if not all(check.ok for check in checks):
        print("sanity check FAILED: a simulated mean wait disagrees with the exact M/M/c value")
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
