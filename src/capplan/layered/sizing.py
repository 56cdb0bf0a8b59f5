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
decision is as good as that model; check it with :meth:`ServiceModel.simulate`.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from capplan.errors import InfeasibleError, ParameterError
from capplan.layered.model import EventLoop, Pool, ServiceModel, Workers
from capplan.layered.result import QUANTILES, LayeredResult, layer_names

__all__ = ["Layout", "ServiceSizing", "size_service"]

_THREADS = (1, 2, 4, 8, 16, 32)


@dataclass(frozen=True)
class Layout:
    """One replica's shape: ``cores``, ``processes`` x ``threads`` (threads: the concurrency of an
    event loop), and ``pool_size`` connections per process of the pool being sized (None: none)."""

    cores: int
    processes: int
    threads: int
    pool_size: int | None = None

    def __str__(self) -> str:
        pool = "" if self.pool_size is None else f", pool {self.pool_size}"
        return f"{self.cores} cores, {self.processes} x {self.threads}{pool}"


def _label(key: float | str) -> str:
    return "mean" if key == "mean" else f"p{float(key) * 100:g}"


def _column(key: float | str) -> str:
    return "response_mean" if key == "mean" else f"response_p{float(key) * 100:g}"


def _goal_key(where: str, key: Any) -> float | str:
    if key == "mean":
        return "mean"
    if isinstance(key, (int, float)) and not isinstance(key, bool):
        for q in QUANTILES:
            if math.isclose(float(key), q, rel_tol=0, abs_tol=1e-12):
                return q
    known = ", ".join(f"{q:g}" for q in QUANTILES)
    raise ParameterError(f"{where}: {key!r} is not 'mean' or a reported quantile ({known})")


def _goal_items(where: str, spec: Any) -> list[tuple[Any, Any]]:
    if isinstance(spec, Mapping):
        return list(spec.items())
    if isinstance(spec, tuple) and len(spec) == 2 and not isinstance(spec[0], (tuple, list)):
        return [spec]
    pairs = isinstance(spec, Sequence) and not isinstance(spec, str)
    if pairs and all(isinstance(i, (tuple, list)) and len(i) == 2 for i in spec):
        return [tuple(i) for i in spec]
    raise ParameterError(
        f"{where}: expected (quantile, seconds), a list of them or a mapping, e.g. (0.99, 0.25), got {spec!r}"
    )


def _goals(model: ServiceModel, targets: Any) -> dict[str, dict[float | str, float]]:
    """``{class: {"mean" or quantile: seconds}}`` from the user's targets, checked."""
    if not isinstance(targets, Mapping) or not targets:
        raise ParameterError("targets must be a non-empty mapping of class name to latency targets")
    names = [c.name for c in model.classes]
    out: dict[str, dict[float | str, float]] = {}
    for cls, spec in targets.items():
        where = f"targets[{cls!r}]"
        if cls not in names:
            raise ParameterError(
                f"{where}: the model has no request class {cls!r} (classes: {', '.join(names)})"
            )
        goals: dict[float | str, float] = {}
        for key, seconds in _goal_items(where, spec):
            k = _goal_key(where, key)
            ok = isinstance(seconds, (int, float)) and not isinstance(seconds, bool)
            if not ok or not math.isfinite(seconds) or seconds <= 0:
                raise ParameterError(
                    f"{where}[{_label(k)}] must be a positive number of seconds, got {seconds!r}"
                )
            goals[k] = float(seconds)
        if not goals:
            raise ParameterError(f"{where} is empty")
        out[str(cls)] = goals
    return out


def _ceilings(model: ServiceModel, max_utilization: float | Mapping[str, float] | None) -> dict[str, float]:
    """``{layer: ceiling}``; a bare number is the ceiling of ``"cores"``."""
    if max_utilization is None:
        return {}
    given = max_utilization if isinstance(max_utilization, Mapping) else {"cores": max_utilization}
    layers = layer_names(model)
    out = {}
    for layer, cap in given.items():
        where = f"max_utilization[{layer!r}]"
        if layer not in layers:
            raise ParameterError(f"{where}: the model has no layer {layer!r} (layers: {', '.join(layers)})")
        if isinstance(cap, bool) or not isinstance(cap, (int, float)) or not 0 < cap <= 1:
            raise ParameterError(f"{where} must lie in (0, 1], got {cap!r}")
        out[str(layer)] = float(cap)
    return out


