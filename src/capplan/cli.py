"""The ``capplan`` command line: ``capplan plan SLA.yaml [BUDGET.yaml] --service-time 25ms``,
``capplan profile [--tool py-spy|scalene] [--out FILE] -- python app.py``."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

import pandas as pd

from capplan import __version__
from capplan.errors import CapplanError
from capplan.plan import QUANTILES, server_sizing_table
from capplan.profiles import Profile, ProfilerError, record
from capplan.sla import load_sla
from capplan.units import parse_duration

__all__ = ["main"]


def _service_times(values: Sequence[str]) -> float | dict[str, float]:
    """``["25ms"]`` -> 0.025; ``["critical_operations=20ms", ...]`` -> a per-class mapping."""
    if len(values) == 1 and "=" not in values[0]:
        return _positive_duration(values[0])
    out: dict[str, float] = {}
    for item in values:
        name, sep, text = item.partition("=")
        if not sep or not name:
            raise argparse.ArgumentTypeError(
                f"--service-time {item!r}: give one duration, or CLASS=DURATION for every class"
            )
        out[name.strip()] = _positive_duration(text)
    return out


def _positive_duration(text: str) -> float:
    seconds = parse_duration(text)
    if seconds <= 0:
        raise argparse.ArgumentTypeError(f"service time {text!r} must be positive")
    return seconds


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="capplan", description="Capacity planning from SLA targets and measurements."
    )
    parser.add_argument("--version", action="version", version=f"capplan {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)

    sla = sub.add_parser("sla", help="validate SLA documents and print their targets")
    sla.add_argument(
        "files", nargs="+", help="SLA YAML files (performance_requirements / performance_budgets)"
    )

    plan = sub.add_parser("plan", help="print the SLA and the servers each operation class needs (M/M/c)")
    plan.add_argument("files", nargs="+", help="SLA YAML files")
    plan.add_argument(
        "--service-time",
        nargs="+",
        required=True,
        metavar="DURATION",
        help="mean service time per request, e.g. 25ms, or CLASS=DURATION for each class",
    )
    plan.add_argument("--group", default="api_endpoints", help="latency group to size (default: %(default)s)")
    plan.add_argument(
        "--throughput", default="api_gateway", help="throughput target to size for (default: %(default)s)"
    )
    plan.add_argument(
        "--resource", default="cpu", help="utilization threshold to respect (default: %(default)s)"
    )
    plan.add_argument("--service-scv", type=float, default=1.0, help="service-time SCV (1 = exponential)")
    plan.add_argument("--arrival-scv", type=float, default=1.0, help="inter-arrival SCV (1 = Poisson)")
    plan.add_argument("--format", choices=("text", "csv", "json"), default="text", help="output format")

    prof = sub.add_parser(
        "profile",
        help="record a command with py-spy or scalene and print where the CPU time goes",
        usage="capplan profile [--tool py-spy|scalene] [--out FILE] [options] -- python app.py [args]",
    )
    prof.add_argument("--tool", choices=("py-spy", "scalene"), default="py-spy", help="profiler")
    prof.add_argument("--out", metavar="FILE", help="keep the profile file here")
    prof.add_argument(
        "--format",
        dest="profile_format",
        choices=("speedscope", "raw"),
        default="speedscope",
        help="py-spy output format (default: %(default)s)",
    )
    prof.add_argument("--rate", type=float, default=100.0, help="samples per second (default: %(default)g)")
    prof.add_argument("--top", type=int, default=15, help="functions to show (default: %(default)s)")
    prof.add_argument("--requests", type=float, help="requests the command serves: print CPU per request")
    prof.add_argument("--within", metavar="MODULE:FUNCTION", help="only count samples inside this function")
    prof.add_argument("program", nargs=argparse.REMAINDER, help="the command to profile, after --")
    return parser


def _profile_report(profile: Profile, top: int, requests: float | None, within: str | None) -> str:
    scoped = profile if within is None else profile.filter(within=within)
    table = scoped.functions().head(top)
    shown = pd.DataFrame(
        {
            "function": table["module"] + ":" + table["function"],
            "self_%": (100 * table["self_share"]).round(1),
            "incl_%": (100 * table["inclusive_share"]).round(1),
            "±%": (100 * table["inclusive_share_se"]).round(1),
            "self_s": table["self_s"].round(3),
            "incl_s": table["inclusive_s"].round(3),
        }
    )
    lines = [repr(profile), *(f"note: {n}" for n in profile.notes)]
    if within is not None:
        lines.append(f"samples inside {within}: {scoped.total_samples:.0f} ({scoped.total_s:.3f} s)")
    lines += ["", shown.to_string(index=False)]
    if requests is not None:
        demand = scoped.demand(requests)
        lines += [
            "",
            f"CPU per request: {demand.service_time * 1e3:.4g} ms ± {demand.service_time_se * 1e3:.2g} ms"
            f" over {demand.requests:g} requests -> {demand.service_rate:.4g} requests/s per core"
            " at 100% busy",
        ]
    return "\n".join(lines)


def _profile(args: argparse.Namespace) -> int:
    command = list(args.program)
    if command and command[0] == "--":
        command = command[1:]
    if not command:
        print("capplan: error: give the command to profile after --, e.g. -- python app.py", file=sys.stderr)
        return 2
    try:
        profile = record(command, tool=args.tool, out=args.out, fmt=args.profile_format, rate=args.rate)
        print(_profile_report(profile, args.top, args.requests, args.within))
    except (CapplanError, ProfilerError, ValueError) as exc:
        print(f"capplan: error: {exc}", file=sys.stderr)
        return 2
    return 0


def _render(frame: pd.DataFrame, fmt: str) -> str:
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


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point; returns the process exit status (0 ok, 2 bad input)."""
    parser = _parser()
    args = parser.parse_args(argv)
    if args.command == "profile":
        return _profile(args)
    try:
        sla = load_sla(*args.files)
        if args.command == "sla":
            print(sla.to_text())
            return 0
        service_time = _service_times(args.service_time)
        table = server_sizing_table(
            sla,
            service_time,
            group=args.group,
            throughput=args.throughput,
            resource=args.resource,
            service_scv=args.service_scv,
            arrival_scv=args.arrival_scv,
        )
    except (CapplanError, KeyError, argparse.ArgumentTypeError, ValueError) as exc:
        message = exc.args[0] if isinstance(exc, KeyError) and exc.args else str(exc)
        print(f"capplan: error: {message}", file=sys.stderr)
        return 2
    if args.format == "text":
        print(sla.to_text())
        print(
            f"\nServers per operation class for {args.throughput} "
            f"({table['method'].iloc[0]}; each row serves all of that throughput with one class; "
            f"utilization <= the SLA's {args.resource} target)"
        )
    print(_render(table, args.format))
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
