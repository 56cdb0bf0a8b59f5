"""Compiled time-stepping of the retry fluid model (see :mod:`capplan.overload.spike`)."""

from __future__ import annotations

import numba
import numpy as np
from numpy.typing import NDArray

__all__ = ["DIVERGED", "RECOVERED", "UNDECIDED", "fluid_steps"]

RECOVERED = 1
DIVERGED = 2
UNDECIDED = 0


@numba.njit(cache=True, nogil=True)
def _timeout_probability(
    table: NDArray[np.float64], x_step: float, v_step: float, x: float, v: float
) -> float:
    """Bilinear interpolation of ``table[attempt rate, backlog]`` (clamped at the last row/column)."""
    nx, nv = table.shape
    fx = min(x / x_step, nx - 1.0)
    fv = v / v_step
    if fv >= nv - 1.0:
        return 1.0
    i = min(int(fx), nx - 2)
    k = int(fv)
    a = fx - i
    b = fv - k
    lo = table[i, k] * (1.0 - b) + table[i, k + 1] * b
    hi = table[i + 1, k] * (1.0 - b) + table[i + 1, k + 1] * b
    return float(lo * (1.0 - a) + hi * a)


@numba.njit(cache=True, nogil=True)
def fluid_steps(
    rates: NDArray[np.float64],
    h: float,
    work: float,
    table: NDArray[np.float64],
    x_step: float,
    v_step: float,
    delays: NDArray[np.int64],
    budget: NDArray[np.float64],
    spike_end: int,
    settle: int,
    diverge_at: float,
    out: NDArray[np.float64],
) -> int:
    """Step the fluid through ``rates`` (first attempts per step of ``h`` seconds).

    ``work`` is the server-seconds per attempt divided by the servers (E[S] / c), so the backlog
    ``v`` (seconds of work per server) grows by ``attempts * work - h`` per step.  ``table`` gives
    the timeout probability against the attempt rate (rows, ``x_step`` apart) and the backlog
    (columns, ``v_step`` apart; beyond the last column, 1).  Retry ``k`` of an attempt sent at
    step ``j`` arrives at step ``j + delays[k]``.  ``budget = (ratio, burst)`` limits retries
    (ratio < 0: no budget).  After ``spike_end`` the run stops as ``RECOVERED`` once the backlog
    has been empty for ``settle`` steps, or ``DIVERGED`` once it exceeds ``diverge_at``.
    ``out[j]`` receives ``(backlog, attempt rate, goodput)`` of step ``j`` when it has rows.
    """
    levels = delays.shape[0]
    ring = delays.max() + 1
    pending = np.zeros((levels, ring))
    tokens = budget[1]
    v = 0.0
    empty_for = 0
    keep = out.shape[0] > 0
    for j in range(rates.shape[0]):
        slot = j % ring
        first = rates[j] * h
        if budget[0] >= 0.0:
            tokens = min(budget[1], tokens + budget[0] * first)
        attempts = first
        for k in range(1, levels):
            attempts += pending[k, slot]
        p = _timeout_probability(table, x_step, v_step, attempts / h, v)
        wanted = p * (attempts - pending[levels - 1, slot]) if levels > 1 else 0.0
        scale = 1.0
        if budget[0] >= 0.0 and wanted > 0.0:
            allowed = min(wanted, tokens)
            tokens -= allowed
            scale = allowed / wanted
        for k in range(levels - 1, 0, -1):
            sent = first if k == 1 else pending[k - 1, slot]
            pending[k, (j + delays[k]) % ring] += sent * p * scale
        for k in range(1, levels):
            pending[k, slot] = 0.0
        if keep:
            out[j, 0] = v
            out[j, 1] = attempts / h
            out[j, 2] = attempts * (1.0 - p) / h
        v = max(0.0, v + attempts * work - h)
        if j >= spike_end:
            empty_for = empty_for + 1 if v == 0.0 else 0
            if empty_for >= settle:
                return RECOVERED
            if v > diverge_at:
                return DIVERGED
    return UNDECIDED
