"""Fit GGc's light-to-heavy-traffic interpolation exponent on the simulated accuracy grid.

    .venv/bin/python benchmarks/fit_interpolation_kappa.py [--csv docs/accuracy_grid.csv]

For every Poisson-arrival point with c >= 2, non-exponential service and P(wait) > 1%, the
simulated conditional mean wait relative to M/M/c's, ``r = (W/P_w)_sim / (W/P_w)_MMc``, is placed
between its light-traffic limit ``r_LT`` (``capplan.queueing._tails.light_traffic_factor``) and the
heavy-traffic limit ``(1 + c_s^2)/2`` as ``h = (r - r_LT)/(r_HT - r_LT)``; ``log h = kappa sqrt(c)
log rho`` is then fitted by least squares per service distribution.  The result justifies
``capplan.queueing._tails.INTERPOLATION_KAPPA``.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))

from accuracy_grid import service_distribution
from capplan.queueing import MMc
from capplan.queueing._tails import INTERPOLATION_KAPPA, light_traffic_factor
from capplan.queueing.service import DistributionService, TwoMomentService


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--csv", default="docs/accuracy_grid.csv")
    args = parser.parse_args()
    grid = pd.read_csv(args.csv)
    pts = grid[
        (grid["arrivals"] == "poisson")
        & (grid["servers"] >= 2)
        & (grid["service"] != "exponential")
        & (grid["sim_prob_wait"] > 0.01)
    ]
    rows = []
    for _, p in pts.iterrows():
        dist = service_distribution(str(p["service"]))
        shape = TwoMomentService(1.0, 0.0) if isinstance(dist, float) else DistributionService(dist)
        c = float(p["servers"])
        mm = MMc(float(p["lam"]), 1.0, c)
        ratio = (p["sim_wait_mean"] / p["sim_prob_wait"]) / (mm.mean_wait / mm.prob_wait)
        light = float(light_traffic_factor(shape, np.asarray(c)))
        heavy = 0.5 * (1.0 + float(p["service_scv"]))
        if abs(heavy - light) < 0.05:  # the limits nearly coincide (SCV ~ 1): h is ill-conditioned
            continue
        h = (ratio - light) / (heavy - light)
        if 0.02 < h < 0.995:
            rows.append((p["service"], float(p["service_scv"]), c, float(p["rho"]), h))
    fits = pd.DataFrame(rows, columns=["service", "scv", "servers", "rho", "h"])
    print("least-squares kappa in h = rho^(kappa sqrt(c)), per service distribution:")
    for service, g in fits.groupby("service"):
        x = np.sqrt(g["servers"]) * np.log(g["rho"])
        y = np.log(g["h"])
        kappa = float((x * y).sum() / (x * x).sum())
        rms = float(np.sqrt(((y - kappa * x) ** 2).mean()))
        scv = float(g["scv"].iloc[0])
        fit = f"kappa = {kappa:.3f} (rms log residual {rms:.3f}, {len(g)} points)"
        print(f"  {service:16s} SCV {scv:4.2f}: {fit}")
    low, high = INTERPOLATION_KAPPA
    print(f"capplan uses kappa = {low} for SCV <= 1 and {high} above")


if __name__ == "__main__":
    main()
