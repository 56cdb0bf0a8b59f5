"""Discrete-event simulation of FCFS queues, to check the closed forms and go where they cannot.

Spec, kernel and records are kept apart: :mod:`.spec` validates what to simulate, :mod:`.kernel`
(compiled with numba) runs customers through the servers, :mod:`.result` holds the records and
summarises them with batch-means confidence intervals.
"""

from capplan.distributions import HyperExponential, hyperexponential
from capplan.sim.engine import simulate_queue
from capplan.sim.result import SimulationResult
from capplan.sim.slowdown import Slowdown, split_trace
from capplan.sim.spec import QueueSpec

__all__ = [
    "HyperExponential",
    "QueueSpec",
    "SimulationResult",
    "Slowdown",
    "hyperexponential",
    "simulate_queue",
    "split_trace",
]