def _count(name: str, value: Any, low: int = 1) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < low:
        raise ParameterError(f"{name} must be an integer >= {low}, got {value!r}")
    return value


def _candidates(name: str, values: Sequence[int]) -> tuple[int, ...]:
    if isinstance(values, (str, bytes)) or not isinstance(values, Sequence) or not values:
        raise ParameterError(f"{name} must be a non-empty list of integers >= 1, got {values!r}")
    return tuple(sorted({_count(f"{name}[{i}]", v) for i, v in enumerate(values)}))


def _default_processes(cores: int) -> tuple[int, ...]:
    """1, 2, 4, ... up to twice the cores, and the cores themselves (gunicorn's usual range)."""
    powers = {2**k for k in range(8) if 2**k <= 2 * cores}
    return tuple(sorted(powers | {cores, 2 * cores}))


@dataclass(frozen=True)
class _Bounds:
    """The fixed inputs of one search."""

    goals: dict[str, dict[float | str, float]]
    ceilings: dict[str, float]
    pool: str | None
    spare: int
    zones: int | None
    max_connections: int | None
    max_replicas: int

    def scenarios(self) -> dict[str, Callable[[int], int]]:
        """Failure scenario name -> replicas up, as a function of the fleet size."""
        out: dict[str, Callable[[int], int]] = {"all replicas up": lambda n: n}
        if self.spare:
            out[f"N+{self.spare}: {self.spare} down"] = lambda n: n - self.spare
        if self.zones is not None:
            z = self.zones
            out[f"one of {z} zones lost"] = lambda n: n - math.ceil(n / z)
        return out

    def live(self, n: int) -> int:
        """Replicas up in the worst scenario of a fleet of ``n``."""
        return min(up(n) for up in self.scenarios().values())

    def fleet(self, up: int) -> int:
        """Smallest fleet whose worst scenario leaves ``up`` replicas up."""
        n = up + self.spare
        while self.live(n) < up:
            n += 1
        return n


def _replica(model: ServiceModel, layout: Layout, pool: str | None, up: float) -> ServiceModel:
    """One replica in ``layout`` carrying ``1/up`` of the fleet's load."""
    pools = dict(model.pools)
    if pool is not None and layout.pool_size is not None:
        pools[pool] = Pool(layout.pool_size, model.pools[pool].server_limit)
    workers: Workers | EventLoop = (
        EventLoop(layout.threads) if model.event_loop else Workers(layout.processes, layout.threads)
    )
    return model.with_layout(workers=workers, cores=layout.cores, pools=pools).scaled(1.0 / up)


def _connections(model: ServiceModel, layout: Layout, pool: str | None) -> int:
    """Connections one replica opens to the database (module docstring)."""
    if pool is None or layout.pool_size is None:
        return 0
    limit = model.pools[pool].server_limit
    return limit if limit is not None else layout.processes * layout.pool_size


def _memory(model: ServiceModel, layout: Layout) -> float:
    """The replica's memory limit: every worker busy (0 without a Memory)."""
    mem = model.memory
    if mem is None:
        return 0.0
    return mem.base + (mem.per_worker + mem.per_request) * layout.processes * layout.threads


def _floor(model: ServiceModel, layout: Layout, bounds: _Bounds) -> int:
    """Fewest replicas up that the offered loads allow, without a solve (module docstring, 1)."""
    from capplan.layered.solve import layer_loads  # noqa: PLC0415 - the solver is heavy

    whole = _replica(model, layout, bounds.pool, 1.0)
    loads = layer_loads(whole)["utilization"].to_dict()
    inside = sum(c.rate * sum(s.mean for s in c.steps) for c in whole.classes)
    loads["workers"] = inside / whole.workers.slots  # Little's law with no waiting at all
    need = 1
    for layer, u in loads.items():
        if math.isfinite(u):
            need = max(need, math.floor(u) + 1)
            if layer in bounds.ceilings:
                need = max(need, math.ceil(u / bounds.ceilings[layer] * (1 - 1e-12)))
    return need


def _value(result: LayeredResult, cls: str, key: float | str) -> float:
    """The predicted mean or quantile ``key`` of class ``cls``, seconds."""
    column = result.classes[_column(key)].to_numpy(dtype=float)
    return float(column[result.classes.index.get_loc(cls)])


