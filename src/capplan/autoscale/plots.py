"""Figures for autoscaling runs. Each function takes ``ax=None`` and returns the ``Axes`` it drew on."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

from capplan._mpl import new_axes

if TYPE_CHECKING:
    from matplotlib.axes import Axes

    from capplan.autoscale.search import FixedFleet, SearchResult
    from capplan.autoscale.simulate import AutoscaleResult

__all__ = ["plot_frontier", "plot_timeline"]


def plot_timeline(
    result: AutoscaleResult,
    *,
    quantile: float = 0.95,
    hours: tuple[float, float] | None = None,
    ax: Axes | None = None,
) -> Axes:
    """Replicas (desired and ready, left axis) and a latency percentile (ms, log, right axis) over time.

    The arrival rate is shaded grey, scaled so that its peak meets the top of the replica axis
    (the legend gives that peak in requests/s).  The SLA target for ``quantile`` is a dashed
    line.  ``hours`` limits the x-range.
    """
    if ax is None:
        ax = new_axes((9, 4.5))
    tl = result.timeline
    if hours is not None:
        tl = tl[(tl["time_s"] >= hours[0] * 3600) & (tl["time_s"] <= hours[1] * 3600)]
    t = tl["time_s"].to_numpy() / 3600.0
    ax.step(t, tl["replicas_desired"], where="post", label="replicas (desired)", color="C0")
    ax.step(t, tl["replicas_ready"], where="post", label="replicas (ready)", color="C0", linestyle=":")
    top = max(float(tl["replicas_desired"].max()), 1.0)
    peak = max(float(tl["arrival_rate"].max()), 1e-12)
    scale = top / peak
    ax.fill_between(
        t,
        tl["arrival_rate"] * scale,
        step="post",
        alpha=0.15,
        color="grey",
        label=f"arrivals ({peak:.0f}/s at top)",
    )
    ax.set_xlabel("time (hours)")
    ax.set_ylabel("replicas")
    ax.set_ylim(0, top * 1.1)
    ax2 = ax.twinx()
    col = f"p{quantile * 100:g}_s"
    ax2.plot(t, tl[col] * 1e3, color="C3", linewidth=1, label=f"p{quantile * 100:g} latency")
    target = result.sla.get(quantile)
    if target is not None:
        ax2.axhline(
            target * 1e3, color="C3", linestyle="--", linewidth=1, label=f"p{quantile * 100:g} target"
        )
    ax2.set_yscale("log")
    ax2.set_ylabel(f"p{quantile * 100:g} response time (ms)")
    lines = ax.get_legend_handles_labels()
    lines2 = ax2.get_legend_handles_labels()
    ax.legend(lines[0] + lines2[0], lines[1] + lines2[1], fontsize="small", loc="upper left")
    ax.set_title(result.policy)
    ax.grid(True, alpha=0.3)
    return ax


def plot_frontier(
    search: SearchResult,
    *,
    fixed: FixedFleet | None = None,
    others: Mapping[str, AutoscaleResult] | None = None,
    ax: Axes | None = None,
) -> Axes:
    """Cost against SLA minutes missed for every setting searched; the frontier joined by a line.

    ``fixed`` (a fixed fleet) and ``others`` (named results of other policies) are marked too.
    """
    if ax is None:
        ax = new_axes((7, 4.5))
    tbl = search.table
    ax.scatter(tbl[search.sla_column], tbl[search.cost_column], s=14, color="lightgrey", label="HPA settings")
    front = search.frontier.sort_values(search.sla_column)
    ax.plot(front[search.sla_column], front[search.cost_column], "o-", color="C0", label="frontier")
    if fixed is not None:
        r = fixed.result
        ax.scatter(
            [sum(r.sla_violation_minutes.values())],
            [r.cost],
            marker="s",
            color="C3",
            label=f"fixed fleet ({fixed.replicas})",
        )
    for i, (name, res) in enumerate((others or {}).items()):
        ax.scatter(
            [sum(res.sla_violation_minutes.values())], [res.cost], marker="^", color=f"C{i + 4}", label=name
        )
    ax.set_xlabel("SLA minutes missed (sum over percentile targets)")
    ax.set_ylabel("cost (price x replica-hours)")
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize="small")
    return ax
