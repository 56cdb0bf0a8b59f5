"""``hpa.yaml`` and ``deployment-resources.yaml``: what Kubernetes runs for a plan.

``hpa.yaml`` is the plan's HorizontalPodAutoscaler (``autoscaling/v2``) as the plan recommends
it — the manifest the plan simulated, ``maxReplicas`` raised to the planned peak when lower — with
``scaleTargetRef`` pointing at the class's Deployment.  :func:`capplan.autoscale.load_hpa` reads
it back as the same :class:`~capplan.autoscale.HPA`.  Classes without an autoscaler in the plan get
a fixed ``spec.replicas`` in the patch instead.

``deployment-resources.yaml`` holds one strategic-merge patch per Deployment (several YAML
documents, as kustomize's ``patches:`` takes them), setting the container's resources:

* **CPU**: one core per worker, requested and limited.  The plan's replicas are ``c`` workers that
  each burn one core while busy (CPU-bound; the plan states this assumption), so its utilization
  target and the HPA's ``averageUtilization`` are fractions of exactly this request.  The planned
  load per pod (busy workers at the peak, all replicas up and in the worst failure scenario) is
  written beside it and stays under the target by construction.  The limit equals the request:
  a worker cannot use more than its core, and the pod gets the Guaranteed CPU share.
* **memory**, only when the plan states it (:class:`capplan.plan.PodMemory`): request = the
  footprint with the mean busy workers of the worst failure scenario in flight, limit = every
  worker busy; both rounded up to whole MiB.  Without it no memory is written, and the file says
  so rather than inventing a number.
"""

from __future__ import annotations

import math
from typing import Any

from capplan.autoscale import HPA, MetricSpec, ScalingRules
from capplan.errors import ParameterError
from capplan.export._yaml import comment_block, dump_yaml
from capplan.export.options import ExportOptions
from capplan.export.slo import ClassFacts
from capplan.plan.memory import PodMemory
from capplan.units import parse_quantity

__all__ = ["cpu_quantity", "deployment_patches", "hpa_manifests", "memory_quantity", "quantity"]

_MIB = 2**20
_MANAGED = {"app.kubernetes.io/managed-by": "capplan"}


def quantity(value: float) -> str:
    """A Kubernetes quantity that :func:`capplan.units.parse_quantity` reads back as ``value``
    exactly (``0.2`` -> ``"200m"``, ``5`` -> ``"5"``)."""
    for suffix, scale in (("", 1.0), ("m", 1e-3), ("u", 1e-6), ("n", 1e-9)):
        whole = round(value / scale)
        text = f"{whole}{suffix}"
        if abs(value / scale - whole) <= 1e-9 * max(1.0, abs(whole)) and parse_quantity(text) == value:
            return text
    text = repr(float(value))
    if "e" in text or parse_quantity(text) != value:
        raise ParameterError(f"quantity: {value!r} has no exact Kubernetes quantity")
    return text


def cpu_quantity(cores: float) -> str:
    """CPU as whole cores (``"8"``) or millicores rounded up (``"1500m"``)."""
    if float(cores).is_integer():
        return str(int(cores))
    return f"{math.ceil(cores * 1000 - 1e-9)}m"


def memory_quantity(size: float) -> str:
    """Bytes rounded up to whole MiB (``"316Mi"``)."""
    return f"{math.ceil(size / _MIB - 1e-9)}Mi"


def _target(m: MetricSpec) -> dict[str, Any]:
    if m.target_type == "Utilization":
        if not float(m.target).is_integer():
            raise ParameterError(f"HPA metric {m.name}: averageUtilization must be whole, got {m.target:g}")
        return {"type": "Utilization", "averageUtilization": int(m.target)}
    field_name = "averageValue" if m.target_type == "AverageValue" else "value"
    return {"type": m.target_type, field_name: quantity(m.target)}


def _metric(m: MetricSpec, container: str) -> dict[str, Any]:
    if m.type == "Object":
        raise ParameterError(
            f"HPA metric {m.name}: an Object metric's describedObject is not kept in the plan; "
            "write this metric by hand"
        )
    key = m.type[0].lower() + m.type[1:]
    if m.type == "Resource":
        body: dict[str, Any] = {"name": m.name, "target": _target(m)}
    elif m.type == "ContainerResource":
        body = {"name": m.name, "container": container, "target": _target(m)}
    else:
        body = {"metric": {"name": m.name}, "target": _target(m)}
    return {"type": m.type, key: body}


def _rules(rules: ScalingRules) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if rules.stabilization_window_seconds is not None:
        out["stabilizationWindowSeconds"] = rules.stabilization_window_seconds
    out["selectPolicy"] = rules.select_policy
    out["policies"] = [
        {"type": p.type, "value": p.value, "periodSeconds": p.period_seconds} for p in rules.policies
    ]
    return out