def _failures(result: LayeredResult, bounds: _Bounds) -> list[str]:
    """Every constraint ``result`` misses (empty when it meets them all)."""
    layers = result.layers["utilization"]
    if not result.stable:
        return [f"stability ({result.binding} utilization >= 1)"]
    out = [
        f"{layer} utilization {layers[layer]:.1%} > {cap:.0%}"
        for layer, cap in bounds.ceilings.items()
        if layers[layer] > cap * (1 + 1e-12)
    ]
    for cls, goals in bounds.goals.items():
        for key, target in goals.items():
            value = _value(result, cls, key)
            if not value <= target:
                out.append(f"{cls} {_label(key)} {value * 1e3:.4g} ms > {target * 1e3:.4g} ms")
    return out


def _tie(model: ServiceModel, layout: Layout, pool: str | None) -> tuple[float, ...]:
    """Order among fleets of equal size: cores, memory, connections, then simpler layouts."""
    return (
        layout.cores,
        _memory(model, layout),
        _connections(model, layout, pool),
        layout.processes,
        layout.threads,
        layout.pool_size or 0,
    )


class _Search:
    """Verdicts per layout and replicas up, solving only what the monotonicities do not imply."""

    def __init__(self, model: ServiceModel, bounds: _Bounds) -> None:
        self.model, self.bounds = model, bounds
        self.solves = 0
        self.seen: dict[tuple[int, int, int], list[tuple[int, int, str]]] = {}  # (pool, up, reason)

    def result(self, layout: Layout, up: int) -> LayeredResult:
        self.solves += 1
        return _replica(self.model, layout, self.bounds.pool, float(up)).solve()

    def verdict(self, layout: Layout, up: int) -> str:
        """The first constraint missed with ``up`` replicas up ("" when all are met)."""
        shape = (layout.cores, layout.processes, layout.threads)
        size = layout.pool_size or 0
        known = self.seen.setdefault(shape, [])
        for s, u, reason in known:
            if reason == "" and s <= size and u <= up:
                return ""
            if reason and s >= size and u >= up:
                return reason
        failures = _failures(self.result(layout, up), self.bounds)
        reason = failures[0] if failures else ""
        known.append((size, up, reason))
        return reason

    def smallest_up(self, layout: Layout, low: int, cap: int, *, tight: bool) -> int | None:
        """Smallest ``up`` in ``[low, cap]`` meeting every constraint, or None.  With a ``tight``
        cap (the best fleet so far) the cap is tried first; otherwise the search gallops up from
        ``low``, as the answer is then usually near the floor."""
        if cap < low:
            return None
        if tight and self.verdict(layout, cap) != "":
            return None
        if self.verdict(layout, low) == "":
            return low
        hi = cap
        if not tight:
            step, hi = 1, low
            while hi < cap:
                hi = min(low + step, cap)
                if self.verdict(layout, hi) == "":
                    break
                low, step = hi, step * 2
            else:
                if self.verdict(layout, cap) != "":
                    return None
        while hi - low > 1:
            mid = (low + hi) // 2
            low, hi = (low, mid) if self.verdict(layout, mid) == "" else (mid, hi)
        return hi


@dataclass
class _Best:
    replicas: int
    tie: tuple[float, ...]
    layout: Layout
    up: int


def _search(
    model: ServiceModel, layouts: Sequence[Layout], bounds: _Bounds
) -> tuple[_Best | None, _Search, list[dict[str, Any]]]:
    """Best-first search over ``layouts`` (module docstring); one table row per layout."""
    search = _Search(model, bounds)
    floors = {lay: _floor(model, lay, bounds) for lay in layouts}
    order = sorted(layouts, key=lambda lay: (bounds.fleet(floors[lay]), _tie(model, lay, bounds.pool)))
    best: _Best | None = None
    rows = []
    for lay in order:
        before = search.solves
        n_floor, tie = bounds.fleet(floors[lay]), _tie(model, lay, bounds.pool)
        n_cap = _replica_limit(model, lay, bounds)
        if best is not None:
            n_cap = min(n_cap, best.replicas if tie < best.tie else best.replicas - 1)
        row: dict[str, Any] = {"layout": lay, "floor_replicas": n_floor, "replicas": math.nan}
        if n_floor > n_cap:
            row["outcome"] = (
                "cannot beat the best at its floor" if best else _limit_reason(model, lay, bounds)
            )
        else:
            up = search.smallest_up(lay, floors[lay], bounds.live(n_cap), tight=best is not None)
            if up is None:
                row["outcome"] = (
                    f"fails at {n_cap} replicas" if best else "misses the targets within the bounds"
                )
            else:
                n = bounds.fleet(up)
                row |= {"replicas": n, "outcome": "meets every target"}
                best = _Best(n, tie, lay, up)
        rows.append(row | {"solves": search.solves - before})
    return best, search, rows


