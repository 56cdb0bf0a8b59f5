"""Peak memory of the simulator with streaming statistics: 1e6 against 1e8 customers.

    .venv/bin/python benchmarks/bench_sim_memory.py [--large 100000000]

Each run is a fresh Python process (M/M/8 at utilization 0.8, ``keep="stats"``) reporting its
maximum resident set size; bounded memory means the ratio large/small stays near 1 while the
customer count grows 100-fold.  The raw mode's 16 bytes per customer are shown for comparison.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys

_CHILD = """
import json, resource, sys, time
from scipy import stats
from capplan.sim import simulate_queue
n = int(sys.argv[1])
start = time.perf_counter()
summary = simulate_queue(6.4, stats.expon(), 8, n, seed=1, keep="stats").summary()
print(json.dumps({
    "seconds": time.perf_counter() - start,
    "max_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    "wait_mean": float(summary.loc["wait_mean", "estimate"]),
}))
"""


def run(customers: int) -> dict[str, float]:
    out = subprocess.run(
        [sys.executable, "-c", _CHILD, str(customers)], capture_output=True, text=True, check=True
    )
    result: dict[str, float] = json.loads(out.stdout.strip().splitlines()[-1])
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--small", type=int, default=1_000_000)
    parser.add_argument("--large", type=int, default=100_000_000)
    args = parser.parse_args()
    small, large = run(args.small), run(args.large)
    for n, r in ((args.small, small), (args.large, large)):
        print(
            f"keep='stats', {n:>12,} customers: max RSS {r['max_rss_mb']:.0f} MB, {r['seconds']:.1f} s, "
            f"mean wait {r['wait_mean']:.4f} s (exact M/M/8: 0.2860 s)"
        )
    ratio = large["max_rss_mb"] / small["max_rss_mb"]
    print(f"memory ratio large/small: {ratio:.2f} for {args.large // args.small}x customers")
    raw_gb = args.large * 16 / 1e9
    print(f"(keep='raw' would hold {raw_gb:.1f} GB of waits and responses for {args.large:,} customers)")


if __name__ == "__main__":
    main()
