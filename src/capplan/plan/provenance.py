"""Where a plan's measured numbers come from: one record per number pulled from a live system.

A plan file's ``sources:`` section (:mod:`capplan.plan.sources`) reads request rates, service
times, CPU seconds and memory from Prometheus.  Each number it hands to the plan carries a
:class:`Provenance` - the server, the exact query, the time range and step, and how the range
was reduced to one number - which the report shows as a table and the plan's JSON lists.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import pandas as pd

__all__ = ["COLUMNS", "Provenance", "provenance_frame"]

#: Columns of :func:`provenance_frame`, in order.
COLUMNS = ("class", "quantity", "value", "unit", "statistic", "query", "range", "source")


@dataclass(frozen=True)
class Provenance:
    """One measured number and exactly what produced it.

    Attributes
    ----------
    op_class : str
        The operation class the number belongs to.
    quantity : str
        ``request_rate``, ``service_time``, ``cpu_seconds_per_request`` or ``memory_per_pod``.
    value : float
        The number the plan uses (SI: requests/s, seconds, bytes).
    unit : str
        Its unit, e.g. ``"requests/s"``.
    statistic : str
        How the range became one number, e.g. ``"peak of 1441 steps"`` or a fit's description.
    query : str
        The PromQL expression, verbatim from the plan file.
    range : str
        ``start .. end (UTC), step`` of the range query.
    source : str
        The server's URL (never its credentials).
    """

    op_class: str
    quantity: str
    value: float
    unit: str
    statistic: str
    query: str
    range: str
    source: str

    def to_dict(self) -> dict[str, object]:
        """The record with the report's column names (``class`` for ``op_class``)."""
        record = asdict(self)
        record["class"] = record.pop("op_class")
        return {k: record[k] for k in COLUMNS}


def provenance_frame(records: tuple[Provenance, ...] | list[Provenance]) -> pd.DataFrame:
    """The records as a table with :data:`COLUMNS`."""
    return pd.DataFrame([r.to_dict() for r in records], columns=list(COLUMNS))
