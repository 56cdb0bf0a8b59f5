"""What ``--horizon`` costs: the forecast and runway beside the plan they are added to.

Run from the project root::

    .venv/bin/python benchmarks/bench_forecast.py [--repeats 5]

Measured (wall-clock seconds, medians of ``--repeats`` runs; the machine is shared, so each figure
is also printed as a ratio to the baseline measured in the same run):

* baseline: building the bundled plan (``load_plan_inputs("data/capacity-plan.yaml").plan()``),
  what ``capplan plan data/capacity-plan.yaml`` does before rendering;
* ``fit_traffic`` on the bundled year (8,760 hours), ``forecast("90d")``, ``evaluate`` with 4
  weeks held back, and ``plan_runway(plan, history, "90d")`` (a fit, a forecast and an
  evaluation), all after one warm-up call (statsmodels imported);
* the processes ``capplan plan data/capacity-plan.yaml`` with and without ``--horizon 90d``
  (Markdown to stdout), fresh interpreters: the difference is what the option adds, imports included.

Goal: ``--horizon 90d`` adds at most the plan's own time (ratio of the two processes <= 2).
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

from bench_erlang import median_seconds

ROOT = Path(__file__).resolve().parents[1]
PLAN = ROOT / "data" / "capacity-plan.yaml"
HISTORY = ROOT / "data" / "traffic-history.csv"


def _process(args: list[str], repeats: int) -> float:
    command = [str(Path(sys.executable).parent / "capplan"), "plan", str(PLAN), *args]
    return median_seconds(lambda: subprocess.run(command, check=True, capture_output=True), repeats)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeats", type=int, default=5)
    repeats = parser.parse_args().repeats

    from capplan.forecast import evaluate, fit_traffic, load_history, plan_runway  # noqa: PLC0415
    from capplan.plan.inputs import load_plan_inputs  # noqa: PLC0415

    history = load_history(HISTORY)
    plan = load_plan_inputs(PLAN).plan()
    model = fit_traffic(history)  # warm-up: statsmodels imported
    rows = {
        "baseline: the bundled plan, built": median_seconds(lambda: load_plan_inputs(PLAN).plan(), repeats),
        "fit_traffic (8,760 hours)": median_seconds(lambda: fit_traffic(history), repeats),
        "forecast 90d": median_seconds(lambda: model.forecast("90d"), repeats),
        "evaluate, 4 weeks held back": median_seconds(lambda: evaluate(history, holdout_weeks=4), repeats),
        "plan_runway 90d": median_seconds(lambda: plan_runway(plan, history, "90d"), repeats),
    }
    base = rows["baseline: the bundled plan, built"]
    print(f"{'in process (median of ' + str(repeats) + ')':44s} {'seconds':>9s} {'x baseline':>11s}")
    for name, seconds in rows.items():
        print(f"{name:44s} {seconds:9.3f} {seconds / base:11.2f}")
    plain = _process([], repeats)
    horizon = _process(["--horizon", "90d"], repeats)
    print(f"\n{'processes (median of ' + str(repeats) + ')':44s} {'seconds':>9s} {'x plain':>11s}")
    print(f"{'capplan plan data/capacity-plan.yaml':44s} {plain:9.3f} {1.0:11.2f}")
    print(f"{'  ... --horizon 90d':44s} {horizon:9.3f} {horizon / plain:11.2f}")
    print(f"\ngoal: --horizon 90d <= 2x the plan: {'met' if horizon <= 2 * plain else 'MISSED'}")


if __name__ == "__main__":
    main()
