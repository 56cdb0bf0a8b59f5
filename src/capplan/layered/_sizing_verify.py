"""A sizing checked by simulation: the chosen replica in its worst scenario, request by request."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pandas as pd

if TYPE_CHECKING:
    from capplan.layered.sizing import ServiceSizing

__all__ = ["verification"]


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
