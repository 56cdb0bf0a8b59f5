"""Speed and accuracy of capplan's LRU miss-ratio curves against textbook baselines.

Run from the project root::

    .venv/bin/python benchmarks/bench_mrc.py           # full run: 10 M-request Zipf trace (~1 min)
    .venv/bin/python benchmarks/bench_mrc.py --quick   # 1 M requests, a few seconds

Goals checked at the end, on one core (the kernels are single-threaded):

- exact LRU miss-ratio curve (all cache sizes, one pass) >= 5 million requests/second on a
  10 M-request Zipf(0.9) trace over 1 M objects;
- SHARDS_adj at R = 0.01 >= 50 million requests/second, with a mean absolute error <= 0.01
  against the exact curve (evaluated at 1000 evenly spaced cache sizes).

Baselines, measured in the same run on a prefix of the same trace and scaled per request: the
textbook Mattson stack (a Python list searched and moved-to-front per request, O(N·M)), and the
same algorithm compiled with numba.  The machine may be shared and noisy: every figure is a
median over repeats that cycle through all methods (so they share the load), and compile time is
excluded by a warm-up call.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable

import numpy as np
from numba import njit
from numpy.typing import NDArray

from capplan.caches import miss_ratio_curve, zipf_trace

GOAL_EXACT = 5e6
GOAL_SHARDS = 50e6
GOAL_MAE = 0.01
SEED = 20251128


def python_mattson(keys: NDArray[np.int64]) -> NDArray[np.int64]:
    """Textbook LRU stack: find the key's depth in a list, move it to the top (Mattson et al. 1970)."""
    stack: list[int] = []
    hist = np.zeros(len(set(keys.tolist())) + 2, dtype=np.int64)
    for k in keys.tolist():
        try:
            depth = stack.index(k)
        except ValueError:
            hist[0] += 1
            stack.insert(0, k)
            continue
        hist[depth + 1] += 1
        del stack[depth]
        stack.insert(0, k)
    return hist


@njit(cache=True)
def numba_mattson(keys: NDArray[np.int64], n_keys: int) -> NDArray[np.int64]:  # pragma: no cover
    """The same linear-search stack, compiled."""
    stack = np.empty(n_keys, dtype=np.int64)
    size = 0
    hist = np.zeros(n_keys + 2, dtype=np.int64)
    for k in keys:
        depth = -1
        for d in range(size):
            if stack[d] == k:
                depth = d
                break
        if depth < 0:
            hist[0] += 1
            depth = size
            size += 1
        else:
            hist[depth + 1] += 1
        for d in range(depth, 0, -1):
            stack[d] = stack[d - 1]
        stack[0] = k
    return hist


def interleaved_medians(runs: dict[str, Callable[[], object]], repeats: int) -> dict[str, float]:
    """Median seconds per run; the repeats cycle through all methods so each sees the same load."""
    times: dict[str, list[float]] = {name: [] for name in runs}
    for _ in range(repeats):
        for name, fn in runs.items():
            t0 = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - t0)
    return {name: statistics.median(ts) for name, ts in times.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="1 M requests instead of 10 M")
    args = parser.parse_args()
    n_req, n_obj = (1_000_000, 100_000) if args.quick else (10_000_000, 1_000_000)
    repeats = 3 if args.quick else 5
    keys, _ = zipf_trace(n_req, n_obj, 0.9, rng=np.random.default_rng(SEED))
    # opaque 64-bit ids (as a real trace's hashed keys): forces the key-to-index mapping
    hashed = (keys * np.int64(0x9E3779B97F4A7C1) + np.int64(12345)) & np.int64((1 << 62) - 1)
    print(f"Zipf(0.9) trace: {n_req:,} requests over {n_obj:,} objects; medians of {repeats} runs\n")

    miss_ratio_curve(keys[:10_000])
    miss_ratio_curve(keys[:100_000], sample_rate=0.01)
    numba_mattson(keys[:100], n_obj)

    py_n, nb_n = 20_000, 200_000
    runs: dict[str, Callable[[], object]] = {
        "python": lambda: python_mattson(keys[:py_n]),
        "numba": lambda: numba_mattson(keys[:nb_n], n_obj),
        "exact": lambda: miss_ratio_curve(keys),
        "exact_h": lambda: miss_ratio_curve(hashed),
        "shards": lambda: miss_ratio_curve(keys, sample_rate=0.01),
        "shards_h": lambda: miss_ratio_curve(hashed, sample_rate=0.01),
    }
    t = interleaved_medians(runs, repeats)
    base_py, base_nb = py_n / t["python"], nb_n / t["numba"]
    exact_rate, exact_rate_h = n_req / t["exact"], n_req / t["exact_h"]
    shards_rate, shards_rate_h = n_req / t["shards"], n_req / t["shards_h"]

    ref = miss_ratio_curve(keys)
    grid = np.linspace(1, int(ref["cache_size"].max()), 1000).astype(np.int64)
    exact_on_grid = miss_ratio_curve(keys, cache_sizes=grid)["miss_ratio"].to_numpy()
    mae = {
        rate: float(
            np.abs(
                miss_ratio_curve(keys, sample_rate=rate, cache_sizes=grid)["miss_ratio"] - exact_on_grid
            ).mean()
        )
        for rate in (0.1, 0.01, 0.001)
    }
    check = miss_ratio_curve(keys[:py_n])["miss_ratio"].to_numpy()
    hist = python_mattson(keys[:py_n])
    assert np.allclose(check, 1 - np.cumsum(hist[1 : check.size + 1]) / py_n), "exact curve != textbook stack"

    rows = [
        (f"baseline: Python Mattson stack ({py_n:,}-request prefix)", base_py),
        (f"baseline: numba Mattson stack ({nb_n:,}-request prefix)", base_nb),
        ("exact curve, integer keys", exact_rate),
        ("exact curve, opaque 64-bit keys", exact_rate_h),
        ("SHARDS_adj R=0.01, integer keys", shards_rate),
        ("SHARDS_adj R=0.01, opaque 64-bit keys", shards_rate_h),
    ]
    print(f"{'method':58s} {'requests/s':>14s} {'x Python':>10s} {'x numba stack':>14s}")
    for name, rate in rows:
        print(f"{name:58s} {rate:14,.0f} {rate / base_py:10,.0f} {rate / base_nb:14,.1f}")
    print("\nSHARDS_adj mean absolute error against the exact curve (1000 evenly spaced sizes):")
    for rate, err in mae.items():
        print(f"  R={rate:<6g} MAE={err:.4f}")
    print(
        "\nGoals" + (" (set for the full 10 M-request run; --quick is a smoke test):" if args.quick else ":")
    )
    worst_exact = min(exact_rate, exact_rate_h)
    worst_shards = min(shards_rate, shards_rate_h)
    for label, ok in (
        (
            f"exact >= {GOAL_EXACT / 1e6:g} M requests/s (slower key type: {worst_exact / 1e6:.2f} M/s)",
            worst_exact >= GOAL_EXACT,
        ),
        (
            f"SHARDS R=0.01 >= {GOAL_SHARDS / 1e6:g} M requests/s "
            f"(slower key type: {worst_shards / 1e6:.1f} M/s)",
            worst_shards >= GOAL_SHARDS,
        ),
        (f"SHARDS R=0.01 MAE <= {GOAL_MAE} ({mae[0.01]:.4f})", mae[0.01] <= GOAL_MAE),
    ):
        print(f"  {'PASS' if ok else 'FAIL'}  {label}")


if __name__ == "__main__":
    main()
