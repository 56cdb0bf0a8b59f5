"""A sizing checked by simulation: the chosen replica in its worst scenario, request by request."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import replace
from typing import TYPE_CHECKING, NamedTuple

import pandas as pd

from capplan.layered._sizing_search import _over_ceilings

if TYPE_CHECKING:
    from capplan.layered.sizing import ServiceSizing

__all__ = ["settled", "verification"]


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


def settled(
    first: ServiceSizing,
    at: Callable[[int], ServiceSizing],
    ceilings: Mapping[str, float],
    fleets: tuple[int, int],
    customers: int,
    seed: int,
) -> ServiceSizing:
    """The smallest fleet of ``first``'s layout whose worst scenario the simulation meets, ``at(n)``
    being the sizing of ``n`` replicas, within ``fleets`` (the fewest the offered loads and the
    ceilings allow, the most the limits do): searched from ``first``'s fleet, down when the
    simulation meets it and up when it does not (galloping from a step of 2% of the fleet, then
    bisecting), with the same seed at every fleet (common random numbers).  A fleet over a
    utilization ceiling (the solve's ``layers``, every scenario) is not simulated: it misses.  At
    the limit the answer keeps the simulation's misses.  ``solve_replicas`` keeps ``first``'s fleet;
    ``constraint`` says what the fleet one smaller misses."""
    judged: dict[int, _Verdict] = {}

    def judge(n: int) -> _Verdict:
        if n not in judged:
            judged[n] = _judge(first if n == first.replicas else at(n), ceilings, customers, seed)
        return judged[n]

    low, high = _bracket(first.replicas, judge, fleets)
    if high is None:
        top = judge(low)
        reason = f"the most replicas allowed, {low}, still miss: {top.miss}"
        return replace(top.sizing, solve_replicas=first.replicas, verification=top.checked, constraint=reason)
    while high - low > 1:
        mid = (low + high) // 2
        low, high = (low, mid) if judge(mid).miss is None else (mid, high)
    best = judge(high)
    if low < 1:
        miss = "nothing: one replica suffices"
    elif low < fleets[0]:  # below the offered loads' floor: judged by the solve, not simulated
        miss = str(_judge(at(low), ceilings, customers, seed, simulate=False).miss)
    else:
        miss = str(judge(low).miss)
    return replace(best.sizing, solve_replicas=first.replicas, verification=best.checked, constraint=miss)


class _Verdict(NamedTuple):
    sizing: ServiceSizing
    checked: pd.DataFrame | None  # None: not simulated (over a ceiling)
    miss: str | None  # what the fleet misses, None when it meets every target


def _judge(
    sizing: ServiceSizing, ceilings: Mapping[str, float], customers: int, seed: int, *, simulate: bool = True
) -> _Verdict:
    """Over a ceiling (by the solve), else the simulation's verdict; without ``simulate``, the
    busiest layer's utilization in the solve (a fleet below the offered loads' floor)."""
    n = sizing.replicas
    for layer, cap in ceilings.items():
        scenario = str(sizing.layers.loc[layer].idxmax())
        over = _over_ceilings(sizing.layers[scenario], {layer: cap})
        if over:
            return _Verdict(sizing, None, f"{over[0]} ({scenario} at {n} replicas)")
    if not simulate:
        layer = str(sizing.layers.max(axis=1).idxmax())
        row = sizing.layers.loc[layer]
        scenario = str(row.idxmax())
        return _Verdict(sizing, None, f"{layer} utilization {row[scenario]:.1%} ({scenario} at {n} replicas)")
    checked = verification(sizing, customers, seed)
    if checked["met_in_simulation"].all():
        return _Verdict(sizing, checked, None)
    return _Verdict(sizing, checked, f"in simulation, {_first_miss(checked)} at {n} replicas")


def _bracket(start: int, judge: Callable[[int], _Verdict], fleets: tuple[int, int]) -> tuple[int, int | None]:
    """A fleet that misses (below ``fleets[0]``: none in range) and one that meets (None: none up
    to ``fleets[1]``), the bisection's bounds, galloping from ``start``."""
    floor, limit = fleets
    step = max(1, start // 50)
    if judge(start).miss is None:
        high = start
        while high > floor:
            n = max(high - step, floor)
            if judge(n).miss is not None:
                return n, high
            high, step = n, 2 * step
        return floor - 1, high
    low = start
    while low < limit:
        n = min(low + step, limit)
        if judge(n).miss is None:
            return low, n
        low, step = n, 2 * step
    return low, None


def _first_miss(checked: pd.DataFrame) -> str:
    row = checked[~checked["met_in_simulation"]].iloc[0]
    return (
        f"{row['class']} {row['target']} {row['simulated_s'] * 1e3:.4g} +/- {row['ci_s'] * 1e3:.2g} ms > "
        f"{row['target_s'] * 1e3:g} ms ({row['scenario']})"
    )
