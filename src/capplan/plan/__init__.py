"""The capacity plan: from an SLA and service-time evidence to recommendations and a report.

``capplan.plan(sla, evidence...)`` (this package's :func:`plan`) sizes replicas per operation
class, and where their inputs are given the replica count for availability, the connection pool
and the database limits; the :class:`CapacityPlan` it returns renders as a table, Markdown,
self-contained HTML or JSON.  :func:`server_sizing_table` is the servers-per-class table of the
``capplan plan --service-time`` command line.
"""

from capplan.plan.build import plan
from capplan.plan.evidence import ServiceEvidence, best_fit, from_fit, from_profile, from_samples, stated
from capplan.plan.inputs import PlanInputError, PlanInputs, load_plan_inputs
from capplan.plan.memory import PodMemory
from capplan.plan.model import HOURS_PER_MONTH, CapacityPlan
from capplan.plan.recommendation import Recommendation
from capplan.plan.render import plan_figures, render_html, render_markdown, write_report
from capplan.plan.tables import QUANTILES, server_sizing_table

__all__ = [
    "HOURS_PER_MONTH",
    "QUANTILES",
    "CapacityPlan",
    "PlanInputError",
    "PlanInputs",
    "PodMemory",
    "Recommendation",
    "ServiceEvidence",
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