def _replica_limit(model: ServiceModel, layout: Layout, bounds: _Bounds) -> int:
    per = _connections(model, layout, bounds.pool)
    if bounds.max_connections is None or per == 0:
        return bounds.max_replicas
    return min(bounds.max_replicas, bounds.max_connections // per)


def _limit_reason(model: ServiceModel, layout: Layout, bounds: _Bounds) -> str:
    per = _connections(model, layout, bounds.pool)
    if bounds.max_connections is not None and per and bounds.max_connections // per < bounds.max_replicas:
        fit = bounds.max_connections // per
        return f"max_connections {bounds.max_connections} allows {fit} replicas of {per} connections"
    return f"needs more than max_replicas {bounds.max_replicas}"


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

    @property
    def cores(self) -> int:
        """Cores of the whole fleet."""
        return self.replicas * self.layout.cores

    @property
    def met(self) -> bool:
        return bool(self.checks["met"].all())

    def to_frame(self) -> pd.DataFrame:
        """The predicted values against the targets, per scenario and class (``checks``)."""
        return self.checks.copy()

    def _summary(self) -> list[str]:
        lines = [
            f"{self.replicas} replicas x ({self.layout}): {self.cores} cores",
            f"fewer replicas would miss: {self.constraint}",
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
        return (
            f"<p><b>{self.replicas} replicas x ({self.layout})</b>: {self.cores} cores</p><ul>{items}</ul>"
            f"<p>targets per scenario (seconds)</p>{checks}<p>layouts considered</p>{cands}"
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
    reason = search.verdict(best.layout, up) or "the search's monotone envelope"
    return f"{reason} ({worst[0]} at {n} replicas)"


def _layouts(
    model: ServiceModel,
    pool: str | None,
    cores: Sequence[int] | None,
    processes: Sequence[int] | None,
    threads: Sequence[int] | None,
    pool_sizes: Sequence[int] | None,
) -> list[Layout]:
    """Every candidate layout; pools no larger than the threads of a process (more never fill)."""
    core_list = _candidates("cores", cores) if cores is not None else (model.cores,)
    thread_list = _candidates("threads", threads) if threads is not None else _THREADS
    out = []
    for c in core_list:
        if model.event_loop:
            if processes is not None and tuple(processes) != (1,):
                raise ParameterError(f"processes must be (1,) for an event loop, got {processes!r}")
            proc_list: tuple[int, ...] = (1,)
        else:
            proc_list = (
                _candidates("processes", processes) if processes is not None else _default_processes(c)
            )
        for p in proc_list:
            for t in thread_list:
                if pool is None:
                    out.append(Layout(c, p, t))
                    continue
                sizes = _candidates("pool_sizes", pool_sizes) if pool_sizes is not None else _default_pools(t)
                out.extend(Layout(c, p, t, s) for s in sizes if s <= t)
    if not out:
        raise ParameterError("pool_sizes: no candidate pool size is within the candidate threads per process")
    return out


def _default_pools(threads: int) -> tuple[int, ...]:
    return tuple(sorted({2**k for k in range(threads.bit_length()) if 2**k <= threads} | {threads}))


def _pool_name(model: ServiceModel, pool: str | None) -> str | None:
    if pool is None:
        if len(model.pools) > 1:
            raise ParameterError(f"pool: name the pool to size, one of {', '.join(model.pools)}")
        return next(iter(model.pools), None)
    if pool not in model.pools:
        raise ParameterError(
            f"pool: the model has no pool {pool!r} (pools: {', '.join(model.pools) or 'none'})"
        )
    return pool


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
    return _decision(model, best, search, rows, bounds, started)


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
    misses = _failures(search.result(top, up), bounds)
    if misses:
        return InfeasibleError(
            f"no layout meets the targets: even {top} with {bounds.max_replicas} replicas ({up} up after "
            f"the failures) misses {'; '.join(misses)}"
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
    solved: dict[int, LayeredResult] = {}
    for up in scenarios.values():
        if up not in solved:
            solved[up] = search.result(best.layout, up)
    results = {name: (up, solved[up]) for name, up in scenarios.items()}
    binding, share = _per_class_binding(solved[min(scenarios.values())])
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
