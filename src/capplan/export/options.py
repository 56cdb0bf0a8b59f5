"""What the exported files need beyond the plan: names in the cluster and in Prometheus.

A plan knows operation classes; a cluster knows Deployments, containers and a namespace, and
Prometheus knows metric names, label selectors and histogram bucket bounds.  :class:`ExportOptions`
maps one onto the other, with defaults that follow common conventions:

* each operation class is a Deployment named after it (``critical_operations`` ->
  ``critical-operations``, a DNS-1123 name), whose container has the same name;
* its requests are counted by ``http_requests_total{job="<deployment>", code="<status>"}`` and
  timed by the histogram ``http_request_duration_seconds{job="<deployment>"}`` (the names the
  seed SLA's alert examples use; the demo service exports ``demo_requests_total`` and
  ``demo_request_duration_seconds``, with the bucket bounds of
  :data:`capplan.demo.endpoints.LATENCY_BUCKETS`).
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from capplan.errors import ParameterError

__all__ = ["ExportOptions", "dns_label"]

_DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
_METRIC_NAME = re.compile(r"^[a-zA-Z_:][a-zA-Z0-9_:]*$")
_LABEL_NAME = re.compile(r"^[a-zA-Z_][a-zA-Z0-9_]*$")


def dns_label(name: str, what: str = "name") -> str:
    """``name`` as a Kubernetes DNS-1123 label (``critical_operations`` -> ``critical-operations``).

    Raises :class:`ParameterError` when no such label can be made (empty, or over 63 characters).
    """
    label = re.sub(r"[^a-z0-9-]+", "-", name.lower()).strip("-")
    if not label or len(label) > 63 or not _DNS_LABEL.match(label):
        raise ParameterError(f"{what}: {name!r} does not make a Kubernetes name (DNS-1123 label)")
    return label


def _check(pattern: re.Pattern[str], what: str, value: str) -> str:
    if not pattern.match(value):
        raise ParameterError(f"{what}: {value!r} is not a valid Prometheus name")
    return value


@dataclass(frozen=True)
class ExportOptions:
    """Names and conventions of the exported files (see the module docstring for the defaults).

    Parameters
    ----------
    namespace : str, optional
        Kubernetes namespace of the Deployments (also a label matcher in the capacity alerts).
    deployments : mapping of str to str
        Deployment name per operation class.
    containers : mapping of str to str
        Container name per operation class (default: the Deployment's name).
    requests_metric, duration_metric : str
        The request counter (with a status-code label) and the latency histogram (seconds).
    code_label, job_label : str
        Label names of the status code and of the Deployment's scrape job.
    buckets : iterable of float, optional
        Upper bounds (seconds) of the latency histogram's buckets, when known.  A latency target
        without a bucket at exactly its value is then watched at the largest bound below it
        (stricter than the target; the rules file says so).  Without ``buckets`` the rules assume
        a bucket at every latency target and the file lists the bounds the service must export.
    """

    namespace: str | None = None
    deployments: Mapping[str, str] = field(default_factory=dict)
    containers: Mapping[str, str] = field(default_factory=dict)
    requests_metric: str = "http_requests_total"
    duration_metric: str = "http_request_duration_seconds"
    code_label: str = "code"
    job_label: str = "job"
    buckets: tuple[float, ...] | None = None

    def __post_init__(self) -> None:
        if self.namespace is not None:
            dns_label(self.namespace, "namespace")
            if self.namespace != dns_label(self.namespace):
                raise ParameterError(f"namespace: {self.namespace!r} is not a DNS-1123 label")
        for what, names in (("deployments", self.deployments), ("containers", self.containers)):
            for op_class, name in names.items():
                if name != dns_label(name, f"{what}[{op_class!r}]"):
                    raise ParameterError(f"{what}[{op_class!r}]: {name!r} is not a DNS-1123 label")
        _check(_METRIC_NAME, "requests_metric", self.requests_metric)
        _check(_METRIC_NAME, "duration_metric", self.duration_metric)
        _check(_LABEL_NAME, "code_label", self.code_label)
        _check(_LABEL_NAME, "job_label", self.job_label)
        if self.buckets is not None:
            bounds = tuple(sorted({float(b) for b in self.buckets if not math.isinf(float(b))}))
            if not bounds or any(not (math.isfinite(b) and b > 0) for b in bounds):
                raise ParameterError(f"buckets: need positive finite bucket bounds, got {self.buckets!r}")
            object.__setattr__(self, "buckets", bounds)

    @classmethod
    def make(
        cls,
        *,
        namespace: str | None = None,
        deployments: Mapping[str, str] | None = None,
        containers: Mapping[str, str] | None = None,
        buckets: Iterable[float] | None = None,
        **names: str,
    ) -> ExportOptions:
        """Build from keyword arguments (``None`` means the default)."""
        return cls(
            namespace=namespace,
            deployments=dict(deployments or {}),
            containers=dict(containers or {}),
            buckets=None if buckets is None else tuple(buckets),
            **names,
        )

    def deployment(self, op_class: str) -> str:
        """The Deployment of an operation class."""
        return self.deployments.get(op_class) or dns_label(op_class, f"operation class {op_class!r}")

    def container(self, op_class: str) -> str:
        """The container (in the Deployment's pod template) whose resources the plan sets."""
        return self.containers.get(op_class) or self.deployment(op_class)

    def selector(self, op_class: str) -> str:
        """The PromQL label matcher of the class's requests, e.g. ``job="critical-operations"``."""
        return f'{self.job_label}="{self.deployment(op_class)}"'
