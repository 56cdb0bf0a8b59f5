"""Fitted service-time distributions (the models layer, fed by :mod:`capplan.measurements`).

Measurements are parsed into plain arrays (latency samples, histogram buckets) by
:mod:`capplan.measurements`; this package fits distributions to them and hands the result - a
mean and SCV, or the distribution itself - to :mod:`capplan.queueing`.  Scaling laws fitted to
throughput live in :mod:`capplan.scaling`.
"""

from __future__ import annotations

from capplan.fitting.service_time import (
    FAMILIES,
    EmpiricalServiceTime,
    ExponentialServiceTime,
    FittedServiceTime,
    GammaServiceTime,
    HyperExponentialServiceTime,
    LognormalServiceTime,
    compare_service_times,
    fit_service_time,
    fit_service_time_buckets,
)

__all__ = [
    "FAMILIES",
    "EmpiricalServiceTime",
    "ExponentialServiceTime",
    "FittedServiceTime",
    "GammaServiceTime",
    "HyperExponentialServiceTime",
    "LognormalServiceTime",
    "compare_service_times",
    "fit_service_time",
    "fit_service_time_buckets",
]
