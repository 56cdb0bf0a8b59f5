"""Simulate a :class:`~capplan.layered.model.ServiceModel` request by request (compiled kernel in
:mod:`capplan.layered._sim_kernel`) and summarise it as a :class:`LayeredResult` with batch-means
confidence intervals (Law, *Simulation Modeling and Analysis* 5th ed., sec. 9.5.3)."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from capplan.errors import ParameterError
from capplan.layered.model import Cpu, Hold, ServiceModel, Wait
from capplan.layered.result import QUANTILES, LayeredResult
from capplan.queueing.phasetype import two_moment_parts

__all__ = ["simulate"]

_BATCHES = 20
_T_975_19 = 2.093024054408263  # Student t, 97.5% with 19 degrees of freedom


def _parts(mean: float, scv: float) -> NDArray[np.float64]:
    """The kernel's encoding of a time: the fit's parts, ``k1 = -1`` for the constant ``mean``."""
    parts = np.array([float(a) for a in two_moment_parts(mean, scv)])
    if math.isinf(parts[1]):
        return np.array([1.0, -1.0, mean, 0.0, 1.0, 1.0])
    return parts


def _draws(mean: float, scv: float, size: int, rng: np.random.Generator) -> NDArray[np.float64]:
    w1, k1, r1, _, k2, r2 = _parts(mean, scv)
    if k1 < 0:
        return np.full(size, mean)
    first = rng.random(size) < w1
    return np.where(first, rng.gamma(k1, 1.0 / r1, size), rng.gamma(k2, 1.0 / r2, size))


def _arrivals(
    model: ServiceModel, customers: int, rng: np.random.Generator
) -> tuple[NDArray[np.float64], NDArray[np.int64]]:
    """Merged renewal streams of every class, the first ``customers`` arrivals in time order."""
    lam = model.arrival_rate
    horizon = customers / lam
    times, labels = [], []
    for k, cls in enumerate(model.classes):
        if cls.rate <= 0:
            continue
        count = int(cls.rate * horizon * 1.05 + 50 * math.sqrt(cls.rate * horizon + 1) + 100)
        t = np.cumsum(_draws(1.0 / cls.rate, cls.arrival_scv, count, rng))
        times.append(t)
        labels.append(np.full(t.size, k, np.int64))
    all_t = np.concatenate(times)
    order = np.argsort(all_t, kind="stable")[:customers]
    return np.ascontiguousarray(all_t[order]), np.ascontiguousarray(np.concatenate(labels)[order])


def _encode(
    model: ServiceModel,
) -> tuple[NDArray[np.int8], NDArray[np.int64], NDArray[np.float64], NDArray[np.int64]]:
    pools = list(model.pools)
    kinds, pool_idx, parts, start = [], [], [], [0]
    for cls in model.classes:
        for s in cls.steps:
            kinds.append(0 if isinstance(s, Cpu) else 1 if isinstance(s, Hold) else 2)
            pool_idx.append(pools.index(s.pool) if isinstance(s, Hold) else 0)
            parts.append(_parts(s.mean, s.scv))
        start.append(len(kinds))
    return (
        np.array(kinds, np.int8),
        np.array(pool_idx, np.int64),
        np.ascontiguousarray(np.vstack(parts)),
        np.array(start, np.int64),
    )


def _ci(values: NDArray[np.float64], stat: str) -> tuple[float, float]:
    """Pooled estimate and 95% batch-means half-width of the mean or a quantile (``"p0.99"``)."""

    def f(x: NDArray[np.float64]) -> float:
        return float(x.mean()) if stat == "mean" else float(np.quantile(x, float(stat[1:])))

    if values.size < 2 * _BATCHES:
        return f(values) if values.size else math.nan, math.nan
    batches = np.array([f(b) for b in np.array_split(values, _BATCHES)])
    return f(values), _T_975_19 * float(batches.std(ddof=1)) / math.sqrt(_BATCHES)


def simulate(
    model: ServiceModel, customers: int = 1_000_000, *, seed: int, warmup: float = 0.1
) -> LayeredResult:
    """Simulate ``customers`` arrivals (the first ``warmup`` fraction discarded)."""
    from capplan.layered._sim_kernel import run  # noqa: PLC0415 - numba loads only to simulate

    if not isinstance(customers, int) or customers < 100:
        raise ParameterError(f"customers must be an integer >= 100, got {customers!r}")
    if not 0 <= warmup < 1:
        raise ParameterError(f"warmup must lie in [0, 1), got {warmup!r}")
    if model.arrival_rate <= 0:
        raise ParameterError("simulate: every class has rate 0: nothing arrives")
    rng = np.random.default_rng(seed)
    arr_t, arr_c = _arrivals(model, customers, rng)
    kinds, pool_idx, parts, start = _encode(model)
    pools = list(model.pools.values())
    started, finished = run(
        arr_t, arr_c, kinds, pool_idx, parts, start,
        model.workers.processes, model.workers.threads, model.cores, model.lock_share,
        np.array([p.size for p in pools], np.int64),
        np.array([p.server_limit or 0 for p in pools], np.int64),
        int(rng.integers(2**31 - 1)),
    )  # fmt: skip
    keep = np.arange(arr_t.size) >= int(warmup * arr_t.size)
    done = keep & np.isfinite(finished)
    rows = {}
    for k, cls in enumerate(model.classes):
        mine = done & (arr_c == k)
        response = finished[mine] - arr_t[mine]
        queued = started[mine] - arr_t[mine]
        row: dict[str, float] = {"rate": cls.rate, "completed": float(mine.sum())}
        row["response_mean"], row["response_mean_ci"] = _ci(response, "mean")
        for q in QUANTILES:
            row[f"response_p{q * 100:g}"], row[f"response_p{q * 100:g}_ci"] = _ci(response, f"p{q}")
        row["worker_wait_mean"], row["worker_wait_mean_ci"] = _ci(queued, "mean")
        rows[cls.name] = row
    unfinished = int((keep & ~np.isfinite(finished)).sum())
    notes = (
        (f"{unfinished} measured requests had not finished when the arrivals ran out",) if unfinished else ()
    )
    from capplan.layered.solve import layer_loads  # noqa: PLC0415 - offered loads, as the solver's

    return LayeredResult(
        pd.DataFrame.from_dict(rows, orient="index"),
        layer_loads(model),
        f"discrete-event simulation, {customers:,} arrivals, seed {seed}",
        notes=notes,
    )
