"""Throughput and latency of capplan's Erlang B/C against a textbook-recursion baseline.

Run from the project root::

    .venv/bin/python benchmarks/bench_erlang.py           # full run (~1 min on 2 cores)
    .venv/bin/python benchmarks/bench_erlang.py --quick   # smoke test, a few seconds

Goals checked at the end: >= 1e6 vectorised ``erlang_c`` evaluations per second, and a scalar
``erlang_c`` call at servers = 1e5 under 20 microseconds. The machine may be shared and noisy, so
every figure is a median over repeats, and the first (JIT-compiling) call is excluded.
"""

from __future__ import annotations

import argparse
import statistics
import time
import timeit
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from capplan.queueing import erlang_b, erlang_c

FloatArray = NDArray[np.float64]

GOAL_VECTOR_EVALS_PER_S = 1e6
GOAL_SCALAR_US = 20.0
SCALAR_SERVERS = 100_000
SCALAR_LOAD = 95_000.0


@dataclass(frozen=True)
class Sizes:
    vector_pairs: int
    vector_repeats: int
    baseline_pairs: int
    baseline_max_servers: int
    baseline_repeats: int
    scalar_number: int
    scalar_repeats: int


FULL = Sizes(
    vector_pairs=1_000_000,
    vector_repeats=7,
    baseline_pairs=200,
    baseline_max_servers=1_000,
    baseline_repeats=5,
    scalar_number=2_000,
    scalar_repeats=15,
)
QUICK = Sizes(
    vector_pairs=20_000,
    vector_repeats=3,
    baseline_pairs=20,
    baseline_max_servers=1_000,
    baseline_repeats=2,
    scalar_number=200,
    scalar_repeats=5,
)


def make_pairs(n: int, max_servers: int, rng: np.random.Generator) -> tuple[FloatArray, FloatArray]:
    """Servers uniform in 1..max_servers, utilization uniform in [0.5, 1.2]; load = servers * rho."""
    servers = rng.integers(1, max_servers, size=n, endpoint=True).astype(np.float64)
    utilization = rng.uniform(0.5, 1.2, size=n)
    return servers, servers * utilization


def baseline_erlang_c(servers: int, load: float) -> float:
    """Textbook recursion B(k) = a B(k-1) / (k + a B(k-1)), B(0) = 1, then C from B."""
    b = 1.0
    for k in range(1, servers + 1):
        b = load * b / (k + load * b)
    if load >= servers:
        return 1.0
    return servers * b / (servers - load + load * b)


def median_seconds(fn: Callable[[], object], repeats: int) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def scalar_median_us(fn: Callable[[], object], number: int, repeats: int) -> float:
    per_call = [t / number for t in timeit.repeat(fn, number=number, repeat=repeats)]
    return statistics.median(per_call) * 1e6


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--quick", action="store_true", help="small sizes, for a smoke test")
    parser.add_argument("--seed", type=int, default=12_345, help="seed of the random (servers, load) pairs")
    args = parser.parse_args(argv)
    sizes = QUICK if args.quick else FULL
    rng = np.random.default_rng(args.seed)

    # Vectorised erlang_c over (servers, load) pairs.
    servers, load = make_pairs(sizes.vector_pairs, 100_000, rng)
    erlang_c(servers, load)  # warm-up: exclude JIT compilation and first-touch costs
    t_vec = median_seconds(lambda: erlang_c(servers, load), sizes.vector_repeats)
    vec_rate = sizes.vector_pairs / t_vec

    # Baseline: per-call Python loop with the textbook recursion, on a small subsample.
    b_servers, b_load = make_pairs(sizes.baseline_pairs, sizes.baseline_max_servers, rng)
    pairs = [(int(c), float(a)) for c, a in zip(b_servers, b_load, strict=True)]

    def run_baseline() -> list[float]:
        return [baseline_erlang_c(c, a) for c, a in pairs]

    baseline_values = np.array(run_baseline())
    t_base = median_seconds(run_baseline, sizes.baseline_repeats)
    base_rate = sizes.baseline_pairs / t_base
    max_diff = float(np.max(np.abs(erlang_c(b_servers, b_load) - baseline_values)))

    # Scalar calls at servers = 1e5.
    erlang_c(SCALAR_SERVERS, SCALAR_LOAD)
    erlang_b(SCALAR_SERVERS, SCALAR_LOAD)
    c_us = scalar_median_us(
        lambda: erlang_c(SCALAR_SERVERS, SCALAR_LOAD), sizes.scalar_number, sizes.scalar_repeats
    )
    b_us = scalar_median_us(
        lambda: erlang_b(SCALAR_SERVERS, SCALAR_LOAD), sizes.scalar_number, sizes.scalar_repeats
    )

    mode = "quick" if args.quick else "full"
    print(f"capplan Erlang benchmark ({mode}; medians; warm-up call excluded)")
    print(
        f"  erlang_c vectorised, {sizes.vector_pairs:,} pairs (servers 1..1e5, rho 0.5..1.2): "
        f"{vec_rate:,.0f} evals/s  (median {t_vec * 1e3:.1f} ms over {sizes.vector_repeats} runs)"
    )
    print(
        f"  baseline recursion loop, {sizes.baseline_pairs} pairs (servers 1..{sizes.baseline_max_servers}): "
        f"{base_rate:,.0f} evals/s  (median {t_base * 1e3:.1f} ms over {sizes.baseline_repeats} runs; "
        f"max |capplan - baseline| = {max_diff:.1e})"
    )
    print(f"  ratio capplan / baseline: {vec_rate / base_rate:,.0f}x")
    print(
        f"  scalar erlang_c({SCALAR_SERVERS}, {SCALAR_LOAD}): {c_us:.2f} us  "
        f"(median of {sizes.scalar_repeats} x {sizes.scalar_number} calls)"
    )
    print(
        f"  scalar erlang_b({SCALAR_SERVERS}, {SCALAR_LOAD}): {b_us:.2f} us  "
        f"(median of {sizes.scalar_repeats} x {sizes.scalar_number} calls)"
    )
    vec_ok = vec_rate >= GOAL_VECTOR_EVALS_PER_S
    scalar_ok = c_us < GOAL_SCALAR_US
    print("goals:")
    print(f"  vectorised >= {GOAL_VECTOR_EVALS_PER_S:.0e} evals/s: {'PASS' if vec_ok else 'FAIL'}")
    print(
        f"  scalar erlang_c at servers=1e5 < {GOAL_SCALAR_US:g} us: {'PASS' if scalar_ok else 'FAIL'}"
        f"  (erlang_b: {'PASS' if b_us < GOAL_SCALAR_US else 'FAIL'})"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
