"""The layered service model: one replica as workers (processes x threads, or an event loop), the
interpreter lock, cores, connection pools and downstream waits, shared by request classes.

``ServiceModel(...).solve()`` is analytic (:mod:`capplan.layered.solve`), ``.simulate(...)`` a
compiled discrete-event simulation of the same system (:mod:`capplan.layered.simulate`); both return
a :class:`LayeredResult`.  :mod:`capplan.layered.anatomy` builds a model from measurements: a py-spy
``--idle`` profile (:func:`anatomy_from_profile`), scalene (:func:`cpu_split`) and Prometheus
(:func:`class_traffic`); those names load on first use.
"""

from typing import TYPE_CHECKING

from capplan._lazy import lazy_exports
from capplan.layered.model import (
    Cpu,
    EventLoop,
    Hold,
    Memory,
    Pool,
    RequestClass,
    ServiceModel,
    Step,
    Wait,
    Workers,
)
from capplan.layered.result import QUANTILES, LayeredResult
from capplan.layered.sizing import Layout, ServiceSizing, size_service

if TYPE_CHECKING:
    from capplan.layered.anatomy import (
        Anatomy,
        ClassTraffic,
        CpuSplit,
        anatomy_from_profile,
        class_traffic,
        cpu_split,
    )
else:
    __getattr__, __dir__ = lazy_exports(
        __name__,
        {
            "anatomy": (
                "Anatomy",
                "ClassTraffic",
                "CpuSplit",
                "anatomy_from_profile",
                "class_traffic",
                "cpu_split",
            )
        },
    )

__all__ = [
    "QUANTILES",
    "Anatomy",
    "ClassTraffic",
    "Cpu",
    "CpuSplit",
    "EventLoop",
    "Hold",
    "LayeredResult",
    "Layout",
    "Memory",
    "Pool",
    "RequestClass",
    "ServiceModel",
    "ServiceSizing",
    "Step",
    "Wait",
    "Workers",
    "anatomy_from_profile",
    "class_traffic",
    "cpu_split",
    "size_service",
]
