"""Relative error of capplan's Erlang B and C against 40-digit mpmath, over random (servers, load).

    .venv/bin/python benchmarks/erlang_accuracy.py [--points 1500] [--seed 7]

Servers are log-uniform in 1..1e6 and the load per server log-uniform in 0.01..10.  The reference
is B = p(c; a) / Q(c + 1, a) (Poisson probability over the regularized upper incomplete gamma), C
from B; where the true value is below 1e-300 the logs are compared instead (relative error of the
log).  Goal (issue: exact Erlang B/C): relative error <= 1e-10.
"""

from __future__ import annotations

import argparse

import mpmath as mp
import numpy as np

from capplan.queueing import log_erlang_b, log_erlang_c


def reference_logs(c: float, a: float) -> tuple[mp.mpf, mp.mpf]:
    big_c, big_a = mp.mpf(c), mp.mpf(a)
    log_b = big_c * mp.log(big_a) - big_a - mp.loggamma(big_c + 1)
    log_b -= mp.log(mp.gammainc(big_c + 1, big_a, mp.inf, regularized=True))
    if big_a >= big_c:
        return log_b, mp.mpf(0)
    b = mp.exp(log_b)
    return log_b, log_b + mp.log(big_c) - mp.log(big_c - big_a + big_a * b)


def relative_error(got: float, ref: mp.mpf) -> float:
    if ref > -700:
        return float(abs(mp.exp(mp.mpf(got) - ref) - 1))
    return float(abs(mp.mpf(got) - ref) / abs(ref))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--points", type=int, default=1500)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    mp.mp.dps = 40
    rng = np.random.default_rng(args.seed)
    servers = np.floor(10 ** rng.uniform(0, 6, args.points))
    loads = servers * 10 ** rng.uniform(-2, 1, args.points)
    worst_b = worst_c = 0.0
    for c, a in zip(servers, loads, strict=True):
        ref_b, ref_c = reference_logs(float(c), float(a))
        worst_b = max(worst_b, relative_error(log_erlang_b(float(c), float(a)), ref_b))
        worst_c = max(worst_c, relative_error(log_erlang_c(float(c), float(a)), ref_c))
    print(
        f"{args.points} random points (servers 1..1e6, load per server 0.01..10), 40-digit mpmath reference"
    )
    print(f"  max relative error: Erlang B {worst_b:.2e}, Erlang C {worst_c:.2e}")
    print(f"  goal <= 1e-10: {'PASS' if max(worst_b, worst_c) <= 1e-10 else 'FAIL'}")


if __name__ == "__main__":
    main()
