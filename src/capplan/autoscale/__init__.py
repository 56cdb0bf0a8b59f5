"""Autoscaling against traffic: the Kubernetes HPA v2 controller, AWS policies and schedules.

``load_hpa`` reads an ``autoscaling/v2`` HorizontalPodAutoscaler; :func:`simulate` runs it (or a
:class:`TargetTracking`, :class:`StepScaling` or :class:`Schedule` policy) against a
:class:`Traffic` shape with a per-interval queueing model of the pods, and returns the timeline,
SLA minutes missed, replica-hours and cost.  :func:`search_hpa` sweeps HPA settings for the
cost/SLA frontier and compares it with a fixed fleet sized for the peak.

:func:`check_fluid` (the simulator, SciPy's distributions) and the plots (matplotlib) import their
modules on first use.
"""

from typing import TYPE_CHECKING

from capplan._lazy import lazy_exports
from capplan.autoscale.controller import HPAController, metric_replicas, object_replicas
from capplan.autoscale.fluid import Workload
from capplan.autoscale.manifest import (
    HPA,
    Behavior,
    ManifestError,
    MetricSpec,
    ScalingPolicy,
    ScalingRules,
    load_hpa,
)
from capplan.autoscale.policies import (
    Schedule,
    StepAdjustment,
    StepScaling,
    TargetTracking,
    predictive_schedule,
)
from capplan.autoscale.search import FixedFleet, SearchResult, fixed_fleet, search_hpa, with_settings
from capplan.autoscale.simulate import AutoscaleResult, simulate
from capplan.autoscale.traffic import Traffic, add_spike, constant, diurnal, from_csv, k6_stages

if TYPE_CHECKING:
    from capplan.autoscale.check import check_fluid
    from capplan.autoscale.plots import plot_frontier, plot_timeline
else:
    __getattr__, __dir__ = lazy_exports(
        __name__, {"check": ("check_fluid",), "plots": ("plot_frontier", "plot_timeline")}
    )

__all__ = [
    "HPA",
    "AutoscaleResult",
    "Behavior",
    "FixedFleet",
    "HPAController",
    "ManifestError",
    "MetricSpec",
    "ScalingPolicy",
    "ScalingRules",
    "Schedule",
    "SearchResult",
    "StepAdjustment",
    "StepScaling",
    "TargetTracking",
    "Traffic",
    "Workload",
    "add_spike",
    "check_fluid",
    "constant",
    "diurnal",
    "fixed_fleet",
    "from_csv",
    "k6_stages",
    "load_hpa",
    "metric_replicas",
    "object_replicas",
    "plot_frontier",
    "plot_timeline",
    "predictive_schedule",
    "search_hpa",
    "simulate",
    "with_settings",
]
