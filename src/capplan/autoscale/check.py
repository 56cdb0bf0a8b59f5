"""Check the fluid model against the request-level simulator on the same traffic.

:func:`check_fluid` runs one pod of a fixed pool (random balancing: each of ``replicas`` pods
sees ``rate / replicas`` as a Poisson stream) through :func:`capplan.sim.simulate_queue`
(FCFS G/G/c, time-varying arrivals by thinning, client time-out as patience) and through
:func:`.simulate`, and tabulates both percentiles per window of arrival time.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import pandas as pd

from capplan._validate import positive
from capplan.autoscale.fluid import Workload
from capplan.autoscale.policies import Schedule
from capplan.autoscale.simulate import simulate
from capplan.autoscale.traffic import Traffic
from capplan.errors import ParameterError
from capplan.sim import simulate_queue

__all__ = ["check_fluid"]


def check_fluid(
    traffic: Traffic,
    workload: Workload,
    replicas: int,
    *,
    seed: int | np.random.Generator,
    window: float = 60.0,
    quantiles: Sequence[float] = (0.95, 0.99),
) -> pd.DataFrame:
    """Per-window response-time percentiles: fluid model against simulation, for a fixed pool.

    Returns one row per ``window`` seconds: ``time_s``, ``arrival_rate`` (whole pool), for each
    quantile ``model_pXX_s``, ``sim_pXX_s`` and ``rel_error_pXX``, the model's largest backlog in
    the window (``model_backlog``, requests per pod), and the dropped fraction in both
    (``model_dropped``, ``sim_dropped``; the simulator's customers abandon after
    ``workload.timeout``).  The model's value for a window is the percentile of its intervals'
    values weighted by arrivals (the largest interval value at or above the level).  Service
    times are gamma with the workload's mean and SCV (exponential for SCV 1).
    """
    n = int(positive("replicas", replicas))
    if n != replicas:
        raise ParameterError(f"replicas must be an integer, got {replicas!r}")
    per = round(float(positive("window", window)) / traffic.step)
    if per < 1 or abs(per * traffic.step - window) > 1e-9:
        raise ParameterError(
            f"window={window:g} s must be a whole number of traffic steps of {traffic.step:g} s"
        )
    pod = Traffic(traffic.rate / n, traffic.step, name=f"{traffic.name} / {n}")
    tl = simulate(
        pod, Schedule(np.ones(pod.rate.size, dtype=np.int64)), workload, sla=dict.fromkeys(quantiles, 1.0)
    ).timeline
    from scipy import stats  # noqa: PLC0415 - slow to import; only this check needs it

    scv = workload.service_scv
    service = (
        stats.gamma(1.0 / scv, scale=workload.service_time * scv) if scv > 0 else float(workload.service_time)
    )
    customers = max(int(pod.rate.sum() * pod.step), 2 * 20)
    sim = simulate_queue(
        pod.rate_at,
        service,
        servers=workload.workers,
        customers=customers,
        seed=seed,
        arrival_rate_max=float(pod.rate.max()),
        patience=None if math.isinf(workload.timeout) else workload.timeout,
        warmup=0,
        batches=2,
        record_arrivals=True,
    )
    span = per * pod.step
    group = np.floor(sim.arrival_times / span).astype(np.int64)  # served customers
    assert sim.arrival_times_all is not None
    group_all = np.floor(sim.arrival_times_all / span).astype(np.int64)
    served = sim.served
    rows = []
    for w in range(pod.rate.size // per):
        sl = slice(w * per, (w + 1) * per)
        arrivals = pod.rate[sl] * pod.step
        row: dict[str, float] = {
            "time_s": float(w * span),
            "arrival_rate": float(traffic.rate[sl].mean()),
        }
        resp = sim.responses[group == w]
        for q in quantiles:
            col = f"p{q * 100:g}"
            model_q = _weighted_quantile(tl[f"{col}_s"].to_numpy()[sl], arrivals, q)
            sim_q = float(np.quantile(resp, q)) if resp.size else math.nan
            row[f"model_{col}_s"] = model_q
            row[f"sim_{col}_s"] = sim_q
            row[f"rel_error_{col}"] = model_q / sim_q - 1.0
        total = float(arrivals.sum())
        # backlog at the start of the window's first interval too (the end of the one before)
        row["model_backlog"] = float(tl["backlog"].to_numpy()[max(sl.start - 1, 0) : sl.stop].max())
        row["model_dropped"] = float(tl["dropped"].to_numpy()[sl].sum() / total) if total > 0 else 0.0
        mine = group_all == w
        row["sim_dropped"] = float(1.0 - served[mine].mean()) if mine.any() else 0.0
        rows.append(row)
    return pd.DataFrame(rows)


def _weighted_quantile(values: np.ndarray, weights: np.ndarray, q: float) -> float:
    order = np.argsort(values)
    cum = np.cumsum(weights[order])
    if cum[-1] <= 0:
        return float(values.max())
    i = int(np.searchsorted(cum, q * cum[-1]))
    return float(values[order][min(i, values.size - 1)])
