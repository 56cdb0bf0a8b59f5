"""Overload models: client timeouts and retries, and where they make a fleet fall over for good.

* :mod:`.policy` describes what clients and servers do (timeouts, retries, backoff, retry
  budgets, circuit breakers, load shedding), for the simulator, these models and the plan alike.
* :class:`RetryAmplification` is the retry-amplification fixed point: the steady states of a
  fleet whose clients retry timed-out attempts, their stability, the load above which a spike
  can leave the fleet down (``recovery_load``) and the load above which it falls over by itself
  (``collapse_load``).
* :func:`spike_tolerance` and :func:`fluid_response` follow a spike with a fluid model of the
  backlog and the delayed retries: how long a spike the fleet survives.

Pure functions and small frozen dataclasses: no I/O.  The simulator that checks them is
:func:`capplan.sim.simulate_overload`.
"""

from capplan.overload.amplification import RetryAmplification
from capplan.overload.policy import (
    JITTER,
    Backoff,
    CircuitBreaker,
    ClientPolicy,
    LoadShedding,
    RetryBudget,
    RetryPolicy,
)
from capplan.overload.spike import fluid_response, spike_tolerance

__all__ = [
    "JITTER",
    "Backoff",
    "CircuitBreaker",
    "ClientPolicy",
    "LoadShedding",
    "RetryAmplification",
    "RetryBudget",
    "RetryPolicy",
    "fluid_response",
    "spike_tolerance",
]
