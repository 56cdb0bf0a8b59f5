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

With ``verify`` (a number of requests) the simulation has the last word: the search goes on from
the solve's fleet by simulating one replica of the chosen layout in the scenario with the fewest
replicas up (seed :data:`VERIFY_SEED`), to the smallest fleet whose every target the simulation
meets, within the CPU target and the connection limit (``meet_in_simulation`` of
:func:`capplan.layered.size_service`; the solve is an approximation, docs/accuracy.md says where
it is worst).  A target still missed there, beyond its 95% confidence half-width, is one of the
plan's misses.

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
#: The seed of the decision's simulation (``verify``): the same plan, the same figures.
VERIFY_SEED = 0
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
    verify : int, optional
        Requests to simulate the decision with (module docstring); none: no simulation.
    """

    cores: int
    gil_free: float = 0.0
    steps: Mapping[str, tuple[Step, ...]] = field(default_factory=dict)
    pool: str = "db"
    processes: tuple[int, ...] | None = None
    threads: tuple[int, ...] | None = None
    verify: int | None = None

    def __post_init__(self) -> None:
        integer_count("cores", self.cores)
        if not 0.0 <= self.gil_free <= 1.0:
            raise ParameterError(f"gil_free must lie in [0, 1], got {self.gil_free!r}")
        for name in ("processes", "threads"):
            if (values := getattr(self, name)) is not None:
                integer_count(name, values)
        if self.verify is not None:
            from capplan.schema.plan import VERIFY_REQUESTS  # noqa: PLC0415 - pydantic, only when asked

            low, high = VERIFY_REQUESTS
            v = self.verify
            if isinstance(v, bool) or not isinstance(v, int) or not low <= v <= high:
                raise ParameterError(
                    f"verify: requests to simulate, an integer in [{low:,}, {high:,}], got {v!r}"
                )

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
        """Why the layered sizing fails (empty when it found a fleet), and the targets its
        simulation misses (with ``verify``)."""
        if self.error:
            return [f"service (layered): {self.error}"]
        s = self.sizing
        if s is None or s.verification is None:
            return []
        return [
            f"service (layered): simulated {row['class']} {row['target']} {row['simulated_s'] * 1e3:.4g} "
            f"+/- {row['ci_s'] * 1e3:.2g} ms > target {row['target_s'] * 1e3:g} ms with "
            f"{row['replicas_up']} replicas up ({row['scenario']}); the solve predicted "
            f"{row['predicted_s'] * 1e3:.4g} ms: more replicas than {s.replicas} are needed, {_limit(s)}"
            for row in s.verification.to_dict(orient="records")
            if not row["met_in_simulation"]
        ]

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
            "verification": None if s.verification is None else s.verification.to_dict(orient="records"),
        }

    def tables(self) -> list[tuple[str, pd.DataFrame]]:
        """The report's tables: binding layer per class, every target per scenario, and with
        ``verify`` the simulated worst scenario (ms)."""
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
        out = [
            (f"Service as layers: {s.replicas} replicas x ({s.layout}), binding layer per class", binding),
            ("Service as layers: targets per scenario, as the solve predicts them", checks),
        ]
        if s.verification is not None:
            out.append(_verification_table(s.verification))
        return out


def _limit(s: ServiceSizing) -> str:
    """What kept the fleet from the size the simulation needs."""
    per = s.connections // s.replicas
    if s.max_connections is not None and per and (s.replicas + 1) * per > s.max_connections:
        return f"the most the limit of {s.max_connections} connections allows ({per} per replica)"
    return "the most the search allows (max_replicas)"


def _verification_table(checked: pd.DataFrame) -> tuple[str, pd.DataFrame]:
    """The simulated worst scenario in ms: predicted, simulated +/- its 95% half-width, target."""
    frame = checked[["class", "target"]].copy()
    for col in ("predicted_s", "simulated_s", "ci_s", "target_s"):
        frame[col[:-2] + "_ms"] = (checked[col] * 1e3).round(3)
    frame["met"] = checked["met_in_simulation"]
    first = checked.iloc[0]
    title = f"Service as layers: simulated with {first['replicas_up']} replicas up ({first['scenario']})"
    return title, frame


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
            verify_customers=layers.verify or 1,  # unused without verify
            seed=VERIFY_SEED,
            meet_in_simulation=layers.verify is not None,
        )
    except InfeasibleError as exc:
        return ServiceCheck(None, str(exc))
    except CapplanError as exc:
        raise ParameterError(f"service: {exc}") from None
    return ServiceCheck(sizing)
