"""Reports of a :class:`~capplan.plan.model.CapacityPlan`: Markdown, self-contained HTML, and files.

This module reads a plan; the plan does not know about it (``render_markdown(plan)``,
``render_html(plan)``, ``write_report(plan, path)``).

Figures are drawn on :class:`matplotlib.figure.Figure` objects (no pyplot state) and embedded in
the HTML as PNG data URIs, so one file carries the whole report.
"""

from __future__ import annotations

import base64
import html
import io
import os
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import pandas as pd

from capplan._html_table import TABLE_CSS, html_table
from capplan.errors import ParameterError
from capplan.plan.model import CapacityPlan
from capplan.plan.overload import overload_tables
from capplan.plan.provenance import provenance_frame

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

__all__ = ["plan_figures", "render_html", "render_markdown", "write_report"]

_CSS = (
    """
body {
  font-family: system-ui, sans-serif; margin: 2em auto; padding: 0 1em; max-width: 72em; color: #222;
  overflow-wrap: break-word;
}
.ok { color: #176f2c; } .miss { color: #b00020; }
img { max-width: 100%; height: auto; }
"""
    + TABLE_CSS
)


def _status(plan: CapacityPlan) -> str:
    if plan.ok:
        return "meets the SLA"
    return f"MISSES the SLA ({len(plan.misses())} misses)"


def _headline(plan: CapacityPlan) -> list[str]:
    total = plan.total_replicas
    lines = [
        f"SLA: {', '.join(plan.sla_sources) or '(text)'}",
        f"Throughput: {plan.throughput} {plan.load}, {plan.arrival_rate:g} requests/s",
        f"Replicas: {total if total is not None else 'none can meet the targets'} in all, "
        f"{plan.workers} workers each, utilization <= {plan.max_utilization:.0%}",
    ]
    if plan.monthly_cost is not None:
        lines.append(
            f"Cost: {plan.monthly_cost:,.0f} per month for the fleet sized for the peak, at "
            f"{plan.price_per_replica_hour:g} per replica-hour"
        )
    return lines


def _predictions_ms(plan: CapacityPlan) -> pd.DataFrame:
    frame = plan.predictions()
    if frame.empty:
        return frame
    out = frame[["class", "scenario", "replicas_up", "quantile", "predicted_s", "target_s", "met"]].copy()
    out["quantile"] = out["quantile"].map(lambda q: f"p{q * 100:g}")
    out["predicted_ms"] = (out.pop("predicted_s") * 1e3).round(2)
    out["target_ms"] = (out.pop("target_s") * 1e3).round(2)
    return out[["class", "scenario", "replicas_up", "quantile", "predicted_ms", "target_ms", "met"]]


def _summary_display(plan: CapacityPlan) -> pd.DataFrame:
    out = plan.summary()
    out["service_time_ms"] = (out.pop("service_time_s") * 1e3).round(3)
    out["utilization"] = out["utilization"].round(3)
    out["headroom"] = out["headroom"].round(3)
    return out


def render_markdown(plan: CapacityPlan, *, files: Sequence[str] = ()) -> str:
    """The plan as Markdown: headline, recommendations, per-class summary, predictions, caveats;
    with ``files`` (names of exported files beside the report) a section linking to them."""
    parts = [f"# Capacity plan: {_status(plan)}", ""]
    parts += [f"- {line}" for line in _headline(plan)]
    if files:
        parts += ["", "## Deployment files", ""] + [f"- [{name}]({name})" for name in files]
    parts += ["", "## Recommendations", "", plan.to_frame().to_markdown(index=False)]
    parts += ["", "## Per operation class", "", _summary_display(plan).to_markdown(index=False)]
    parts += ["", "## Predicted response times against the targets", ""]
    parts += [_predictions_ms(plan).to_markdown(index=False)]
    for title, table in _extra_tables(plan):
        parts += ["", f"## {title}", "", _pipes_escaped(table).to_markdown()]
    if plan.runway is not None:
        from capplan.forecast.report import runway_markdown  # noqa: PLC0415 - only with a forecast

        parts += runway_markdown(plan.runway)
    if plan.uncertainty is not None:
        from capplan.uncertainty.report import uncertainty_markdown  # noqa: PLC0415

        parts += uncertainty_markdown(plan.uncertainty)
    misses = plan.misses()
    if misses:
        parts += ["", "## Misses", ""] + [f"- {m}" for m in misses]
    parts += ["", "## Evidence", ""] + [f"- {e.describe()}" for e in plan.evidence]
    parts += ["", "## Assumptions", ""] + [f"- {a}" for a in plan.assumptions]
    return "\n".join(parts) + "\n"


