"""CPU in Python, in native code and in the kernel per function, from scalene JSON: the share of
a request's CPU that can run outside the interpreter lock (``ServiceModel.gil_free``).

scalene 2.x reports per function (``files[path].functions[]``) ``n_cpu_percent_python``,
``n_cpu_percent_c`` and ``n_sys_percent`` as percent of the elapsed wall time (self time; see
:mod:`capplan.profiles.scalene`), and ``n_peak_mb``, ``n_avg_mb`` and ``n_malloc_mb``, which
mean something only without ``--cpu-only`` (the top-level ``"memory"`` is then true; under
``--cpu-only`` they are written as zeros and read here as NaN).  The estimate

.. math:: g = \frac{\text{native}}{\text{python} + \text{native}}

is an upper bound on the lock-free share: native code that keeps the lock (most builtins, C
extensions that do not release it) counts as lock-free here.  System time is reported but left
out of :math:`g`: under scalene it is mostly scalene's own signal handling (a CPU-bound test
program shows 0.2-0.7 s of system time under scalene and 0.03 s without it).  scalene's split of
native and Python time is itself statistical (its timer signals are delivered between bytecodes,
and the delay is charged to native code), so on a busy machine pure-Python code shows native time
that grows with the load: 0.10-0.60 of a pure-Python loop's CPU on a shared 2-core machine, where
short numpy matrix products showed 0.42-0.81 and long ones (900 x 900) 0.84-1.00.  Profile on a
quiet machine for this figure.
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import pandas as pd

from capplan.profiles import ProfileError, module_of
from capplan.profiles.detect import decode_json, read_profile_file
from capplan.profiles.scalene import _program_root, _relative, scalene_functions

__all__ = ["CpuSplit", "cpu_split"]

_FIELDS = {
    "python_s": "n_cpu_percent_python",
    "native_s": "n_cpu_percent_c",
    "system_s": "n_sys_percent",
}
_MEMORY = {"peak_mb": "n_peak_mb", "avg_mb": "n_avg_mb", "malloc_mb": "n_malloc_mb"}


@dataclass(frozen=True, eq=False)
class CpuSplit:
    """Per function CPU seconds in Python, native code and the kernel, ``native_share`` (native
    over Python + native), and memory (MB, NaN when the run was ``--cpu-only``).  ``gil_free`` is
    the native share of the chosen functions' CPU (all functions when ``functions`` was not
    given)."""

    table: pd.DataFrame
    gil_free: float
    source: str
    elapsed_s: float
    max_footprint_mb: float | None
    method: str = "scalene self CPU per function: native / (python + native), an upper bound on gil_free"

    def to_frame(self) -> pd.DataFrame:
        return self.table.copy()

    def __repr__(self) -> str:
        return (
            f"CpuSplit(source={os.path.basename(self.source)!r}, functions={len(self.table)}, "
            f"gil_free={self.gil_free:.3f})"
        )


def _number(fn: dict[str, Any], key: str, where: str, default: float | None = None) -> float:
    value = fn.get(key, default)
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise ProfileError(f"{where}.{key}: expected a number, got {value!r}")
    return float(value)


def _rows(doc: dict[str, Any], source: str, elapsed: float) -> list[dict[str, Any]]:
    root = _program_root(doc)
    memory = doc.get("memory") is not False  # scalene writes "memory": false under --cpu-only
    rows = []
    for where, path, fn in scalene_functions(doc, source):
        file = _relative(path, root)
        row: dict[str, Any] = {"function": fn["line"], "module": module_of(file), "file": file}
        for col, key in _FIELDS.items():
            row[col] = _number(fn, key, where, 0.0 if key == "n_sys_percent" else None) / 100 * elapsed
        for col, key in _MEMORY.items():
            row[col] = _number(fn, key, where) if memory and key in fn else math.nan
        rows.append(row)
    return rows


def cpu_split(scalene_json: str | os.PathLike[str], *, functions: Iterable[str] | None = None) -> CpuSplit:
    """Python / native / system CPU per function of a scalene JSON profile, and ``gil_free``.

    Parameters
    ----------
    scalene_json : path
        ``scalene run -o profile.json ...`` output (scalene 2.x).
    functions : iterable of str, optional
        Names of the functions whose CPU is the request's (e.g. the handlers and what they
        call); ``gil_free`` is computed over them only.

    Raises
    ------
    ProfileError
        Not scalene JSON, a malformed function entry (naming the key), no CPU time in the chosen
        functions, or a function name that is not in the file.
    """
    source, text = read_profile_file(scalene_json, caller="cpu_split")
    doc = decode_json(text, source) if text.lstrip().startswith("{") else None
    if not isinstance(doc, dict) or "elapsed_time_sec" not in doc:
        raise ProfileError(f"{source}: not scalene JSON (no elapsed_time_sec); record with scalene run -o")
    elapsed = _number(doc, "elapsed_time_sec", source)
    table = pd.DataFrame(_rows(doc, source, elapsed))
    if len(table):
        table["cpu_s"] = table["python_s"] + table["native_s"] + table["system_s"]
        compute = (table["python_s"] + table["native_s"]).where(lambda x: x > 0)
        table["native_share"] = (table["native_s"] / compute).fillna(0.0)
    chosen = table
    if functions is not None:
        names = list(functions)
        unknown = sorted(set(names) - set(table.get("function", [])))
        if unknown:
            raise ProfileError(f"{source}: functions {unknown} are not in the profile")
        chosen = table[table["function"].isin(names)]
    total = float(chosen["cpu_s"].sum()) if len(chosen) else 0.0
    if not total > 0:
        raise ProfileError(f"{source}: empty profile (no CPU time in the chosen functions)")
    busy = float(chosen["python_s"].sum() + chosen["native_s"].sum())
    gil_free = float(chosen["native_s"].sum()) / busy if busy > 0 else 0.0
    peak = doc.get("max_footprint_mb") if doc.get("memory") is not False else None
    return CpuSplit(
        table.sort_values("cpu_s", ascending=False, ignore_index=True),
        gil_free,
        source,
        elapsed,
        float(peak) if isinstance(peak, (int, float)) and not isinstance(peak, bool) else None,
    )
