"""Memory of one replica, as the plan states it: per worker, plus per request in flight.

The plan's queueing models say nothing about memory; until a model of the service measures it,
the memory of a pod is an input the plan carries so that its exports can set memory requests and
limits.  A pod of ``c`` workers holding ``n`` requests in flight needs::

    base + c * per_worker + n * per_request        (bytes)

With ``n`` the mean number of busy workers at the planned load this is what the pod needs on
average (its memory *request*); with ``n = c`` (every worker busy) it is the most the workers can
hold at once (its *limit*).  Requests waiting in the listen queue are not counted: they hold
kernel buffers, not the application's memory.
"""

from __future__ import annotations

from dataclasses import dataclass

from capplan._validate import nonnegative, positive

__all__ = ["PodMemory"]


@dataclass(frozen=True)
class PodMemory:
    """Bytes one replica needs: ``base + workers * per_worker + in_flight * per_request``.

    Parameters
    ----------
    per_worker : float
        Resident memory of one idle worker (process or thread with its caches), bytes.
    per_request : float, default 0
        Extra memory while a worker serves one request, bytes.
    base : float, default 0
        Memory of the pod shared by its workers (a preloading master, a sidecar), bytes.
    source : str
        Where the numbers come from (``"stated"``, a measurement), for the exported files' comments.
    """

    per_worker: float
    per_request: float = 0.0
    base: float = 0.0
    source: str = "stated"

    def __post_init__(self) -> None:
        positive("per_worker", self.per_worker)
        nonnegative("per_request", self.per_request)
        nonnegative("base", self.base)

    def footprint(self, workers: int, in_flight: float) -> float:
        """Bytes with ``workers`` workers and ``in_flight`` requests being served."""
        return self.base + workers * self.per_worker + in_flight * self.per_request

    def describe(self) -> str:
        """One line, e.g. ``base 64 MiB + 120 MiB per worker + 2 MiB per request in flight (stated)``."""
        mib = 2.0**20
        return (
            f"base {self.base / mib:g} MiB + {self.per_worker / mib:g} MiB per worker + "
            f"{self.per_request / mib:g} MiB per request in flight ({self.source})"
        )