def _extra_tables(plan: CapacityPlan) -> list[tuple[str, pd.DataFrame]]:
    """The cache chain and the autoscaling runs, when the plan has them."""
    out = []
    if plan.cache is not None:
        out.append(("Cache", plan.cache.to_frame().map(_round6)))
    check = plan.autoscaling
    if check is not None and check.result is not None:
        runs = {f"{check.hpa.name} (HPA)": check.result.totals()}
        if check.fixed_result is not None:
            runs[f"fixed fleet of {check.fixed_replicas}"] = check.fixed_result.totals()
        frame = pd.DataFrame(runs)
        frame.index.name = f"autoscaling {check.op_class}"
        out.append(("Autoscaling over the traffic", frame))
    if plan.overload is not None:
        out.extend(overload_tables(plan.overload))
    if plan.service is not None:
        out.extend(plan.service.tables())
    if plan.provenance:
        frame = provenance_frame(plan.provenance).set_index("class")
        out.append(("Measured inputs and their queries", frame.map(_round6)))
    return out


def _pipes_escaped(frame: pd.DataFrame) -> pd.DataFrame:
    """Text cells with ``|`` escaped, so that a PromQL regex (``=~"a|b"``) keeps its table cell."""
    return frame.map(lambda v: v.replace("|", "\\|") if isinstance(v, str) else v)


def _round6(value: object) -> object:
    """Six significant digits for display (floats only)."""
    return float(f"{value:.6g}") if isinstance(value, float) else value


def plan_figures(plan: CapacityPlan) -> dict[str, Figure]:
    """Per sized class, response-time percentiles against utilization with the targets; and the
    autoscaling run's timeline when the plan simulated one.

    Margins are fixed rather than computed by a layout engine, and log axes have no minor ticks
    and plain tick labels ("100", not mathtext's 10^2): the figures' content is known, and those
    three took most of the report's drawing time.
    """
    from matplotlib.figure import Figure  # noqa: PLC0415 - matplotlib loads only to draw figures

    from capplan.autoscale import plot_timeline  # noqa: PLC0415
    from capplan.plots import plot_response_vs_utilization  # noqa: PLC0415

    out: dict[str, Figure] = {}
    for ev in plan.evidence:
        sizing = plan.replicas.get(ev.op_class)
        if sizing is None:
            continue
        fig = Figure(figsize=(6.4, 4.0))
        fig.subplots_adjust(left=0.12, right=0.97, bottom=0.12, top=0.92)
        ax = fig.subplots()
        plot_response_vs_utilization(
            ev.mean_s,
            plan.workers,
            targets=sizing.targets,
            max_utilization=plan.max_utilization,
            service_scv=ev.scv,
            ax=ax,
        )
        ax.axvline(sizing.utilization, color="tab:red", linewidth=1, label="planned utilization")
        ax.legend(fontsize="small")
        ax.set_title(f"{ev.op_class}: one replica of {plan.workers} workers")
        out[ev.op_class] = fig
    check = plan.autoscaling
    if check is not None and check.result is not None:
        fig = Figure(figsize=(8.0, 4.0))
        fig.subplots_adjust(left=0.08, right=0.9, bottom=0.12, top=0.92)
        plot_timeline(check.result, ax=fig.subplots())
        out[f"{check.hpa.name} over the traffic"] = fig
    if plan.runway is not None:
        from capplan.forecast.report import TITLE, runway_figure  # noqa: PLC0415 - only with a forecast

        out[TITLE] = runway_figure(plan.runway)
    if plan.uncertainty is not None:
        from capplan.uncertainty.report import TITLE as UNCERTAIN  # noqa: PLC0415
        from capplan.uncertainty.report import uncertainty_figure  # noqa: PLC0415

        out[f"{UNCERTAIN}: tornado"] = uncertainty_figure(plan.uncertainty)
    for fig in out.values():
        _plain_log_ticks(fig)
    return out


def _alt(name: str, fig: Figure) -> str:
    """A figure's alternative text: what it plots (every axes' y label against the x label, "date"
    on a date axis) and its title."""
    first = fig.axes[0]
    ys = " and ".join(label for ax in fig.axes if (label := ax.get_ylabel()))
    x = first.get_xlabel() or ("date" if _is_date_axis(first) else "")
    what = f"{ys} against {x}" if ys and x else ys or x or "figure"
    title = first.get_title()
    return f"{name}: {what}; {title}" if title else f"{name}: {what}"


