"""From a capacity plan to the files a deployment runs on, each checked by the tool that reads it.

:func:`export_plan` (also :meth:`capplan.CapacityPlan.export` and ``capplan export``) writes, into
a new directory and atomically (:mod:`capplan.export.write`):

=========================  =====================================================  ==========================
file                       what                                                   module
=========================  =====================================================  ==========================
hpa.yaml                   the plan's HorizontalPodAutoscaler (autoscaling/v2)     :mod:`.kubernetes`
deployment-resources.yaml  CPU (and stated memory) requests/limits, patches       :mod:`.kubernetes`
pgbouncer.ini              the checked PgBouncer settings, limits for the plan    :mod:`.database`
postgresql.conf            ``max_connections`` fragment                           :mod:`.database`
prometheus-rules.yaml      SLO recording rules, burn-rate and capacity alerts     :mod:`.prometheus`
prometheus-rules.test.yaml ``promtool test rules``: a full outage, alerts timed   :mod:`.promtool`
k6-thresholds.js           the plan's load in stages, thresholds from the SLA     :mod:`.loadtest`
locustfile.py              the same stages as a Locust shape                      :mod:`.loadtest`
error-budget.csv           per SLO: 30-day budget, predicted burn rate            :mod:`.budget`
capacity-plan.md / .html   the report, linking to the files above                 :mod:`capplan.plan.render`
=========================  =====================================================  ==========================

The SLOs and the alerting scheme are in :mod:`.slo`; names in the cluster and in Prometheus in
:class:`ExportOptions`.
"""

from capplan.export.options import ExportOptions
from capplan.export.slo import BURN_WINDOWS, REQUEST_SLIS, SLO, BurnWindow
from capplan.export.write import REPORTS, ExportError, ExportResult, export_plan, render_files

__all__ = [
    "BURN_WINDOWS",
    "REPORTS",
    "REQUEST_SLIS",
    "SLO",
    "BurnWindow",
    "ExportError",
    "ExportOptions",
    "ExportResult",
    "export_plan",
    "render_files",
]
