"""Runs ``capplan export`` (options in :mod:`capplan.cli.export`)."""

from __future__ import annotations

import argparse
from pathlib import Path

from capplan.cli._common import EXIT_MISS, EXIT_OK, INPUT_ERRORS, class_values, error
from capplan.cli.plan_run import build_from_args
from capplan.errors import ParameterError
from capplan.export import ExportError, ExportOptions

__all__ = ["run_export"]


def run_export(args: argparse.Namespace) -> int:
    """Write the files; print what was written, the notes and the misses."""
    try:
        options = {
            "namespace": args.namespace,
            "deployments": class_values(args.deployment, "--deployment", str),
            "containers": class_values(args.container, "--container", str),
            "requests_metric": args.requests_metric,
            "duration_metric": args.duration_metric,
            "buckets": args.buckets,
        }
        ExportOptions.make(**options)  # bad names fail before the plan is built
        if Path(args.out).exists() and not args.force:
            raise ExportError(f"{args.out}: already exists; give --force to replace it")
        _, plan = build_from_args(args)
        if plan is None:
            raise ParameterError("no service-time evidence: give a plan-inputs file, or evidence options")
        result = plan.export(args.out, force=args.force, figures=not args.no_figures, **options)
    except INPUT_ERRORS as exc:
        return error(exc)
    print(repr(plan))
    print(f"written to {result.directory}: {', '.join(result.files)}")
    for note in result.notes:
        print(f"note: {note}")
    if result.misses:
        print(f"\nMISSES ({len(result.misses)}):")
        for miss in result.misses:
            print(f"  - {miss}")
        return EXIT_OK if args.allow_misses else EXIT_MISS
    print("\nmeets the SLA")
    return EXIT_OK
