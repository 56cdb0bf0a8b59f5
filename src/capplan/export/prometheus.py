"""``prometheus-rules.yaml``: SLO recording rules, burn-rate alerts and capacity alerts of a plan.

For every SLO (:mod:`capplan.export.slo`) one recording rule per window records the bad fraction
of requests, ``slo:sli_error:ratio_rate<window>{slo, op_class}``:

* latency, through the histogram's cumulative buckets:
  ``1 - sum(rate(<histogram>_bucket{job, le="<target>"}[w])) / sum(rate(<histogram>_count{job}[w]))``;
* request ratios, through the counter's status-code label:
  ``sum(rate(<counter>{job, code=~"<bad>"}[w])) / sum(rate(<counter>{job}[w]))`` (0, not absent,
  while there is traffic and no bad request).

Two alerts per SLO, ``page`` and ``ticket``, each the ``or`` of its two conditions of
:data:`capplan.export.slo.BURN_WINDOWS` (the workbook's final example); ``max by (slo, op_class)``
drops the recorded metric's name so both conditions give one alert.  A Deployment's recording
rules and alerts are one group, recording rules first: rules of a group run in order, so the
alerts read the ratios of the same evaluation (groups run independently, and an alert in another
group would see them one evaluation late).

Capacity alerts per Deployment (``ticket``):

* ``CapacityUtilizationAbovePlan``: CPU used over CPU requested (cAdvisor's
  ``container_cpu_usage_seconds_total`` over kube-state-metrics'
  ``kube_pod_container_resource_requests``) above the plan's utilization target for 15 minutes.
  The exported CPU request is one core per worker, so this is the plan's worker utilization.
* ``CapacityHeadroomBelowPlan``: the replicas the current traffic needs at the utilization
  target (``rate x mean service time / (workers x target)``, the plan's model) exceed the
  available replicas less the largest loss the plan survives (N+k or a zone), for 10 minutes.

A ``le`` label prints a whole number as ``1`` from Go clients and ``1.0`` from the Python
client (Prometheus 2 keeps it as scraped), so whole-second bounds match both spellings.
"""

from __future__ import annotations

from typing import Any

from capplan.export._yaml import comment_block, dump_yaml
from capplan.export.options import ExportOptions
from capplan.export.slo import SLO, BurnWindow, ClassFacts, window_seconds

__all__ = ["RECORD_PREFIX", "bucket_for", "le_matcher", "prometheus_alerts", "prometheus_rules"]

#: Recorded series: ``slo:sli_error:ratio_rate<window>``.
RECORD_PREFIX = "slo:sli_error:ratio_rate"
_UTILIZATION_FOR = "15m"
_HEADROOM_FOR = "10m"


def le_matcher(bound: float) -> str:
    """The ``le`` matcher of one bucket bound (``le="0.2"``; whole numbers ``le=~"1|1.0"``)."""
    if float(bound).is_integer():
        whole = int(bound)
        return f'le=~"{whole}|{whole}.0"'
    return f'le="{float(bound)!r}"'


def bucket_for(target: float, buckets: tuple[float, ...] | None) -> float | None:
    """The bucket bound that watches a latency target: the target itself, or with ``buckets``
    the largest bound at or below it (None when every bound is above it)."""
    if buckets is None:
        return target
    below = [b for b in buckets if b <= target * (1 + 1e-12)]
    return max(below) if below else None


def _ratio(slo: SLO, bound: float | None, opts: ExportOptions, window: str) -> str:
    sel = opts.selector(slo.op_class)
    if slo.threshold_s is not None:
        hist = opts.duration_metric
        return (
            f"1 - (\n  sum(rate({hist}_bucket{{{sel},{le_matcher(float(bound or 0))}}}[{window}]))\n"
            f"/\n  sum(rate({hist}_count{{{sel}}}[{window}]))\n)"
        )
    counter, all_requests = opts.requests_metric, f"sum(rate({opts.requests_metric}{{{sel}}}[{window}]))"
    bad = f'sum(rate({counter}{{{sel},{opts.code_label}=~"{slo.bad_codes}"}}[{window}]))'
    return f"(\n  {bad}\n  or\n  0 * {all_requests}\n)\n/\n{all_requests}"


