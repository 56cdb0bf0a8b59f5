"""Accuracy of the G/G/c model against simulation, over the grid of the SCVs users give.

Run from the project root::

    .venv/bin/python benchmarks/accuracy_grid.py            # simulate and score the grid (~40 min)
    .venv/bin/python benchmarks/accuracy_grid.py --quick    # a few points, written to a temp dir
    .venv/bin/python benchmarks/accuracy_grid.py --from-csv docs/accuracy_grid.csv [--out docs]
                                    # re-score the current model against the stored simulations
    .venv/bin/python benchmarks/accuracy_grid.py --from-csv docs/accuracy_grid.csv --heldout --out docs
                                    # ... with the held-out points simulated anew and added
    .venv/bin/python benchmarks/accuracy_grid.py --from-csv docs/accuracy_grid.csv --refine-capped N
                                    # ... with the points that hit the customer cap run with N

The full run writes ``docs/accuracy.md`` and ``docs/accuracy_grid.csv`` (one row per point:
simulation estimates with 95% batch-means CI half-widths, model values and relative errors).
``--from-csv`` keeps the simulations and the report's record of how they were made; the model
columns (and the report, with this run's scoring time) are recomputed into a temporary directory,
so the tracked docs change only with ``--out docs``.  ``--out DIR`` writes elsewhere.

Grid (the two-moment study): utilization {0.3, 0.5, 0.7, 0.8, 0.9, 0.95} x servers {1, 2, 4, 8,
16, 32, 64} x arrival SCV {0.25, 0.5, 1, 2, 4, 9} x service SCV {0, 0.25, 1, 4, 9}, mean service 1 s.
The simulator draws each time from a distribution with that SCV: Erlang-k for SCV 1/k, exponential
for 1, the balanced-means H2 above 1, a constant for 0 — the families of the model's phase-type
fits, so for these points the two-moment description loses nothing and the error is the model's
own.  Held-out points check the one approximation with a chosen parameter, the interpolation in
the service SCV below 1/2 (its exponent was chosen on the grid's SCV 0.25 points): service SCV
{0.1, 1/3} (Erlang-10 and Erlang-3) x arrival SCV {0.25, 1, 4, 9} x utilization {0.5, 0.7, 0.9} x
servers {1, 4, 16, 32, 64}, 120 points.  The distribution study adds lognormal service (SCV 1
and 4), where it does lose: the model is given the lognormal itself (``service=``), whose shape it
keeps in the response time while the wait comes from the mean and SCV.

Each point is simulated with ``capplan.sim.simulate_queue(keep="stats")`` and a seed derived from
``--seed`` and the point's name.  A pilot of ``--customers`` arrivals estimates the CI half-widths
of the p99 response and the mean wait; if either is above its target (``--target-ci``, twice that
for the mean wait) the point is simulated again, longer, up to ``--max-customers``.
"""

from __future__ import annotations

import argparse
import math
import sys
import tempfile
import time
import zlib
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from _accuracy_report import write_report
from capplan.distributions import hyperexponential
from capplan.queueing import GGc
from capplan.sim import simulate_queue

UTILIZATIONS = (0.3, 0.5, 0.7, 0.8, 0.9, 0.95)
SERVERS = (1, 2, 4, 8, 16, 32, 64)
ARRIVAL_SCVS = (0.25, 0.5, 1.0, 2.0, 4.0, 9.0)
SERVICE_SCVS = (0.0, 0.25, 1.0, 4.0, 9.0)
#: Held out: service SCVs inside the interpolated range (0, 1/2) that the model's interpolation
#: exponent was not chosen on (it was chosen on the grid's 0.25), each an Erlang-k exactly.
HELDOUT_SCVS = (0.1, 1.0 / 3.0)
HELDOUT_ARRIVAL_SCVS = (0.25, 1.0, 4.0, 9.0)
HELDOUT_UTILIZATIONS = (0.5, 0.7, 0.9)
HELDOUT_SERVERS = (1, 4, 16, 32, 64)
#: The distribution study: lognormal service, Poisson and H2 SCV 4 arrivals.
LOGNORMAL_SCVS = (1.0, 4.0)
LOGNORMAL_ARRIVALS = (1.0, 4.0)
#: Mean waits below this fraction of the mean service time are negligible: no relative error.
NEGLIGIBLE_WAIT = 1e-3
QUANTILES = (0.5, 0.95, 0.99)


