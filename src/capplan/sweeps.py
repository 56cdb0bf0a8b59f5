"""Parameter sweeps: evaluate a model or a simulation over a grid and collect a DataFrame.

A sweep is the planner's "what if" over many settings at once: arrival rates times server counts,
cache sizes times skews, HPA targets times windows.  Three ways to run one:

* ``vectorized=True`` -- the model broadcasts over numpy arrays (every :mod:`capplan.queueing`
  model does), so the whole grid is **one call** with one array per parameter;
* the default -- one call per grid point in this process, with an optional progress bar;
* ``executor=`` -- any :class:`concurrent.futures.Executor`: a ``ProcessPoolExecutor`` for
  simulations on this machine, or a dask.distributed cluster through ``Client.get_executor()``.
  Points are sent in chunks (``chunksize``) so that per-task overhead stays small.

The result has one row per grid point, in grid order: the parameters, then the outputs.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import Executor, as_completed
from dataclasses import asdict, is_dataclass
from typing import Any, Literal

import numpy as np
import pandas as pd
from tqdm import tqdm

from capplan.errors import ParameterError

__all__ = ["grid_points", "sweep"]

Grid = Mapping[str, Sequence[Any] | np.ndarray | Any] | pd.DataFrame | Iterable[Mapping[str, Any]]

#: Column holding the error message of a failed point when ``errors="record"``.
ERROR_COLUMN = "error"


def grid_points(grid: Grid) -> pd.DataFrame:
    """The points of a grid as a DataFrame, one row per point.

    Parameters
    ----------
    grid
        A mapping ``{name: values}`` (the Cartesian product of the values, the last name varying
        fastest; a scalar value is a fixed parameter), a DataFrame (its rows are the points), or an
        iterable of mappings (explicit points, which must all have the same keys).
    """
    if isinstance(grid, pd.DataFrame):
        frame = grid.reset_index(drop=True)
    elif isinstance(grid, Mapping):
        if not grid:
            raise ParameterError("grid: needs at least one parameter, got an empty mapping")
        names = [str(name) for name in grid]
        axes = [_axis(name, values) for name, values in zip(names, grid.values(), strict=True)]
        frame = pd.DataFrame(list(itertools.product(*axes)), columns=names)
    else:
        rows = list(grid)
        if rows and not all(isinstance(row, Mapping) for row in rows):
            raise ParameterError("grid: an iterable grid must hold mappings {parameter: value}")
        keys = {tuple(row) for row in rows}
        if len(keys) > 1:
            raise ParameterError(f"grid: explicit points must share their parameters, got {sorted(keys)}")
        frame = pd.DataFrame(rows)
    if frame.empty:
        raise ParameterError("grid: has no points")
    if frame.columns.duplicated().any():
        raise ParameterError(f"grid: duplicate parameter names {list(frame.columns)}")
    return frame


def sweep(
    fn: Callable[..., Any],
    grid: Grid,
    *,
    executor: Executor | None = None,
    vectorized: bool = False,
    chunksize: int | None = None,
    errors: Literal["raise", "record"] = "raise",
    progress: bool = False,
    output_name: str = "value",
) -> pd.DataFrame:
    """Evaluate ``fn(**point)`` at every point of ``grid``; return parameters and outputs.

    Parameters
    ----------
    fn
        Called with the grid's parameters as keyword arguments.  It may return a scalar (one column
        named ``output_name``), a mapping ``{name: value}``, a :class:`pandas.Series`, a dataclass,
        or any object with a ``to_dict()`` method; each key becomes a column.  With an executor
        that runs in other processes, ``fn`` must be picklable (a module-level function or a
        :func:`functools.partial` of one).
    grid
        See :func:`grid_points`.
    executor
        Where to run the points: any :class:`concurrent.futures.Executor` (e.g.
        ``ProcessPoolExecutor()``, or ``dask.distributed.Client(...).get_executor()``).  ``None``
        runs them here, in order.
    vectorized
        ``fn`` broadcasts over numpy arrays: call it once with one array per parameter (each of the
        grid's length).  Its outputs must be scalars or arrays of that length.  Ignores
        ``executor`` and ``chunksize``.
    chunksize
        Points per task sent to the executor (default: enough for about four tasks per worker
        slot, at most 10,000 points each).
    errors
        ``"raise"`` (default) stops at the first failing point and names it; ``"record"`` keeps
        going and puts the exception's message in an ``error`` column (NaN outputs there), which
        suits grids that cross into unstable or infeasible regions.
    progress
        Show a progress bar (tqdm) as points complete.
    output_name
        Column name for scalar outputs.

    Returns
    -------
    pandas.DataFrame
        One row per grid point, in grid order: the parameter columns, then the output columns.
    """
    if errors not in ("raise", "record"):
        raise ParameterError(f"errors: must be 'raise' or 'record', got {errors!r}")
    if not callable(fn):
        raise ParameterError(f"fn: must be callable, got {type(fn).__name__}")
    points = grid_points(grid)
    if vectorized:
        outputs = _vectorized(fn, points, output_name)
    else:
        records = [{str(k): v for k, v in row.items()} for row in points.to_dict(orient="records")]
        size = chunksize if chunksize is not None else _default_chunksize(len(records), executor)
        if size < 1:
            raise ParameterError(f"chunksize: must be >= 1, got {size}")
        chunks = [records[i : i + size] for i in range(0, len(records), size)]
        results = _run_chunks(fn, chunks, executor, errors, progress, len(records))
        outputs = _outputs_frame(results, output_name)
    clash = set(outputs.columns) & set(points.columns)
    if clash:
        raise ParameterError(f"fn: output names {sorted(clash)} clash with parameter names")
    return pd.concat([points, outputs.set_index(points.index)], axis=1)


def _axis(name: str, values: Any) -> list[Any]:
    if isinstance(values, str | bytes) or np.ndim(values) == 0:
        return [values]
    axis = list(np.asarray(values).tolist()) if isinstance(values, np.ndarray) else list(values)
    if not axis:
        raise ParameterError(f"grid[{name!r}]: has no values")
    return axis


def _default_chunksize(points: int, executor: Executor | None) -> int:
    if executor is None:
        return points
    workers = getattr(executor, "_max_workers", None) or 8
    return int(min(10_000, max(1, -(-points // (4 * int(workers))))))


def _as_mapping(value: Any, output_name: str) -> dict[str, Any]:
    if isinstance(value, Mapping):
        return {str(k): v for k, v in value.items()}
    if isinstance(value, pd.Series):
        return {str(k): v for k, v in value.items()}
    if is_dataclass(value) and not isinstance(value, type):
        return asdict(value)
    to_dict = getattr(value, "to_dict", None)
    if callable(to_dict):
        out = to_dict()
        if isinstance(out, Mapping):
            return {str(k): v for k, v in out.items()}
    return {output_name: value}


def _evaluate_chunk(
    fn: Callable[..., Any], chunk: list[dict[str, Any]], errors: str
) -> list[tuple[Any, str | None]]:
    """Run one chunk of points (executes in the worker)."""
    out: list[tuple[Any, str | None]] = []
    for point in chunk:
        try:
            out.append((fn(**point), None))
        except Exception as exc:
            if errors == "raise":
                raise SweepPointError(point, exc) from exc
            out.append((None, f"{type(exc).__name__}: {exc}"))
    return out


class SweepPointError(RuntimeError):
    """A grid point's evaluation failed; carries the point and the original error's text."""

    def __init__(self, point: Mapping[str, Any], error: BaseException) -> None:
        self.point = dict(point)
        super().__init__(f"sweep: fn failed at {self.point}: {type(error).__name__}: {error}")

    def __reduce__(self) -> tuple[Any, ...]:  # picklable across processes (dask, process pools)
        return (_rebuild_point_error, (self.point, str(self.args[0])))


def _rebuild_point_error(point: dict[str, Any], message: str) -> SweepPointError:
    err = SweepPointError.__new__(SweepPointError)
    err.point = point
    RuntimeError.__init__(err, message)
    return err


def _run_chunks(
    fn: Callable[..., Any],
    chunks: list[list[dict[str, Any]]],
    executor: Executor | None,
    errors: str,
    progress: bool,
    total: int,
) -> list[tuple[Any, str | None]]:
    parts: list[list[tuple[Any, str | None]]] = [[] for _ in chunks]
    with tqdm(total=total, disable=not progress, unit="point", desc="sweep") as bar:
        if executor is None:
            for i, chunk in enumerate(chunks):
                parts[i] = _evaluate_chunk(fn, chunk, errors)
                bar.update(len(chunk))
        else:
            futures = {
                executor.submit(_evaluate_chunk, fn, chunk, errors): i for i, chunk in enumerate(chunks)
            }
            try:
                for future in as_completed(futures):
                    i = futures[future]
                    parts[i] = future.result()
                    bar.update(len(chunks[i]))
            except BaseException:
                for future in futures:
                    future.cancel()
                raise
    return [r for part in parts for r in part]


def _outputs_frame(results: list[tuple[Any, str | None]], output_name: str) -> pd.DataFrame:
    rows = [_as_mapping(value, output_name) if err is None else {} for value, err in results]
    frame = pd.DataFrame(rows)
    if any(err is not None for _, err in results):
        frame[ERROR_COLUMN] = [err for _, err in results]
    return frame


def _vectorized(fn: Callable[..., Any], points: pd.DataFrame, output_name: str) -> pd.DataFrame:
    n = len(points)
    arrays = {name: points[name].to_numpy() for name in points.columns}
    value = fn(**arrays)
    columns = _as_mapping(value, output_name)
    out: dict[str, np.ndarray] = {}
    for name, column in columns.items():
        array = np.asarray(column)
        if array.ndim == 0:
            array = np.full(n, array[()])
        if array.shape != (n,):
            raise ParameterError(
                f"fn: vectorized output {name!r} has shape {array.shape}, expected ({n},) "
                "(one value per grid point)"
            )
        out[name] = array
    return pd.DataFrame(out)
