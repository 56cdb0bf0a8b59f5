"""Size a fleet of a layered service: replicas x processes x threads x pool size in one search.

A :class:`~capplan.layered.model.ServiceModel` describes one replica; its classes' ``rate`` are
taken as the **whole fleet's** arrival rates, spread evenly over the replicas that are up (random or
round-robin balancing).  :func:`size_service` looks for the smallest fleet — fewest replicas, then
fewest cores, then least memory, then fewest database connections — whose replica meets

* every class's latency targets (mean and/or the quantiles the model reports),
* utilization ceilings per layer (e.g. the SLA's 70% CPU target on ``"cores"``),
* with every replica up, with ``spare`` replicas down (N+k), and with the largest of ``zones``
  zones lost (replicas spread evenly, ``ceil(N / zones)`` of them lost),
* with the fleet's connections within ``max_connections`` (below).

**The search.**  A layout (cores, processes, threads, pool size) needs ``U`` replicas *up*; the
fleet then needs the smallest ``N`` whose worst failure scenario leaves ``U`` up.  Two assumptions
make the search short, both properties of the model (more replicas up means a lower rate per
replica, and a larger pool means fewer waits for a connection): a layout that meets the targets
with ``U`` replicas up also meets them with more, and with a larger pool.  So

1. every layout gets a floor ``U_lo`` from its offered loads without a solve (each layer below
   utilization 1 and below its ceiling: the same load over ``U`` replicas is ``1/U`` of it);
2. layouts are tried best floor first; a layout that cannot beat the best fleet so far at its
   floor is skipped, and one that fails at the largest ``U`` that would beat it is dropped after
   that one solve;
3. the rest bisect on ``U`` from the floor; every verdict a solved point implies by the two
   monotonicities (a pass at a smaller ``U`` or pool, a failure at a larger one) is reused, not
   solved.

**Connections.**  The pool being sized (``pool``) opens ``processes x size`` connections per
replica — to the database directly, or to a PgBouncer shared by the fleet (whose
``max_client_conn x instances`` is then the limit to give).  When that pool has a
``server_limit`` (PgBouncer in every pod) the database sees ``server_limit`` connections per
replica instead.  The fleet's total, replicas x per replica with every replica up, must be within
``max_connections``.

**Memory** (with the model's :class:`~capplan.layered.model.Memory`): the request is the replica's
memory at the planned load with every replica up (``base + per_worker x workers + per_request x``
the mean number of busy workers, as the solve reports it); the limit is every worker busy
(``base + (per_worker + per_request) x workers``).  Requests queued in the listen backlog hold no
application memory and are not counted.

The verdicts come from :meth:`ServiceModel.solve` (an approximation: see its ``method``), so the
decision is as good as that model; ``verify=True`` simulates the decision's worst scenario, and
``meet_in_simulation=True`` makes the fleet (same layout) the smallest that simulation meets.
"""

from __future__ import annotations

import math
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import pandas as pd

from capplan.errors import InfeasibleError, ParameterError
from capplan.layered._sizing_inputs import (
    Layout,
    _ceilings,
    _count,
    _goals,
    _label,
    _layouts,
    _pool_name,
)
from capplan.layered._sizing_search import (
    _Best,
    _Bounds,
    _connections,
    _failures,
    _floor,
    _memory,
    _replica,
    _replica_limit,
    _Search,
    _search,
    _value,
)
from capplan.layered._sizing_verify import settled, verification
from capplan.layered.model import ServiceModel
from capplan.layered.result import LayeredResult

__all__ = ["Layout", "ServiceSizing", "size_service"]


