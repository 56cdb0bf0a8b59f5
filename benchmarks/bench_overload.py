"""Attempts per second of capplan's overload simulator against its plain queue simulator.

Run from the project root::

    .venv/bin/python benchmarks/bench_overload.py           # full run (~1 min on 2 shared cores)
    .venv/bin/python benchmarks/bench_overload.py --quick   # smoke test, a few seconds

Model: M/M/8 FCFS, exponential service of mean 1 s, first attempts at 6.4/s (utilization 0.8),
the model of ``benchmarks/bench_sim.py``.  The baseline is :func:`capplan.sim.simulate_queue`
(customers per second, ``keep="raw"`` and ``keep="stats"``) on the same model and the same
number of customers, measured in the same run.  :func:`capplan.sim.simulate_overload` runs it

* with no timeouts (the FCFS path with per-request records and a timeline),
* with a 10 s timeout and 3 retries (the good state: 0.01% of attempts time out and are retried),
* the same behind a circuit breaker (every outcome goes through the event heap),
* with a 2 s timeout, 3 retries and full-jitter exponential backoff: the fleet is saturated,
  every attempt times out and is retried (4 attempts per request, every one through the heap).

Speed is attempts routed through the server per second (first attempts plus retries).  The
machine is shared and noisy: every figure is a median over repeats, after a warm-up call that
excludes numba's compilation.  Goal: the overload simulator within 3x of ``simulate_queue``
(same speed class) on the no-timeout and good-state runs.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

from scipy import stats

from capplan.overload import Backoff, CircuitBreaker, ClientPolicy, RetryPolicy
from capplan.sim import Load, OverloadResult, simulate_overload, simulate_queue

RATE, SERVERS = 6.4, 8
SERVICE = stats.expon()
GOAL_RATIO = 3.0


@dataclass(frozen=True)
class Timing:
    label: str
    attempts: float
    seconds: list[float]

    @property
    def rate(self) -> float:
        return self.attempts / statistics.median(self.seconds)


def _time(label: str, repeats: int, run: Callable[[int], float]) -> Timing:
    run(0)  # warm-up: numba compiles (or loads its cache)
    seconds, counts = [], []
    for i in range(repeats):
        start = time.perf_counter()
        counts.append(run(i + 1))
        seconds.append(time.perf_counter() - start)
    return Timing(label, statistics.median(counts), seconds)


def _attempts(result: OverloadResult) -> float:
    return result.totals()["attempts"]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--quick", action="store_true", help="small sizes, for a smoke test")
    args = parser.parse_args(argv)
    customers = 200_000 if args.quick else 2_000_000
    repeats = 3 if args.quick else 7
    load = Load.constant(RATE, customers / RATE)
    good = ClientPolicy(10.0, RetryPolicy(3))
    saturated = ClientPolicy(2.0, RetryPolicy(3, Backoff.exponential(0.1, cap=2.0)))
    breaker = CircuitBreaker(failure_threshold=50, error_rate_threshold=0.5, timeout=10.0)  # stays closed

    def overload(client: ClientPolicy | None, **kw: object) -> Callable[[int], float]:
        return lambda seed: _attempts(
            simulate_overload(load, SERVICE, SERVERS, seed=seed, client=client, **kw)  # type: ignore[arg-type]
        )

    def queue(keep: Literal["raw", "stats"]) -> Callable[[int], float]:
        def run(seed: int) -> float:
            simulate_queue(RATE, SERVICE, SERVERS, customers, seed=seed, keep=keep)
            return float(customers)

        return run

    runs = [
        _time('simulate_queue, keep="raw"', repeats, queue("raw")),
        _time('simulate_queue, keep="stats"', repeats, queue("stats")),
        _time("simulate_overload, no timeout", repeats, overload(None)),
        _time("simulate_overload, timeout 10 s, 3 retries (good state)", repeats, overload(good)),
        _time("  ... behind a circuit breaker", repeats, overload(good, breaker=breaker)),
        _time("simulate_overload, timeout 2 s, 3 retries (saturated)", repeats, overload(saturated)),
    ]  # fmt: skip
    base = runs[0].rate
    mode = "quick" if args.quick else "full"
    print(
        f"overload simulator vs simulate_queue: M/M/{SERVERS}, first attempts {RATE:g}/s, exponential "
        f"service mean 1 s, {customers:,} requests per run ({mode}); medians of {repeats} runs"
    )
    for t in runs:
        print(
            f"  {t.label:<58} {t.rate / 1e6:6.2f} M attempts/s  ({t.attempts / customers:.3f} attempts "
            f"per request; median {statistics.median(t.seconds) * 1e3:.0f} ms)  ratio to "
            f"simulate_queue raw {t.rate / base:.2f}"
        )
    worst = min(runs[2].rate, runs[3].rate) / base
    ok = worst >= 1.0 / GOAL_RATIO
    print(
        f"goal: within {GOAL_RATIO:g}x of simulate_queue without timeouts and in the good state: "
        f"{'PASS' if ok else 'FAIL'} (slowest ratio {worst:.2f})"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
