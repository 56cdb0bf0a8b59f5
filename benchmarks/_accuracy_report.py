"""The Markdown report of ``benchmarks/accuracy_grid.py`` (docs/accuracy.md)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from _report_section import ACCURACY_TITLE, replace_section

GOAL_MAX = 0.10
GOAL_MEDIAN = 0.03
METRICS = {"err_wait_mean": "mean wait", "err_response_p99": "p99 response"}


def pct(x: float, digits: int = 1) -> str:
    return "–" if not np.isfinite(x) else f"{100 * x:.{digits}f}%"


def signed(x: float) -> str:
    return "–" if not np.isfinite(x) else f"{100 * x:+.1f}%"


def table(header: list[str], rows: list[list[str]], align: str = "") -> str:
    align = align or "l" + "r" * (len(header) - 1)
    marks = ["---:" if a == "r" else "---" for a in align]
    lines = ["| " + " | ".join(header) + " |", "| " + " | ".join(marks) + " |"]
    lines += ["| " + " | ".join(r) + " |" for r in rows]
    return "\n".join(lines)


def _stats(errors: pd.Series) -> tuple[int, float, float, float]:
    e = errors.dropna().abs()
    if e.empty:
        return 0, np.nan, np.nan, np.nan
    return len(e), float(e.max()), float(e.median()), float((e <= GOAL_MAX).mean())


#: The simulation's relative 95% CI half-width of each scored metric.
CI_COLUMNS = {"err_wait_mean": "ci_rel_wait_mean", "err_response_p99": "ci_rel_response_p99"}


def error_floor(df: pd.DataFrame, col: str) -> pd.Series:
    """The smallest |error| the simulation's 95% CI allows: ``model / (sim (1 +- ci)) - 1``, with
    the CI's end nearer the model (0 where the CI reaches the model)."""
    err, ci = df[col], df[CI_COLUMNS[col]]
    toward = np.where(err > 0, (1 + err) / (1 + ci) - 1, (1 + err) / (1 - ci) - 1)
    return pd.Series(np.where(np.sign(toward) == np.sign(err), np.abs(toward), 0.0), index=df.index).where(
        err.notna()
    )


def goal_rows(scopes: list[tuple[str, pd.DataFrame]]) -> list[list[str]]:
    """Per scope: each metric's count, max, median and share within 10%, and the verdict: "yes",
    "within the sim CI" (every point's error could be within 10% given its simulation's 95% CI),
    or **no**."""
    rows = []
    for name, df in scopes:
        cells = [name, str(len(df))]
        met, within_ci = True, True
        for col in METRICS:
            n, worst, median, within = _stats(df[col])
            met &= n == 0 or (worst <= GOAL_MAX and median <= GOAL_MEDIAN)
            floor = error_floor(df, col).dropna()
            within_ci &= n == 0 or (float(floor.max()) <= GOAL_MAX and median <= GOAL_MEDIAN)
            cells += [str(n), pct(worst), pct(median), pct(within, 0)]
        cells.append("yes" if met else "within the sim CI" if within_ci else "**no**")
        rows.append(cells)
    return rows


def method_group(method: str) -> str:
    """A point's method string (each moment's methods joined by "; ") as one of a few groups."""
    interpolated, anchored = "quadratic in service SCV" in method, "ratio at equal" in method
    if interpolated and anchored:
        return "approx: interpolated in service SCV (0 < SCV < 1/2) and beyond 32 servers"
    if interpolated:
        return "approx: interpolated in service SCV (0 < SCV < 1/2)"
    if anchored:
        return "approx: beyond 32 servers (PH/M/c x PH/PH/32 ratio)"
    return f"exact: {method}"


def goal_section(df: pd.DataFrame) -> str:
    grid = df[df["service"] == "scv"]
    scopes = [("two-moment grid, all points", grid)]
    scopes += [(m, g) for m, g in grid.groupby(grid["method"].map(method_group), sort=True)]
    scopes += [("held out: service SCV 0.1 and 1/3 (interpolated)", df[df["service"] == "heldout"])]
    scopes += [("lognormal service (distribution given)", df[df["service"] == "lognormal"])]
    header = ["scope", "points"]
    for label in METRICS.values():
        header += [f"{label}: scored", "max abs", "median abs", "within 10%"]
    header.append("goal met")
    return table(header, goal_rows(scopes))


def pivot(df: pd.DataFrame, col: str) -> str:
    view = df.assign(abs_err=df[col].abs()).pivot_table(
        index="arrival_scv", columns="service_scv", values="abs_err", aggfunc="max"
    )
    header = ["arrival SCV \\ service SCV", *[f"{c:g}" for c in view.columns]]
    rows = [[f"{i:g}", *[pct(v) for v in view.loc[i]]] for i in view.index]
    return table(header, rows)


def by_servers(df: pd.DataFrame) -> str:
    rows = []
    for c, g in df.groupby("servers"):
        cells = [str(c)]
        for col in METRICS:
            _, worst, median, _ = _stats(g[col])
            cells += [pct(worst), pct(median)]
        rows.append(cells)
    header = ["servers"] + [f"{m}: {s}" for m in METRICS.values() for s in ("max abs", "median abs")]
    return table(header, rows)