def _is_date_axis(ax: Axes) -> bool:
    from matplotlib.dates import AutoDateFormatter, ConciseDateFormatter, DateFormatter  # noqa: PLC0415

    formatter = ax.xaxis.get_major_formatter()
    return isinstance(formatter, (AutoDateFormatter, ConciseDateFormatter, DateFormatter))


def _plain_log_ticks(fig: Figure) -> None:
    from matplotlib.ticker import LogFormatter, NullLocator  # noqa: PLC0415 - see plan_figures

    for ax in fig.axes:
        for axis in (ax.xaxis, ax.yaxis):
            if axis.get_scale() == "log":
                axis.set_minor_locator(NullLocator())
                axis.set_major_formatter(LogFormatter(labelOnlyBase=False))


def _png(fig: Figure) -> str:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=96)
    return base64.b64encode(buffer.getvalue()).decode("ascii")


def render_html(plan: CapacityPlan, *, figures: bool = True, files: Sequence[str] = ()) -> str:
    """The plan as one self-contained HTML page (figures as embedded PNGs when ``figures``); with
    ``files`` (names of exported files beside the page) a section linking to them."""
    status_class = "ok" if plan.ok else "miss"
    body = [f'<h1>Capacity plan: <span class="{status_class}">{html.escape(_status(plan))}</span></h1>']
    body.append("<ul>" + "".join(f"<li>{html.escape(x)}</li>" for x in _headline(plan)) + "</ul>")
    if files:
        links = "".join(f'<li><a href="{html.escape(n)}">{html.escape(n)}</a></li>' for n in files)
        body += ["<h2>Deployment files</h2>", f"<ul>{links}</ul>"]
    body += ["<h2>Recommendations</h2>", html_table(plan.to_frame(), index=False)]
    body += ["<h2>Per operation class</h2>", html_table(_summary_display(plan), index=False)]
    body += ["<h2>Predicted response times against the targets</h2>"]
    body.append(html_table(_predictions_ms(plan), index=False))
    for title, table in _extra_tables(plan):
        body += [f"<h2>{html.escape(title)}</h2>", html_table(table)]
    if plan.runway is not None:
        from capplan.forecast.report import runway_html  # noqa: PLC0415 - only with a forecast

        body += runway_html(plan.runway)
    if plan.uncertainty is not None:
        from capplan.uncertainty.report import uncertainty_html  # noqa: PLC0415

        body += uncertainty_html(plan.uncertainty)
    misses = plan.misses()
    if misses:
        body += ["<h2>Misses</h2>", _list(misses, "miss")]
    if figures:
        for name, fig in plan_figures(plan).items():
            body.append(f"<h2>{html.escape(name)}</h2>")
            body.append(f'<img alt="{html.escape(_alt(name, fig))}" src="data:image/png;base64,{_png(fig)}">')
    body += ["<h2>Evidence</h2>", _list([e.describe() for e in plan.evidence])]
    body += ["<h2>Assumptions</h2>", _list(list(plan.assumptions))]
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        f"<title>Capacity plan</title><style>{_CSS}</style></head>\n<body>\n"
        + "\n".join(body)
        + "\n</body></html>\n"
    )


def _list(items: list[str], css: str = "") -> str:
    attr = f' class="{css}"' if css else ""
    return f"<ul{attr}>" + "".join(f"<li>{html.escape(x)}</li>" for x in items) + "</ul>"


def write_report(plan: CapacityPlan, path: str | os.PathLike[str]) -> Path:
    """Write the report in the format the suffix names (``.html``, ``.md``, ``.json``), atomically.

    The text is rendered first, then written to a temporary file beside ``path`` and renamed over
    it, so an error leaves any existing report untouched and never a half-written one.
    """
    target = Path(path)
    renderers: dict[str, Callable[[CapacityPlan], str]] = {
        ".html": render_html,
        ".htm": render_html,
        ".md": render_markdown,
        ".json": CapacityPlan.to_json,
    }
    render = renderers.get(target.suffix.lower())
    if render is None:
        raise ParameterError(f"path: report format from the suffix .html, .md or .json, got {str(target)!r}")
    text = render(plan)
    directory = target.parent if str(target.parent) else Path(".")
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=directory)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes the file private; a report is not
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return target


def _umask() -> int:
    """The process's file-creation mask (read by setting it and putting it back)."""
    mask = os.umask(0o022)
    os.umask(mask)
    return mask
