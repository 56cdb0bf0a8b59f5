"""Service-level objectives of a plan, and the multi-window, multi-burn-rate alerting scheme.

Each operation class is a Deployment with its own SLOs, all over a 30-day window:

* one per latency target of the class: "a fraction ``q`` of requests complete within ``t``"
  (the SLA's ``p95: 200ms`` is 95% of requests within 200 ms; its error budget is 5%);
* one per availability target of the SLA the exports understand (:data:`REQUEST_SLIS`), each a
  ratio of bad requests by status code: ``uptime`` (99.99%: requests not answered 5xx),
  ``error_rate`` (< 0.1%: 5xx or 429, failed or shed) and ``timeout_rate`` (< 0.01%: 408 or 504).

Alerts follow the Google SRE Workbook, ch. 5 "Alerting on SLOs", section 6 "Multiwindow,
Multi-Burn-Rate Alerts" (Table 5-8 and the final Prometheus example): a *burn rate* is the bad
fraction divided by the error budget; an alert fires when the burn rate over a long window
**and** over a short window (1/12 of it) both exceed a threshold.  :data:`BURN_WINDOWS` is the
scheme exactly as the workbook's final example writes it:

=========  =========  ===========  ============  =====================================
severity   burn rate  long window  short window  budget consumed when it fires
=========  =========  ===========  ============  =====================================
page       14.4       1h           5m            2%  (14.4 x 1h / 30d)
page       6          6h           30m           5%
ticket     3          1d           2h            10%
ticket     1          3d           6h            10%
=========  =========  ===========  ============  =====================================

A threshold ``burn_rate x budget`` of 1 or more can never be exceeded by a ratio: for an
objective with a large budget (a p50 target has a 50% budget) those windows are left out, and the
rules file says which.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from capplan.autoscale import HPA
from capplan.plan.evidence import ServiceEvidence
from capplan.plan.model import CapacityPlan
from capplan.sizing.replicas import ReplicaSizing

__all__ = [
    "BURN_WINDOWS",
    "REQUEST_SLIS",
    "SLO",
    "SLO_PERIOD_S",
    "BurnWindow",
    "ClassFacts",
    "class_facts",
    "plan_slos",
    "window_seconds",
]

#: The SLO window: 30 days, in seconds.
SLO_PERIOD_S = 30 * 86400.0

#: The SLA's availability targets the exports turn into request-ratio SLOs:
#: ``{target name: (SLO name, regex of the status codes counted as bad, what a bad request is)}``.
REQUEST_SLIS: dict[str, tuple[str, str, str]] = {
    "uptime": ("availability", "5..", "answered with a 5xx status"),
    "error_rate": ("error-rate", "5..|429", "failed (5xx) or shed (429)"),
    "timeout_rate": ("timeout-rate", "408|504", "timed out (408 or 504)"),
}

_UNITS = {"m": 60.0, "h": 3600.0, "d": 86400.0}


def window_seconds(window: str) -> float:
    """Seconds of a window written like ``5m``, ``6h`` or ``3d``."""
    return float(window[:-1]) * _UNITS[window[-1]]


@dataclass(frozen=True)
class BurnWindow:
    """One alerting condition: burn rate over ``long`` and over ``short`` above ``burn_rate``."""

    severity: str
    burn_rate: float
    long: str
    short: str

    @property
    def budget_consumed(self) -> float:
        """Fraction of the 30-day budget spent when the long window first reaches the burn rate."""
        return self.burn_rate * window_seconds(self.long) / SLO_PERIOD_S

    def describe(self) -> str:
        """E.g. ``14.4x over 1h and 5m``."""
        return f"{self.burn_rate:g}x over {self.long} and {self.short}"


#: Google SRE Workbook ch. 5, the final multiwindow, multi-burn-rate example.
BURN_WINDOWS: tuple[BurnWindow, ...] = (
    BurnWindow("page", 14.4, "1h", "5m"),
    BurnWindow("page", 6.0, "6h", "30m"),
    BurnWindow("ticket", 3.0, "1d", "2h"),
    BurnWindow("ticket", 1.0, "3d", "6h"),
)


@dataclass(frozen=True)
class SLO:
    """One objective of one operation class over :data:`SLO_PERIOD_S`.

    ``threshold_s`` is set for a latency SLO (good: the request completes within it);
    ``bad_codes`` for a request-ratio SLO (bad: the status code matches the regex).
    """

    name: str
    op_class: str
    objective: float
    good: str
    threshold_s: float | None = None
    bad_codes: str | None = None

    @property
    def budget(self) -> float:
        """The error budget ``1 - objective`` (rounded to 12 digits: 1 - 0.9999 is 1e-4)."""
        return float(f"{1.0 - self.objective:.12g}")

    def windows(self) -> tuple[list[BurnWindow], list[BurnWindow]]:
        """The conditions that can fire (threshold below 1) and those left out."""
        usable = [w for w in BURN_WINDOWS if w.burn_rate * self.budget < 1.0]
        return usable, [w for w in BURN_WINDOWS if w not in usable]

    def describe(self) -> str:
        """E.g. ``95% of requests within 200 ms over 30 days``."""
        return f"{_percent(self.objective)} of requests {self.good} over 30 days"


def _percent(fraction: float) -> str:
    return f"{float(f'{fraction * 100:.10g}'):g}%"


@dataclass(frozen=True)
class ClassFacts:
    """What the exports need of one sized operation class of a plan."""

    op_class: str
    rate: float  # planned requests/s of the class
    replicas: int  # planned replicas (latency, failures and availability)
    workers: int
    evidence: ServiceEvidence
    sizing: ReplicaSizing
    hpa: HPA | None  # the HPA to deploy when this class autoscales

    @property
    def fewest_up(self) -> int:
        """Fewest replicas up in any failure scenario the plan checked (N+k, a zone lost)."""
        return min([self.sizing.replicas, *(int(v["replicas_up"]) for v in self.sizing.scenarios.values())])

    @property
    def worst_utilization(self) -> float:
        """Highest worker utilization in any scenario the plan checked."""
        return max([self.sizing.utilization, *(v["utilization"] for v in self.sizing.scenarios.values())])

    @property
    def max_replicas(self) -> int:
        """Most replicas the Deployment runs: the HPA's ``maxReplicas``, else the planned count."""
        return self.hpa.max_replicas if self.hpa is not None else self.replicas


