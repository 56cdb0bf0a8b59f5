"""Response time ``T = W + S`` of a gridded wait (:mod:`capplan.queueing._grid`): CDF and quantiles.

With the wait's cell ``j`` spread evenly over ``[lo_j, hi_j]`` (``lo_0 = 0``, ``hi_0 = h/2``,
``lo_j = (j - 1/2) h``, ``hi_j = (j + 1/2) h`` otherwise), Simpson's rule per cell gives

    P(T <= t) = a F(t) + sum_{j: lo_j <= t} c_j [F(t - lo_j) + 4 F(t - mid_j) + F(t - hi_j)] / 6,

``a`` the atom at zero, ``F`` the service CDF (taken at ``max(., 0)``).  Apart from cell 0's
midpoint, every argument is ``t - i h/2``: one service-CDF call on that half-step lattice per
time, each value weighted by the cells it belongs to.  At times on the lattice itself
(``t = k h/2``) the sum is a dot product with the service CDF tabulated once per grid, so a
quantile is located on the lattice first (a few dot products), then the cubic through four
lattice values estimates it inside the half-step bracket and regula falsi on the CDF finishes it
(the CDF is smooth between lattice points: one evaluation usually settles it to 1e-9).
Everything is vectorised over (grid, time) pairs: one service-CDF call per stage.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
from numpy.typing import NDArray

from capplan._validate import FloatArray

__all__ = ["cdf_function", "response_cdf", "response_quantiles"]

_NEGLIGIBLE = 1e-16  # cells at or below this mass are left out, as they always were
_RTOL = 1e-9  # a quantile's refinement stops once a step moves it by at most this, relatively
_REFINE_STEPS = 8
CDF = Callable[[FloatArray], FloatArray]


def cdf_function(dist: Any) -> CDF:
    """``dist.cdf`` as a function of one array, without SciPy's per-call argument handling.

    For a SciPy frozen continuous distribution with scalar parameters this is SciPy's own
    computation (the standardised point, 0 at or below the support, 1 at or above it, the family's
    ``_cdf`` inside), so values are identical; anything else uses ``dist.cdf``.
    """
    family = getattr(dist, "dist", None)
    needed = ("_parse_args", "_get_support", "_argcheck", "_cdf")
    if family is None or not all(hasattr(family, name) for name in needed) or not hasattr(dist, "args"):
        return lambda x: np.asarray(dist.cdf(x), dtype=np.float64)
    try:
        shapes, loc, scale = family._parse_args(*dist.args, **dist.kwds)
        values = [float(v) for v in (*shapes, loc, scale)]
        lower, upper = (float(b) for b in family._get_support(*shapes))
        valid = bool(np.all(family._argcheck(*shapes))) and values[-1] > 0
    except (TypeError, ValueError):
        return lambda x: np.asarray(dist.cdf(x), dtype=np.float64)
    if not valid:
        return lambda x: np.asarray(dist.cdf(x), dtype=np.float64)
    *shape_values, loc_value, scale_value = values

    def cdf(x: FloatArray) -> FloatArray:
        z = (np.asarray(x, dtype=np.float64) - loc_value) / scale_value
        out = np.zeros(z.shape)
        out[z >= upper] = 1.0
        inside = (z > lower) & (z < upper)
        if inside.any():
            zi = z[inside]
            out[inside] = family._cdf(zi, *(np.full(zi.shape, s) for s in shape_values))
        return out

    return cdf


def _dot(a: FloatArray, b: FloatArray) -> float:
    """``a . b`` without BLAS: a threaded BLAS dot product waits for idle cores on a busy machine."""
    return float(np.einsum("i,i->", a, b))


def _selected(step: float, t: float, size: int) -> int:
    """Index of the last cell with ``lo_j <= t`` (``lo_j = max(j step - step/2, 0)``, as computed
    for the cells' centres), at most ``size - 1``."""
    j = min(int(t / step + 0.5), size - 1)
    while j + 1 < size and (j + 1) * step - 0.5 * step <= t:
        j += 1
    while j >= 1 and j * step - 0.5 * step > t:
        j -= 1
    return j


def _weights(cells: FloatArray, last: int, atom: float) -> tuple[FloatArray, float]:
    """Weights of ``F(t - i step/2)``, ``i = 0 .. 2 last + 1``, and of ``F(t - step/4)``."""
    c = np.where(cells[: last + 1] > _NEGLIGIBLE, cells[: last + 1], 0.0) / 6.0
    w = np.zeros(2 * last + 2)
    w[0] = atom + c[0]
    w[1::2] += c  # hi_j = (j + 1/2) step, cell 0's included
    w[1 : 2 * last : 2] += c[1:]  # lo_j = (j - 1/2) step for j >= 1
    w[2::2] += 4.0 * c[1:]  # mid_j = j step
    return w, 4.0 * float(c[0])


def response_cdf(grids: Sequence[Any], t: FloatArray, service_cdf: CDF) -> FloatArray:
    """``P(W + S <= t[i])`` for the gridded wait ``grids[i]`` (module docstring), one service-CDF call."""
    tt = np.asarray(t, dtype=np.float64).ravel()
    out = np.empty(tt.size)
    longest: dict[int, tuple[Any, float]] = {}
    for grid, when in zip(grids, tt.tolist(), strict=True):  # each grid's longest head first
        if math.isfinite(when) and when > longest.get(id(grid), (grid, -1.0))[1]:
            longest[id(grid)] = (grid, when)
    for grid, when in longest.values():
        grid.head_until(when)
    points: list[FloatArray] = []
    plans: list[tuple[int, FloatArray, float]] = []
    for i, (grid, ti) in enumerate(zip(grids, tt, strict=True)):
        if not math.isfinite(ti):
            cells = grid.cells
            out[i] = grid.atom * float(service_cdf(np.array([ti]))[0]) + float(
                cells[cells > _NEGLIGIBLE].sum()
            )
            continue
        cells = grid.head_until(ti)
        last = _selected(grid.step, ti, cells.size)
        w, quarter = _weights(cells, last, grid.atom)
        points.append(ti - np.arange(w.size) * (0.5 * grid.step))
        points.append(np.array([ti - 0.25 * grid.step]))
        plans.append((i, w, quarter))
    if plans:
        values = service_cdf(np.maximum(np.concatenate(points), 0.0))
        start = 0
        for i, w, quarter in plans:
            out[i] = _dot(w, values[start : start + w.size]) + quarter * float(values[start + w.size])
            start += w.size + 1
    return out


class _Lattice:
    """A grid's response CDF at the lattice times ``k step/2``, from the service CDF tabulated on
    the lattice (extended as larger ``k`` are asked for)."""

    def __init__(self, grid: Any, service_cdf: CDF) -> None:
        self.grid, self.cdf, self.half = grid, service_cdf, 0.5 * grid.step
        self.top = -1
        self.table = np.empty(0)
        self.last = 0
        self.w_rev = self.c = np.empty(0)

    def extend(self, k: int) -> None:
        """Tabulate up to at least ``k`` (by a quarter more than asked, to spare calls)."""
        if k <= self.top:
            return
        top = max(k, 2 * self.top + 16)
        new = self.cdf(np.arange(self.top + 1, top + 1) * self.half)
        # table[m + 2] holds F(max(m, 0) h/2), so the two entries before F(0) repeat it
        self.table = (
            np.concatenate([new[:1], new[:1], new]) if self.top < 0 else np.concatenate([self.table, new])
        )
        self.top = top
        cells = self.grid.head_until(top * self.half)
        self.last = _selected(self.grid.step, top * self.half, cells.size)
        w, _ = _weights(cells, self.last, self.grid.atom)
        self.w_rev = np.ascontiguousarray(w[::-1])  # dot products with contiguous slices only
        self.c = np.where(cells > _NEGLIGIBLE, cells, 0.0)[: self.last + 1] / 6.0

    def value(self, k: int, quarter: float) -> float:
        """The CDF at ``k h/2``, given ``quarter = F(k h/2 - h/4)``: cells ``j <= (k + 1)/2`` count,
        the last one through its upper end only."""
        self.extend(k)
        j = min((k + 1) // 2, self.last)
        g = self.table
        w = self.w_rev[self.w_rev.size - 2 * j - 1 :]  # weights 2j .. 0 against F at k - 2j .. k
        body = _dot(w, g[k + 2 - 2 * j : k + 3])
        return body + float(self.c[j]) * float(g[k + 1 - 2 * j]) + 4.0 * float(self.c[0]) * quarter


def _lattice_values(lattices: Sequence[_Lattice], ks: NDArray[np.int64], service_cdf: CDF) -> FloatArray:
    """``lattices[i]`` at ``ks[i]``: one service-CDF call for the cell-0 midpoints, then dot products."""
    half = np.array([lat.half for lat in lattices])
    quarters = service_cdf(np.maximum(ks * half - 0.5 * half, 0.0))
    return np.array([lat.value(int(k), float(q)) for lat, k, q in zip(lattices, ks, quarters, strict=True)])


def _brackets(grids: Sequence[Any], p: FloatArray, service: Any) -> tuple[FloatArray, FloatArray]:
    """``max(q_W(p), q_S(p)) <= q_T(p) <= q_W(p') + q_S(p') + step``, ``p' = (1 + p)/2``."""
    p_hi = 0.5 * (1.0 + p)
    both = np.concatenate([p, p_hi])
    q_s = np.asarray(service.ppf(both), dtype=np.float64)
    q_w = np.array([float(g.quantile(np.asarray(x))) for g, x in zip(list(grids) * 2, both, strict=True)])
    n = p.size
    steps = np.array([g.step for g in grids])
    return np.maximum(q_w[:n], q_s[:n]), q_w[n:] + q_s[n:] + steps


def _on_lattice(
    lattices: Sequence[_Lattice],
    p: FloatArray,
    a: NDArray[np.int64],
    top: NDArray[np.int64],
    service_cdf: CDF,
) -> tuple[NDArray[np.int64], NDArray[np.int64], FloatArray, FloatArray]:
    """Adjacent lattice points ``a, b`` with ``cdf(a) < p <= cdf(b)`` between ``a`` and ``top``
    (the answer usually lies just above ``a``: the upper end is tried at growing distances first),
    then secant steps on the index with a bisection every third step; returns ``a, b, cdf(a) - p,
    cdf(b) - p`` (a bracket that does not hold is returned as it is)."""
    fa = _lattice_values(lattices, a, service_cdf) - p
    reach = np.maximum((a + 15) // 16, 4)  # try a/16 above a, then 3a/16, 7a/16 ...
    b = np.minimum(a + reach, top)
    fb = _lattice_values(lattices, b, service_cdf) - p
    for _ in range(64):
        grow = np.flatnonzero((fa < 0) & (fb < 0) & (b < top))
        if grow.size == 0:
            break
        a[grow], fa[grow] = b[grow], fb[grow]
        reach[grow] *= 2
        b[grow] = np.minimum(b[grow] + reach[grow], top[grow])
        fb[grow] = _lattice_values([lattices[i] for i in grow.tolist()], b[grow], service_cdf) - p[grow]
    for step in range(200):
        live = (b - a > 1) & (fa < 0) & (fb >= 0)
        if not live.any():
            break
        idx = np.flatnonzero(live)
        guess = a[idx] + np.round(-fa[idx] / (fb[idx] - fa[idx]) * (b[idx] - a[idx])).astype(np.int64)
        mid = (a[idx] + b[idx]) // 2
        k = np.clip(mid if step % 3 == 2 else guess, a[idx] + 1, b[idx] - 1)
        fk = _lattice_values([lattices[i] for i in idx.tolist()], k, service_cdf) - p[idx]
        up = fk >= 0
        b[idx[up]], fb[idx[up]] = k[up], fk[up]
        a[idx[~up]], fa[idx[~up]] = k[~up], fk[~up]
    return a, b, fa, fb


def response_quantiles(grids: Sequence[Any], p: FloatArray, service: Any) -> FloatArray:
    """``q_T(p[i])`` of the gridded wait ``grids[i]`` with service ``service`` (a distribution with
    ``cdf`` and ``ppf``), between the bracket the bisection of earlier versions used,
    ``max(q_W(p), q_S(p))`` and ``q_W(p') + q_S(p') + step``, ``p' = (1 + p)/2``: located on the
    half-step lattice, then refined inside one half step (module docstring)."""
    pp = np.asarray(p, dtype=np.float64).ravel()
    if pp.size == 0:
        return np.empty(0)
    service_cdf = cdf_function(service)
    lo, hi = _brackets(grids, pp, service)
    half = 0.5 * np.array([g.step for g in grids])
    a = np.floor(lo / half).astype(np.int64)
    top = np.maximum(np.ceil(hi / half).astype(np.int64), a + 1)
    by_grid = {id(g): _Lattice(g, service_cdf) for g in dict.fromkeys(grids)}
    lattices = [by_grid[id(g)] for g in grids]
    first = np.minimum(a + 2 * np.maximum((a + 15) // 16, 4), top)
    for g in by_grid.values():  # every pair's first two tries in one table per grid
        g.extend(int(max(k for lat, k in zip(lattices, first, strict=True) if lat is g)))
    a, b, fa, fb = _on_lattice(lattices, pp, a, top, service_cdf)
    start = (a + _inside(lattices, pp, (a, b, fa, fb), service_cdf)) * half
    root = _refine(grids, pp, (a * half, b * half, fa, fb), start, service_cdf)
    return np.asarray(np.clip(root, lo, hi))


def _inside(
    lattices: Sequence[_Lattice],
    p: FloatArray,
    bracket: tuple[NDArray[np.int64], NDArray[np.int64], FloatArray, FloatArray],
    service_cdf: CDF,
) -> FloatArray:
    """Where in ``[a, b]`` (a fraction of the half step) the CDF crosses ``p``: the cubic in the CDF
    value through the lattice points ``a - 1 .. b + 1`` (inverse interpolation), where those
    values rise; else linear between ``a`` and ``b``."""
    a, b, fa, fb = bracket
    with np.errstate(divide="ignore", invalid="ignore"):
        out = np.where(fb > fa, -fa / (fb - fa), 1.0)
    idx = np.flatnonzero((b == a + 1) & (a >= 1) & (fa < 0) & (fb >= 0))
    if idx.size == 0:
        return np.asarray(np.clip(out, 0.0, 1.0))
    sub = [lattices[i] for i in idx.tolist()]
    f = np.stack(
        [
            _lattice_values(sub, a[idx] - 1, service_cdf) - p[idx],
            fa[idx],
            fb[idx],
            _lattice_values(sub, b[idx] + 1, service_cdf) - p[idx],
        ]
    )
    x = np.arange(-1.0, 3.0)
    rising = np.all(np.diff(f, axis=0) > 0, axis=0)
    with np.errstate(divide="ignore", invalid="ignore"):
        u = sum(x[i] * np.prod([-f[j] / (f[i] - f[j]) for j in range(4) if j != i], axis=0) for i in range(4))
    good = rising & np.isfinite(u) & (u >= 0.0) & (u <= 1.0)
    out[idx] = np.where(good, u, out[idx])
    return np.asarray(np.clip(out, 0.0, 1.0))


def _secant(ta: FloatArray, tb: FloatArray, fa: FloatArray, fb: FloatArray) -> FloatArray:
    with np.errstate(divide="ignore", invalid="ignore"):
        x = np.where(fb > fa, ta - fa * (tb - ta) / (fb - fa), tb)
    return np.asarray(np.where(fa >= 0, ta, np.where(fb < 0, tb, np.clip(x, ta, tb))))


def _refine(
    grids: Sequence[Any],
    p: FloatArray,
    bracket: tuple[FloatArray, FloatArray, FloatArray, FloatArray],
    start: FloatArray,
    service_cdf: CDF,
) -> FloatArray:
    """The root of ``cdf - p`` inside ``(ta, tb)`` (values ``fa < 0 <= fb``) from the estimate
    ``start``: regula falsi with the Illinois halving (Dowell & Jarratt 1971), until a step moves
    the estimate by at most ``_RTOL`` of it (one evaluation from a good start on a smooth CDF; a
    singular service density takes a few)."""
    ta, tb, fa, fb = (np.array(x, dtype=np.float64) for x in bracket)
    est = np.where((fa < 0) & (fb >= 0), np.clip(start, ta, tb), _secant(ta, tb, fa, fb))
    live = (fa < 0) & (fb >= 0) & (tb > ta)
    side = np.zeros(p.shape, dtype=np.int8)
    for _ in range(_REFINE_STEPS):
        idx = np.flatnonzero(live)
        if idx.size == 0:
            break
        f = response_cdf([grids[i] for i in idx.tolist()], est[idx], service_cdf) - p[idx]
        up = f >= 0
        moved = np.where(up, -1, 1).astype(np.int8)
        again = moved == side[idx]
        fa[idx] = np.where(again & up, 0.5 * fa[idx], fa[idx])
        fb[idx] = np.where(again & ~up, 0.5 * fb[idx], fb[idx])
        tb[idx], fb[idx] = np.where(up, est[idx], tb[idx]), np.where(up, f, fb[idx])
        ta[idx], fa[idx] = np.where(up, ta[idx], est[idx]), np.where(up, fa[idx], f)
        side[idx] = moved
        new = _secant(ta[idx], tb[idx], fa[idx], fb[idx])
        live[idx] = (np.abs(new - est[idx]) > _RTOL * np.abs(new)) & (f != 0)
        est[idx] = np.where(f == 0, est[idx], new)
    return est
