"""A sizing checked by simulation: the chosen replica in its worst scenario, request by request."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from typing import TYPE_CHECKING

import pandas as pd

if TYPE_CHECKING:
    from capplan.layered.sizing import ServiceSizing

__all__ = ["grown", "verification"]


def verification(sizing: ServiceSizing, customers: int, seed: int) -> pd.DataFrame:
    """Every target of the scenario with the fewest replicas up, simulated.

    One replica of the chosen layout carries the fleet's load spread over the replicas up in that
    scenario; :meth:`capplan.layered.ServiceModel.simulate` serves ``customers`` requests (seed
    ``seed``).  Columns: the model's prediction, the simulated value and its 95% confidence
    half-width (batch means), the target, and ``met_in_simulation``: the simulated value, less its
    half-width, within the target (a miss the simulation cannot tell from noise counts as met).
    """
    scenario, up = min(sizing.scenarios.items(), key=lambda kv: kv[1])
    replica = sizing.model.scaled(sizing.replicas / up)
    sim = replica.simulate(customers, seed=seed).classes
    rows = []
    for row in sizing.checks[sizing.checks["scenario"] == scenario].to_dict(orient="records"):
        column = "response_mean" if row["target"] == "mean" else f"response_{row['target']}"
        value = float(sim.loc[row["class"], column])
        half = float(sim.loc[row["class"], f"{column}_ci"])
        rows.append(
            {
                "scenario": scenario,
                "replicas_up": up,
                "class": row["class"],
                "target": row["target"],
                "predicted_s": row["predicted_s"],
                "simulated_s": value,
                "ci_s": half,
                "target_s": row["target_s"],
                "met_in_simulation": value - half <= row["target_s"],
            }
        )
    return pd.DataFrame(rows)


def grown(
    first: ServiceSizing, at: Callable[[int], ServiceSizing], limit: int, customers: int, seed: int
) -> ServiceSizing:
    """``first`` with its verification if the simulation meets every target there; else the
    smallest larger fleet of the same layout that it meets, ``at(n)`` being the sizing of ``n``
    replicas (galloping up from a step of 2% of the fleet, then bisecting; the same seed at every
    fleet, so the verdicts are those of common random numbers), at most ``limit`` replicas.  At the
    limit the answer keeps the simulation's misses.  ``solve_replicas`` keeps ``first``'s fleet."""
    checked = verification(first, customers, seed)
    base = replace(first, solve_replicas=first.replicas)
    if checked["met_in_simulation"].all():
        return replace(base, verification=checked)
    low, low_sizing, low_checked = first.replicas, base, checked  # the largest fleet known to miss
    high: tuple[ServiceSizing, pd.DataFrame] | None = None
    step = max(1, first.replicas // 50)
    while high is None and low < limit:
        n = min(low + step, limit)
        sizing = at(n)
        result = verification(sizing, customers, seed)
        if result["met_in_simulation"].all():
            high = (sizing, result)
        else:
            low, low_sizing, low_checked, step = n, sizing, result, 2 * step
    if high is None:
        return replace(low_sizing, solve_replicas=first.replicas, verification=low_checked)
    while high[0].replicas - low > 1:
        mid = (low + high[0].replicas) // 2
        sizing = at(mid)
        result = verification(sizing, customers, seed)
        if result["met_in_simulation"].all():
            high = (sizing, result)
        else:
            low, low_checked = mid, result
    return replace(
        high[0],
        solve_replicas=first.replicas,
        verification=high[1],
        constraint=f"in simulation, {_first_miss(low_checked)} at {low} replicas",
    )


def _first_miss(checked: pd.DataFrame) -> str:
    row = checked[~checked["met_in_simulation"]].iloc[0]
    return (
        f"{row['class']} {row['target']} {row['simulated_s'] * 1e3:.4g} +/- {row['ci_s'] * 1e3:.2g} ms > "
        f"{row['target_s'] * 1e3:g} ms ({row['scenario']})"
    )
