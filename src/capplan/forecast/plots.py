"""Figures of the forecast: forecast load with its intervals against the fleet's capacity."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pandas as pd

from capplan._mpl import new_axes

if TYPE_CHECKING:
    from matplotlib.axes import Axes

    from capplan.forecast.model import Forecast
    from capplan.forecast.runways import PlanRunway

__all__ = ["plot_forecast", "plot_runway"]


def plot_forecast(
    forecast: Forecast, history: pd.Series | None = None, *, weeks: float = 4.0, ax: Axes | None = None
) -> Axes:
    """Each day's busiest hour: the median forecast with its 80% and 95% bands, after the last
    ``weeks`` of ``history`` (daily maxima of each curve; hours within a day would hide the trend)."""
    from matplotlib.dates import AutoDateLocator, ConciseDateFormatter  # noqa: PLC0415 - drawing only

    if ax is None:
        ax = new_axes((9, 4.5))
    f = forecast.frame.resample("D").max()
    if history is not None:
        recent = history[history.index > history.index[-1] - pd.Timedelta(weeks=weeks)].resample("D").max()
        ax.plot(recent.index, recent.to_numpy(), color="0.35", linewidth=1, label="history, daily peak")
    ax.fill_between(
        f.index, f["lower_95"], f["upper_95"], color="C0", alpha=0.15, linewidth=0, label="95% interval"
    )
    ax.fill_between(
        f.index, f["lower_80"], f["upper_80"], color="C0", alpha=0.3, linewidth=0, label="80% interval"
    )
    ax.plot(f.index, f["median"], color="C0", linewidth=1, label="forecast daily peak (median)")
    locator = AutoDateLocator(maxticks=8)  # type: ignore[no-untyped-call]
    ax.xaxis.set_major_locator(locator)
    ax.xaxis.set_major_formatter(ConciseDateFormatter(locator))  # type: ignore[no-untyped-call]
    ax.set_ylabel("requests/s (busiest hour of the day)")
    ax.set_ylim(bottom=0)
    ax.legend(fontsize="small", loc="lower left")
    return ax


def plot_runway(result: PlanRunway, *, weeks: float = 4.0, ax: Axes | None = None) -> Axes:
    """:func:`plot_forecast` with each class's capacity as a horizontal line (the fleet's, the
    lowest, solid red; the autoscaler's at maxReplicas dash-dotted purple) and the median crossing
    of the fleet's capacity marked."""
    ax = plot_forecast(result.forecast, result.model.history, weeks=weeks, ax=ax)
    fleet = result.fleet
    for r in result.classes:
        binding = r is fleet
        ax.axhline(
            r.capacity,
            color="tab:red" if binding else "0.5",
            linestyle="-" if binding else "--",
            linewidth=1.2 if binding else 0.8,
            label=f"capacity, {r.label} ({r.capacity:,.0f}/s)",
        )
    if result.autoscaler is not None:
        hpa = result.autoscaler
        ax.axhline(
            hpa.capacity,
            color="tab:purple",
            linestyle="-.",
            linewidth=1.0,
            label=f"capacity, {hpa.label} ({hpa.capacity:,.0f}/s)",
        )
    if fleet.runs_out is not None:
        ax.axvline(
            fleet.runs_out,  # type: ignore[arg-type]  # matplotlib's date converter takes Timestamps
            color="tab:red",
            linestyle=":",
            linewidth=1,
            label=f"runs out {fleet.runs_out:%Y-%m-%d}",
        )
    top = max(r.capacity for r in result.runways)
    ax.set_ylim(0, 1.1 * max(top, float(result.forecast.frame["upper_95"].max())))
    ax.legend(fontsize="x-small", loc="lower left", ncol=2)
    ax.set_title(f"forecast load against capacity, {result.horizon} ahead")
    return ax
