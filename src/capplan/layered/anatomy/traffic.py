"""Per class request rates and mean latencies from Prometheus, to fill a layered model's rates.

With a request counter labelled by endpoint (``http_requests_total{handler="/checkout"}``) and,
optionally, a latency histogram with the same label, the server computes

* rate: ``sum by (label) (rate(counter[window]))``;
* mean latency: ``sum by (label) (rate(hist_sum[window])) / sum by (label) (rate(hist_count[window]))``;
* p95: from ``sum by (label, le) (rate(hist_bucket[window]))``, the buckets of a class's label
  values added, by PromQL's ``histogram_quantile`` interpolation inside a bucket (approximate; see
  :mod:`capplan.measurements.promql`, which computes it exactly as the server does).

Several label values can map to one class: their rates add, the mean is the total latency over
the total count.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

import pandas as pd

from capplan.errors import ParameterError
from capplan.measurements.prometheus import PrometheusClient
from capplan.measurements.promql import histogram_quantile

__all__ = ["ClassTraffic", "class_traffic"]


@dataclass(frozen=True, eq=False)
class ClassTraffic:
    """Per class ``rate`` (requests/s), ``mean_latency`` and ``p95_latency`` (seconds, NaN without
    a histogram) over ``window`` seconds ending at ``at``."""

    table: pd.DataFrame
    window: float
    at: float | None
    method: str = (
        "Prometheus rate() over the window; mean = rate(_sum)/rate(_count); PromQL histogram_quantile"
    )

    @property
    def rates(self) -> dict[str, float]:
        """Class name to requests per second (for :meth:`Anatomy.to_model`)."""
        return {str(k): float(v) for k, v in zip(self.table["class"], self.table["rate"], strict=True)}

    def requests(self, seconds: float) -> dict[str, float]:
        """Requests per class in ``seconds`` at these rates (e.g. a profile's length)."""
        return {k: v * seconds for k, v in self.rates.items()}

    def to_frame(self) -> pd.DataFrame:
        return self.table.copy()


def _by_label(frame: pd.DataFrame, label: str) -> dict[str, float]:
    if frame.empty:
        return {}
    if label not in frame.columns:
        raise ParameterError(f"label {label!r} is not on the series (labels: {list(frame.columns)})")
    return {str(k): float(v) for k, v in zip(frame[label], frame["value"], strict=True)}


def class_traffic(
    client: PrometheusClient | str,
    counter: str,
    classes: Mapping[str, str],
    *,
    label: str = "handler",
    histogram: str | None = None,
    window: float = 300.0,
    at: float | None = None,
    selector: str = "",
) -> ClassTraffic:
    """Rates (and latencies) per class, asked of a Prometheus server.

    Parameters
    ----------
    client : PrometheusClient or str
        The server (or its URL).
    counter : str
        Request counter (``http_requests_total``).
    classes : mapping of str to str
        Value of ``label`` to class name (``{"/checkout": "critical"}``).
    label : str
        The label that names the endpoint.
    histogram : str, optional
        Latency histogram base name (``http_request_duration_seconds``), labelled by ``label``.
    window : float
        Seconds of the rate window.
    at : float, optional
        Evaluation time (Unix seconds); the server's now otherwise.
    selector : str
        Extra label matchers, e.g. ``'job="api",code="200"'``.

    Raises
    ------
    ParameterError
        Empty ``classes``, a non-positive window, or a class whose label values have no series.
    """
    if not isinstance(classes, Mapping) or not classes:
        raise ParameterError(f"classes must map {label} values to class names, got {classes!r}")
    if not (isinstance(window, (int, float)) and math.isfinite(window) and window > 0):
        raise ParameterError(f"window must be a positive number of seconds, got {window!r}")
    prom = client if isinstance(client, PrometheusClient) else PrometheusClient(client)
    w, sel = f"[{window:g}s]", f"{{{selector}}}" if selector else ""
    series = {
        "rate": f"sum by ({label}) (rate({counter}{sel}{w}))",
        "sum": f"sum by ({label}) (rate({histogram}_sum{sel}{w}))",
        "count": f"sum by ({label}) (rate({histogram}_count{sel}{w}))",
    }
    found = {k: _by_label(prom.query(e, at), label) for k, e in series.items() if histogram or k == "rate"}
    buckets = (
        prom.query(f"sum by ({label}, le) (rate({histogram}_bucket{sel}{w}))", at)
        if histogram
        else pd.DataFrame()
    )
    rows = [
        _class_row(name, classes, found, buckets, label, counter) for name in dict.fromkeys(classes.values())
    ]
    return ClassTraffic(pd.DataFrame(rows), float(window), at)


def _class_row(
    name: str,
    classes: Mapping[str, str],
    found: Mapping[str, Mapping[str, float]],
    buckets: pd.DataFrame,
    label: str,
    counter: str,
) -> dict[str, object]:
    """One class: its label values' rates added, mean latency rate-weighted, p95 of the merged buckets."""
    rates = found["rate"]
    values = [v for v, c in classes.items() if c == name and v in rates]
    if not values:
        missing = [v for v, c in classes.items() if c == name]
        raise ParameterError(f"class {name!r}: no {counter} series with {label} in {missing}")
    total = sum(rates[v] for v in values)
    sums, counts = found.get("sum", {}), found.get("count", {})
    count = sum(counts.get(v, 0.0) for v in values)
    mean = sum(sums.get(v, 0.0) for v in values) / count if count > 0 else math.nan
    p95 = math.nan
    if not buckets.empty and label in buckets.columns:
        mine = buckets[buckets[label].isin(values)]
        merged = mine.groupby("le")["value"].sum().reset_index()
        if len(merged):
            p95 = float(histogram_quantile(0.95, merged)["value"].iloc[0])
    return {"class": name, "rate": total, "mean_latency": mean, "p95_latency": p95}
