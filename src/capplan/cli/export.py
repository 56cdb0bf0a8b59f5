"""``capplan export``: build the plan and write its deployment files (see :mod:`capplan.export`).

This module only declares the options; :mod:`capplan.cli.export_run` does the work.

Exit status: 0 written and the plan meets the SLA; 1 written but the plan misses the SLA (the
misses are listed; ``--allow-misses`` makes this 0); 2 bad input, or an existing ``--out``
directory without ``--force`` (nothing written).
"""

from __future__ import annotations

import argparse
from typing import Any

from capplan.cli._common import deferred
from capplan.cli.plan import plan_input_arguments

__all__ = ["add_parser"]

_EPILOG = """examples:
  capplan export data/capacity-plan.yaml --out deploy/
  capplan export data/capacity-plan.yaml --out deploy/ --force --allow-misses \\
      --namespace production --deployment critical_operations=user-service
  promtool check rules deploy/prometheus-rules.yaml
"""


def _buckets(text: str) -> tuple[float, ...]:
    try:
        return tuple(float(x) for x in text.split(",") if x.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"--buckets {text!r}: expected seconds separated by commas"
        ) from None


def add_parser(sub: Any) -> None:
    """Register ``export``."""
    p = sub.add_parser(
        "export",
        help="write the plan's HPA, resources, pool configs, Prometheus rules and load tests",
        description="Build the plan and write, into a new directory and atomically: hpa.yaml, "
        "deployment-resources.yaml, pgbouncer.ini, postgresql.conf, prometheus-rules.yaml, "
        "k6-thresholds.js, locustfile.py, error-budget.csv and the report linking to them. A plan "
        "that misses the SLA is written too, and the command exits 1 listing the misses.",
        epilog=_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    plan_input_arguments(p)
    out = p.add_argument_group("export")
    out.add_argument("--out", required=True, metavar="DIR", help="directory to create")
    out.add_argument("--force", action="store_true", help="replace DIR if it exists")
    out.add_argument("--allow-misses", action="store_true", help="exit 0 even when the plan misses the SLA")
    out.add_argument("--namespace", help="Kubernetes namespace of the Deployments")
    out.add_argument(
        "--deployment", nargs="+", metavar="CLASS=NAME", help="Deployment per class (default: the class name)"
    )
    out.add_argument(
        "--container", nargs="+", metavar="CLASS=NAME", help="container per class (default: the Deployment)"
    )
    out.add_argument("--requests-metric", default="http_requests_total", help="request counter (%(default)s)")
    out.add_argument(
        "--duration-metric", default="http_request_duration_seconds", help="latency histogram (%(default)s)"
    )
    out.add_argument(
        "--buckets", type=_buckets, metavar="S,S,...", help="the histogram's bucket bounds, seconds"
    )
    out.add_argument("--no-figures", action="store_true", help="leave the figures out of the HTML report")
    p.set_defaults(run=deferred("capplan.cli.export_run", "run_export"))
