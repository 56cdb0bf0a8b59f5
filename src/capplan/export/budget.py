"""``error-budget.csv``: per SLO, the budget over 30 days and the burn rate the plan predicts.

Columns: ``op_class, slo, objective, budget_fraction``, the budget as ``budget_minutes_30d`` (the
minutes of a complete outage it allows) and as ``budget_requests_30d`` (bad requests at the
planned rate, ``requests_per_s_planned``), then ``predicted_bad_fraction`` and ``burn_rate``
(bad fraction / budget) at the planned load with every replica up, ``burn_rate_worst_case`` in
the worst failure scenario the plan checked, and ``basis``, the model behind them:

* latency SLOs: ``P(response > target)`` of one replica's queue at its planned share of the load,
  the same queue model (M/M/c exact, else G/G/c) the plan sized it with;
* the availability SLO (``uptime``): ``1 - availability`` of the k-out-of-n model when the plan
  sized for availability (an upper bound: the deployed count is at least the one it was computed
  for);
* other SLOs: empty — the plan does not model error or timeout rates.
"""

from __future__ import annotations

import csv
import io
from typing import Any

from capplan.export.slo import SLO, SLO_PERIOD_S, ClassFacts
from capplan.plan.model import CapacityPlan
from capplan.queueing import queue_model
from capplan.sizing._service import describe_service

__all__ = ["COLUMNS", "error_budget_csv", "error_budget_rows"]

COLUMNS = (
    "op_class",
    "slo",
    "objective",
    "budget_fraction",
    "budget_minutes_30d",
    "requests_per_s_planned",
    "budget_requests_30d",
    "predicted_bad_fraction",
    "burn_rate",
    "burn_rate_worst_case",
    "basis",
)


def _tail(f: ClassFacts, replicas_up: int, threshold: float) -> float:
    """P(response > threshold) for one replica of ``f`` with ``replicas_up`` sharing the load."""
    ev = f.evidence
    mu, scv, dist = describe_service(
        ev.mean_s if ev.distribution is None else None,
        ev.scv,
        ev.distribution,
        names=("service_time", "service_scv", "service"),
    )
    if f.sizing.balancing.startswith("JSQ"):
        model = queue_model(f.rate, mu, f.workers * replicas_up, 1.0, scv, service=dist)
    else:
        model = queue_model(f.rate / replicas_up, mu, f.workers, 1.0, scv, service=dist)
    return float(1.0 - model.response_cdf(threshold))


def _predicted(plan: CapacityPlan, f: ClassFacts, slo: SLO) -> tuple[float | None, float | None, str]:
    if slo.threshold_s is not None:
        all_up = _tail(f, f.sizing.replicas, slo.threshold_s)
        ups = [f.sizing.replicas, *(int(v["replicas_up"]) for v in f.sizing.scenarios.values())]
        worst = max(_tail(f, up, slo.threshold_s) for up in ups)
        return all_up, worst, f"queueing: {f.sizing.method}, P(response > {slo.threshold_s:g} s) per replica"
    avail = plan.availability.get(f.op_class)
    if slo.name == "availability" and avail is not None:
        down = max(0.0, 1.0 - avail.availability)
        basis = (
            f"k-out-of-n: {avail.required} of {avail.replicas} replicas up (upper bound for "
            f"{f.replicas} deployed)"
        )
        return down, down, basis
    return None, None, "not modelled by the plan"


def error_budget_rows(plan: CapacityPlan, facts: list[ClassFacts], slos: list[SLO]) -> list[dict[str, Any]]:
    """One row per SLO (see the module docstring)."""
    by_class = {f.op_class: f for f in facts}
    rows = []
    for slo in slos:
        f = by_class[slo.op_class]
        bad, worst, basis = _predicted(plan, f, slo)
        rows.append(
            {
                "op_class": slo.op_class,
                "slo": slo.name,
                "objective": slo.objective,
                "budget_fraction": slo.budget,
                "budget_minutes_30d": slo.budget * SLO_PERIOD_S / 60.0,
                "requests_per_s_planned": f.rate,
                "budget_requests_30d": slo.budget * f.rate * SLO_PERIOD_S,
                "predicted_bad_fraction": bad,
                "burn_rate": None if bad is None else bad / slo.budget,
                "burn_rate_worst_case": None if worst is None else worst / slo.budget,
                "basis": basis,
            }
        )
    return rows


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:.6g}"
    return str(value)


def error_budget_csv(rows: list[dict[str, Any]]) -> str:
    """The CSV text (numbers to 6 significant digits, empty where not modelled)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(COLUMNS)
    for row in rows:
        writer.writerow([_cell(row[c]) for c in COLUMNS])
    return buffer.getvalue()