@dataclass(frozen=True)
class Point:
    """One queue: mean service time 1 s, so ``lam = rho * c``; ``service`` is "scv" (the grid),
    "heldout" (two-moment families at the held-out service SCVs) or "lognormal"."""

    arrival_scv: float
    service_scv: float
    rho: float
    servers: int
    service: str = "scv"

    @property
    def key(self) -> str:
        scvs = f"ca2={self.arrival_scv:g}|cs2={self.service_scv:g}"
        return f"{self.service}|{scvs}|rho={self.rho:g}|c={self.servers}"

    @property
    def lam(self) -> float:
        return self.rho * self.servers


def build_grid(quick: bool) -> list[Point]:
    if quick:
        return [
            Point(1.0, 4.0, 0.8, 2),
            Point(9.0, 0.0, 0.9, 8),
            Point(0.25, 0.25, 0.7, 64),
            Point(4.0, 4.0, 0.5, 1, "lognormal"),
        ]
    grid = [
        Point(a, s, r, c) for a in ARRIVAL_SCVS for s in SERVICE_SCVS for r in UTILIZATIONS for c in SERVERS
    ]
    grid += build_heldout()
    grid += [
        Point(a, s, r, c, "lognormal")
        for a in LOGNORMAL_ARRIVALS
        for s in LOGNORMAL_SCVS
        for r in UTILIZATIONS
        for c in SERVERS
    ]
    return grid


def build_heldout() -> list[Point]:
    return [
        Point(a, s, r, c, "heldout")
        for a in HELDOUT_ARRIVAL_SCVS
        for s in HELDOUT_SCVS
        for r in HELDOUT_UTILIZATIONS
        for c in HELDOUT_SERVERS
    ]


def time_distribution(mean: float, scv: float) -> Any:
    """The simulator's distribution of a time with this mean and SCV (module docstring)."""
    if scv == 0.0:
        return mean
    if scv == 1.0:
        return stats.expon(scale=mean)
    if scv > 1.0:
        return hyperexponential(mean, scv)
    k = round(1.0 / scv)
    return stats.gamma(a=k, scale=mean / k)


def lognormal(scv: float) -> Any:
    sigma = math.sqrt(math.log1p(scv))
    return stats.lognorm(sigma, scale=math.exp(-(sigma**2) / 2))


def service_of(point: Point) -> Any:
    return (
        lognormal(point.service_scv)
        if point.service == "lognormal"
        else time_distribution(1.0, point.service_scv)
    )


def model_of(point: Point) -> GGc:
    if point.service == "lognormal":
        return GGc(point.lam, None, point.servers, point.arrival_scv, service=lognormal(point.service_scv))
    return GGc(point.lam, 1.0, point.servers, point.arrival_scv, point.service_scv)


# -- simulation ------------------------------------------------------------------------------------
SIM_METRICS = ("wait_mean", "prob_wait", "wait_p99", "response_p50", "response_p95", "response_p99")


def _simulate(point: Point, seed: int, customers: int) -> dict[str, float]:
    start = time.perf_counter()
    result = simulate_queue(
        arrivals=time_distribution(1.0 / point.lam, point.arrival_scv),
        service=service_of(point),
        servers=point.servers,
        customers=customers,
        seed=np.random.default_rng([seed, zlib.crc32(point.key.encode())]),
        keep="stats",
    )
    summary = result.summary()
    out: dict[str, float] = {"customers": float(customers), "sim_seconds": time.perf_counter() - start}
    estimate, low, high = (summary[col] for col in ("estimate", "ci_low", "ci_high"))
    for metric in SIM_METRICS:
        out[f"sim_{metric}"] = float(estimate[metric])
        out[f"sim_{metric}_ci"] = (float(high[metric]) - float(low[metric])) / 2
    return out


def _needed(pilot: dict[str, float], target: float, cap: int) -> int:
    """Customers for the CI targets, the pilot's half-widths scaled by 1/sqrt(n), 20% margin."""
    ratio = (pilot["sim_response_p99_ci"] / pilot["sim_response_p99"] / target) ** 2
    if pilot["sim_wait_mean"] >= NEGLIGIBLE_WAIT:
        ratio = max(ratio, (pilot["sim_wait_mean_ci"] / pilot["sim_wait_mean"] / (2 * target)) ** 2)
    n = int(pilot["customers"])
    return n if ratio <= 1.0 else int(min(cap, math.ceil(1.2 * ratio * n / 1e6) * 1_000_000))


