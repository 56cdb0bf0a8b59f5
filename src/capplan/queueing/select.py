"""Pick the queue model that fits the variability given: exact M/M/c when it applies, else G/G/c."""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import ArrayLike

from capplan.errors import ParameterError
from capplan.queueing._base import QueueModel
from capplan.queueing.ggc import GGc
from capplan.queueing.mmc import MMc

__all__ = ["queue_model"]


def queue_model(
    arrival_rate: ArrayLike,
    service_rate: ArrayLike | None = None,
    servers: ArrayLike = 1,
    arrival_scv: ArrayLike = 1.0,
    service_scv: ArrayLike = 1.0,
    *,
    service: Any = None,
) -> QueueModel:
    """:class:`MMc` (exact) for Poisson arrivals and exponential service given by its rate;
    otherwise :class:`GGc` (an approximation), with the service distribution's own shape
    when ``service`` is given."""
    if service is None and np.all(np.asarray(arrival_scv) == 1.0) and np.all(np.asarray(service_scv) == 1.0):
        if service_rate is None:
            raise ParameterError("service_rate is required (or give service, a distribution)")
        return MMc(arrival_rate, service_rate, servers)
    if service is not None:
        return GGc(arrival_rate, None, servers, arrival_scv, service=service)
    return GGc(arrival_rate, service_rate, servers, arrival_scv, service_scv)
