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
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from capplan._sources import read_text_source
from capplan._yaml_input import load_yaml
from capplan.errors import ParameterError, UnitError
from capplan.units import parse_quantity

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
_MAX_PERIOD = 1800
_MAX_WINDOW = 3600


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
    if w is not None and not 0 <= w <= _MAX_WINDOW:
        raise _err(label, f"{path}.stabilizationWindowSeconds", f"must be in [0, {_MAX_WINDOW}], got {w}")
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
        if not 0 < p.period_seconds <= _MAX_PERIOD:
            raise _err(
                label, f"{ppath}.periodSeconds", f"must be > 0 and <= {_MAX_PERIOD}, got {p.period_seconds}"
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
    doc = hpas[0]
    api = doc.get("apiVersion")
    if api != "autoscaling/v2":
        raise _err(label, "apiVersion", f"expected 'autoscaling/v2', got {api!r}")
    spec = _mapping(doc.get("spec"), label, "spec")
    name = str(_mapping(doc.get("metadata", {}), label, "metadata").get("name", "hpa"))
    min_r = _int(spec.get("minReplicas", 1), label, "spec.minReplicas")
    if "maxReplicas" not in spec:
        raise _err(label, "spec.maxReplicas", "is required")
    max_r = _int(spec["maxReplicas"], label, "spec.maxReplicas")
    raw_metrics = spec.get("metrics")
    if raw_metrics is None:
        metrics: tuple[MetricSpec, ...] = (MetricSpec("Resource", "cpu", "Utilization", 80.0),)
    else:
        if not isinstance(raw_metrics, list):
            raise _err(label, "spec.metrics", f"must be a list, got {type(raw_metrics).__name__}")
        metrics = tuple(_metric(m, label, f"spec.metrics[{i}]") for i, m in enumerate(raw_metrics))
    behavior = None
    if spec.get("behavior") is not None:
        b = _mapping(spec["behavior"], label, "spec.behavior")
        behavior = Behavior(
            _rules(b.get("scaleUp"), DEFAULT_SCALE_UP, label, "spec.behavior.scaleUp"),
            _rules(b.get("scaleDown"), DEFAULT_SCALE_DOWN, label, "spec.behavior.scaleDown"),
        )
    hpa = object.__new__(HPA)  # validate with the file label before the dataclass check
    for field_name, value in (
        ("name", name),
        ("min_replicas", min_r),
        ("max_replicas", max_r),
        ("metrics", metrics),
        ("behavior", behavior),
    ):
        object.__setattr__(hpa, field_name, value)
    validate_hpa(hpa, label)
    return HPA(name, min_r, max_r, metrics, behavior)


def _mapping(value: Any, label: str, path: str) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise _err(label, path, f"must be a mapping, got {type(value).__name__}")
    return value


def _int(value: Any, label: str, path: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise _err(label, path, f"must be an integer, got {value!r}")
    return value


def _metric(raw: Any, label: str, path: str) -> MetricSpec:
    m = _mapping(raw, label, path)
    mtype = m.get("type")
    if mtype not in METRIC_TYPES:
        raise _err(label, f"{path}.type", f"unknown metric type {mtype!r}; expected one of {METRIC_TYPES}")
    key = mtype[0].lower() + mtype[1:]
    body = _mapping(m.get(key), label, f"{path}.{key}")
    if mtype in ("Resource", "ContainerResource"):
        name = body.get("name")
    else:
        name = _mapping(body.get("metric"), label, f"{path}.{key}.metric").get("name")
    if not isinstance(name, str) or not name:
        where = (
            f"{path}.{key}.name"
            if mtype in ("Resource", "ContainerResource")
            else f"{path}.{key}.metric.name"
        )
        raise _err(label, where, f"must be a non-empty string, got {name!r}")
    target = _mapping(body.get("target"), label, f"{path}.{key}.target")
    ttype = target.get("type")
    if ttype not in TARGET_TYPES:
        raise _err(label, f"{path}.{key}.target.type", f"must be one of {TARGET_TYPES}, got {ttype!r}")
    if ttype not in _ALLOWED_TARGETS[mtype]:
        raise _err(
            label,
            f"{path}.{key}.target.type",
            f"{ttype!r} is not allowed for a {mtype} metric; expected one of {_ALLOWED_TARGETS[mtype]}",
        )
    field_name = _TARGET_FIELD[ttype]
    fpath = f"{path}.{key}.target.{field_name}"
    if field_name not in target:
        raise _err(label, fpath, "is required")
    if ttype == "Utilization":
        value = float(_int(target[field_name], label, fpath))
    else:
        try:
            value = parse_quantity(target[field_name])
        except UnitError as exc:
            raise _err(label, fpath, str(exc)) from None
    if not value > 0:
        raise _err(label, fpath, f"must be > 0, got {target[field_name]!r}")
    return MetricSpec(str(mtype), name, str(ttype), value)


def _rules(raw: Any, default: ScalingRules, label: str, path: str) -> ScalingRules:
    if raw is None:
        return default
    r = _mapping(raw, label, path)
    window = r.get("stabilizationWindowSeconds")
    if window is not None:
        window = _int(window, label, f"{path}.stabilizationWindowSeconds")
    else:
        window = default.stabilization_window_seconds
    select = r.get("selectPolicy", default.select_policy)
    raw_policies = r.get("policies")
    if raw_policies is None:
        policies = default.policies
    else:
        if not isinstance(raw_policies, list):
            raise _err(label, f"{path}.policies", f"must be a list, got {type(raw_policies).__name__}")
        out = []
        for j, p in enumerate(raw_policies):
            pm = _mapping(p, label, f"{path}.policies[{j}]")
            ptype = pm.get("type")
            if ptype not in POLICY_TYPES:
                raise _err(label, f"{path}.policies[{j}].type", f"must be Pods or Percent, got {ptype!r}")
            value = _int(pm.get("value"), label, f"{path}.policies[{j}].value")
            period = _int(pm.get("periodSeconds"), label, f"{path}.policies[{j}].periodSeconds")
            out.append(ScalingPolicy(ptype, value, period))
        policies = tuple(out)
    rules = ScalingRules(window, str(select), policies)
    _validate_rules(rules, label, path)
    return rules
