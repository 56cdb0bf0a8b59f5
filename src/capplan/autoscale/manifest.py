"""Read an ``autoscaling/v2`` HorizontalPodAutoscaler manifest into plain, validated numbers.

The defaults are those the Kubernetes API server fills in (``pkg/apis/autoscaling/v2/defaults.go``):
``minReplicas`` 1; no ``metrics`` means CPU at 80% utilization; a ``behavior`` whose ``scaleUp``
or ``scaleDown`` (or a field of one) is omitted gets the default rules -- scale up by at most
``max(4 pods, 100%)`` per 15 s with no stabilization, scale down by up to 100% per 15 s after the
controller's 300 s downscale stabilization window.  A manifest *without* ``behavior`` keeps the
legacy rules of :func:`capplan.autoscale.controller.hpa_sync` (``behavior=None``).

The validation follows ``pkg/apis/autoscaling/validation``: ``minReplicas >= 1``,
``maxReplicas >= minReplicas``, policy ``value > 0`` and ``0 < periodSeconds <= 1800``,
``0 <= stabilizationWindowSeconds <= 3600``, ``selectPolicy`` one of Max/Min/Disabled, and each
metric's target type matching its metric type.  Errors name the file and the field path, e.g.
``hpa.yaml: spec.behavior.scaleDown.policies[1].periodSeconds: must be > 0, got 0``.
"""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from capplan._sources import read_text_source
from capplan._yaml_input import load_yaml
from capplan.errors import ParameterError
from capplan.schema.limits import MAX_PERIOD_SECONDS, MAX_WINDOW_SECONDS

if TYPE_CHECKING:
    from capplan.schema import hpa as schema

__all__ = [
    "DEFAULT_SCALE_DOWN",
    "DEFAULT_SCALE_UP",
    "HPA",
    "Behavior",
    "ManifestError",
    "MetricSpec",
    "ScalingPolicy",
    "ScalingRules",
    "load_hpa",
]

METRIC_TYPES = ("Resource", "ContainerResource", "Pods", "Object", "External")
TARGET_TYPES = ("Utilization", "AverageValue", "Value")
SELECT_POLICIES = ("Max", "Min", "Disabled")
POLICY_TYPES = ("Pods", "Percent")
_ALLOWED_TARGETS = {
    "Resource": ("Utilization", "AverageValue"),
    "ContainerResource": ("Utilization", "AverageValue"),
    "Pods": ("AverageValue",),
    "Object": ("Value", "AverageValue"),
    "External": ("Value", "AverageValue"),
}
_TARGET_FIELD = {"Utilization": "averageUtilization", "AverageValue": "averageValue", "Value": "value"}


class ManifestError(ParameterError):
    """A HorizontalPodAutoscaler manifest is malformed; the message names the file and field path."""


@dataclass(frozen=True)
class MetricSpec:
    """One entry of ``spec.metrics``.

    ``target`` is a percentage of the pods' request for ``Utilization`` (70 means 70%), otherwise
    the quantity in SI units (``"200m"`` is 0.2).  ``name`` is the resource (``cpu``, ``memory``)
    for Resource metrics, the metric name otherwise.
    """

    type: str
    name: str
    target_type: str
    target: float


@dataclass(frozen=True)
class ScalingPolicy:
    """``type`` Pods or Percent, ``value`` pods or percent allowed per ``period_seconds``."""

    type: str
    value: int
    period_seconds: int


@dataclass(frozen=True)
class ScalingRules:
    """One direction of ``spec.behavior``.

    ``stabilization_window_seconds`` is None for scale-down when the manifest leaves it out: the
    controller then uses its ``--horizontal-pod-autoscaler-downscale-stabilization`` (300 s).
    """

    stabilization_window_seconds: int | None
    select_policy: str
    policies: tuple[ScalingPolicy, ...]


# pkg/apis/autoscaling/v2/defaults.go: scale up by max(4 pods, 100%) per 15 s, no stabilization;
# scale down by up to 100% per 15 s, stabilization left to the controller flag.
DEFAULT_SCALE_UP = ScalingRules(0, "Max", (ScalingPolicy("Pods", 4, 15), ScalingPolicy("Percent", 100, 15)))
DEFAULT_SCALE_DOWN = ScalingRules(None, "Max", (ScalingPolicy("Percent", 100, 15),))


