"""``capplan servers SLA.yaml --service-time 40ms``: servers per operation class and throughput level."""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from capplan.cli._common import EXIT_OK, INPUT_ERRORS, class_values, error, positive_duration

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["add_parser"]


def add_parser(sub: Any) -> None:
    """Register the subcommand."""
    p = sub.add_parser(
        "servers",
        help="servers each operation class needs at each throughput level (M/M/c or G/G/c)",
        description="For each operation class and each level of a throughput target, the smallest "
        "number of servers meeting every percentile target of the class at the SLA's utilization "
        "target. Each row serves all of that throughput with the class's service time.",
    )
    p.add_argument("files", nargs="+", help="SLA YAML files")
    p.add_argument(
        "--service-time",
        nargs="+",
        required=True,
        metavar="DURATION",
        help="mean service time per request, e.g. 25ms, or CLASS=DURATION for each class",
    )
    p.add_argument("--group", default="api_endpoints", help="latency group to size (default: %(default)s)")
    p.add_argument("--throughput", default="api_gateway", help="throughput target (default: %(default)s)")
    p.add_argument("--resource", default="cpu", help="utilization threshold (default: %(default)s)")
    p.add_argument("--service-scv", type=float, default=1.0, help="service-time SCV (1 = exponential)")
    p.add_argument("--arrival-scv", type=float, default=1.0, help="inter-arrival SCV (1 = Poisson)")
    p.add_argument("--format", choices=("text", "csv", "json"), default="text", help="output format")
    p.set_defaults(run=run)


def _service_times(values: Sequence[str]) -> float | dict[str, float]:
    if len(values) == 1 and "=" not in values[0]:
        return positive_duration(values[0])
    return class_values(values, "--service-time", positive_duration)


def run(args: argparse.Namespace) -> int:
    """Print the SLA and the table."""
    from capplan.plan import server_sizing_table  # noqa: PLC0415 - the models load only to run it
    from capplan.sla import load_sla  # noqa: PLC0415

    try:
        sla = load_sla(*args.files)
        table = server_sizing_table(
            sla,
            _service_times(args.service_time),
            group=args.group,
            throughput=args.throughput,
            resource=args.resource,
            service_scv=args.service_scv,
            arrival_scv=args.arrival_scv,
        )
    except INPUT_ERRORS as exc:
        return error(exc)
    if args.format == "text":
        print(sla.to_text())
        print(
            f"\nServers per operation class for {args.throughput} "
            f"({table['method'].iloc[0]}; each row serves all of that throughput with one class; "
            f"utilization <= the SLA's {args.resource} target)"
        )
    print(render(table, args.format))
    return EXIT_OK


def render(frame: pd.DataFrame, fmt: str) -> str:
    """The table as text (ms, predicted with targets in brackets), CSV or JSON."""
    import pandas as pd  # noqa: PLC0415 - see run

    from capplan.plan import QUANTILES  # noqa: PLC0415

    if fmt == "csv":
        return frame.to_csv(index=False)
    if fmt == "json":
        return frame.to_json(orient="records", indent=2) or ""
    shown = frame[
        ["class", "load", "arrival_rate", "service_time_s", "servers", "utilization", "binding"]
    ].copy()
    shown["service_time_s"] = (shown["service_time_s"] * 1000).round(1)
    shown["utilization"] = shown["utilization"].round(3)
    shown = shown.rename(columns={"arrival_rate": "rate_per_s", "service_time_s": "service_ms"})
    for q in QUANTILES:
        label = f"p{q * 100:g}"
        pred = (frame[f"{label}_s"] * 1000).round(1).astype(str)
        target = (frame[f"target_{label}_s"] * 1000).map(lambda v: "-" if pd.isna(v) else f"{v:g}")
        shown[f"{label}_ms (target)"] = pred + " (" + target + ")"
    return shown.to_string(index=False)
