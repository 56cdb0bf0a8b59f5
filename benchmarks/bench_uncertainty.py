"""Speed of sizing under uncertainty (capplan.uncertainty) against one scalar ``size_replicas`` call.

Run from the project root::

    .venv/bin/python benchmarks/bench_uncertainty.py           # full run (~1 min on 2 cores)
    .venv/bin/python benchmarks/bench_uncertainty.py --quick   # smoke test

Cases, all measured in this run (medians over repeats; the machine is shared and noisy):

* ``M/M/c``: the uncertainty section of ``data/capacity-plan-small.yaml`` (uncertain rate, a mix
  share, two service times; SCV 1, so every queue is M/M/c by Erlang C), 4,000 draws of 3 classes
  with N+1 and zone loss, the tornado included;
* ``G/G/c``: one class with an uncertain SCV as well, 4,000 draws (every draw its own G/G/c; the
  PH/PH/c queues of all elements solved in stacks), against the same with every queue solved alone;
* baselines: one scalar ``size_replicas`` call for the critical class at the plan's point values,
  and a Python loop of ``size_replicas`` over draws (per draw).

Goal checked at the end: the M/M/c case under 3 s for 4,000 draws.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import statistics
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np

from capplan.plan.inputs import load_plan_inputs
from capplan.queueing import ggc
from capplan.queueing._gigc import wait_moments
from capplan.sizing import size_replicas
from capplan.uncertainty import (
    ClassInputs,
    ClassModel,
    Point,
    lognormal_through,
    plan_under_uncertainty,
    size_under_uncertainty,
)

PLAN = Path(__file__).resolve().parents[1] / "data" / "capacity-plan-small.yaml"
GOAL_S = 3.0


@contextlib.contextmanager
def one_queue_at_a_time() -> Iterator[None]:
    """G/G/c elements solved one by one (``wait_moments`` per element, every PH/PH/c queue alone):
    the baseline for the stacked solves."""
    saved = getattr(ggc, "wait_moments_many")  # noqa: B009 - the name ggc.py calls

    def each(*columns: list[Any]) -> list[Any]:
        return [wait_moments(*element) for element in zip(*columns, strict=True)]

    setattr(ggc, "wait_moments_many", each)  # noqa: B010
    try:
        yield
    finally:
        setattr(ggc, "wait_moments_many", saved)  # noqa: B010


def median_seconds(run: Callable[[int], object], repeats: int, first_seed: int = 0) -> float:
    """Median wall time of ``run(seed)`` over ``repeats`` seeds, after one warm-up call.

    Each repeat draws with a new seed: G/G/c's queue solutions are cached by their parameters, and
    the same draws again would time the cache.
    """
    run(10_000 + first_seed)
    times = []
    for seed in range(first_seed, first_seed + repeats):
        start = time.perf_counter()
        run(seed)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    repeats = 2 if args.quick else 5
    inputs = load_plan_inputs(PLAN)
    assert inputs.uncertainty is not None
    plan = inputs.plan()
    uncertain = inputs.uncertainty
    draws = uncertain.draws

    def monte_carlo(seed: int) -> object:
        drawn = dataclasses.replace(uncertain, seed=seed)
        return plan_under_uncertainty(plan, drawn, options=inputs.options)

    mc = median_seconds(monte_carlo, repeats)
    sized = plan.replicas["critical_operations"]
    rate = plan.arrival_rate * plan.mix["critical_operations"]
    kwargs = {"workers": plan.workers, "service_time": 0.030, "max_utilization": plan.max_utilization}
    kwargs |= {"redundancy": 1, "zones": 3}

    def scalar(seed: int) -> object:
        return size_replicas(rate, sized.targets, **kwargs)  # type: ignore[arg-type]

    one = median_seconds(scalar, 5 * repeats)
    loop_n = 10 if args.quick else 50

    def loop(seed: int) -> None:
        for r in np.random.default_rng(seed).uniform(0.8, 1.3, loop_n) * rate:
            size_replicas(float(r), sized.targets, **kwargs)  # type: ignore[arg-type]

    per_draw_loop = median_seconds(loop, repeats) / loop_n

    ggc_draws = 200 if args.quick else 4000
    model = ClassModel(sized.targets, plan.workers, plan.max_utilization, redundancy=1, zones=3)
    classes = {
        "critical_operations": ClassInputs(
            model,
            Point(plan.mix["critical_operations"]),
            lognormal_through(0.5, 0.030, 0.9, 0.040),
            lognormal_through(0.05, 0.5, 0.95, 2.0),
        )
    }

    def ggc_run(seed: int) -> object:
        return size_under_uncertainty(Point(plan.arrival_rate), classes, draws=ggc_draws, rng=seed)

    ggc = median_seconds(ggc_run, repeats)
    with one_queue_at_a_time():
        ggc_single = median_seconds(ggc_run, 1 if args.quick else 2, first_seed=100)

    print(f"one scalar size_replicas call: {one * 1e3:.2f} ms (median)")
    print(f"Python loop of size_replicas over draws: {per_draw_loop * 1e3:.2f} ms per draw per class")
    print(
        f"M/M/c, {draws} draws x 3 classes + tornado: {mc:.3f} s median, {draws / mc:,.0f} draws/s, "
        f"{mc / one:.1f}x one scalar call; a Python loop would take ~{per_draw_loop * draws * 3:.1f} s "
        f"({per_draw_loop * draws * 3 / mc:.0f}x slower)"
    )
    print(
        f"G/G/c (uncertain SCV), {ggc_draws} draws x 1 class + tornado: {ggc:.3f} s median, "
        f"{ggc_draws / ggc:,.0f} draws/s, {ggc / one:.0f}x one scalar M/M/c call; each PH/PH/c "
        f"queue solved alone: {ggc_single:.3f} s ({ggc_single / ggc:.1f}x slower)"
    )
    verdict = "met" if mc < GOAL_S else "MISSED"
    print(f"goal: M/M/c case under {GOAL_S:g} s for {draws} draws: {verdict}")


if __name__ == "__main__":
    main()
