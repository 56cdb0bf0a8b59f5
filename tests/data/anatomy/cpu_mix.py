"""Two functions for scalene tests of capplan.layered.anatomy.cpu_split: ``numpy_heavy`` spends
its time in BLAS matrix products (native code, each product long against scalene's 10 ms sampling
interval), ``pure_python`` in a bytecode loop."""

from __future__ import annotations

import numpy as np


def numpy_heavy(n: int) -> float:
    a = np.random.default_rng(0).random((n, n))
    for _ in range(2):
        a = a @ a
        a /= a.max()
    return float(a.sum())


def pure_python(n: int) -> int:
    s = 0
    for i in range(n):
        s += i * i % 7
    return s


if __name__ == "__main__":
    for _ in range(2):
        numpy_heavy(900)
        pure_python(2_000_000)
