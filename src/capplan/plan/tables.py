"""Assemble model and sizing results into tables a capacity planner can act on."""

from __future__ import annotations

from collections.abc import Mapping

import pandas as pd

from capplan.errors import ParameterError
from capplan.queueing import queue_model
from capplan.sizing import size_servers
from capplan.sla import SLA

__all__ = ["QUANTILES", "server_sizing_table"]

#: Response-time quantiles reported in every table.
QUANTILES = (0.5, 0.95, 0.99, 0.999)


def _service_time_for(service_time: float | Mapping[str, float], op_class: str) -> float:
    if isinstance(service_time, Mapping):
        if op_class not in service_time:
            raise ParameterError(
                f"service_time has no entry for operation class {op_class!r}; "
                f"given: {', '.join(service_time)}"
            )
        return float(service_time[op_class])
    return float(service_time)


def server_sizing_table(
    sla: SLA,
    service_time: float | Mapping[str, float],
    *,
    group: str = "api_endpoints",
    throughput: str = "api_gateway",
    resource: str = "cpu",
    service_scv: float = 1.0,
    arrival_scv: float = 1.0,
) -> pd.DataFrame:
    """Servers needed per operation class and throughput level, from the SLA's targets.

    Each row sizes one pool of identical servers (workers) that serves the whole named throughput
    (e.g. ``api_gateway`` at ``peak``, ``sustained`` and ``burst``) with the class's mean service time,
    so that every percentile target of the class holds and utilization stays at or below the SLA's
    target for ``resource``.  The queue is M/M/c (exact) when both SCVs are 1, otherwise G/G/c
    (approximate, see :class:`capplan.queueing.GGc`); the ``method`` column says which.

    Parameters
    ----------
    sla : SLA
        From :func:`capplan.load_sla`.
    service_time : float or mapping of str to float
        Mean service time in seconds, one for all classes or ``{class: seconds}``.
    group, throughput, resource : str
        Which latency group, throughput target and utilization threshold to use.
    service_scv, arrival_scv : float
        Squared coefficients of variation (1 = exponential / Poisson).

    Returns
    -------
    DataFrame
        Columns ``class, load, arrival_rate, service_time_s, servers, utilization, binding, method``
        and ``p50_s ... p99.9_s`` (predicted response-time quantiles at that size, seconds), with
        ``target_p50_s ...`` beside them (NaN where the class sets no target).
    """
    rates = sla.rates(throughput)
    cap = sla.utilization_target(resource)
    rows: list[dict[str, object]] = []
    for _, op_class in sla.operation_classes(group):
        targets = sla.latency_targets_for(group, op_class)
        s = _service_time_for(service_time, op_class)
        for load, rate in rates.items():
            result = size_servers(
                rate,
                1.0 / s,
                targets,
                max_utilization=cap,
                arrival_scv=arrival_scv,
                service_scv=service_scv,
            )
            row: dict[str, object] = {
                "class": op_class,
                "load": load,
                "arrival_rate": rate,
                "service_time_s": s,
                "servers": result.servers,
                "utilization": result.utilization,
                "binding": result.binding,
                "method": result.method,
            }
            predicted = {}
            if result.servers is not None:
                predicted = _predicted(rate, s, result.servers, arrival_scv, service_scv)
            for q in QUANTILES:
                label = f"p{q * 100:g}"
                row[f"{label}_s"] = predicted.get(q, float("nan"))
                row[f"target_{label}_s"] = targets.get(q, float("nan"))
            rows.append(row)
    frame = pd.DataFrame(rows)
    frame["servers"] = frame["servers"].astype("Int64")
    return frame


def _predicted(rate: float, service_time: float, servers: int, ca2: float, cs2: float) -> dict[float, float]:
    model = queue_model(rate, 1.0 / service_time, servers, ca2, cs2)
    values = model.response_quantile(list(QUANTILES))
    return {q: float(v) for q, v in zip(QUANTILES, values, strict=True)}
