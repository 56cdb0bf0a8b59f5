"""The schema of an SLA document: ``performance_requirements`` and/or ``performance_budgets``.

The shape of the performance-standards document's ``performance-sla.yaml`` and
``performance-budget.yaml`` blocks.  Latency targets are durations with a unit (``"50ms"``; a bare
number is an error, not seconds), utilizations and availability percentages with a ``%`` sign.
Rules between values (percentiles non-decreasing, thresholds in order, which budgets are
durations) are :func:`capplan.sla.load_sla`'s.
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict

from capplan._sla_parse import percentile_key, sla_count, sla_duration, sla_fraction
from capplan.schema._types import Checked, Range, absent, as_float, duration, percent, quantity

__all__ = ["Requirements", "SLADocument", "Utilization"]

_PERCENTILE_PATTERN = r"^p[0-9]+(\.[0-9]+)?$"
_FRACTION = Range(0.0, 1.0)


def _key(value: Any) -> str:
    if not isinstance(value, str):
        raise ValueError(f"key {value!r} must be a string")
    percentile_key(value)
    return value


PercentileKey = Annotated[
    str,
    Checked(
        _key,
        {
            "type": "string",
            "pattern": _PERCENTILE_PATTERN,
            "description": "A percentile, p<number> with 0 < number < 100 (p50, p99.9).",
        },
    ),
]
LatencyTarget = Annotated[
    float,
    duration(
        Range(0.0, 7 * 86400.0, "s", low_open=True),
        "The response time the percentile must stay under.",
        bare_seconds=False,
        parse=sla_duration,
    ),
]
Utilization_ = Annotated[
    float,
    percent(
        Range(0.0, 1.0, low_open=True),
        "Utilization of the resource.",
        bare_fraction=False,
        parse=sla_fraction,
    ),
]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Utilization(_Strict):
    """Utilization target and alert thresholds of one resource (``cpu_utilization``, ...)."""

    target: Utilization_
    warning_threshold: Utilization_ = absent()
    critical_threshold: Utilization_ = absent()


class Requirements(_Strict):
    """``performance_requirements``: each section appears at most once over the files loaded."""

    response_time_targets: dict[str, dict[str, dict[PercentileKey, LatencyTarget]]] = absent(
        description="Percentile targets per group (api_endpoints) and operation class."
    )
    throughput_targets: dict[
        str,
        dict[
            str,
            Annotated[
                float,
                quantity(
                    Range(0.0, 1e12, low_open=True),
                    "A rate per second (keys ending _rps, _qps, _per_second, or starting burst) "
                    "or a limit such as a batch or pool size.",
                    parse=sla_count,
                    what="a number ('10k' = 10,000)",
                ),
            ],
        ],
    ] = absent(description="Rates and limits per component (api_gateway, database, ...).")
    resource_utilization: dict[str, Utilization] = absent(
        description="Thresholds per resource; the name without _utilization is the resource."
    )
    availability_targets: dict[
        str,
        Annotated[
            float,
            percent(
                _FRACTION,
                "A lower bound for names with uptime, availability or ratio, an upper bound otherwise; "
                "'<' or '>' before the number says which.",
                bare_fraction=False,
                parse=sla_fraction,
            ),
        ],
    ] = absent(description="Availability and error-rate targets (uptime: '99.99%').")


_BUDGET_NUMBER = Range(0.0, 1e15)


def _budget(value: Any) -> float | str:
    """A budget: text (its unit read by the loader, which knows its name) or a bounded number."""
    if isinstance(value, str) and value.strip():
        return value
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValueError(f"{value!r} is not a budget value (a duration, size, percentage or number)")
    return _BUDGET_NUMBER.check(as_float(value), value)


BudgetValue = Annotated[
    float | str,
    Checked(
        _budget,
        {
            "anyOf": [{"type": "string", "minLength": 1}, {"type": "number", **_BUDGET_NUMBER.json_schema()}],
            "description": "A budget: a duration with a unit ('100ms'; required where the name or "
            "category speaks of time), a size ('300KB'), a percentage ('95%', '<1%') or a number. "
            f"Valid range of a number: {_BUDGET_NUMBER}.",
        },
    ),
]


class SLADocument(_Strict):
    """An SLA document: ``performance_requirements`` and/or ``performance_budgets``."""

    model_config = ConfigDict(extra="forbid", frozen=True, title="capplan SLA document")

    performance_requirements: Requirements = absent()
    performance_budgets: dict[str, dict[str, dict[str, BudgetValue]]] = absent(
        description="Budgets per area (frontend, backend) and category."
    )
