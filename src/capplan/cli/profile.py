"""``capplan profile [--tool py-spy|scalene] [--out FILE] -- python app.py``: where the CPU time goes."""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING, Any

from capplan.cli._common import EXIT_BAD_INPUT, EXIT_OK, error
from capplan.errors import CapplanError

if TYPE_CHECKING:
    from capplan.profiles import Profile

__all__ = ["add_parser"]


def add_parser(sub: Any) -> None:
    """Register the subcommand."""
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
    prof.set_defaults(run=run)


def _profile_report(profile: Profile, top: int, requests: float | None, within: str | None) -> str:
    import pandas as pd  # noqa: PLC0415 - pandas loads only to run the command

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


def run(args: argparse.Namespace) -> int:
    """Record the command, print the function table (and CPU per request)."""
    command = list(args.program)
    if command and command[0] == "--":
        command = command[1:]
    if not command:
        print("capplan: error: give the command to profile after --, e.g. -- python app.py", file=sys.stderr)
        return EXIT_BAD_INPUT
    from capplan.profiles import ProfilerError, ProgramFailedError, record  # noqa: PLC0415 - see _profile_report

    try:
        profile = record(command, tool=args.tool, out=args.out, fmt=args.profile_format, rate=args.rate)
        print(_profile_report(profile, args.top, args.requests, args.within))
    except ProgramFailedError as exc:
        error(exc)  # the program's own status, as a shell reports it (128 + N for signal N)
        return exc.returncode if exc.returncode >= 0 else 128 - exc.returncode
    except (CapplanError, ProfilerError, ValueError) as exc:
        return error(exc)
    return EXIT_OK