@dataclass(frozen=True)
class Behavior:
    """``spec.behavior`` with the API defaults filled in."""

    scale_up: ScalingRules = DEFAULT_SCALE_UP
    scale_down: ScalingRules = DEFAULT_SCALE_DOWN


@dataclass(frozen=True)
class HPA:
    """A validated HorizontalPodAutoscaler spec; ``behavior=None`` is the legacy (pre-v2beta2) rules."""

    name: str
    min_replicas: int
    max_replicas: int
    metrics: tuple[MetricSpec, ...]
    behavior: Behavior | None = None

    def __post_init__(self) -> None:
        validate_hpa(self)

    def replace(self, **changes: Any) -> HPA:
        """A copy with some fields changed (validated again)."""
        return dataclasses.replace(self, **changes)


def _err(label: str, path: str, message: str) -> ManifestError:
    return ManifestError(f"{label}: {path}: {message}")


def validate_hpa(hpa: HPA, label: str = "HPA") -> None:
    """Check the rules the API server enforces; raise :class:`ManifestError` naming the field."""
    if isinstance(hpa.min_replicas, bool) or not isinstance(hpa.min_replicas, int) or hpa.min_replicas < 1:
        raise _err(label, "spec.minReplicas", f"must be an integer >= 1, got {hpa.min_replicas!r}")
    if isinstance(hpa.max_replicas, bool) or not isinstance(hpa.max_replicas, int):
        raise _err(label, "spec.maxReplicas", f"must be an integer, got {hpa.max_replicas!r}")
    if hpa.max_replicas < hpa.min_replicas:
        raise _err(
            label,
            "spec.maxReplicas",
            f"must be >= minReplicas ({hpa.min_replicas}), got {hpa.max_replicas}",
        )
    if not hpa.metrics:
        raise _err(label, "spec.metrics", "no metrics: give at least one")
    for i, m in enumerate(hpa.metrics):
        path = f"spec.metrics[{i}]"
        if m.type not in METRIC_TYPES:
            raise _err(
                label, f"{path}.type", f"unknown metric type {m.type!r}; expected one of {METRIC_TYPES}"
            )
        if m.target_type not in _ALLOWED_TARGETS[m.type]:
            raise _err(
                label,
                f"{path}.target.type",
                f"{m.target_type!r} is not allowed for a {m.type} metric; expected one of "
                f"{_ALLOWED_TARGETS[m.type]}",
            )
        if not m.target > 0:
            raise _err(label, f"{path}.target", f"must be > 0, got {m.target!r}")
    if hpa.behavior is not None:
        for direction, rules in (("scaleUp", hpa.behavior.scale_up), ("scaleDown", hpa.behavior.scale_down)):
            _validate_rules(rules, label, f"spec.behavior.{direction}")


def _validate_rules(rules: ScalingRules, label: str, path: str) -> None:
    w = rules.stabilization_window_seconds
    if w is not None and not 0 <= w <= MAX_WINDOW_SECONDS:
        raise _err(
            label, f"{path}.stabilizationWindowSeconds", f"must be in [0, {MAX_WINDOW_SECONDS}], got {w}"
        )
    if rules.select_policy not in SELECT_POLICIES:
        raise _err(
            label, f"{path}.selectPolicy", f"must be one of {SELECT_POLICIES}, got {rules.select_policy!r}"
        )
    if not rules.policies:
        raise _err(label, f"{path}.policies", "must specify at least one policy")
    for j, p in enumerate(rules.policies):
        ppath = f"{path}.policies[{j}]"
        if p.type not in POLICY_TYPES:
            raise _err(label, f"{ppath}.type", f"must be Pods or Percent, got {p.type!r}")
        if p.value <= 0:
            raise _err(label, f"{ppath}.value", f"must be > 0, got {p.value}")
        if not 0 < p.period_seconds <= MAX_PERIOD_SECONDS:
            raise _err(
                label,
                f"{ppath}.periodSeconds",
                f"must be > 0 and <= {MAX_PERIOD_SECONDS}, got {p.period_seconds}",
            )


# ---------------------------------------------------------------------------------------------
# Parsing