def simulate_point(job: tuple[Point, int, int, float, int]) -> tuple[Point, dict[str, float]]:
    point, seed, customers, target, cap = job
    pilot = _simulate(point, seed, customers)
    n = _needed(pilot, target, cap)
    if n <= customers:
        return point, pilot
    final = _simulate(point, seed, n)
    final["sim_seconds"] += pilot["sim_seconds"]
    return point, final


def simulate_grid(points: Sequence[Point], args: argparse.Namespace) -> pd.DataFrame:
    # Slowest first (heavy traffic, high variability) for a balanced pool.
    order = sorted(
        points, key=lambda p: (p.arrival_scv + p.service_scv + 1.0) / (1.0 - p.rho) ** 2, reverse=True
    )
    jobs = [(p, args.seed, args.customers, args.target_ci, args.max_customers) for p in order]
    rows = []
    started = time.perf_counter()
    with ProcessPoolExecutor(max_workers=args.jobs) as pool:
        for i, (point, sim) in enumerate(pool.map(simulate_point, jobs), 1):
            rows.append({**point_columns(point), **sim})
            if i % 50 == 0 or i == len(jobs):
                print(
                    f"  simulated {i}/{len(jobs)} points, {time.perf_counter() - started:.0f} s",
                    file=sys.stderr,
                )
    return pd.DataFrame(rows)


def point_columns(point: Point) -> dict[str, Any]:
    return {
        "key": point.key,
        "service": point.service,
        "arrival_scv": point.arrival_scv,
        "service_scv": point.service_scv,
        "rho": point.rho,
        "servers": point.servers,
    }


# -- scoring ---------------------------------------------------------------------------------------
def score_row(row: pd.Series) -> dict[str, Any]:
    point = Point(row["arrival_scv"], row["service_scv"], row["rho"], int(row["servers"]), row["service"])
    start = time.perf_counter()
    model = model_of(point)
    values: dict[str, Any] = {
        "model_wait_mean": float(model.mean_wait),
        "model_prob_wait": float(model.prob_wait),
        "model_wait_p99": float(model.wait_quantile(0.99)),
    }
    for q, v in zip(QUANTILES, np.atleast_1d(model.response_quantile(np.array(QUANTILES))), strict=True):
        values[f"model_response_p{q * 100:g}"] = float(v)
    values["model_seconds"] = time.perf_counter() - start
    values["method"] = model.method
    return values


def score(frame: pd.DataFrame) -> pd.DataFrame:
    scored = pd.DataFrame([score_row(r) for _, r in frame.iterrows()], index=frame.index)
    out = pd.concat([frame.drop(columns=[c for c in scored.columns if c in frame.columns]), scored], axis=1)
    negligible = out["sim_wait_mean"] < NEGLIGIBLE_WAIT
    out["wait_negligible"] = negligible
    out["err_wait_mean"] = np.where(negligible, np.nan, out["model_wait_mean"] / out["sim_wait_mean"] - 1)
    for metric in ("response_p50", "response_p95", "response_p99"):
        out[f"err_{metric}"] = out[f"model_{metric}"] / out[f"sim_{metric}"] - 1
        out[f"ci_rel_{metric}"] = out[f"sim_{metric}_ci"] / out[f"sim_{metric}"]
    out["ci_rel_wait_mean"] = np.where(negligible, np.nan, out["sim_wait_mean_ci"] / out["sim_wait_mean"])
    return out


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="a few points, written to a temp dir")
    parser.add_argument("--from-csv", type=Path, help="re-score the simulations stored in this CSV")
    parser.add_argument(
        "--out", type=Path, help="output directory (default docs/; a temp dir with --quick or --from-csv)"
    )
    parser.add_argument(
        "--heldout",
        action="store_true",
        help="simulate the held-out points (service SCV 0.1 and 1/3) and add them to --from-csv's",
    )
    parser.add_argument(
        "--refine-capped",
        type=int,
        metavar="N",
        help="with --from-csv: simulate the points that reached the stored customer cap again with N",
    )
    parser.add_argument("--seed", type=int, default=20261204)
    parser.add_argument("--customers", type=int, default=2_000_000, help="pilot run per point")
    parser.add_argument("--max-customers", type=int, default=200_000_000)
    parser.add_argument("--target-ci", type=float, default=0.015, help="relative CI half-width of the p99")
    parser.add_argument("--jobs", type=int, default=2)
    return parser.parse_args(argv)