@dataclass(frozen=True)
class ServiceSizing:
    """What :func:`size_service` decided, and why (seconds, bytes; module docstring for the rules).

    ``replicas`` of ``layout``; ``model`` is one replica in that layout at the planned load with
    every replica up.  ``checks`` has one row per scenario, class and target: the predicted value,
    the target and whether it is met; ``layers`` the per-layer utilization in each scenario.
    ``binding`` maps each class to the layer where its requests wait longest (from the solve's
    ``waits``, worst scenario) and ``wait_share`` to that wait over the class's mean response;
    ``constraint`` says what one replica fewer would miss.  ``candidates`` lists every layout
    considered with its floor, its fleet (where solved) and what became of it; ``solves`` counts
    the model solves and ``seconds`` the search's wall time.
    """

    replicas: int
    layout: Layout
    model: ServiceModel
    scenarios: dict[str, int]
    checks: pd.DataFrame
    layers: pd.DataFrame
    binding: dict[str, str]
    wait_share: dict[str, float]
    constraint: str
    connections: int
    max_connections: int | None
    memory_request: float | None
    memory_limit: float | None
    candidates: pd.DataFrame
    solves: int
    seconds: float
    method: str = field(default="")
    #: With ``verify=True``: every target of the worst scenario simulated (:meth:`verify`).
    verification: pd.DataFrame | None = field(default=None, repr=False)
    #: With ``meet_in_simulation=True``: the fleet the solve alone chose (``replicas`` is the
    #: simulation's, more or fewer; ``checks`` then holds the solve's predictions at it).
    solve_replicas: int | None = None

    @property
    def cores(self) -> int:
        """Cores of the whole fleet."""
        return self.replicas * self.layout.cores

    @property
    def met(self) -> bool:
        """Every target met: in simulation where the simulation chose the fleet
        (``meet_in_simulation``), else by the solve's predictions (``checks``)."""
        if self.solve_replicas is not None and self.verification is not None:
            return bool(self.verification["met_in_simulation"].all())
        return bool(self.checks["met"].all())

    def to_frame(self) -> pd.DataFrame:
        """The predicted values against the targets, per scenario and class (``checks``)."""
        return self.checks.copy()

    def verify(self, customers: int = 400_000, *, seed: int) -> pd.DataFrame:
        """Simulate the chosen replica in the scenario with the fewest replicas up and check every
        target there: predicted, simulated with its 95% CI half-width, and whether the simulation
        meets it (:func:`capplan.layered._sizing_verify.verification`)."""
        return verification(self, customers, seed)

    def _summary(self) -> list[str]:
        lines = [
            f"{self.replicas} replicas x ({self.layout}): {self.cores} cores",
            f"fewer replicas would miss: {self.constraint}",
            *(
                [f"the solve alone chose {self.solve_replicas} replicas; the simulation decided"]
                if self.solve_replicas is not None and self.solve_replicas != self.replicas
                else []
            ),
            "binding layer per class: "
            + ", ".join(
                f"{c}: {layer} ({self.wait_share[c]:.0%} of its mean)" for c, layer in self.binding.items()
            ),
        ]
        if self.max_connections is not None or self.connections:
            of = "" if self.max_connections is None else f" of {self.max_connections}"
            lines.append(f"connections: {self.connections}{of}")
        if self.memory_request is not None and self.memory_limit is not None:
            mib = 2.0**20
            request, limit = self.memory_request / mib, self.memory_limit / mib
            lines.append(f"memory per replica: request {request:.0f} MiB, limit {limit:.0f} MiB")
        lines.append(f"{len(self.candidates)} layouts considered, {self.solves} solves")
        return lines

    def __repr__(self) -> str:
        return "ServiceSizing(" + "\n  ".join(self._summary()) + ")"

    def _repr_html_(self) -> str:
        items = "".join(f"<li>{line}</li>" for line in self._summary()[1:])
        checks = self.checks.to_html(float_format=lambda v: f"{v:.4g}")
        cands = self.candidates.to_html(float_format=lambda v: f"{v:.4g}", na_rep="-")
        simulated = (
            ""
            if self.verification is None
            else "<p>the worst scenario simulated (seconds)</p>"
            + self.verification.to_html(float_format=lambda v: f"{v:.4g}")
        )
        return (
            f"<p><b>{self.replicas} replicas x ({self.layout})</b>: {self.cores} cores</p><ul>{items}</ul>"
            f"<p>targets per scenario (seconds)</p>{checks}{simulated}<p>layouts considered</p>{cands}"
        )


def _per_class_binding(result: LayeredResult) -> tuple[dict[str, str], dict[str, float]]:
    """Per class, the layer with the largest mean wait and that wait over the mean response."""
    layer: dict[str, str] = {}
    share: dict[str, float] = {}
    if result.waits is None:
        return layer, share
    for cls in result.classes.index:
        waits = result.waits.loc[cls, "mean"]
        top = str(waits.idxmax())
        layer[str(cls)] = top
        share[str(cls)] = float(waits[top]) / _value(result, str(cls), "mean")
    return layer, share


def _checks(results: Mapping[str, tuple[int, LayeredResult]], bounds: _Bounds) -> pd.DataFrame:
    rows = []
    for scenario, (up, result) in results.items():
        for cls, goals in bounds.goals.items():
            for key, target in goals.items():
                value = _value(result, cls, key)
                rows.append(
                    {"scenario": scenario, "replicas_up": up, "class": cls, "target": _label(key),
                     "predicted_s": value, "target_s": target, "met": value <= target}
                )  # fmt: skip
    return pd.DataFrame(rows)