def _metadata(name: str, opts: ExportOptions, op_class: str) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": name}
    if opts.namespace:
        meta["namespace"] = opts.namespace
    meta["labels"] = dict(_MANAGED)
    meta["annotations"] = {"capplan/operation-class": op_class}
    return meta


def _hpa_document(hpa: HPA, f: ClassFacts, opts: ExportOptions) -> dict[str, Any]:
    spec: dict[str, Any] = {
        "scaleTargetRef": {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "name": opts.deployment(f.op_class),
        },
        "minReplicas": hpa.min_replicas,
        "maxReplicas": hpa.max_replicas,
        "metrics": [_metric(m, opts.container(f.op_class)) for m in hpa.metrics],
    }
    if hpa.behavior is not None:
        spec["behavior"] = {
            "scaleUp": _rules(hpa.behavior.scale_up),
            "scaleDown": _rules(hpa.behavior.scale_down),
        }
    return {
        "apiVersion": "autoscaling/v2",
        "kind": "HorizontalPodAutoscaler",
        "metadata": _metadata(hpa.name, opts, f.op_class),
        "spec": spec,
    }


def hpa_manifests(facts: list[ClassFacts], opts: ExportOptions) -> str | None:
    """The text of ``hpa.yaml``, or None when no class of the plan autoscales."""
    docs = []
    for f in facts:
        if f.hpa is None:
            continue
        lines = [
            f"{f.op_class}: the HPA the plan checked, as the plan recommends it.",
            f"Planned peak: {f.replicas} replicas; maxReplicas {f.hpa.max_replicas}, "
            f"minReplicas {f.hpa.min_replicas}.",
        ]
        docs.append(comment_block(lines) + dump_yaml(_hpa_document(f.hpa, f, opts)))
    if not docs:
        return None
    return "---\n".join(docs)


def _resources(f: ClassFacts, memory: PodMemory | None) -> dict[str, Any]:
    cpu = cpu_quantity(float(f.workers))
    requests: dict[str, str] = {"cpu": cpu}
    limits: dict[str, str] = {"cpu": cpu}
    if memory is not None:
        requests["memory"] = memory_quantity(memory.footprint(f.workers, f.worst_utilization * f.workers))
        limits["memory"] = memory_quantity(memory.footprint(f.workers, float(f.workers)))
    return {"requests": requests, "limits": limits}


def _patch_comments(
    f: ClassFacts, deployment: str, memory: PodMemory | None, max_utilization: float
) -> list[str]:
    busy_up = f.sizing.utilization * f.workers
    busy_worst = f.worst_utilization * f.workers
    lines = [
        f"{f.op_class}: strategic-merge patch of Deployment {deployment!r}: container resources.",
        f"CPU: one core per worker ({f.workers} workers, each CPU-bound while busy, as the plan assumes);",
        f"planned load per pod at the peak: {busy_up:.3g} cores with all {f.sizing.replicas} replicas up, "
        f"{busy_worst:.3g} in the worst failure case",
        f"(<= {max_utilization:.0%} of the request, the plan's utilization target).",
    ]
    if memory is None:
        lines.append(
            "memory: NOT SET - the plan states no memory per worker / per request "
            "(capacity_plan.memory in the plan file, or memory= in capplan.plan); none is invented."
        )
    else:
        lines += [
            f"memory: {memory.describe()};",
            f"request = {busy_worst:.3g} requests in flight (mean busy workers, worst failure case), "
            f"limit = all {f.workers} workers busy; rounded up to MiB.",
        ]
    if f.hpa is None:
        lines.append(
            f"replicas: fixed at the planned {f.replicas} (no autoscaler in the plan for this class)."
        )
    else:
        lines.append(f"replicas: left to HorizontalPodAutoscaler {f.hpa.name!r} (hpa.yaml).")
    return lines


def deployment_patches(
    facts: list[ClassFacts], opts: ExportOptions, memory: PodMemory | None, max_utilization: float
) -> str:
    """The text of ``deployment-resources.yaml``: one patch document per Deployment."""
    docs = []
    for f in facts:
        name = opts.deployment(f.op_class)
        spec: dict[str, Any] = {}
        if f.hpa is None:
            spec["replicas"] = f.replicas
        container = {"name": opts.container(f.op_class), "resources": _resources(f, memory)}
        spec["template"] = {"spec": {"containers": [container]}}
        meta: dict[str, Any] = {"name": name}
        if opts.namespace:
            meta["namespace"] = opts.namespace
        doc = {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": meta, "spec": spec}
        docs.append(comment_block(_patch_comments(f, name, memory, max_utilization)) + dump_yaml(doc))
    return "---\n".join(docs)