def _looks_like_text(source: str) -> bool:
    return "\n" in source or source.lstrip().startswith(("apiVersion", "kind", "{"))


def load_hpa(source: str | os.PathLike[str]) -> HPA:
    """Read an ``autoscaling/v2`` HorizontalPodAutoscaler from a path or YAML text.

    Parameters
    ----------
    source : str or PathLike
        A file path, or the manifest's text.  The file is parsed by :func:`capplan._yaml_input.load_yaml`;
        a multi-document file must hold exactly one HorizontalPodAutoscaler.

    Returns
    -------
    HPA

    Raises
    ------
    ManifestError
        Naming the file and the field path of the first problem found.
    """
    label, text = read_text_source(
        source,
        is_text=_looks_like_text,
        caller="load_hpa",
        text_label="<HPA manifest text>",
        expects="a path or the text of an HPA manifest",
        what="an HPA manifest",
        error=ManifestError,
    )
    docs = load_yaml(text, label=label, error=ManifestError, multi=True)
    hpas = [d for d in docs if isinstance(d, dict) and d.get("kind") == "HorizontalPodAutoscaler"]
    if len(hpas) != 1:
        raise ManifestError(
            f"{label}: expected one kind: HorizontalPodAutoscaler document, found {len(hpas)}"
        )
    from capplan.schema.hpa import HPAManifest  # noqa: PLC0415
    from capplan.schema.validation import validate  # noqa: PLC0415 - pydantic loads only to read a manifest

    doc = validate(HPAManifest, hpas[0], label=label, error=ManifestError)
    spec = doc.spec
    name = (doc.metadata.name if doc.metadata is not None else None) or "hpa"
    min_r = spec.minReplicas if spec.minReplicas is not None else 1
    if spec.metrics is None:
        metrics: tuple[MetricSpec, ...] = (MetricSpec("Resource", "cpu", "Utilization", 80.0),)
    else:
        metrics = tuple(_metric(m, label, f"spec.metrics[{i}]") for i, m in enumerate(spec.metrics))
    behavior = None
    if spec.behavior is not None:
        behavior = Behavior(
            _rules(spec.behavior.scaleUp, DEFAULT_SCALE_UP),
            _rules(spec.behavior.scaleDown, DEFAULT_SCALE_DOWN),
        )
    hpa = object.__new__(HPA)  # validate with the file label before the dataclass check
    for field_name, value in (
        ("name", name),
        ("min_replicas", min_r),
        ("max_replicas", spec.maxReplicas),
        ("metrics", metrics),
        ("behavior", behavior),
    ):
        object.__setattr__(hpa, field_name, value)
    validate_hpa(hpa, label)
    return HPA(name, min_r, spec.maxReplicas, metrics, behavior)


def _metric(m: schema.MetricSpec, label: str, path: str) -> MetricSpec:
    """One metric: its section must match its type, and its target type the metric type."""
    key = m.type[0].lower() + m.type[1:]
    body: Any = getattr(m, key)
    if body is None:
        raise _err(label, f"{path}.{key}", f"is required for a {m.type} metric")
    name = body.name if m.type in ("Resource", "ContainerResource") else body.metric.name
    ttype = body.target.type
    if ttype not in _ALLOWED_TARGETS[m.type]:
        raise _err(
            label,
            f"{path}.{key}.target.type",
            f"{ttype!r} is not allowed for a {m.type} metric; expected one of {_ALLOWED_TARGETS[m.type]}",
        )
    field_name = _TARGET_FIELD[ttype]
    value = getattr(body.target, field_name)
    if value is None:
        raise _err(label, f"{path}.{key}.target.{field_name}", f"is required for a {ttype} target")
    return MetricSpec(m.type, name, ttype, float(value))


def _rules(rules: schema.ScalingRules | None, default: ScalingRules) -> ScalingRules:
    """One direction of ``behavior``, the API default for each field left out."""
    if rules is None:
        return default
    window = rules.stabilizationWindowSeconds
    policies = default.policies
    if rules.policies is not None:
        policies = tuple(ScalingPolicy(p.type, p.value, p.periodSeconds) for p in rules.policies)
    return ScalingRules(
        default.stabilization_window_seconds if window is None else window,
        rules.selectPolicy or default.select_policy,
        policies,
    )
