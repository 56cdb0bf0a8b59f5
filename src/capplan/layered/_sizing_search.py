"""The search behind :func:`capplan.layered.sizing.size_service` (its docstring explains it):
floors without a solve, verdicts implied by monotonicity, best-first over layouts."""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import NDArray

from capplan.layered._sizing_inputs import Layout, _column, _label
from capplan.layered.model import EventLoop, Pool, ServiceModel, Workers
from capplan.layered.result import LayeredResult

if TYPE_CHECKING:
    import pandas as pd

    from capplan.layered.solve import ResponseLaw

__all__: list[str] = []


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

    @functools.cached_property
    def _ups(self) -> tuple[Callable[[int], int], ...]:
        return tuple(self.scenarios().values())

    def live(self, n: int) -> int:
        """Replicas up in the worst scenario of a fleet of ``n``."""
        return min(up(n) for up in self._ups)

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
    from capplan.layered.solve import offered_utilization  # noqa: PLC0415 - the solver is heavy

    whole = _replica(model, layout, bounds.pool, 1.0)
    loads = offered_utilization(whole)
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
    """The predicted mean or quantile ``key`` of class ``cls``, seconds (of a full solve)."""
    column = result.classes[_column(key)].to_numpy(dtype=float)
    return float(column[result.classes.index.get_loc(cls)])


class _Miss:
    """A constraint missed.  A quantile's message needs its value, a root search, so it is made
    only when the message is read (most verdicts are only compared with "met")."""

    def __init__(self, text: str | Callable[[], str]) -> None:
        self._text = text

    def __str__(self) -> str:
        if callable(self._text):
            self._text = self._text()
        return self._text


def _over_ceilings(utilization: pd.Series, ceilings: Mapping[str, float]) -> list[str]:
    """Each layer whose ``utilization`` (by layer name) is over its ceiling (beyond round-off), as a
    miss's text."""
    return [
        f"{layer} utilization {utilization[layer]:.1%} > {cap:.0%}"
        for layer, cap in ceilings.items()
        if utilization[layer] > cap * (1 + 1e-12)
    ]


def _failures(
    result: LayeredResult, law: ResponseLaw, bounds: _Bounds, *, first: bool = False
) -> list[_Miss]:
    """Every constraint ``result`` misses (empty when it meets them all), or with ``first`` only
    the first.  A quantile target ``t`` of ``p`` is met when ``P(T > t) <= 1 - p`` (``law``): one
    survival evaluation for all targets, where the quantiles are a root search each."""
    layers = result.layers["utilization"]
    if not result.stable:
        return [_Miss(f"stability ({result.binding} utilization >= 1)")]
    out = [_Miss(text) for text in _over_ceilings(layers, bounds.ceilings)]
    goals = [(cls, key, target) for cls, per in bounds.goals.items() for key, target in per.items()]
    rows = np.array([result.classes.index.get_loc(cls) for cls, _, _ in goals], dtype=np.int64)
    means = result.classes["response_mean"].to_numpy(dtype=float)
    over = _over(law, rows, [(key, target) for _, key, target in goals])
    for (cls, key, target), row, missed in zip(goals, rows, over, strict=True):
        if out and first:
            break
        if key == "mean" and not means[row] <= target:
            out.append(_Miss(f"{cls} mean {means[row] * 1e3:.4g} ms > {target * 1e3:.4g} ms"))
        elif key != "mean" and missed:
            out.append(_Miss(functools.partial(_quantile_miss, law, cls, int(row), float(key), target)))
    return out


def _quantile_miss(law: ResponseLaw, cls: str, row: int, p: float, target: float) -> str:
    value = float(law.quantile(np.full((law.fixed.size, 1), p))[row, 0])
    return f"{cls} {_label(p)} {value * 1e3:.4g} ms > {target * 1e3:.4g} ms"


def _over(law: ResponseLaw, rows: NDArray[np.int64], goals: list[tuple[float | str, float]]) -> list[bool]:
    """Per goal ``(key, target)`` of the class in row ``rows[i]``: a quantile over its target
    (False for a mean).  One survival evaluation: every class at every goal's target."""
    if not goals:
        return []
    t = np.array([target for _, target in goals], dtype=np.float64)
    tail = law.survival(np.broadcast_to(t, (law.fixed.size, t.size)))
    return [
        key != "mean" and bool(tail[r, i] > 1.0 - float(key))
        for i, (r, (key, _)) in enumerate(zip(rows, goals, strict=True))
    ]


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
        self.seen: dict[tuple[int, int, int], list[tuple[int, int, _Miss | None]]] = {}  # (pool, up, miss)

    def result(self, layout: Layout, up: int, *, waits: bool = False) -> LayeredResult:
        """The solve of ``layout`` with ``up`` replicas up; its ``waits`` table only if asked for
        (the verdicts do not read it)."""
        from capplan.layered.solve import solve  # noqa: PLC0415 - the solver is heavy

        self.solves += 1
        return solve(_replica(self.model, layout, self.bounds.pool, float(up)), waits=waits)

    def checked(self, layout: Layout, up: int) -> tuple[LayeredResult, ResponseLaw]:
        """The solve of ``layout`` with ``up`` replicas up as the verdicts read it: utilizations,
        means and the response law (:func:`capplan.layered.solve.solve_for_targets`)."""
        from capplan.layered.solve import solve_for_targets  # noqa: PLC0415 - the solver is heavy

        self.solves += 1
        return solve_for_targets(_replica(self.model, layout, self.bounds.pool, float(up)))

    def verdict(self, layout: Layout, up: int) -> _Miss | None:
        """The first constraint missed with ``up`` replicas up (None when all are met)."""
        shape = (layout.cores, layout.processes, layout.threads)
        size = layout.pool_size or 0
        known = self.seen.setdefault(shape, [])
        for s, u, miss in known:
            if miss is None and s <= size and u <= up:
                return None
            if miss is not None and s >= size and u >= up:
                return miss
        failures = _failures(*self.checked(layout, up), self.bounds, first=True)
        miss = failures[0] if failures else None
        known.append((size, up, miss))
        return miss

    def smallest_up(self, layout: Layout, low: int, cap: int, *, tight: bool) -> int | None:
        """Smallest ``up`` in ``[low, cap]`` meeting every constraint, or None.  With a ``tight``
        cap (the best fleet so far) the cap is tried first; otherwise the search gallops up from
        ``low``, as the answer is then usually near the floor."""
        if cap < low:
            return None
        if tight and self.verdict(layout, cap) is not None:
            return None
        if self.verdict(layout, low) is None:
            return low
        hi = cap
        if not tight:
            step, hi = 1, low
            while hi < cap:
                hi = min(low + step, cap)
                if self.verdict(layout, hi) is None:
                    break
                low, step = hi, step * 2
            else:
                if self.verdict(layout, cap) is not None:
                    return None
        while hi - low > 1:
            mid = (low + hi) // 2
            low, hi = (low, mid) if self.verdict(layout, mid) is None else (mid, hi)
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