def worst(df: pd.DataFrame, col: str, n: int = 12) -> str:
    ci_col = "ci_rel_wait_mean" if col == "err_wait_mean" else "ci_rel_response_p99"
    top = df.assign(abs_err=df[col].abs()).dropna(subset=["abs_err"]).nlargest(n, "abs_err")
    rows = [
        [
            f"{r.arrival_scv:g}",
            f"{r.service_scv:.3g}"
            + {"lognormal": " (lognormal)", "heldout": " (held out)"}.get(r.service, ""),
            f"{r.rho:g}",
            str(int(r.servers)),
            signed(r[col]),
            pct(r[ci_col]),
            r.method,
        ]
        for _, r in top.iterrows()
    ]
    return table(["arrival SCV", "service SCV", "ρ", "c", "error", "sim CI ±", "method"], rows, "lrrrrrl")


def precision(df: pd.DataFrame) -> str:
    rows = []
    for col, label in (("ci_rel_wait_mean", "mean wait"), ("ci_rel_response_p99", "p99 response")):
        v = df[col].dropna()
        rows.append([label, pct(float(v.median()), 2), pct(float(v.max()), 2)])
    customers = df["customers"]
    rows.append(["customers per point", f"{customers.median():,.0f}", f"{customers.max():,.0f}"])
    return table(["simulation", "median", "max"], rows)


def write_report(
    df: pd.DataFrame, path: Path, csv_name: str, provenance: str, scoring_seconds: float
) -> None:
    grid = df[df["service"] == "scv"]
    logn = df[df["service"] == "lognormal"]
    held = df[df["service"] == "heldout"]
    negligible = int(df["wait_negligible"].sum())
    text = f"""## The G/G/c model

How far `capplan.queueing.GGc` is from simulation (`capplan.sim.simulate_queue`) for the mean wait
and the p50/p95/p99 of the response time, over the inter-arrival and service-time SCVs users give.
Relative error = (model − sim) / sim.  Generated by `benchmarks/accuracy_grid.py`; do not edit by
hand (raw per-point results: `docs/{csv_name}`).

The model fits two-moment phase-type distributions to both times (Erlang mixtures below SCV 1,
exponential at 1, balanced H2 above, a constant at 0) and solves that queue: exactly by the
matrix-geometric method (service SCV ≥ 1/2, up to 32 servers), as PH/M/c or GI/D/c (exponential
or constant service, any number of servers), with a stated approximation elsewhere (for service
SCV between 0 and 1/2, a quadratic through the exact values at 0, 1/2 and 1 in the SCV raised to
3/4 + 1/(4c): linear in the SCV for one server, as the M/G/1 mean wait is; beyond
32 servers the PH/M/c value scaled by the 32-server ratio at the same (1 − ρ)√c).  The `method`
column of each point names what was used.  In the two-moment grid the simulator draws from those
same families, so the error is the model's own; the lognormal rows show what the two-moment
description of the wait costs for a real skewed distribution.

### How it was produced

{provenance}

- Two-moment grid: ρ ∈ {{0.3, 0.5, 0.7, 0.8, 0.9, 0.95}} × c ∈ {{1, 2, 4, 8, 16, 32, 64}} × arrival
  SCV ∈ {{0.25, 0.5, 1, 2, 4, 9}} × service SCV ∈ {{0, 0.25, 1, 4, 9}}: {len(grid)} points.  Lognormal
  service (SCV 1 and 4) with Poisson and H2 SCV 4 arrivals over the same ρ and c: {len(logn)} points.
- Held out: the interpolation's exponent was chosen on the grid's service SCV 0.25 points; it is
  checked at service SCV 0.1 and 1/3 (Erlang-10, Erlang-3), not used to choose it: arrival SCV
  ∈ {{0.25, 1, 4, 9}} × ρ ∈ {{0.5, 0.7, 0.9}} × c ∈ {{1, 4, 16, 32, 64}}: {len(held)} points.
- Mean-wait errors are skipped where the simulated mean wait is below 0.001 × the mean service
  time (negligible): {negligible} of {len(df)} points.
- Model evaluation: {scoring_seconds:.0f} s for all {len(df)} points in one process (median
  {1e3 * df["model_seconds"].median():.0f} ms a point, max {1e3 * df["model_seconds"].max():.0f} ms,
  first evaluations including the exact solves).

{precision(df)}

### Goal: max |error| ≤ 10% for the mean wait and the p99 response at every point, median ≤ 3%

"goal met": yes when every point's error is within 10% and the median within 3%; "within the sim
CI" when a point's error is over 10% but its simulation's 95% confidence interval reaches an error
of 10% or less (the simulation cannot tell that point from the goal); **no** otherwise.

{goal_section(df)}

### Where the errors are

Largest |p99 response error| by arrival and service SCV (two-moment grid, all ρ and c):

{pivot(grid, "err_response_p99")}

Largest |mean wait error|:

{pivot(grid, "err_wait_mean")}

By number of servers (two-moment grid):

{by_servers(grid)}

Largest mean-wait errors (all points):

{worst(df, "err_wait_mean")}

Largest p99-response errors (all points):

{worst(df, "err_response_p99")}
"""
    replace_section(path, "ggc", text, title=ACCURACY_TITLE)
