"""``capplan plan`` (the capacity plan and its report) and ``capplan check`` (exit 1 on a miss).

Inputs are one plan-inputs file (``capacity_plan:``, see :mod:`capplan.plan.inputs`) or SLA YAML
files, plus options that add or replace evidence per operation class.  This module only declares
the options, so ``capplan plan --help`` is quick; :mod:`capplan.cli.plan_run` does the work.
"""

from __future__ import annotations

import argparse
from typing import Any

from capplan.cli._common import deferred

__all__ = ["add_parsers", "plan_input_arguments"]

_EPILOG = """examples:
  capplan plan data/capacity-plan.yaml --out report.html
  capplan plan data/capacity-plan.yaml --horizon 90d --out report.html
  capplan plan data/capacity-plan-uncertain.yaml --confidence 0.9
  capplan plan data/performance-sla.yaml data/performance-budget.yaml \\
      --service-time critical_operations=40ms --mix critical_operations=20%
  capplan check data/capacity-plan.yaml            # exit 1 if the plan misses the SLA
  capplan check data/performance-sla.yaml --measured critical_operations=locust_stats.csv
  capplan check data/performance-sla.yaml --measured critical_operations=k6-summary.json
  capplan check data/performance-sla.yaml --measured critical_operations=data/loadtest/demo_wrk.txt
  capplan check data/performance-sla.yaml --measured critical_operations=data/loadtest/demo_metrics.txt
"""


def _inputs(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "files",
        nargs="+",
        metavar="FILE",
        help="a plan-inputs YAML (capacity_plan: ...) or SLA YAML files (performance_requirements ...)",
    )
    ev = p.add_argument_group("service-time evidence, per operation class (adds to or replaces the file's)")
    ev.add_argument("--service-time", nargs="+", metavar="CLASS=DURATION", help="stated mean, e.g. 40ms")
    ev.add_argument("--profile", nargs="+", metavar="CLASS=FILE", help="py-spy or scalene profile")
    ev.add_argument(
        "--requests", nargs="+", metavar="CLASS=N", help="requests served while profiling (with --profile)"
    )
    ev.add_argument(
        "--within",
        nargs="+",
        metavar="CLASS=MODULE:FUNCTION",
        help="count only the profile's samples inside this function, e.g. the request handler "
        "(with --profile; leaves out start-up and imports)",
    )
    ev.add_argument(
        "--loadtest",
        nargs="+",
        metavar="CLASS=FILE",
        help="response times at low load (Locust stats CSV, wrk/wrk2 output, a percentile spectrum, "
        "a saved /metrics with one latency histogram, or a latency CSV), fitted as service times",
    )
    opts = p.add_argument_group("plan")
    opts.add_argument("--mix", nargs="+", metavar="CLASS=SHARE", help="share of the throughput, e.g. 20%%")
    opts.add_argument("--workers", type=int, help="workers (servers) per replica")
    opts.add_argument("--throughput", help="the SLA's throughput target (default: api_gateway)")
    opts.add_argument("--load", help="its level (default: peak)")
    opts.add_argument("--hpa", metavar="FILE", help="autoscaling/v2 HorizontalPodAutoscaler manifest")
    opts.add_argument("--traffic", metavar="FILE", help="CSV of time_s, arrival_rate for the HPA run")
    opts.add_argument("--hpa-class", metavar="CLASS", help="operation class the HPA scales")
    opts.add_argument("--price", type=float, metavar="PER_HOUR", help="price of one replica-hour")
    opts.add_argument(
        "--overload",
        metavar="FILE",
        help="YAML with an 'overload' section: client timeouts, retries, breaker",
    )


def add_parsers(sub: Any) -> None:
    """Register ``plan`` and ``check``."""
    plan = sub.add_parser(
        "plan",
        help="the capacity plan: replicas, pools, caches, autoscaling, with a report",
        description="Size replicas per operation class from the SLA and service-time evidence; add "
        "the connection pool, database limits, cache and HPA when the inputs name them. Prints the "
        "report (Markdown) and writes it with --out (.html self-contained, .md or .json).",
        epilog=_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    _inputs(plan)
    plan.add_argument("--out", metavar="FILE", help="write the report here (.html, .md or .json)")
    plan.add_argument("--format", choices=("markdown", "json"), default="markdown", help="stdout format")
    runway = plan.add_argument_group("forecast and runway (capplan.forecast)")
    runway.add_argument(
        "--horizon",
        metavar="DURATION",
        help="forecast the traffic this far ahead (e.g. 90d) and add when capacity runs out",
    )
    runway.add_argument(
        "--history",
        metavar="FILE",
        help="traffic history CSV (timestamp, requests or rate); default: the plan file's forecast.history",
    )
    plan.add_argument(
        "--confidence",
        type=float,
        metavar="LEVEL",
        help="add replicas under the plan file's uncertainty: section, enough in this share of the "
        "Monte Carlo draws (e.g. 0.9), with a tornado of which input matters most",
    )
    plan.set_defaults(run=deferred("capplan.cli.plan_run", "run_plan"))

    check = sub.add_parser(
        "check",
        help="exit 1 when the plan or a measurement misses the SLA (for CI pipelines)",
        description="Build the plan (when evidence is given) and compare measured response-time "
        "percentiles (--measured) with the SLA's targets. Prints each miss; exit status 0 when "
        "everything meets the SLA, 1 when something misses, 2 on bad input.",
        epilog=_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    _inputs(check)
    check.add_argument(
        "--measured",
        nargs="+",
        metavar="CLASS=FILE",
        help="measured response times to hold to the class's targets: Locust stats CSV, k6 JSON "
        "summary (handleSummary or --summary-export), wrk/wrk2 --latency output, an HdrHistogram "
        "spectrum, a saved /metrics (Prometheus text; its one *_seconds histogram or summary, or "
        'FILE#name{label="value"}), or a latency CSV; the kind is told by the content',
    )
    check.add_argument("--group", default="api_endpoints", help="latency group (default: %(default)s)")
    check.set_defaults(run=deferred("capplan.cli.plan_run", "run_check"))


#: What ``capplan export`` shares with ``plan`` and ``check``: the input arguments.
plan_input_arguments = _inputs
