"""Simulate a :class:`~capplan.layered.model.ServiceModel` request by request (compiled kernel in
:mod:`capplan.layered._sim_kernel`) and summarise it as a :class:`LayeredResult` with batch-means
confidence intervals (Law, *Simulation Modeling and Analysis* 5th ed., sec. 9.5.3)."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from capplan.errors import ParameterError
from capplan.layered.model import Cpu, Hold, ServiceModel
from capplan.layered.result import QUANTILES, LayeredResult, layer_names
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
    """Per step its kind (``_sim_kernel``'s ``CPU``, ``HOLD``, ``WAIT``, ``HOLD_TO_LOCK``: a hold
    whose connection goes back once the next step, a CPU step, has the lock), pool and
    phase-type parts; per class where its steps start."""
    pools = list(model.pools)
    kinds, pool_idx, parts, start = [], [], [], [0]
    for cls in model.classes:
        for s, after in zip(cls.steps, (*cls.steps[1:], None), strict=True):
            kinds.append(0 if isinstance(s, Cpu) else 1 if isinstance(s, Hold) else 2)
            if isinstance(s, Hold) and isinstance(after, Cpu) and model.lock_share > 0:
                kinds[-1] = 3
            pool_idx.append(pools.index(s.pool) if isinstance(s, Hold) else 0)
            parts.append(_parts(s.mean, s.scv))
        start.append(len(kinds))
    return (
        np.array(kinds, np.int8),
        np.array(pool_idx, np.int64),
        np.ascontiguousarray(np.vstack(parts)),
        np.array(start, np.int64),
    )


def _estimates(values: NDArray[np.float64], quantiles: tuple[float, ...]) -> dict[str, float]:
    """Pooled mean and ``quantiles`` (keys ``mean``, ``p50`` ...) with their 95% batch-means
    half-widths (``mean_ci`` ...: 20 consecutive batches, Student t), all in two sorts."""
    keys = ["mean", *(f"p{q * 100:g}" for q in quantiles)]
    if values.size == 0:
        return {k: math.nan for k in keys} | {f"{k}_ci": math.nan for k in keys}
    pooled = [float(values.mean()), *np.quantile(values, quantiles).tolist()]
    out = dict(zip(keys, pooled, strict=True))
    if values.size < 2 * _BATCHES:
        return out | {f"{k}_ci": math.nan for k in keys}
    batches = values[: values.size // _BATCHES * _BATCHES].reshape(_BATCHES, -1)
    per_batch = np.vstack([batches.mean(axis=1), np.quantile(batches, quantiles, axis=1)])
    half = _T_975_19 * per_batch.std(axis=1, ddof=1) / math.sqrt(_BATCHES)
    return out | {f"{k}_ci": float(h) for k, h in zip(keys, half, strict=True)}


def _levels(model: ServiceModel, arr_c: NDArray[np.int64]) -> tuple[NDArray[np.int64], int]:
    """Each arrival's priority level (0 first) and the number of levels."""
    ranks = sorted({c.priority for c in model.classes}, reverse=True)
    level_of = np.array([ranks.index(c.priority) for c in model.classes], np.int64)
    return np.ascontiguousarray(level_of[arr_c]), len(ranks)


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
    measured = int(warmup * arr_t.size)
    started, finished, waited, area, span = run(
        arr_t, arr_c, *_levels(model, arr_c), kinds, pool_idx, parts, start,
        model.workers.processes, model.workers.threads, model.cores, model.lock_share,
        np.array([p.size for p in pools], np.int64),
        np.array([p.server_limit or 0 for p in pools], np.int64),
        measured, int(rng.integers(2**31 - 1)),
    )  # fmt: skip
    waited[0] = started - arr_t
    done = (np.arange(arr_t.size) >= measured) & np.isfinite(finished)
    unfinished = int(arr_t.size - measured - done.sum())
    late = f"{unfinished} measured requests had not finished when the arrivals ran out"
    notes = (late,) if unfinished else ()
    return LayeredResult(
        _class_table(model, arr_t, arr_c, finished, done),
        _layer_table(model, area, span, waited[:, done]),
        f"discrete-event simulation, {customers:,} arrivals, seed {seed}",
        notes=notes,
        waits=_wait_table(model, arr_c[done], waited[:, done]),
    )


def _class_table(
    model: ServiceModel,
    arr_t: NDArray[np.float64],
    arr_c: NDArray[np.int64],
    finished: NDArray[np.float64],
    done: NDArray[np.bool_],
) -> pd.DataFrame:
    rows = {}
    for k, cls in enumerate(model.classes):
        mine = done & (arr_c == k)
        response = finished[mine] - arr_t[mine]
        row: dict[str, float] = {"rate": cls.rate, "completed": float(mine.sum())}
        est = _estimates(response, QUANTILES)
        for key in ("mean", *(f"p{q * 100:g}" for q in QUANTILES)):
            row[f"response_{key}"], row[f"response_{key}_ci"] = est[key], est[f"{key}_ci"]
        rows[cls.name] = row
    return pd.DataFrame.from_dict(rows, orient="index")


def _kernel_rows(model: ServiceModel) -> list[tuple[int, str, int]]:
    """(kernel layer row, layer name, servers) of every layer of ``model``."""
    names = layer_names(model)
    p = model.workers.processes
    rows = [(0, names[0], model.workers.slots), (1, names[1], p), (2, names[2], model.cores)]
    i = 3
    for j, pool in enumerate(model.pools.values()):
        rows.append((3 + 2 * j, names[i], pool.size * p))
        i += 1
        if pool.server_limit:
            rows.append((4 + 2 * j, names[i], pool.server_limit))
            i += 1
    return rows


def _layer_table(
    model: ServiceModel, area: NDArray[np.float64], span: float, waited: NDArray[np.float64]
) -> pd.DataFrame:
    rows = {
        name: {
            "servers": servers,
            "utilization": float(area[row]) / (span * servers) if span > 0 else math.nan,
            "wait_mean": float(waited[row].mean()) if waited.shape[1] else math.nan,
        }
        for row, name, servers in _kernel_rows(model)
    }
    frame = pd.DataFrame.from_dict(rows, orient="index")
    frame.index.name = "layer"
    return frame


def _wait_table(model: ServiceModel, arr_c: NDArray[np.int64], waited: NDArray[np.float64]) -> pd.DataFrame:
    rows = {}
    for k, cls in enumerate(model.classes):
        for row, name, _ in _kernel_rows(model):
            est = _estimates(waited[row, arr_c == k], QUANTILES)
            keep = ("mean", "mean_ci", *(f"p{q * 100:g}" for q in QUANTILES))
            rows[(cls.name, name)] = {key: est[key] for key in keep}
    frame = pd.DataFrame.from_dict(rows, orient="index")
    frame.index.names = ["class", "layer"]
    return frame
