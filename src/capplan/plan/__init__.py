"""The capacity plan: from an SLA and service-time evidence to recommendations and a report.

``capplan.plan(sla, evidence...)`` (this package's :func:`plan`) sizes replicas per operation
class, and where their inputs are given the replica count for availability, the connection pool
and the database limits, and with a :class:`ServiceLayers` one deployment serving every class on the
layered service model; the :class:`CapacityPlan` it returns is a table and JSON, and
:mod:`capplan.plan.render` turns it into Markdown, self-contained HTML and files.
:func:`server_sizing_table` is the servers-per-class table of the ``capplan servers`` command.

Each name imports its module on first use (see :mod:`capplan._lazy`).
"""

from typing import TYPE_CHECKING

from capplan._lazy import lazy_exports

if TYPE_CHECKING:
    from capplan.plan.build import plan
    from capplan.plan.evidence import ServiceEvidence, best_fit, from_fit, from_profile, from_samples, stated
    from capplan.plan.inputs import PlanInputError, PlanInputs, load_plan_inputs
    from capplan.plan.memory import PodMemory
    from capplan.plan.model import HOURS_PER_MONTH, CapacityPlan
    from capplan.plan.recommendation import Recommendation
    from capplan.plan.render import plan_figures, render_html, render_markdown, write_report
    from capplan.plan.service import ServiceCheck, ServiceLayers
    from capplan.plan.tables import QUANTILES, server_sizing_table
else:
    __getattr__, __dir__ = lazy_exports(
        __name__,
        {
            "build": ("plan",),
            "evidence": ("ServiceEvidence", "best_fit", "from_fit", "from_profile", "from_samples", "stated"),
            "inputs": ("PlanInputError", "PlanInputs", "load_plan_inputs"),
            "memory": ("PodMemory",),
            "model": ("HOURS_PER_MONTH", "CapacityPlan"),
            "recommendation": ("Recommendation",),
            "render": ("plan_figures", "render_html", "render_markdown", "write_report"),
            "service": ("ServiceCheck", "ServiceLayers"),
            "tables": ("QUANTILES", "server_sizing_table"),
        },
    )

__all__ = [
    "HOURS_PER_MONTH",
    "QUANTILES",
    "CapacityPlan",
    "PlanInputError",
    "PlanInputs",
    "PodMemory",
    "Recommendation",
    "ServiceCheck",
    "ServiceEvidence",
    "ServiceLayers",
    "best_fit",
    "from_fit",
    "from_profile",
    "from_samples",
    "load_plan_inputs",
    "plan",
    "plan_figures",
    "render_html",
    "render_markdown",
    "server_sizing_table",
    "stated",
    "write_report",
]
