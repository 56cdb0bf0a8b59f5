"""Discrete-event simulation of FCFS queues, to check the closed forms and go where they cannot.

Spec, kernel and records are kept apart: :mod:`.spec` validates what to simulate, :mod:`.kernel`
(compiled with numba) runs customers through the servers, :mod:`.result` holds the records and
summarises them with batch-means confidence intervals.  :func:`simulate_overload` takes the same
server past its edge: clients with timeouts and retries, a circuit breaker and load shedding,
under a time-varying :class:`Load` (:mod:`.overload`, :mod:`.overload_kernel`, :mod:`.overload_result`).
"""

from capplan.distributions import HyperExponential, hyperexponential
from capplan.sim.engine import simulate_queue
from capplan.sim.load import Load
from capplan.sim.overload import OverloadSpec, simulate_overload
from capplan.sim.overload_result import OverloadResult
from capplan.sim.result import SimulationResult
from capplan.sim.slowdown import Slowdown, split_trace
from capplan.sim.spec import QueueSpec

__all__ = [
    "HyperExponential",
    "Load",
    "OverloadResult",
    "OverloadSpec",
    "QueueSpec",
    "SimulationResult",
    "Slowdown",
    "hyperexponential",
    "simulate_overload",
    "simulate_queue",
    "split_trace",
]
