"""Speed of capplan.autoscale.simulate: a week of the seed's HPA at 15 s resolution.

Run from the project root::

    .venv/bin/python benchmarks/bench_autoscale.py           # full run (~1 min on 2 cores)
    .venv/bin/python benchmarks/bench_autoscale.py --quick   # smoke test

Scenario: the seed's HorizontalPodAutoscaler (``data/hpa.yaml``: CPU 70%, memory 80%, the p95
latency and error-rate pods metrics, its behavior policies) scaling pods of 4 workers with a
25 ms mean service time under a diurnal week (300-1500 requests/s) with a daily spike; 40,320
intervals of 15 s, one controller sync per interval.

Baseline, measured in the same run: the *same* code with numba switched off for the autoscale
modules (``numba.config.DISABLE_JIT`` set and the modules reloaded, in a subprocess), i.e. a
plain Python per-step loop over the same controller and fluid model; the queueing formulas that
build the latency table once stay compiled.  It runs over one day (5,760 steps) and the figures
are compared as simulated steps per second (both with the latency table cached, i.e. the time
loop itself).  Goal: the week in under one second, latency table included.  Figures are
medians of repeats (the machine is shared), and the first, compiling call is excluded by a
warm-up call.
"""

from __future__ import annotations

import argparse
import importlib
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numba
import numpy as np

import capplan.queueing
from capplan.autoscale import (
    HPA,
    Traffic,
    Workload,
    _kernel,
    add_spike,
    controller,
    diurnal,
    fluid,
    load_hpa,
    simulate,
)

ROOT = Path(__file__).resolve().parents[1]
GOAL_SECONDS = 1.0


def scenario(days: float) -> tuple[Traffic, HPA, Workload]:
    """The traffic, HPA and workload of the benchmark."""
    base = diurnal(300.0, 1500.0, days=days)
    rate = base.rate.copy()
    for d in range(int(np.ceil(days))):
        spiked = add_spike(diurnal(300.0, 1500.0, days=days), d * 86400 + 13 * 3600, 600.0, 1500.0)
        rate = np.maximum(rate, spiked.rate)
    traffic = Traffic(rate, base.step, name="week with daily spikes")
    return traffic, load_hpa(ROOT / "data" / "hpa.yaml"), Workload(0.025, workers=4, timeout=10.0)


def pure_python() -> None:
    """Reload the autoscale kernels with numba's JIT disabled: they become plain Python.

    ``capplan.queueing`` (imported above) keeps its compiled ufuncs for the latency table.
    """
    assert capplan.queueing.MMc is not None
    numba.config.DISABLE_JIT = True  # type: ignore[attr-defined]
    for module in (controller, fluid, _kernel):
        importlib.reload(module)


def time_simulation(days: float, repeats: int) -> dict[str, float]:
    """Median wall time of simulate() over ``repeats`` calls, after one warm-up call.

    ``fresh_s`` rebuilds the per-pod latency table each call (a first run); ``median_s`` reuses
    it (what every run of a settings search after the first does).
    """
    traffic, hpa, workload = scenario(days)
    sla = {0.95: 0.2, 0.99: 0.5}
    result = simulate(traffic, hpa, workload, sla=sla)
    fresh, cached = [], []
    for _ in range(repeats):
        fluid._table.cache_clear()
        t0 = time.perf_counter()
        simulate(traffic, hpa, workload, sla=sla)
        fresh.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        result = simulate(traffic, hpa, workload, sla=sla)
        cached.append(time.perf_counter() - t0)
    steps = len(result.timeline)
    return {
        "steps": float(steps),
        "median_s": statistics.median(cached),
        "fresh_s": statistics.median(fresh),
        "replica_hours": result.replica_hours,
        "peak_replicas": float(result.timeline["replicas_desired"].max()),
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="fewer repeats, a shorter baseline")
    parser.add_argument("--baseline-child", type=float, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.baseline_child is not None:
        pure_python()
        print(json.dumps(time_simulation(args.baseline_child, repeats=1 if args.quick else 3)))
        return

    repeats = 3 if args.quick else 9
    week = time_simulation(7.0, repeats)
    base_days = 0.25 if args.quick else 1.0
    cmd = [sys.executable, __file__, "--baseline-child", str(base_days)] + (["--quick"] if args.quick else [])
    out = subprocess.run(cmd, check=True, capture_output=True, text=True, cwd=ROOT)
    baseline = json.loads(out.stdout.strip().splitlines()[-1])
    compiled_rate = week["steps"] / week["median_s"]
    python_rate = baseline["steps"] / baseline["median_s"]
    print("capplan.autoscale.simulate -- the seed's HPA, 15 s steps, medians of repeats")
    print(
        f"  compiled (numba):    {int(week['steps']):>6d} steps (7 days) in {week['median_s'] * 1e3:8.1f} ms"
        f"  ({week['fresh_s'] * 1e3:.1f} ms with the latency table built afresh)"
    )
    print(f"                       {compiled_rate:12,.0f} steps/s")
    print(
        f"  pure Python loop:    {int(baseline['steps']):>6d} steps ({base_days:g} day) in "
        f"{baseline['median_s'] * 1e3:8.1f} ms  (same code, JIT disabled)"
    )
    print(f"                       {python_rate:12,.0f} steps/s")
    print(f"  ratio:               {compiled_rate / python_rate:8.0f}x")
    print(f"  week: {week['replica_hours']:.1f} replica-hours, peak {int(week['peak_replicas'])} replicas")
    verdict = "met" if week["fresh_s"] < GOAL_SECONDS else "NOT met"
    print(f"goal (a week at 15 s in < {GOAL_SECONDS:g} s, fresh): {verdict} ({week['fresh_s']:.3f} s)")


if __name__ == "__main__":
    main()