def _constraint(search: _Search, best: _Best, bounds: _Bounds) -> str:
    """What the chosen layout misses with one replica fewer."""
    n = best.replicas - 1
    if n < 1:
        return "nothing: one replica suffices"
    worst = min(bounds.scenarios().items(), key=lambda kv: kv[1](n))
    up = worst[1](n)
    if up < 1:
        return f"no replica left ({worst[0]} at {n} replicas)"
    miss = search.verdict(best.layout, up)
    reason = "the search's monotone envelope" if miss is None else str(miss)
    return f"{reason} ({worst[0]} at {n} replicas)"


def size_service(
    model: ServiceModel,
    targets: Mapping[str, Any],
    *,
    max_utilization: float | Mapping[str, float] | None = None,
    spare: int = 0,
    zones: int | None = None,
    max_connections: int | None = None,
    pool: str | None = None,
    cores: Sequence[int] | None = None,
    processes: Sequence[int] | None = None,
    threads: Sequence[int] | None = None,
    pool_sizes: Sequence[int] | None = None,
    max_replicas: int = 10_000,
    verify: bool = False,
    verify_customers: int = 400_000,
    seed: int = 0,
    meet_in_simulation: bool = False,
) -> ServiceSizing:
    """Smallest fleet of ``model``'s replicas meeting every target, after failures (module docstring).

    Parameters
    ----------
    model : ServiceModel
        One replica; its classes' rates are the whole fleet's arrival rates.
    targets : mapping
        Per class: ``(quantile, seconds)``, a list of them, or a mapping ``{quantile or "mean":
        seconds}``; quantiles among :data:`capplan.layered.QUANTILES`.  E.g.
        ``{"api": (0.99, 0.25)}`` or ``{"api": {0.5: 0.05, "mean": 0.04}}``.
    max_utilization : float or mapping, optional
        Ceiling per layer (names as in the solve's ``layers`` table: ``"cores"``, ``"workers"``,
        ``"interpreter lock"``, ``"pool db"``, ...); a number is the ceiling of ``"cores"``.
    spare : int
        N+k: the targets hold with ``spare`` replicas down.
    zones : int, optional
        Replicas spread evenly over ``zones`` (>= 2) zones; the targets hold with one lost.
    max_connections : int, optional
        Limit on the fleet's connections of the sized pool (module docstring: *Connections*).
    pool : str, optional
        The pool to size (default: the model's only pool; none without pools).
    cores, processes, threads, pool_sizes : sequences of int, optional
        Candidates.  Defaults: the model's cores; 1, 2, 4, ... up to twice the cores; 1, 2, 4, ...,
        32 threads (an event loop's concurrency); pool sizes 1, 2, 4, ... up to the threads.
    max_replicas : int
        The largest fleet considered.
    verify : bool, default False
        Simulate the answer in its worst scenario (``verify_customers`` requests, ``seed``) and
        attach the simulated values with their confidence intervals as ``verification``
        (:meth:`ServiceSizing.verify`).
    meet_in_simulation : bool, default False
        Implies ``verify``: the fleet is the smallest of the chosen layout whose worst scenario the
        simulation meets, searched from the solve's (more replicas where the simulation misses a
        target, fewer where it meets them with room), within the utilization ceilings (as the
        solve has them), ``max_replicas`` and ``max_connections``
        (:func:`capplan.layered._sizing_verify.settled`).  ``solve_replicas`` keeps the solve's
        own fleet and ``constraint`` what one replica fewer misses.  The solve is an
        approximation, worst in the layouts docs/accuracy.md names, and a small error in a flat
        p95 moves the fleet far (docs/accuracy.md, "What the errors do to a fleet decision").

    Raises
    ------
    ParameterError
        For a bad target, ceiling or candidate list, naming it.
    InfeasibleError
        When no layout within the bounds meets the targets; the message names what the most
        favourable layout still misses.
    """
    started = time.perf_counter()
    z = None if zones is None else _count("zones", zones, 2)
    customers = _count("verify_customers", verify_customers)
    bounds = _Bounds(
        goals=_goals(model, targets),
        ceilings=_ceilings(model, max_utilization),
        pool=_pool_name(model, pool),
        spare=_count("spare", spare, 0),
        zones=z,
        max_connections=None if max_connections is None else _count("max_connections", max_connections),
        max_replicas=_count("max_replicas", max_replicas),
    )
    if bounds.max_connections is not None and bounds.pool is None:
        raise ParameterError("max_connections: the model has no pool whose connections it would limit")
    if bounds.live(bounds.max_replicas) < 1:
        raise ParameterError(f"max_replicas {max_replicas} leaves no replica up after the failures asked for")
    layouts = _layouts(model, bounds.pool, cores, processes, threads, pool_sizes)
    best, search, rows = _search(model, layouts, bounds)
    if best is None:
        raise _infeasible(model, layouts, bounds, search, rows)
    decided = _decision(model, best, search, rows, bounds, started)
    if meet_in_simulation:

        def at(n: int) -> ServiceSizing:
            return _decision(
                model, replace(best, replicas=n, up=bounds.live(n)), search, rows, bounds, started
            )

        fewest = bounds.fleet(_floor(model, best.layout, bounds))
        fleets = (fewest, _replica_limit(model, best.layout, bounds))
        final = settled(decided, at, bounds.ceilings, fleets, customers, seed)
        return replace(final, seconds=time.perf_counter() - started)
    if verify:
        return replace(decided, verification=decided.verify(customers, seed=seed))
    return decided


