"""The plan's layered sizing: one deployment serving every class, sized as layers.

The per-class sizing of :mod:`capplan.plan.build` gives each operation class its own deployment of
identical single-queue replicas.  With a :class:`ServiceLayers` (the plan file's ``service``
section) the plan also sizes the service as people run it: one deployment whose replicas run
processes x threads sharing cores, an interpreter lock per process and a connection pool per
process, serving every class at once (:mod:`capplan.layered`).  :func:`capplan.layered.size_service`
searches replicas x processes x threads x pool size in one pass for the smallest fleet meeting
every class's percentile targets and the SLA's CPU target on the cores, with ``redundancy``
replicas down and with one of ``zones`` lost, within PgBouncer's client connections; it names the
binding layer per class and, with the plan's memory, the pod's memory request and limit.

A class's steps come from the section and must add up to its evidence's mean service time (within
1%): the steps say how that time splits, not how long it is.  A class without steps is one CPU step
with its evidence's mean and SCV (all of its time on the CPU, under the lock).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import pandas as pd

from capplan._validate import integer_count
from capplan.errors import CapplanError, InfeasibleError, ParameterError
from capplan.layered import (
    Cpu,
    Hold,
    Memory,
    Pool,
    RequestClass,
    ServiceModel,
    ServiceSizing,
    Step,
    Workers,
    size_service,
)
from capplan.plan.evidence import ServiceEvidence
from capplan.plan.memory import PodMemory
from capplan.plan.recommendation import Recommendation
from capplan.sla import SLA

__all__ = ["ServiceCheck", "ServiceLayers", "size_layers"]

MODEL = "layered service model (capplan.layered.size_service)"
#: How far a class's steps may add up from its evidence's mean service time (relative).
STEPS_TOLERANCE = 0.01


@dataclass(frozen=True)
class ServiceLayers:
    """How one replica runs, for the plan's layered sizing (module docstring).

    Parameters
    ----------
    cores : int
        CPU cores of one replica (its CPU limit).
    gil_free : float, default 0
        Share of CPU work that runs outside the interpreter lock.
    steps : mapping of class to steps, optional
        Each class's anatomy (:class:`capplan.layered.Cpu`, ``Hold``, ``Wait``); classes left out
        are one CPU step of their evidence.
    pool : str, default "db"
        The connection pool the search sizes (per process); ``Hold`` steps name it.
    processes, threads : sequences of int, optional
        Candidate layouts (defaults: :func:`capplan.layered.size_service`'s).
    """

    cores: int
    gil_free: float = 0.0
    steps: Mapping[str, tuple[Step, ...]] = field(default_factory=dict)
    pool: str = "db"
    processes: tuple[int, ...] | None = None
    threads: tuple[int, ...] | None = None

    def __post_init__(self) -> None:
        integer_count("cores", self.cores)
        if not 0.0 <= self.gil_free <= 1.0:
            raise ParameterError(f"gil_free must lie in [0, 1], got {self.gil_free!r}")
        for name in ("processes", "threads"):
            if (values := getattr(self, name)) is not None:
                integer_count(name, values)

    def check(self, evidence: Sequence[ServiceEvidence]) -> None:
        """Each class's steps add up to its evidence's mean service time (within 1%)."""
        for ev in evidence:
            if ev.op_class not in self.steps:
                continue
            total = sum(step.mean for step in self.steps[ev.op_class])
            if abs(total - ev.mean_s) > STEPS_TOLERANCE * ev.mean_s:
                raise ParameterError(
                    f"service.steps[{ev.op_class!r}]: the steps take {total * 1e3:.6g} ms in all, but "
                    f"the evidence says {ev.mean_s * 1e3:.6g} ms per request ({ev.source}); make them agree"
                )

    def model(
        self,
        evidence: Sequence[ServiceEvidence],
        rates: Mapping[str, float],
        memory: PodMemory | Memory | None = None,
    ) -> ServiceModel:
        """One replica carrying the fleet's ``rates`` per class, with their ``evidence`` (placeholder
        layout: one process of one thread, a pool of one; :func:`size_service` chooses them)."""
        by_class = {e.op_class: e for e in evidence}
        self.check(evidence)
        unknown = sorted(set(self.steps) - set(rates))
        if unknown:
            raise ParameterError(f"service.steps: no traffic for classes {unknown}; classes: {sorted(rates)}")
        classes = []
        for name, rate in rates.items():
            ev = by_class[name]
            steps = self.steps.get(name) or (Cpu(ev.mean_s, scv=ev.scv),)
            classes.append(RequestClass(name, rate, tuple(steps)))
        holds = {s.pool for c in classes for s in c.steps if isinstance(s, Hold)}
        if holds - {self.pool}:
            raise ParameterError(
                f"service.steps: hold steps name pools {sorted(holds)}; the plan sizes one, {self.pool!r}"
            )
        mem = None if memory is None else Memory(memory.per_worker, memory.per_request, memory.base)
        return ServiceModel(
            classes,
            Workers(1, 1),
            cores=self.cores,
            gil_free=self.gil_free,
            pools={self.pool: Pool(1)} if holds else {},
            memory=mem,
        )


def _rec(item: str, value: int | None, unit: str, binding: str = "") -> Recommendation:
    return Recommendation("service (layered)", item, value, unit, binding, MODEL)


@dataclass(frozen=True)
class ServiceCheck:
    """The layered sizing of a plan: the decision, or why there is none."""

    sizing: ServiceSizing | None
    error: str | None = None

    def misses(self) -> list[str]:
        """Why the layered sizing fails (empty when it found a fleet)."""
        return [f"service (layered): {self.error}"] if self.error else []

    def recommendations(self) -> list[Recommendation]:
        """Replicas, layout, pool per process and memory of the one deployment."""
        s = self.sizing
        if s is None:
            return [_rec("all classes", None, "replicas", self.error or "")]
        lay = s.layout
        recs = [
            _rec("all classes", s.replicas, "replicas", s.constraint),
            _rec("worker processes per replica", lay.processes, "processes"),
            _rec("threads per process", lay.threads, "threads"),
        ]
        if lay.pool_size is not None:
            recs.append(_rec("pool per process", lay.pool_size, "connections"))
        for label, value in (("memory request", s.memory_request), ("memory limit", s.memory_limit)):
            if value is not None:
                recs.append(_rec(label, round(value / 2**20), "MiB"))
        return recs

    def to_dict(self) -> dict[str, object]:
        """The decision for the plan's JSON: layout, fleet, binding layer per class, memory (bytes)."""
        s = self.sizing
        if s is None:
            return {"error": self.error}
        return {
            "replicas": s.replicas,
            "cores": s.layout.cores,
            "processes": s.layout.processes,
            "threads": s.layout.threads,
            "pool_per_process": s.layout.pool_size,
            "constraint": s.constraint,
            "binding": dict(s.binding),
            "connections": s.connections,
            "memory_request_bytes": s.memory_request,
            "memory_limit_bytes": s.memory_limit,
        }

    def tables(self) -> list[tuple[str, pd.DataFrame]]:
        """The report's tables: binding layer per class, and every target per scenario (ms)."""
        s = self.sizing
        if s is None:
            return []
        binding = pd.DataFrame(
            {"binding layer": s.binding, "its wait / mean response": pd.Series(s.wait_share).round(3)}
        )
        binding.index.name = "class"
        checks = s.checks.copy()
        for col in ("predicted_s", "target_s"):
            checks[col[:-2] + "_ms"] = (checks.pop(col) * 1e3).round(3)
        return [
            (f"Service as layers: {s.replicas} replicas x ({s.layout}), binding layer per class", binding),
            ("Service as layers: targets per scenario", checks),
        ]


def size_layers(
    layers: ServiceLayers,
    sla: SLA,
    group: str,
    evidence: Sequence[ServiceEvidence],
    rates: Mapping[str, float],
    failures: Mapping[str, int | None],
    cap: float,
    memory: PodMemory | None,
    max_connections: int | None,
) -> ServiceCheck:
    """Size the one deployment (module docstring); ``rates`` are the fleet's per class,
    ``failures`` the plan's ``redundancy`` and ``zones``."""
    model = layers.model(evidence, rates, memory)
    targets = {c.name: sla.latency_targets_for(group, c.name) for c in model.classes}
    try:
        sizing = size_service(
            model,
            {k: v for k, v in targets.items() if v},
            max_utilization={"cores": cap},
            spare=failures.get("redundancy") or 0,
            zones=failures.get("zones"),
            max_connections=max_connections if model.pools else None,
            processes=layers.processes,
            threads=layers.threads,
        )
    except InfeasibleError as exc:
        return ServiceCheck(None, str(exc))
    except CapplanError as exc:
        raise ParameterError(f"service: {exc}") from None
    return ServiceCheck(sizing)
