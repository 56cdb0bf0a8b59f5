"""Pick the queue model that fits the variability given: exact M/M/c when it applies, else G/G/c."""

from __future__ import annotations

from numpy.typing import ArrayLike

from capplan.queueing._base import QueueModel
from capplan.queueing.ggc import GGc
from capplan.queueing.mmc import MMc

__all__ = ["queue_model"]


def queue_model(
    arrival_rate: ArrayLike,
    service_rate: ArrayLike,
    servers: ArrayLike = 1,
    arrival_scv: float = 1.0,
    service_scv: float = 1.0,
) -> QueueModel:
    """:class:`MMc` (exact) when both SCVs are 1, otherwise :class:`GGc` (Allen-Cunneen approximation)."""
    if arrival_scv == 1.0 and service_scv == 1.0:
        return MMc(arrival_rate, service_rate, servers)
    return GGc(arrival_rate, service_rate, servers, arrival_scv, service_scv)