def _labels(slo: SLO) -> dict[str, str]:
    return {"slo": slo.name, "op_class": slo.op_class}


def _series(slo: SLO, window: str) -> str:
    return f'{RECORD_PREFIX}{window}{{slo="{slo.name}",op_class="{slo.op_class}"}}'


def _condition(slo: SLO, w: BurnWindow) -> str:
    threshold = f"({w.burn_rate:g} * {slo.budget:g})"
    parts = [f"max by (slo, op_class) ({_series(slo, win)} > {threshold})" for win in (w.long, w.short)]
    return "(\n  " + "\n  and\n  ".join(parts) + "\n)"


def _alert(slo: SLO, severity: str, windows: list[BurnWindow]) -> dict[str, Any]:
    chosen = [w for w in windows if w.severity == severity]
    conditions = "; ".join(f"{w.describe()} ({w.budget_consumed:.0%} of the budget)" for w in chosen)
    return {
        "alert": "SLOErrorBudgetBurn",
        "expr": "\nor\n".join(_condition(slo, w) for w in chosen),
        "labels": {"severity": severity, **_labels(slo)},
        "annotations": {
            "summary": f"{slo.op_class} {slo.name}: the error budget burns too fast ({severity})",
            "description": (
                f"SLO: {slo.describe()} (error budget {slo.budget:g}). Burn rate above {conditions}."
            ),
        },
    }


