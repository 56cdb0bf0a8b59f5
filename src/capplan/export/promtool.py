"""``prometheus-rules.test.yaml``: a ``promtool test rules`` unit test of the exported alerts.

Run ``promtool test rules prometheus-rules.test.yaml`` beside ``prometheus-rules.yaml`` (in CI,
after any edit of the rules).  For each Deployment, synthetic series with a sample a minute:
:data:`PER_MINUTE` requests a minute answered 200 for an hour, then every request answered 504
for :data:`OUTAGE_MIN` minutes, then 200 again; every Deployment's series are in one test group
(promtool evaluates every rule at every step of a group, so one group costs what one Deployment's
would).  The expected alerts follow from the burn-rate scheme (:mod:`capplan.export.slo`):

* before the outage nothing fires;
* one minute into it the bad fraction of every window is far above every threshold, so the
  availability (5xx), error-rate (5xx or 429) and timeout-rate (408 or 504) SLOs each page and
  ticket;
* the page stops once its short windows hold no failure: the 30-minute window of the 6x
  condition is the last, clear ``30m`` after the outage (checked a minute before and after, so
  the check does not depend on whether a range includes the sample at its start, which changed in
  Prometheus 3);
* the tickets go on (their 2h and 6h short windows still hold the outage).
"""

from __future__ import annotations

import re
from typing import Any

from capplan.export._yaml import comment_block, dump_yaml
from capplan.export.options import ExportOptions
from capplan.export.prometheus import prometheus_alerts
from capplan.export.slo import BURN_WINDOWS, SLO, ClassFacts

__all__ = ["OUTAGE_MIN", "PER_MINUTE", "counter_series", "promtool_tests"]

PER_MINUTE = 6000
OUTAGE_MIN = 5
_BEFORE_MIN = 60
_AFTER_MIN = 40


def counter_series(*segments: tuple[float, int]) -> str:
    """promtool's series notation for a counter from 0 that grows by ``inc`` a minute for
    ``minutes`` minutes, segment after segment (``counter_series((6000, 60))``)."""
    parts, value = ["0"], 0.0
    for inc, minutes in segments:
        parts.append(f"{value + inc:.10g}+{inc:.10g}x{minutes - 1}")
        value += inc * minutes
    return " ".join(parts)


def _expected(alerts: list[dict[str, Any]], severities: tuple[str, ...]) -> list[dict[str, Any]]:
    return [
        {"exp_labels": dict(a["labels"]), "exp_annotations": dict(a["annotations"])}
        for a in alerts
        if a["labels"]["severity"] in severities
    ]


def _class_series(f: ClassFacts, opts: ExportOptions) -> list[dict[str, str]]:
    """One Deployment's request counters: answered 200, then 504 through the outage, then 200."""
    sel = opts.selector(f.op_class)
    code = opts.code_label
    ok = counter_series((PER_MINUTE, _BEFORE_MIN), (0, OUTAGE_MIN), (PER_MINUTE, _AFTER_MIN))
    failed = counter_series((0, _BEFORE_MIN), (PER_MINUTE, OUTAGE_MIN), (0, _AFTER_MIN))
    return [
        {"series": f'{opts.requests_metric}{{{sel},{code}="200"}}', "values": ok},
        {"series": f'{opts.requests_metric}{{{sel},{code}="504"}}', "values": failed},
    ]


def _outage_test(series: list[dict[str, str]], alerts: list[dict[str, Any]]) -> dict[str, Any]:
    """The test group: ``series`` of every Deployment, ``alerts`` those the outage must fire."""
    end = _BEFORE_MIN + OUTAGE_MIN
    checks = [
        (_BEFORE_MIN, ()),
        (_BEFORE_MIN + 1, ("page", "ticket")),
        (end + 30 - 2, ("page", "ticket")),
        (end + 30 + 1, ("ticket",)),
    ]
    return {
        "interval": "1m",
        "input_series": series,
        "alert_rule_test": [
            {"eval_time": f"{t}m", "alertname": "SLOErrorBudgetBurn", "exp_alerts": _expected(alerts, sev)}
            for t, sev in checks
        ],
    }


def _outage_slos(slos: list[SLO], op_class: str) -> list[SLO]:
    """The class's SLOs a 504 counts against that must page in the outage's first minute: every
    condition usable, and 14.4 x budget below the 1/60 bad fraction one failed minute gives the
    1h window."""
    return [
        s
        for s in slos
        if s.op_class == op_class
        and s.bad_codes is not None
        and re.fullmatch(s.bad_codes, "504")
        and len(s.windows()[0]) == len(BURN_WINDOWS)
        and BURN_WINDOWS[0].burn_rate * s.budget < 1 / 60
    ]


def promtool_tests(slos: list[SLO], facts: list[ClassFacts], opts: ExportOptions) -> str | None:
    """The test file's text, or None when no class has an SLO the outage must page."""
    series: list[dict[str, str]] = []
    alerts: list[dict[str, Any]] = []
    for f in facts:
        paging = prometheus_alerts(_outage_slos(slos, f.op_class), opts)
        if paging:
            series += _class_series(f, opts)
            alerts += paging
    if not alerts:
        return None
    header = [
        "promtool unit tests of prometheus-rules.yaml, written by capplan: promtool test rules this file.",
        f"Per Deployment: {PER_MINUTE} requests a minute, all answered 504 for {OUTAGE_MIN} minutes after "
        f"{_BEFORE_MIN} (a full outage).",
        "Every Deployment's series are in one test group (promtool evaluates every rule at each step).",
        "Expected: silence before; every SLO a 504 counts against pages and tickets a minute in; the",
        "pages stop 30 minutes after the outage (the 6x condition's 30m window), the tickets go on.",
    ]
    tests = [_outage_test(series, alerts)]
    doc = {"rule_files": ["prometheus-rules.yaml"], "evaluation_interval": "1m", "tests": tests}
    return comment_block(header) + dump_yaml(doc)
