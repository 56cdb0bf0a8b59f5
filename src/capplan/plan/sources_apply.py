"""Hand what a plan file's ``sources:`` measured to the plan: evidence, mix, load, pod memory.

:func:`with_sources` is the plan-file loader's one hook (:func:`capplan.plan.inputs.load_plan_inputs`):

* the service-time evidence the queries gave joins the ``evidence:`` section's (a class may be in
  one of them, not both);
* the measured request rates set the ``mix`` (each class's share of their sum) when the plan file
  states none and every class with evidence has a rate - a stated mix wins;
* ``load: measured`` sizes for the measured rates themselves: the SLA's throughput target gains a
  level ``measured`` equal to their sum (with the mix above, each class gets its own rate);
* the peak ``memory_per_pod`` becomes the pod memory when the plan file has no ``memory:``
  section (the largest over the classes, spread evenly over the workers of a replica).
"""

from __future__ import annotations

import dataclasses
import inspect
from collections.abc import Mapping
from typing import Any

from capplan.plan.build import plan
from capplan.plan.evidence import ServiceEvidence
from capplan.plan.memory import PodMemory
from capplan.plan.provenance import Provenance
from capplan.plan.sources import Sources, parse_sources
from capplan.plan.sources_pull import Pulled, pull
from capplan.sla import SLA, ThroughputTarget

__all__ = ["MEASURED", "with_sources"]

#: The load level ``load: measured`` adds to the SLA's throughput target.
MEASURED = "measured"
_DEFAULTS = {k: p.default for k, p in inspect.signature(plan).parameters.items()}


def with_sources(
    data: Any,
    label: str,
    sla: SLA,
    evidence: list[ServiceEvidence],
    options: dict[str, Any],
    *,
    environ: Mapping[str, str] | None = None,
) -> tuple[SLA, list[ServiceEvidence], dict[str, Any], tuple[Provenance, ...]]:
    """Parse and pull the ``sources`` mapping ``data`` of the plan file ``label``; the SLA, evidence
    and plan options with the measurements applied, and the provenance of every measured number."""
    sources = parse_sources(data, label)
    pulled = pull(sources, environ=environ)
    both = sorted({e.op_class for e in evidence} & {e.op_class for e in pulled.evidence})
    if both:
        raise sources.fail("classes", f"{both} also have evidence in capacity_plan.evidence; give one")
    evidence = [*evidence, *pulled.evidence]
    options = dict(options)
    classes = [e.op_class for e in evidence]
    covered = bool(classes) and all(c in pulled.rates for c in classes)
    if "mix" not in options and covered:
        options["mix"] = _mix(sources, pulled, classes)
    if options.get("load") == MEASURED:
        sla = _measured_level(sources, sla, pulled, classes, options)
    if "memory" not in options and pulled.memory:
        options["memory"] = _memory(pulled, options)
    return sla, evidence, options, pulled.provenance


def _mix(sources: Sources, pulled: Pulled, classes: list[str]) -> dict[str, float]:
    total = sum(pulled.rates[c] for c in classes)
    zero = [c for c in classes if not pulled.rates[c] > 0]
    if zero:
        raise sources.fail("classes", f"measured request rate 0 for {zero}: no mix can be derived")
    return {c: pulled.rates[c] / total for c in classes}


def _measured_level(
    sources: Sources, sla: SLA, pulled: Pulled, classes: list[str], options: dict[str, Any]
) -> SLA:
    missing = [c for c in classes if c not in pulled.rates]
    if missing:
        raise sources.fail("classes", f"load: {MEASURED} needs a request_rate query for {missing}")
    name = str(options.get("throughput", _DEFAULTS["throughput"]))
    if any(t.name == name and t.kind == MEASURED for t in sla.throughput_targets):
        raise sources.fail(
            "classes", f"the SLA's throughput target {name!r} already has a level {MEASURED!r}"
        )
    total = sum(pulled.rates[c] for c in classes)
    level = ThroughputTarget(name, MEASURED, total)
    return dataclasses.replace(sla, throughput_targets=(*sla.throughput_targets, level))


def _memory(pulled: Pulled, options: dict[str, Any]) -> PodMemory:
    op_class, peak = max(pulled.memory.items(), key=lambda item: item[1])
    workers = int(options.get("workers", _DEFAULTS["workers"]))
    record = next(p for p in pulled.provenance if p.op_class == op_class and p.quantity == "memory_per_pod")
    source = (
        f"Prometheus {record.source}: {record.statistic} of {record.query!r}, split over {workers} workers"
    )
    return PodMemory(per_worker=peak / workers, source=source)
