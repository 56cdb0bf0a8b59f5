"""What :func:`capplan.layered.sizing.size_service` takes: targets, ceilings and candidate layouts,
checked, with errors naming the field."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from capplan.errors import ParameterError
from capplan.layered.model import ServiceModel
from capplan.layered.result import QUANTILES, layer_names

__all__ = ["Layout"]

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
