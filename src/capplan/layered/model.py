"""One replica of a Python service as layers of resources, and the request classes it serves.

A replica runs ``processes`` x ``threads`` workers (or one event loop with a concurrency limit); a
request takes a worker for its whole life and goes through its steps in order:

* :class:`Cpu` — CPU work.  The part that needs the interpreter lock (``1 - gil_free``) runs only
  while the request's thread holds its process's lock; all CPU work needs one of the ``cores``.
* :class:`Hold` — a connection from a named :class:`Pool` (one pool per process; with
  ``server_limit`` also one of the replica's PgBouncer server connections) for a time, no CPU.
* :class:`Wait` — a downstream call, a cache round trip, a sleep: the worker waits, nothing else.

Everything is in seconds and requests per second; :class:`Memory` in bytes.  Bad input raises
:class:`capplan.ParameterError` naming the class, the step and the field.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any, Union

from capplan.errors import ParameterError

if TYPE_CHECKING:
    from capplan.layered.result import LayeredResult

__all__ = [
    "Cpu",
    "EventLoop",
    "Hold",
    "Memory",
    "Pool",
    "RequestClass",
    "ServiceModel",
    "Step",
    "Wait",
    "Workers",
]


def _positive(where: str, value: float) -> float:
    if (
        isinstance(value, bool)
        or not isinstance(value, (int, float))
        or not math.isfinite(value)
        or value <= 0
    ):
        raise ParameterError(f"{where} must be a positive finite number, got {value!r}")
    return float(value)


def _nonnegative(where: str, value: float) -> float:
    if (
        isinstance(value, bool)
        or not isinstance(value, (int, float))
        or not math.isfinite(value)
        or value < 0
    ):
        raise ParameterError(f"{where} must be a non-negative finite number, got {value!r}")
    return float(value)


def _count(where: str, value: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ParameterError(f"{where} must be an integer >= 1, got {value!r}")
    return value


@dataclass(frozen=True)
class Cpu:
    """``mean`` seconds of CPU work (SCV ``scv``)."""

    mean: float
    scv: float = 1.0

    def check(self, where: str) -> None:
        _positive(f"{where}: mean", self.mean)
        _nonnegative(f"{where}: scv", self.scv)


@dataclass(frozen=True)
class Hold:
    """Hold a connection of pool ``pool`` for ``mean`` seconds (SCV ``scv``), using no CPU."""

    pool: str
    mean: float
    scv: float = 1.0

    def check(self, where: str) -> None:
        _positive(f"{where}: mean", self.mean)
        _nonnegative(f"{where}: scv", self.scv)


@dataclass(frozen=True)
class Wait:
    """Wait ``mean`` seconds (SCV ``scv``) for a downstream, holding only the worker."""

    mean: float
    scv: float = 1.0
    name: str = "downstream"

    def check(self, where: str) -> None:
        _positive(f"{where}: mean", self.mean)
        _nonnegative(f"{where}: scv", self.scv)


Step = Union[Cpu, Hold, Wait]  # noqa: UP007 - a runtime alias for isinstance checks and typing


@dataclass(frozen=True)
class RequestClass:
    """Requests of one kind: arrival ``rate`` per second and the ordered ``steps`` each goes through.

    ``arrival_scv`` describes the inter-arrival times (1: Poisson).  ``priority``: requests of a
    higher priority take the next free worker before any waiting request of a lower one (not
    preemptive; equal priorities in arrival order).
    """

    name: str
    rate: float
    steps: tuple[Step, ...]
    arrival_scv: float = 1.0
    priority: int = 0

    def __post_init__(self) -> None:
        object.__setattr__(self, "steps", tuple(self.steps))

    def check(self, pools: Mapping[str, Pool]) -> None:
        where = f"class {self.name!r}"
        if not isinstance(self.name, str) or not self.name:
            raise ParameterError(f"request class name must be a non-empty string, got {self.name!r}")
        _nonnegative(f"{where}: rate", self.rate)
        _nonnegative(f"{where}: arrival_scv", self.arrival_scv)
        if isinstance(self.priority, bool) or not isinstance(self.priority, int):
            raise ParameterError(f"{where}: priority must be an integer, got {self.priority!r}")
        if not self.steps:
            raise ParameterError(f"{where}: steps is empty: give at least one Cpu, Hold or Wait")
        for i, step in enumerate(self.steps):
            at = f"{where}, step {i} ({type(step).__name__})"
            if not isinstance(step, (Cpu, Hold, Wait)):
                raise ParameterError(f"{at}: expected Cpu, Hold or Wait, got {type(step).__name__}")
            step.check(at)
            if isinstance(step, Hold) and step.pool not in pools:
                known = ", ".join(sorted(pools)) or "none"
                raise ParameterError(f"{at}: pool {step.pool!r} is not defined (pools: {known})")

    @property
    def cpu(self) -> float:
        """CPU seconds per request."""
        return sum(s.mean for s in self.steps if isinstance(s, Cpu))

    def held(self, pool: str) -> float:
        """Seconds per request holding a connection of ``pool``."""
        return sum(s.mean for s in self.steps if isinstance(s, Hold) and s.pool == pool)

    @property
    def waits(self) -> float:
        """Seconds per request waiting on downstreams."""
        return sum(s.mean for s in self.steps if isinstance(s, Wait))


@dataclass(frozen=True)
class Workers:
    """``processes`` worker processes of ``threads`` threads each (gunicorn ``--workers --threads``)."""

    processes: int = 1
    threads: int = 1

    def check(self) -> None:
        _count("workers.processes", self.processes)
        _count("workers.threads", self.threads)

    @property
    def slots(self) -> int:
        return self.processes * self.threads


@dataclass(frozen=True)
class EventLoop:
    """One process running an event loop with at most ``concurrency`` requests in flight: CPU work
    runs on the loop's one thread (as if every CPU step held the lock), waits overlap."""

    concurrency: int = 100

    def check(self) -> None:
        _count("workers.concurrency", self.concurrency)

    processes = 1

    @property
    def threads(self) -> int:
        return self.concurrency

    @property
    def slots(self) -> int:
        return self.concurrency


