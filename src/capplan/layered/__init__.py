"""The layered service model: one replica as workers (processes x threads, or an event loop), the
interpreter lock, cores, connection pools and downstream waits, shared by request classes.

``ServiceModel(...).solve()`` is analytic (:mod:`capplan.layered.solve`), ``.simulate(...)`` a
compiled discrete-event simulation of the same system (:mod:`capplan.layered.simulate`); both return
a :class:`LayeredResult`.
"""

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

__all__ = [
    "QUANTILES",
    "Cpu",
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
    "size_service",
]
