"""The "Under uncertainty" section of the plan report (Markdown, HTML, figure)."""

from __future__ import annotations

import html
from typing import TYPE_CHECKING

import pandas as pd

from capplan._html_table import html_table
from capplan.uncertainty.result import UncertainSizing

if TYPE_CHECKING:
    from matplotlib.figure import Figure

__all__ = ["TITLE", "uncertainty_figure", "uncertainty_html", "uncertainty_markdown", "uncertainty_tables"]

TITLE = "Under uncertainty"


def uncertainty_tables(result: UncertainSizing) -> list[tuple[str, pd.DataFrame]]:
    """The replicas table and the tornado table, rounded for display."""
    tornado = result.sensitivity.copy()
    for column in ("low", "high"):
        tornado[column] = tornado[column].map(lambda v: float(f"{v:.4g}"))
    replicas = result.to_frame()
    replicas["infeasible_share"] = replicas["infeasible_share"].round(4)
    return [("Replicas", replicas), ("Sensitivity (tornado)", tornado.set_index("input"))]


def uncertainty_markdown(result: UncertainSizing) -> list[str]:
    """The section as Markdown lines."""
    parts = ["", f"## {TITLE}", ""] + [f"- {line}" for line in result.describe()]
    for title, table in uncertainty_tables(result):
        parts += ["", f"### {title}", "", table.to_markdown()]
    return parts


def uncertainty_html(result: UncertainSizing) -> list[str]:
    """The section as HTML fragments."""
    items = "".join(f"<li>{html.escape(line)}</li>" for line in result.describe())
    out = [f"<h2>{TITLE}</h2>", f"<ul>{items}</ul>"]
    for title, table in uncertainty_tables(result):
        out += [f"<h3>{html.escape(title)}</h3>", html_table(table)]
    return out


def uncertainty_figure(result: UncertainSizing) -> Figure:
    """The tornado on its own figure (no pyplot state)."""
    from matplotlib.figure import Figure  # noqa: PLC0415 - matplotlib loads only to draw

    from capplan.uncertainty.plots import plot_tornado  # noqa: PLC0415

    height = 1.8 + 0.45 * max(len(result.sensitivity), 1)  # inches: 1.0 below for the axis label and legend
    fig = Figure(figsize=(7.0, height))
    fig.subplots_adjust(left=0.38, right=0.97, bottom=1.0 / height, top=1 - 0.35 / height)
    plot_tornado(result, ax=fig.subplots())
    return fig