@dataclass(frozen=True)
class Pool:
    """A connection pool of ``size`` per process; ``server_limit`` server connections for the whole
    replica behind it (PgBouncer's share for this replica), or None when the pool talks directly."""

    size: int
    server_limit: int | None = None

    def check(self, name: str) -> None:
        _count(f"pools[{name!r}].size", self.size)
        if self.server_limit is not None:
            _count(f"pools[{name!r}].server_limit", self.server_limit)


@dataclass(frozen=True)
class Memory:
    """Memory of one replica: ``base`` + ``per_worker`` x workers + ``per_request`` x requests in
    flight, in bytes."""

    per_worker: float
    per_request: float = 0.0
    base: float = 0.0

    def check(self) -> None:
        _nonnegative("memory.per_worker", self.per_worker)
        _nonnegative("memory.per_request", self.per_request)
        _nonnegative("memory.base", self.base)


@dataclass(frozen=True)
class ServiceModel:
    """One replica: its workers, cores, interpreter lock, pools, and the classes it serves.

    Parameters
    ----------
    classes : sequence of RequestClass
        The request classes sharing the replica's workers.
    workers : Workers or EventLoop
        Process x thread layout, or an event loop with a concurrency limit.
    cores : int
        CPU cores of the replica (its CPU limit).
    gil_free : float in [0, 1]
        Fraction of CPU work that runs outside the interpreter lock (numpy, I/O in C); ignored for
        an event loop, whose CPU work all runs on its one thread.
    pools : mapping of str to Pool
        Named connection pools the classes' :class:`Hold` steps use.
    memory : Memory, optional
        For the replica's memory at its planned concurrency.
    """

    classes: Sequence[RequestClass]
    workers: Workers | EventLoop = field(default_factory=Workers)
    cores: int = 1
    gil_free: float = 0.0
    pools: Mapping[str, Pool] = field(default_factory=dict)
    memory: Memory | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "classes", tuple(self.classes))
        object.__setattr__(self, "pools", dict(self.pools))
        self.check()

    def check(self) -> None:
        """Raise :class:`ParameterError` naming the first invalid field."""
        if not isinstance(self.workers, (Workers, EventLoop)):
            raise ParameterError(f"workers must be Workers(...) or EventLoop(...), got {self.workers!r}")
        self.workers.check()
        _count("cores", self.cores)
        g = _nonnegative("gil_free", self.gil_free)
        if g > 1:
            raise ParameterError(f"gil_free must lie in [0, 1], got {self.gil_free!r}")
        for name, pool in self.pools.items():
            if not isinstance(pool, Pool):
                raise ParameterError(f"pools[{name!r}] must be a Pool, got {pool!r}")
            pool.check(name)
        if not self.classes:
            raise ParameterError("classes is empty: give at least one RequestClass")
        names = [c.name for c in self.classes]
        if len(set(names)) != len(names):
            raise ParameterError(f"request class names must be unique, got {names}")
        for cls in self.classes:
            if not isinstance(cls, RequestClass):
                raise ParameterError(f"classes must hold RequestClass objects, got {type(cls).__name__}")
            cls.check(self.pools)
        if self.memory is not None:
            self.memory.check()

    @property
    def event_loop(self) -> bool:
        return isinstance(self.workers, EventLoop)

    @property
    def lock_share(self) -> float:
        """Fraction of CPU work that holds the interpreter lock (all of it on an event loop)."""
        return 1.0 if self.event_loop else 1.0 - self.gil_free

    @property
    def arrival_rate(self) -> float:
        return sum(c.rate for c in self.classes)

    def scaled(self, factor: float) -> ServiceModel:
        """The same replica with every class's rate multiplied by ``factor``."""
        return replace(self, classes=tuple(replace(c, rate=c.rate * factor) for c in self.classes))

    def with_layout(self, **changes: Any) -> ServiceModel:
        """A copy with ``workers``, ``cores``, ``pools`` or other fields replaced."""
        return replace(self, **changes)

    def solve(self) -> LayeredResult:
        """Analytic solution (:mod:`capplan.layered.solve`)."""
        from capplan.layered.solve import solve  # noqa: PLC0415 - the solver reads this module

        return solve(self)

    def simulate(self, customers: int = 1_000_000, *, seed: int, warmup: float = 0.1) -> LayeredResult:
        """Discrete-event simulation of the same replica (:mod:`capplan.layered.simulate`)."""
        from capplan.layered.simulate import simulate  # noqa: PLC0415 - the simulator reads this module

        return simulate(self, customers, seed=seed, warmup=warmup)
