"""The "capacity runs out on" section of the plan report (Markdown, HTML, figure)."""

from __future__ import annotations

import html
from typing import TYPE_CHECKING

import pandas as pd

from capplan._html_table import html_table
from capplan.forecast.runways import CURVES, PlanRunway

if TYPE_CHECKING:
    from matplotlib.figure import Figure

__all__ = ["TITLE", "runway_figure", "runway_html", "runway_lines", "runway_markdown", "runway_table"]

TITLE = "Capacity runs out on"


def runway_table(result: PlanRunway) -> pd.DataFrame:
    """Per class: replicas, capacity (requests/s) and each curve's crossing as a date."""
    frame = result.to_frame()
    end = f"after {result.forecast.frame.index[-1]:%Y-%m-%d}"
    for name in CURVES:
        frame[name] = [
            end if r.crossings[name] is None else f"{r.crossings[name]:%Y-%m-%d}" for r in result.runways
        ]
    frame["capacity"] = frame["capacity"].round(0)
    return frame.rename(columns={"capacity": "capacity_per_s"})


def runway_lines(result: PlanRunway) -> list[str]:
    """The section's sentences: the fleet's date, the model and its held-back accuracy."""
    fleet = result.fleet
    model = result.model
    first, last = model.history.index[0], model.history.index[-1]
    lines = [
        fleet.describe(),
        f"forecast: {model.method}; growth {model.growth_per_year:+.1%} a year, fitted on "
        f"{len(model.history)} steps from {first:%Y-%m-%d} to {last:%Y-%m-%d}",
    ]
    if result.autoscaler is not None:
        lines.append(f"autoscaler: {result.autoscaler.describe()}")
    if result.accuracy is not None:
        lines.append(f"held back: {result.accuracy!r}")
    lines.append(
        "capacity: the throughput at which each class's planned replicas still meet every target "
        "(the sizing's headroom); the forecast is of hourly mean rates, so peaks within an hour go higher"
    )
    return lines


def runway_markdown(result: PlanRunway) -> list[str]:
    """The section as Markdown lines."""
    parts = ["", f"## {TITLE}", ""]
    parts += [f"- {line}" for line in runway_lines(result)]
    parts += ["", runway_table(result).to_markdown()]
    return parts


def runway_html(result: PlanRunway) -> list[str]:
    """The section as HTML fragments."""
    items = "".join(f"<li>{html.escape(line)}</li>" for line in runway_lines(result))
    return [f"<h2>{TITLE}</h2>", f"<ul>{items}</ul>", html_table(runway_table(result))]


def runway_figure(result: PlanRunway) -> Figure:
    """:func:`~capplan.forecast.plots.plot_runway` on its own figure (no pyplot state)."""
    from matplotlib.figure import Figure  # noqa: PLC0415 - matplotlib loads only to draw

    from capplan.forecast.plots import plot_runway  # noqa: PLC0415

    fig = Figure(figsize=(8.0, 4.0))
    fig.subplots_adjust(left=0.09, right=0.97, bottom=0.12, top=0.91)
    plot_runway(result, ax=fig.subplots())
    return fig