def class_facts(plan: CapacityPlan) -> list[ClassFacts]:
    """The sized classes of ``plan``, in evidence order (classes no replica count fits are left out)."""
    summary = {str(r["class"]): r for r in plan.summary().to_dict(orient="records")}
    evidence = {e.op_class: e for e in plan.evidence}
    hpa_class = plan.autoscaling.op_class if plan.autoscaling is not None else None
    out = []
    for op_class, sizing in plan.replicas.items():
        hpa = plan.autoscaling.recommended_hpa() if plan.autoscaling and op_class == hpa_class else None
        out.append(
            ClassFacts(
                op_class,
                float(summary[op_class]["arrival_rate"]),
                int(summary[op_class]["replicas"]),
                plan.workers,
                evidence[op_class],
                sizing,
                hpa,
            )
        )
    return out


def plan_slos(plan: CapacityPlan, facts: list[ClassFacts]) -> tuple[list[SLO], list[str]]:
    """The SLOs of every sized class (latency targets, then the SLA's availability targets), and
    notes on what could not be turned into an SLO."""
    notes: list[str] = []
    targets = plan.sla.availability_targets if plan.sla is not None else ()
    if plan.sla is None:
        notes.append("the plan carries no SLA: availability SLOs left out (build it with capplan.plan)")
    for target in targets:
        if target.name not in REQUEST_SLIS:
            notes.append(f"availability target {target.name!r}: no request-based SLI known, left out")
    slos: list[SLO] = []
    for f in facts:
        for q, t in sorted(f.sizing.targets.items()):
            slos.append(SLO(f"latency-p{q * 100:g}", f.op_class, q, f"within {t * 1e3:g} ms", threshold_s=t))
        for target in targets:
            if target.name in REQUEST_SLIS:
                name, codes, what = REQUEST_SLIS[target.name]
                objective = target.value if target.bound == "min" else 1.0 - target.value
                if not 0.0 < objective < 1.0 or math.isnan(objective):
                    notes.append(f"availability target {target.name!r}: objective {objective!r} left out")
                    continue
                slos.append(SLO(name, f.op_class, objective, f"not {what}", bad_codes=codes))
    return slos, notes