def stored_simulations(args: argparse.Namespace) -> tuple[pd.DataFrame, str]:
    """The simulations of ``--from-csv`` (model columns dropped) and how they were made, with the
    held-out points simulated anew (``--heldout``) and the points that reached the stored
    customer cap simulated longer (``--refine-capped N``)."""
    frame = pd.read_csv(args.from_csv)
    model_columns = ("model_", "err_", "ci_rel_", "method", "wait_negl")
    sims = frame[[c for c in frame.columns if not c.startswith(model_columns)]]
    provenance = _provenance(args.from_csv).strip()
    if args.heldout:
        sims = pd.concat([sims[sims["service"] != "heldout"], simulate_grid(build_heldout(), args)])
        provenance += "\n\n" + _heldout_provenance(args)
    if args.refine_capped:
        capped = sims["customers"] >= sims["customers"].max()
        n = int(args.refine_capped)
        points = [
            Point(r.arrival_scv, r.service_scv, r.rho, int(r.servers), r.service)
            for r in sims[capped].itertuples()
        ]
        with ProcessPoolExecutor(max_workers=args.jobs) as pool:
            again = list(pool.map(_simulate_job, [(pt, args.seed, n) for pt in points]))
        redone = pd.DataFrame([{**point_columns(pt), **sim} for pt, sim in zip(points, again, strict=True)])
        sims = pd.concat([sims[~capped], redone])
        provenance += (
            f"\n\nThe {len(points)} points that reached the cap were simulated again with {n:,} customers "
            f"(`--refine-capped {n}`), the same seeds: the rule is the cap, not the model's error."
        )
    return sims, provenance


def _simulate_job(job: tuple[Point, int, int]) -> dict[str, float]:
    return _simulate(*job)


def _provenance(csv: Path) -> str:
    """How the stored simulations were made: the provenance file written beside the CSV."""
    path = csv.with_suffix(".provenance.txt")
    if not path.exists():
        raise SystemExit(f"{path} is missing: it records how {csv} was simulated")
    return path.read_text()


def _heldout_provenance(args: argparse.Namespace) -> str:
    return (
        f"Held-out points (`--heldout`): pilot of {args.customers:,} customers, refined to a relative "
        f"95% CI half-width of {args.target_ci:g} on the p99 response and {2 * args.target_ci:g} on the "
        f"mean wait, at most {args.max_customers:,} customers; seed "
        f"`numpy.random.default_rng([{args.seed}, crc32(key)])`."
    )


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    root = Path(__file__).resolve().parents[1]
    if (args.heldout or args.refine_capped) and args.from_csv is None:
        raise SystemExit("--heldout and --refine-capped change the simulations of --from-csv")
    scratch = args.quick or args.from_csv is not None  # re-scoring leaves the tracked docs alone
    out = args.out or (Path(tempfile.mkdtemp(prefix="accuracy-")) if scratch else root / "docs")
    out.mkdir(parents=True, exist_ok=True)
    csv_path, md_path = out / "accuracy_grid.csv", out / "accuracy.md"
    if args.from_csv:
        sims, provenance = stored_simulations(args)
        if args.heldout or args.refine_capped:
            sims.to_csv(csv_path, index=False, float_format="%.6g")
            (csv_path.with_suffix(".provenance.txt")).write_text(provenance + "\n")
    else:
        sims = simulate_grid(build_grid(args.quick), args)
        provenance = (
            f"`.venv/bin/python benchmarks/accuracy_grid.py{' --quick' if args.quick else ''}`: pilot of "
            f"{args.customers:,} customers per point, refined to a relative 95% CI half-width of "
            f"{args.target_ci:g} on the p99 response and {2 * args.target_ci:g} on the mean wait (where not "
            f"negligible), at most {args.max_customers:,} customers per point; seed "
            f"`numpy.random.default_rng([{args.seed}, crc32(key)])`."
        )
        (csv_path.with_suffix(".provenance.txt")).write_text(provenance + "\n")
        sims.to_csv(csv_path, index=False, float_format="%.6g")  # kept even if scoring fails
    start = time.perf_counter()
    scored = score(
        sims.sort_values(["service", "arrival_scv", "service_scv", "servers", "rho"]).reset_index(drop=True)
    )
    scoring_seconds = time.perf_counter() - start
    scored.to_csv(csv_path, index=False, float_format="%.6g")
    write_report(scored, md_path, csv_path.name, provenance.strip(), scoring_seconds)
    print(f"wrote {md_path} and {csv_path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
