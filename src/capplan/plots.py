"""Figures. Every function takes ``ax=None`` and returns the matplotlib ``Axes`` it drew on."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

import numpy as np
from numpy.typing import ArrayLike

from capplan._mpl import new_axes
from capplan.queueing import queue_model

if TYPE_CHECKING:
    from matplotlib.axes import Axes

    from capplan.overload import RetryAmplification
    from capplan.sim import OverloadResult

__all__ = ["plot_fixed_point", "plot_overload_timeline", "plot_response_vs_utilization"]


def plot_response_vs_utilization(
    service_time: float,
    servers: int,
    *,
    quantiles: Sequence[float] = (0.5, 0.95, 0.99),
    utilization: ArrayLike | None = None,
    targets: Mapping[float, float] | None = None,
    max_utilization: float | None = None,
    service_scv: float = 1.0,
    arrival_scv: float = 1.0,
    ax: Axes | None = None,
) -> Axes:
    """Response-time percentiles (ms, log scale) against utilization for a ``servers``-server queue.

    Parameters
    ----------
    service_time : float
        Mean service time, seconds.
    servers : int
        Number of servers c.
    quantiles : sequence of float
        Percentiles to draw, as fractions.
    utilization : array_like, optional
        Utilizations to evaluate (default 0.05..0.98).
    targets : mapping, optional
        ``{quantile: seconds}`` drawn as horizontal dashed lines.
    max_utilization : float, optional
        Drawn as a vertical line (e.g. the SLA's CPU target).
    service_scv, arrival_scv : float
        Variability; M/M/c (exact) when both are 1, else G/G/c (approximate).
    ax : Axes, optional
        Where to draw; a new figure if omitted.
    """
    if ax is None:
        ax = new_axes((7, 4.5))
    rho = np.linspace(0.05, 0.98, 200) if utilization is None else np.asarray(utilization, dtype=float)
    mu = 1.0 / service_time
    model = queue_model(rho * servers * mu, mu, servers, arrival_scv, service_scv)
    levels = np.asarray(quantiles, dtype=float)
    curves = np.asarray(model.response_quantile(levels[:, None])).reshape(levels.size, *rho.shape) * 1e3
    for q, curve in zip(quantiles, curves, strict=True):  # every quantile in one vectorised inversion
        line = ax.plot(rho, curve, label=f"p{q * 100:g}")[0]
        if targets and q in targets:
            ax.axhline(
                targets[q] * 1e3,
                color=line.get_color(),
                linestyle="--",
                linewidth=1,
                label=f"p{q * 100:g} target",
            )
    if max_utilization is not None:
        ax.axvline(
            max_utilization, color="grey", linestyle=":", label=f"utilization cap {max_utilization:.0%}"
        )
    ax.set_yscale("log")
    ax.set_xlabel("utilization ρ = λ / (c μ)")
    ax.set_ylabel("response time (ms)")
    ax.set_title(f"{model.__class__.__name__}, c = {servers}, mean service {service_time * 1e3:g} ms")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize="small")
    return ax


def plot_fixed_point(
    model: RetryAmplification, arrival_rate: float | None = None, *, ax: Axes | None = None
) -> Axes:
    """The retry-amplification picture: first-attempt load against the attempt rate it sustains.

    The curve ``lam(x) = x / A(p(x))`` of :class:`capplan.overload.RetryAmplification` below the
    capacity (rising: stable states, falling: unstable ones) and the saturated branch above it
    (every attempt times out: ``lam = x / (1 + min(R, budget))``), the recovery and collapse
    loads, and with ``arrival_rate`` its solutions (filled: stable, open: unstable).
    """
    if ax is None:
        ax = new_axes((7, 4.5))
    cap = model.capacity
    top = 1.0 + model.retry.retry_limit
    u = np.concatenate([np.linspace(0.0, 0.9, 181)[1:], 1.0 - np.geomspace(0.1, 1e-7, 400)])
    ax.plot(u * cap, model.first_attempt_rate(u * cap), color="tab:blue", label="good and unstable states")
    right = max(cap, (arrival_rate or 0.0) * top, model.collapse_load * top) * 1.08
    sat = np.array([cap, right])
    ax.plot(
        sat, sat / top, color="tab:blue", linestyle="--", label="saturated states (every attempt times out)"
    )
    ax.axvline(cap, color="0.4", linewidth=1, linestyle=":", label=f"capacity {cap:.4g}/s")
    ax.axhline(model.recovery_load, color="tab:green", linestyle="--", linewidth=1,
               label=f"recovery load {model.recovery_load:.4g}/s")  # fmt: skip
    ax.axhline(model.collapse_load, color="tab:red", linestyle="--", linewidth=1,
               label=f"collapse load {model.collapse_load:.4g}/s")  # fmt: skip
    if arrival_rate is not None:
        ax.axhline(arrival_rate, color="black", linewidth=0.8)
        offsets = {"good": (-12, 8), "unstable": (6, 8), "saturated": (6, -14)}
        for row in model.fixed_points(arrival_rate).to_dict(orient="records"):
            xs = float(row["attempt_rate"])
            face = "black" if row["stable"] else "white"
            ax.plot([xs], [arrival_rate], "o", markerfacecolor=face, markeredgecolor="black", zorder=3)
            state = str(row["state"])
            ax.annotate(state, (xs, arrival_rate), textcoords="offset points", xytext=offsets[state])
    ax.set_xlabel("attempt rate x (first attempts + retries, per second)")
    ax.set_ylabel("first-attempt load (per second)")
    ax.set_xlim(0, right)
    ax.set_ylim(0, max(model.collapse_load, arrival_rate or 0.0) * 1.25)
    ax.legend(fontsize="small", loc="upper left")
    ax.grid(True, alpha=0.3)
    return ax


def plot_overload_timeline(result: OverloadResult, *, ax: Axes | None = None) -> Axes:
    """Offered load, attempts and goodput per second over time (:func:`capplan.sim.simulate_overload`)."""
    if ax is None:
        ax = new_axes((8, 3.5))
    tl = result.timeline
    ax.plot(tl["time"], tl["attempts"], color="tab:orange", label="attempts (with retries)")
    ax.plot(tl["time"], tl["offered"], color="0.3", linestyle="--", label="first attempts")
    ax.plot(tl["time"], tl["goodput"], color="tab:green", label="goodput (answered in time)")
    if tl["shed"].any() or tl["rejected"].any():
        ax.plot(tl["time"], tl["shed"] + tl["rejected"], color="tab:red", linewidth=0.8,
                label="shed or failed fast")  # fmt: skip
    ax.set_xlabel("time (s)")
    ax.set_ylabel("per second")
    ax.legend(fontsize="small")
    ax.grid(True, alpha=0.3)
    return ax
