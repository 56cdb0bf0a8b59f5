"""The schema of an ``autoscaling/v2`` HorizontalPodAutoscaler manifest (what :func:`load_hpa` reads).

Fields and rules follow the Kubernetes API (``k8s.io/api/autoscaling/v2`` types and
``pkg/apis/autoscaling/validation``): ``minReplicas >= 1``, policy ``value > 0``,
``0 < periodSeconds <= 1800``, ``0 <= stabilizationWindowSeconds <= 3600``.  Unknown keys are
errors (``minReplica``, ``stabilisationWindowSeconds``), as ``kubectl apply --validate=strict``
makes them.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from capplan.schema._types import Range, absent, integer, quantity
from capplan.schema.limits import MAX_PERIOD_SECONDS, MAX_REPLICAS, MAX_WINDOW_SECONDS

__all__ = ["HPAManifest", "HPASpec", "MetricSpec", "ScalingPolicy", "ScalingRules"]

_QUANTITY = Range(0.0, 1e18, low_open=True)


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ObjectMeta(_Strict):
    """``metadata``: only ``name`` is read; the keys the cluster writes are allowed, not checked."""

    name: str | None = absent(description="The HPA's name (default: 'hpa').")
    generateName: str | None = None
    namespace: str | None = None
    labels: dict[str, str] | None = None
    annotations: dict[str, str] | None = None
    uid: Any = None
    resourceVersion: Any = None
    generation: Any = None
    creationTimestamp: Any = None
    deletionTimestamp: Any = None
    deletionGracePeriodSeconds: Any = None
    ownerReferences: Any = None
    finalizers: Any = None
    managedFields: Any = None
    selfLink: Any = None


class CrossVersionObjectReference(_Strict):
    """``spec.scaleTargetRef``: the workload the HPA scales (not read by capplan)."""

    kind: str = Field(description="Kind of the target, e.g. Deployment.")
    name: str = Field(description="Name of the target.")
    apiVersion: str | None = absent(description="API version of the target, e.g. apps/v1.")


class MetricIdentifier(_Strict):
    """``metric`` of a Pods, Object or External metric."""

    name: str = Field(min_length=1, description="The metric's name.")
    selector: dict[str, Any] | None = absent(description="A label selector (not read by capplan).")


class MetricTarget(_Strict):
    """``target``: the value the controller holds the metric at."""

    type: Literal["Utilization", "AverageValue", "Value"] = Field(description="What the target is.")
    averageUtilization: Annotated[
        int | None,
        integer(
            1, 10_000, "Percent of the pods' resource request (70 means 70%), for Utilization.", strict=True
        ),
    ] = None
    averageValue: Annotated[
        float | None, quantity(_QUANTITY, "Per-pod average of the metric, for AverageValue.")
    ] = None
    value: Annotated[float | None, quantity(_QUANTITY, "Value of the metric, for Value.")] = None


class ResourceMetricSource(_Strict):
    """``resource`` (or ``containerResource``): a resource of the pods' containers."""

    name: str = Field(min_length=1, description="The resource: cpu or memory.")
    target: MetricTarget
    container: str | None = absent(description="The container, for ContainerResource metrics.")


class PodsMetricSource(_Strict):
    """``pods``: a metric averaged over the pods."""

    metric: MetricIdentifier
    target: MetricTarget


class ObjectMetricSource(_Strict):
    """``object``: a metric of another Kubernetes object."""

    metric: MetricIdentifier
    target: MetricTarget
    describedObject: CrossVersionObjectReference


class ExternalMetricSource(_Strict):
    """``external``: a metric from outside the cluster."""

    metric: MetricIdentifier
    target: MetricTarget


class MetricSpec(_Strict):
    """One entry of ``spec.metrics``: ``type`` and the section of that type."""

    type: Literal["Resource", "ContainerResource", "Pods", "Object", "External"]
    resource: ResourceMetricSource | None = None
    containerResource: ResourceMetricSource | None = None
    pods: PodsMetricSource | None = None
    object: ObjectMetricSource | None = None
    external: ExternalMetricSource | None = None


class ScalingPolicy(_Strict):
    """A policy of ``behavior.scaleUp`` / ``scaleDown``: at most ``value`` pods or percent per period."""

    type: Literal["Pods", "Percent"]
    value: Annotated[int, integer(1, 100_000, "Pods, or percent of the current replicas.", strict=True)]
    periodSeconds: Annotated[
        int,
        integer(
            1, MAX_PERIOD_SECONDS, "The window the policy's change is counted over, seconds.", strict=True
        ),
    ]


class ScalingRules(_Strict):
    """``behavior.scaleUp`` or ``behavior.scaleDown``; a field left out takes the API default."""

    stabilizationWindowSeconds: Annotated[
        int | None,
        integer(
            0, MAX_WINDOW_SECONDS, "Seconds of past recommendations the controller considers.", strict=True
        ),
    ] = None
    selectPolicy: Literal["Max", "Min", "Disabled"] | None = absent(
        description="Which policy wins: the one allowing the biggest (Max) or smallest change."
    )
    policies: list[ScalingPolicy] | None = absent(min_length=1)


class Behavior(_Strict):
    """``spec.behavior``: scaling rules per direction."""

    scaleUp: ScalingRules | None = None
    scaleDown: ScalingRules | None = None


class HPASpec(_Strict):
    """``spec`` of the HorizontalPodAutoscaler."""

    scaleTargetRef: CrossVersionObjectReference
    minReplicas: Annotated[
        int | None, integer(1, MAX_REPLICAS, "Fewest replicas (default 1).", strict=True)
    ] = None
    maxReplicas: Annotated[int, integer(1, MAX_REPLICAS, "Most replicas.", strict=True)]
    metrics: list[MetricSpec] | None = absent(
        description="What the controller scales on (default: CPU at 80% utilization)."
    )
    behavior: Behavior | None = None


class HPAManifest(_Strict):
    """An ``autoscaling/v2`` HorizontalPodAutoscaler manifest, as ``capplan`` reads it."""

    model_config = ConfigDict(extra="forbid", frozen=True, title="HorizontalPodAutoscaler (autoscaling/v2)")

    apiVersion: Literal["autoscaling/v2"]
    kind: Literal["HorizontalPodAutoscaler"]
    metadata: ObjectMeta | None = None
    spec: HPASpec
    status: dict[str, Any] | None = absent(description="Written by the cluster; not read.")
