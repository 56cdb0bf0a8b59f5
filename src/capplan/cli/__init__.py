"""The ``capplan`` command line.

``capplan plan`` (the capacity plan and its report), ``capplan check`` (exit 1 when a plan or a
measurement misses the SLA), ``capplan export`` (the plan's deployment files), ``capplan servers``
(servers per class and throughput level), ``capplan sla`` (validate and print SLA documents),
``capplan profile`` (record a command with py-spy or scalene) and ``capplan schema`` (the JSON
Schema of an input file kind).  Exit status: 0 ok, 1 an SLA miss
(``check``, ``export``), 2 bad input.

The parsers are built from light modules; each command imports what it needs when it runs
(:func:`capplan.cli._common.deferred`), so ``--help`` answers in a blink.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from capplan import __version__
from capplan.cli import export, plan, profile, schema, servers
from capplan.cli._common import EXIT_OK, INPUT_ERRORS, error

__all__ = ["main"]

_DESCRIPTION = """Capacity planning from SLA targets and measurements.

Start with the bundled example:
  capplan plan data/capacity-plan.yaml --out report.html

Every rate is per second and every time in seconds unless a unit is written (40ms, 720h, 20%).
"""


def _sla(args: argparse.Namespace) -> int:
    from capplan.sla import load_sla  # noqa: PLC0415 - pandas and yaml load only to run it

    try:
        print(load_sla(*args.files).to_text())
    except INPUT_ERRORS as exc:
        return error(exc)
    return EXIT_OK


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="capplan", description=_DESCRIPTION, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--version", action="version", version=f"capplan {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    plan.add_parsers(sub)
    export.add_parser(sub)
    servers.add_parser(sub)
    sla = sub.add_parser("sla", help="validate SLA documents and print their targets")
    sla.add_argument(
        "files", nargs="+", help="SLA YAML files (performance_requirements / performance_budgets)"
    )
    sla.set_defaults(run=_sla)
    profile.add_parser(sub)
    schema.add_parser(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point; returns the process exit status."""
    args = _parser().parse_args(argv)
    status: int = args.run(args)
    return status


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
