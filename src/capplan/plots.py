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

__all__ = ["plot_response_vs_utilization"]


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
    for q in quantiles:
        line = ax.plot(rho, np.asarray(model.response_quantile(q)) * 1e3, label=f"p{q * 100:g}")[0]
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
