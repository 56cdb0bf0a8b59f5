"""``k6-thresholds.js`` and ``locustfile.py``: a load test of the plan's load, failing on the SLA.

**Stages** (:func:`plan_stages`): the SLA's levels of the planned throughput target up to the
planned one (for the seed: sustained 5 000/s, then peak 10 000/s; a burst above the planned level
is not what the plan sized for), each reached by a linear ramp of :data:`RAMP_S` and held for
:data:`HOLD_S`, the planned level for :data:`PEAK_HOLD_S`, then a ramp down of :data:`RAMP_DOWN_S`.
Every class gets its mix share of each level.

**k6**: one ``ramping-arrival-rate`` scenario per class (an open model: requests arrive at the
stage's rate whatever the responses do, like the plan's Poisson arrivals), thresholds per class
on ``http_req_duration{scenario:<class>}`` from its latency targets (``p(95)<200``, in ms) and on
``http_req_failed{scenario:<class>}`` from the SLA's error rate (``rate<0.001``), each with
``abortOnFail`` (after ``delayAbortEval`` of 1 minute) so a CI run stops at the first sustained
miss.  k6 counts a status >= 400 as failed; the Prometheus error-rate SLI counts 5xx and 429.

**Locust**: a ``LoadTestShape`` with the same stages, linear within a ramp as k6's.  Locust runs
closed-loop users, so each class's users pace their requests at one per ``pacing`` seconds
(``constant_pacing``), the class's largest latency target: a user whose responses meet the SLA
keeps its pace, and ``rate x pacing`` users make the stage's rate.

Both scale every rate by the environment variable ``CAPPLAN_SCALE`` (default 1) for smoke tests,
and read the base URL from ``BASE_URL`` (k6; Locust takes ``--host``) and each class's path from
``CAPPLAN_PATH_<CLASS>`` (default ``/<class>``).
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass
from typing import Any

from capplan.export.slo import ClassFacts
from capplan.plan.model import CapacityPlan

__all__ = [
    "HOLD_S",
    "PEAK_HOLD_S",
    "RAMP_DOWN_S",
    "RAMP_S",
    "Stage",
    "k6_script",
    "locustfile",
    "plan_stages",
]

RAMP_S = 120.0
HOLD_S = 300.0
PEAK_HOLD_S = 600.0
RAMP_DOWN_S = 60.0
_ABORT_DELAY = "1m"


@dataclass(frozen=True)
class Stage:
    """Ramp linearly over ``duration_s`` to ``rate`` requests/s (the whole service)."""

    duration_s: float
    rate: float


def plan_stages(plan: CapacityPlan) -> list[Stage]:
    """The load profile of the plan (see the module docstring)."""
    levels: list[float] = []
    if plan.sla is not None:
        levels = sorted({r for r in plan.sla.rates(plan.throughput).values() if 0 < r < plan.arrival_rate})
    stages = [s for level in levels for s in (Stage(RAMP_S, level), Stage(HOLD_S, level))]
    return [
        *stages,
        Stage(RAMP_S, plan.arrival_rate),
        Stage(PEAK_HOLD_S, plan.arrival_rate),
        Stage(RAMP_DOWN_S, 0.0),
    ]


def _identifier(op_class: str) -> str:
    name = re.sub(r"\W+", "_", op_class)
    return name if name and not name[0].isdigit() else f"c_{name}"


def _env_name(op_class: str) -> str:
    return "CAPPLAN_PATH_" + _identifier(op_class).upper()


def _pacing(f: ClassFacts) -> float:
    return max(f.sizing.targets.values())


def _ms(seconds: float) -> str:
    return f"{float(f'{seconds * 1e3:.6g}'):g}"


def _thresholds(f: ClassFacts, error_rate: float | None) -> dict[str, list[dict[str, object]]]:
    tag = f"{{scenario:{_identifier(f.op_class)}}}"

    def check(expr: str) -> dict[str, object]:
        return {"threshold": expr, "abortOnFail": True, "delayAbortEval": _ABORT_DELAY}

    out = {
        f"http_req_duration{tag}": [
            check(f"p({q * 100:g})<{_ms(t)}") for q, t in sorted(f.sizing.targets.items())
        ]
    }
    if error_rate is not None:
        out[f"http_req_failed{tag}"] = [check(f"rate<{error_rate:g}")]
    return out


def _scenario(f: ClassFacts, share: float, stages: list[Stage]) -> dict[str, object]:
    per_second = f.rate >= 100
    unit = 1.0 if per_second else 60.0
    peak = max(s.rate for s in stages) * share
    return {
        "executor": "ramping-arrival-rate",
        "startRate": 0,
        "timeUnit": "1s" if per_second else "1m",
        "preAllocatedVUs": math.ceil(peak * _pacing(f)),
        "maxVUs": 2 * math.ceil(peak * _pacing(f)),
        "stages": [
            {"duration": f"{s.duration_s:g}s", "target": round(s.rate * share * unit)} for s in stages
        ],
        "exec": _identifier(f.op_class),
    }


def _error_rate(plan: CapacityPlan) -> float | None:
    if plan.sla is None:
        return None
    found = {a.name: a.value for a in plan.sla.availability_targets if a.bound == "max"}
    return found.get("error_rate")


def k6_script(plan: CapacityPlan, facts: list[ClassFacts]) -> str:
    """The text of ``k6-thresholds.js``."""
    stages = plan_stages(plan)
    error_rate = _error_rate(plan)
    scenarios = {_identifier(f.op_class): _scenario(f, plan.mix.get(f.op_class, 1.0), stages) for f in facts}
    thresholds: dict[str, object] = {}
    for f in facts:
        thresholds |= _thresholds(f, error_rate)
    levels = sorted({q for f in facts for q in f.sizing.targets} | {0.9, 0.95, 0.99})
    trend = ["avg", "min", "med", "max", *(f"p({q * 100:g})" for q in levels if q != 0.5)]
    options = {"scenarios": scenarios, "thresholds": thresholds, "summaryTrendStats": trend}
    paths = {_identifier(f.op_class): (_env_name(f.op_class), f"/{f.op_class}") for f in facts}
    lines = [
        "// k6 load test written by capplan from a capacity plan: the plan's load, failing on the SLA.",
        f"// Stages (whole service, requests/s): {_stage_text(stages)}; each class gets its mix share.",
        "// Run: k6 run -e BASE_URL=http://host:port k6-thresholds.js  (CAPPLAN_SCALE=0.01 for a smoke test)",
        "// k6 counts a status >= 400 as failed (http_req_failed); thresholds abort the run on a miss.",
        "import http from 'k6/http';",
        "",
        "const BASE_URL = __ENV.BASE_URL || 'http://localhost:8080';",
        "const SCALE = Number(__ENV.CAPPLAN_SCALE || '1');",
        "",
        "function scaled(scenario) {",
        "  const s = Object.assign({}, scenario);",
        "  s.stages = scenario.stages.map((st) => (",
        "    { duration: st.duration, target: Math.round(st.target * SCALE) }));",
        "  s.preAllocatedVUs = Math.max(1, Math.ceil(scenario.preAllocatedVUs * SCALE));",
        "  s.maxVUs = Math.max(2, Math.ceil(scenario.maxVUs * SCALE));",
        "  return s;",
        "}",
        "",
        f"const PLAN = {_js_object(options)};",
        "",
        "export const options = {",
        "  scenarios: Object.fromEntries(Object.entries(PLAN.scenarios).map(([k, v]) => [k, scaled(v)])),",
        "  thresholds: PLAN.thresholds,",
        "  summaryTrendStats: PLAN.summaryTrendStats,",
        "};",
    ]
    for name, (env, default) in paths.items():
        lines += [
            "",
            f"export function {name}() {{",
            f"  http.get(`${{BASE_URL}}${{__ENV.{env} || {json.dumps(default)}}}`);",
            "}",
        ]
    return "\n".join(lines) + "\n"


def _js_object(options: dict[str, Any]) -> str:
    """``options`` as a JavaScript object literal, one entry of each section per line."""
    lines = ["{"]
    for section, body in options.items():
        if isinstance(body, dict):
            lines.append(f"  {section}: {{")
            lines += [f"    {json.dumps(key)}: {json.dumps(value)}," for key, value in body.items()]
            lines.append("  },")
        else:
            lines.append(f"  {section}: {json.dumps(body)},")
    lines.append("}")
    return "\n".join(lines)


def _stage_text(stages: list[Stage]) -> str:
    return ", ".join(f"{s.duration_s:g}s to {s.rate:g}" for s in stages)


def locustfile(plan: CapacityPlan, facts: list[ClassFacts]) -> str:
    """The text of ``locustfile.py``: one paced user class per operation class and the stages."""
    stages = plan_stages(plan)
    peak = max(s.rate for s in stages)
    mix = {f.op_class: plan.mix.get(f.op_class, 1.0) for f in facts}
    pacing = {f.op_class: _pacing(f) for f in facts}
    spawn = max(
        abs(b.rate - a.rate) * sum(mix[c] * pacing[c] for c in mix) / b.duration_s
        for a, b in zip([Stage(0.0, 0.0), *stages], stages, strict=False)
    )
    out = [
        '"""Locust load shape written by capplan from a capacity plan: the stages of k6-thresholds.js.',
        "",
        "Run: locust -f locustfile.py --headless --host http://host:port  (CAPPLAN_SCALE=0.01: a smoke test)",
        '"""',
        "",
        "import os",
        "",
        "from locust import HttpUser, LoadTestShape, constant_pacing, task",
        "",
        'SCALE = float(os.environ.get("CAPPLAN_SCALE", "1"))',
        "#: (seconds, requests/s of the whole service at the end of the stage); linear within a stage.",
        f"STAGES = {[(s.duration_s, s.rate) for s in stages]!r}",
        f"MIX = {mix!r}",
        "#: Seconds between one user's requests: the class's largest latency target.",
        f"PACING = {pacing!r}",
        f"SPAWN_RATE = {max(1.0, math.ceil(spawn)):g}  # users/s, enough for the steepest ramp",
        "",
        "",
        "def rate_at(t):",
        '    """Requests/s of the whole service at ``t`` seconds (None after the last stage)."""',
        "    start, rate = 0.0, 0.0",
        "    for duration, target in STAGES:",
        "        if t < start + duration:",
        "            return rate + (target - rate) * (t - start) / duration",
        "        start, rate = start + duration, target",
        "    return None",
        "",
        "",
        "def users_at(t):",
        '    """Users per class at ``t``: rate x share x pacing (None after the last stage)."""',
        "    rate = rate_at(t)",
        "    if rate is None:",
        "        return None",
        "    return {c: rate * SCALE * MIX[c] * PACING[c] for c in MIX}",
    ]
    for f in facts:
        name = "".join(part.title() for part in _identifier(f.op_class).split("_")) + "User"
        out += [
            "",
            "",
            f"class {name}(HttpUser):",
            f"    weight = {max(1, round(peak * mix[f.op_class] * pacing[f.op_class]))}  # users at the peak",
            f"    wait_time = constant_pacing({pacing[f.op_class]!r})",
            "",
            "    @task",
            "    def request(self):",
            f"        path = os.environ.get({_env_name(f.op_class)!r}, {'/' + f.op_class!r})",
            f"        self.client.get(path, name={f.op_class!r})",
        ]
    out += [
        "",
        "",
        "class PlanStages(LoadTestShape):",
        "    def tick(self):",
        "        users = users_at(self.get_run_time())",
        "        if users is None:",
        "            return None",
        "        return round(sum(users.values())), SPAWN_RATE",
    ]
    return "\n".join(out) + "\n"
