"""``service-deployment.yaml``: the one deployment of every class that the layered sizing decided.

When the plan sized the service as layers (:mod:`capplan.plan.service`: replicas x processes x
threads x connections per process), this file is a strategic-merge patch of that Deployment:

* ``spec.replicas``: the fleet the search chose (it met every class's targets with N+k and a zone
  lost; no autoscaler was sized for it);
* the container's **CPU** request and limit: the replica's cores, the capacity the model gave it
  and the one its 70%-style utilization ceiling is a fraction of;
* **memory**, when the plan states it: request = the footprint at the planned concurrency (mean busy
  workers, every replica up), limit = every worker busy, rounded up to whole MiB;
* the worker layout as the environment of a gunicorn-style server: ``WEB_CONCURRENCY`` (worker
  processes), ``GUNICORN_CMD_ARGS`` (``--workers P --threads T``), and ``DB_POOL_SIZE``
  (connections per process of the sized pool) for the application to read.

The Deployment is named after the plan's throughput target (``api_gateway`` -> ``api-gateway``),
or as :class:`~capplan.export.options.ExportOptions` ``deployments`` maps that name.
"""

from __future__ import annotations

from typing import Any

from capplan.export._yaml import comment_block, dump_yaml
from capplan.export.kubernetes import cpu_quantity, memory_quantity
from capplan.export.options import ExportOptions
from capplan.layered import ServiceSizing
from capplan.plan.model import CapacityPlan

__all__ = ["FILE", "service_deployment"]

FILE = "service-deployment.yaml"


def service_deployment(plan: CapacityPlan, options: ExportOptions) -> str | None:
    """The text of ``service-deployment.yaml``, or None when the plan has no layered sizing."""
    if plan.service is None or plan.service.sizing is None:
        return None
    s = plan.service.sizing
    lay = s.layout
    cpu = cpu_quantity(float(lay.cores))
    requests: dict[str, str] = {"cpu": cpu}
    limits: dict[str, str] = {"cpu": cpu}
    if s.memory_request is not None and s.memory_limit is not None:
        requests["memory"] = memory_quantity(s.memory_request)
        limits["memory"] = memory_quantity(s.memory_limit)
    env = [
        {"name": "WEB_CONCURRENCY", "value": str(lay.processes)},
        {"name": "GUNICORN_CMD_ARGS", "value": f"--workers {lay.processes} --threads {lay.threads}"},
    ]
    if lay.pool_size is not None:
        env.append({"name": "DB_POOL_SIZE", "value": str(lay.pool_size)})
    container = {
        "name": options.container(plan.throughput),
        "resources": {"requests": requests, "limits": limits},
        "env": env,
    }
    meta: dict[str, Any] = {"name": options.deployment(plan.throughput)}
    if options.namespace:
        meta["namespace"] = options.namespace
    doc = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": meta,
        "spec": {"replicas": s.replicas, "template": {"spec": {"containers": [container]}}},
    }
    return comment_block(_comments(s, meta["name"])) + dump_yaml(doc)


def _comments(s: ServiceSizing, name: str) -> list[str]:
    binding = "; ".join(f"{c}: {layer}" for c, layer in s.binding.items())
    limit = f" of {s.max_connections}" if s.max_connections is not None else ""
    lines = [
        f"Strategic-merge patch of Deployment {name!r}: one deployment serving every class",
        f"({', '.join(s.binding)}), sized on the layered service model.",
        f"{s.replicas} replicas x ({s.layout}); fewer would miss: {s.constraint}.",
        f"binding layer per class: {binding}.",
        f"client connections into PgBouncer: {s.connections}{limit}.",
    ]
    if s.memory_request is None:
        lines.append("memory: NOT SET - the plan states no memory per worker / per request.")
    else:
        lines.append(
            "memory: request = the footprint at the planned concurrency (all replicas up), "
            "limit = every worker busy; rounded up to MiB."
        )
    return lines