def _slo_rules(
    slo: SLO, opts: ExportOptions, notes: list[str]
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Recording rules and alerts of one SLO (either may be empty, with a note saying why)."""
    bound = bucket_for(slo.threshold_s, opts.buckets) if slo.threshold_s is not None else None
    if slo.threshold_s is not None:
        if bound is None:
            notes.append(
                f"{slo.op_class} {slo.name}: no histogram bucket at or below {slo.threshold_s:g} s; "
                "no rule watches this target"
            )
            return [], []
        if bound < slo.threshold_s:
            notes.append(
                f"{slo.op_class} {slo.name}: no bucket at {slo.threshold_s:g} s; watched at le={bound:g} "
                "(stricter than the target)"
            )
    usable, left_out = slo.windows()
    if left_out:
        notes.append(
            f"{slo.op_class} {slo.name}: budget {slo.budget:g} makes "
            f"{', '.join(w.describe() for w in left_out)} unreachable (burn rate x budget >= 1); left out"
        )
    needed = sorted({win for w in usable for win in (w.long, w.short)}, key=window_seconds)
    records: list[dict[str, Any]] = [
        {"record": f"{RECORD_PREFIX}{win}", "expr": _ratio(slo, bound, opts, win), "labels": _labels(slo)}
        for win in needed
    ]
    alerts = [
        _alert(slo, severity, usable)
        for severity in ("page", "ticket")
        if any(w.severity == severity for w in usable)
    ]
    return records, alerts


def prometheus_alerts(slos: list[SLO], opts: ExportOptions) -> list[dict[str, Any]]:
    """The ``SLOErrorBudgetBurn`` alerting rules of ``slos``, as written in the rules file."""
    alerts: list[dict[str, Any]] = []
    for slo in slos:
        alerts += _slo_rules(slo, opts, [])[1]
    return alerts


def _pod_matchers(f: ClassFacts, opts: ExportOptions) -> str:
    deployment = opts.deployment(f.op_class)
    ns = f'namespace="{opts.namespace}",' if opts.namespace else ""
    return f'{ns}container="{opts.container(f.op_class)}",pod=~"{deployment}-[a-z0-9]+-[a-z0-9]+"'


def _capacity_alerts(f: ClassFacts, opts: ExportOptions, max_utilization: float) -> list[object]:
    pods = _pod_matchers(f, opts)
    deployment = opts.deployment(f.op_class)
    ns = f'namespace="{opts.namespace}",' if opts.namespace else ""
    lost = f.sizing.replicas - f.fewest_up
    service = f.evidence.mean_s
    labels = {"severity": "ticket", "op_class": f.op_class, "deployment": deployment}
    utilization = {
        "alert": "CapacityUtilizationAbovePlan",
        "expr": (
            f"sum(rate(container_cpu_usage_seconds_total{{{pods}}}[5m]))\n/\n"
            f'sum(kube_pod_container_resource_requests{{{pods},resource="cpu"}})\n> {max_utilization:g}'
        ),
        "for": _UTILIZATION_FOR,
        "labels": labels,
        "annotations": {
            "summary": f"{deployment}: CPU above the plan's {max_utilization:.0%} of requests",
            "description": (
                f"The plan keeps {f.op_class} at or under {max_utilization:.0%} utilization of its "
                f"{f.workers} workers per pod, also after failures; CPU use has been above it for "
                f"{_UTILIZATION_FOR}. Requests slow down or the service time grew: re-plan."
            ),
        },
    }
    needed = (
        f"sum(rate({opts.requests_metric}{{{opts.selector(f.op_class)}}}[5m])) * {service:.6g}\n"
        f"/ ({f.workers} * {max_utilization:g})"
    )
    available = f'sum(kube_deployment_status_replicas_available{{{ns}deployment="{deployment}"}})'
    headroom = {
        "alert": "CapacityHeadroomBelowPlan",
        "expr": f"{needed}\n> {available} - {lost}",
        "for": _HEADROOM_FOR,
        "labels": labels,
        "annotations": {
            "summary": f"{deployment}: losing {lost} replicas would push it past {max_utilization:.0%}",
            "description": (
                f"The current traffic needs more replicas at {max_utilization:.0%} utilization "
                f"({service * 1e3:.4g} ms per request on {f.workers} workers) than remain after the "
                f"largest loss the plan survives ({lost} of {f.sizing.replicas} replicas)."
            ),
        },
    }
    return [utilization, headroom]


def prometheus_rules(
    slos: list[SLO], facts: list[ClassFacts], opts: ExportOptions, max_utilization: float
) -> tuple[str, list[str]]:
    """The rules file's text and notes (targets watched at a lower bucket, windows left out)."""
    notes: list[str] = []
    groups: list[dict[str, object]] = []
    for f in facts:
        records: list[dict[str, Any]] = []
        alerts: list[dict[str, Any]] = []
        for slo in (s for s in slos if s.op_class == f.op_class):
            rec, alert = _slo_rules(slo, opts, notes)
            records += rec
            alerts += alert
        if records:  # one group: its alerts read the ratios recorded at the same evaluation
            groups.append({"name": f"capplan-slo-{opts.deployment(f.op_class)}", "rules": records + alerts})
    capacity = [a for f in facts for a in _capacity_alerts(f, opts, max_utilization)]
    if capacity:
        groups.append({"name": "capplan-capacity", "rules": capacity})
    header = _header(slos, opts)
    notes_block = comment_block(["Notes:", *(f"- {n}" for n in notes)]) if notes else ""
    return header + notes_block + "\n" + dump_yaml({"groups": groups}), notes


def _header(slos: list[SLO], opts: ExportOptions) -> str:
    bounds = sorted({s.threshold_s for s in slos if s.threshold_s is not None})
    lines = [
        "Prometheus rules written by capplan from a capacity plan: `promtool check rules` this file.",
        "SLOs over 30 days; multi-window, multi-burn-rate alerts as in the Google SRE Workbook, ch. 5",
        '"Alerting on SLOs" (page: 14.4x over 1h and 5m, 6x over 6h and 30m; ticket: 3x over 1d and 2h,',
        "1x over 3d and 6h). Burn rate = bad fraction / error budget.",
        f"Requests: {opts.requests_metric}{{{opts.job_label}, {opts.code_label}}}; latency: "
        f"{opts.duration_metric} (seconds).",
    ]
    if opts.buckets is None and bounds:
        listed = ", ".join(f"{b:g}" for b in bounds)
        lines.append(f"The histogram must have buckets at the latency targets: le = {listed}.")
    elif opts.buckets is not None:
        lines.append(f"Histogram buckets: le = {', '.join(f'{b:g}' for b in opts.buckets)}.")
    return comment_block(lines)