def _infeasible(
    model: ServiceModel,
    layouts: Sequence[Layout],
    bounds: _Bounds,
    search: _Search,
    rows: list[dict[str, Any]],
) -> InfeasibleError:
    """Why nothing fits: what the largest layout misses at the largest fleet, or the limits."""
    top = max(layouts, key=lambda lay: (lay.cores, lay.processes, lay.threads, lay.pool_size or 0))
    up = bounds.live(bounds.max_replicas)
    misses = _failures(*search.checked(top, up), bounds)
    if misses:
        return InfeasibleError(
            f"no layout meets the targets: even {top} with {bounds.max_replicas} replicas ({up} up after "
            f"the failures) misses {'; '.join(map(str, misses))}"
        )
    limits = sorted({str(r["outcome"]) for r in rows})
    return InfeasibleError(
        f"no layout meets the targets within the bounds ({'; '.join(limits)}); {top} would, with more "
        f"replicas than max_connections {bounds.max_connections} allows"
    )


def _candidate_table(
    model: ServiceModel, rows: list[dict[str, Any]], best: _Best, pool: str | None
) -> pd.DataFrame:
    records = []
    for row in rows:
        lay: Layout = row["layout"]
        records.append(
            {
                "cores": lay.cores,
                "processes": lay.processes,
                "threads": lay.threads,
                "pool": lay.pool_size if lay.pool_size is not None else math.nan,
                "floor_replicas": row["floor_replicas"],
                "replicas": row["replicas"],
                "connections_per_replica": _connections(model, lay, pool),
                "memory_limit_mib": _memory(model, lay) / 2**20 if model.memory is not None else math.nan,
                "outcome": "chosen" if lay == best.layout else row["outcome"],
                "solves": row["solves"],
            }
        )
    return pd.DataFrame(records).set_index(["cores", "processes", "threads", "pool"])


def _decision(
    model: ServiceModel,
    best: _Best,
    search: _Search,
    rows: list[dict[str, Any]],
    bounds: _Bounds,
    started: float,
) -> ServiceSizing:
    """Evaluate the chosen layout in every scenario and assemble the answer."""
    scenarios = {name: up(best.replicas) for name, up in bounds.scenarios().items()}
    worst = min(scenarios.values())
    solved: dict[int, LayeredResult] = {}
    for up in scenarios.values():
        if up not in solved:
            solved[up] = search.result(best.layout, up, waits=up == worst)  # the binding layers
    results = {name: (up, solved[up]) for name, up in scenarios.items()}
    binding, share = _per_class_binding(solved[worst])
    constraint = _constraint(search, best, bounds)
    all_up = solved[best.replicas]
    layers = pd.DataFrame({name: r.layers["utilization"] for name, (_, r) in results.items()})
    return ServiceSizing(
        replicas=best.replicas,
        layout=best.layout,
        model=_replica(model, best.layout, bounds.pool, float(best.replicas)),
        scenarios=scenarios,
        checks=_checks(results, bounds),
        layers=layers,
        binding=binding,
        wait_share=share,
        constraint=constraint,
        connections=best.replicas * _connections(model, best.layout, bounds.pool),
        max_connections=bounds.max_connections,
        memory_request=all_up.memory_bytes,
        memory_limit=_memory(model, best.layout) if model.memory is not None else None,
        candidates=_candidate_table(model, rows, best, bounds.pool),
        solves=search.solves,
        seconds=time.perf_counter() - started,
        method=all_up.method,
    )
