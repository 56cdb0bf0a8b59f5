"""Run a plan file's ``sources:`` queries against Prometheus and turn the answers into plan inputs.

Each query is a range query over the section's range and step (:mod:`capplan.plan.sources`), and
each answer becomes one number with its :class:`~capplan.plan.provenance.Provenance`:

* ``request_rate`` (one series, requests/s): the section's ``rate_statistic`` over the steps -
  ``peak`` (the default: the fleet must carry the busiest step of the range), ``mean``, or a
  percentile such as ``p95`` (``numpy.quantile``, linear interpolation, over the steps);
* ``latency_histogram`` (one series per ``le``: cumulative bucket rates, per second, as
  ``sum by (le) (rate(..._bucket[5m]))`` gives): the buckets' observations over the range are
  estimated as the sum over the steps of ``rate x step`` per bucket, and the best of a gamma and a
  lognormal distribution (lowest AIC, :func:`capplan.plan.evidence.best_fit`, interval-censored
  likelihood of :mod:`capplan.fitting`) becomes the class's service-time evidence.  Latency is
  service time only while the service was lightly loaded (no queueing); the source line says so.
  The report also gives PromQL's ``histogram_quantile`` p50 and p99 of the summed buckets;
* ``cpu_seconds_per_request`` (one series, seconds): its mean over the steps; the class's
  service time (SCV 1 assumed, as for a profile) when no histogram is given, else reported only;
* ``memory_per_pod`` (one series, bytes): its peak; the plan's pod memory when the plan file
  states none, split evenly over the workers of a replica (``per_worker = peak / workers``).

An unreachable server, a rejected query, an empty answer, or an answer of the wrong shape is a
:class:`~capplan.plan.sources.SourcesError` naming the plan file, the key, the URL and the
query.  The Authorization header read from ``auth_header_env`` goes only into the requests: it is
removed from every error message and never stored.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd

from capplan.errors import ParameterError
from capplan.measurements.prometheus import PrometheusClient, PrometheusError
from capplan.measurements.promql import bucket_quantile
from capplan.plan.evidence import ServiceEvidence, best_fit
from capplan.plan.provenance import Provenance
from capplan.plan.sources import ClassQueries, RateStatistic, Sources

__all__ = ["Pulled", "pull"]

_UNITS = {
    "request_rate": "requests/s",
    "service_time": "s",
    "cpu_seconds_per_request": "s",
    "memory_per_pod": "bytes",
}


@dataclass(frozen=True)
class Pulled:
    """What the queries gave: evidence per class, rates, pod memory peaks, and the provenance."""

    evidence: tuple[ServiceEvidence, ...]
    rates: dict[str, float]
    memory: dict[str, float]
    provenance: tuple[Provenance, ...]


class _Run:
    """One pass over the section's queries with one client."""

    def __init__(self, sources: Sources, environ: Mapping[str, str]) -> None:
        self.sources = sources
        prom = sources.prometheus
        self.secret = _auth_header(sources, environ)
        headers = {"Authorization": self.secret} if self.secret else None
        try:
            self.client = PrometheusClient(prom.url, prom.timeout, headers=headers)
        except PrometheusError as exc:
            raise sources.fail("prometheus.url", self.scrub(str(exc))) from None
        self.range = prom.range
        self.where_range = prom.range.describe()
        self.evidence_by_class: dict[str, ServiceEvidence] = {}

    def scrub(self, text: str) -> str:
        """``text`` without the auth header's value (nor its credential after a scheme word)."""
        if not self.secret:
            return text
        for part in sorted({self.secret, *self.secret.split()}, key=len, reverse=True):
            if len(part) >= 4:
                text = text.replace(part, "<redacted>")
        return text

    def query(self, op_class: str, quantity: str, promql: str) -> pd.DataFrame:
        """The range query's answer, not empty; errors name the file, key, URL and query."""
        key = f"classes.{op_class}.{quantity}"
        r = self.range
        try:
            frame = self.client.query_range(promql, r.start, r.end, r.step)
        except PrometheusError as exc:
            raise self.sources.fail(key, self.scrub(str(exc))) from None
        finite: pd.DataFrame = frame[np.isfinite(frame["value"].to_numpy(dtype=float))]
        if finite.empty:
            raise self.fail(key, promql, "empty result: no series matched, or no finite samples in the range")
        return finite

    def fail(self, key: str, promql: str, message: str) -> Exception:
        url = self.sources.prometheus.url
        text = f"{url} query_range {promql!r} over {self.where_range}: {message}"
        return self.sources.fail(key, self.scrub(text))

    def record(self, op_class: str, quantity: str, value: float, statistic: str, promql: str) -> Provenance:
        return Provenance(
            op_class,
            quantity,
            float(value),
            _UNITS[quantity],
            statistic,
            promql,
            self.where_range,
            self.sources.prometheus.url,
        )


def _auth_header(sources: Sources, environ: Mapping[str, str]) -> str | None:
    name = sources.prometheus.auth_header_env
    if name is None:
        return None
    value = environ.get(name)
    if not value:
        raise sources.fail("prometheus.auth_header_env", f"environment variable {name} is not set or empty")
    if not value.isprintable() or not value.isascii():  # http.client would refuse it, showing it
        raise sources.fail(
            "prometheus.auth_header_env",
            f"environment variable {name} holds control or non-ASCII characters; not a header value",
        )
    return value


def pull(sources: Sources, *, environ: Mapping[str, str] | None = None) -> Pulled:
    """Run every query of ``sources`` (``environ``: where ``auth_header_env`` is looked up,
    ``os.environ`` by default)."""
    run = _Run(sources, os.environ if environ is None else environ)
    evidence: list[ServiceEvidence] = []
    rates: dict[str, float] = {}
    memory: dict[str, float] = {}
    records: list[Provenance] = []
    for queries in sources.classes:
        found = _pull_class(run, queries, sources.rate_statistic)
        records.extend(found)
        numbers = {p.quantity: p for p in found}
        if "request_rate" in numbers:
            rates[queries.op_class] = numbers["request_rate"].value
        if "memory_per_pod" in numbers:
            memory[queries.op_class] = numbers["memory_per_pod"].value
        if (ev := _class_evidence(run, queries, found)) is not None:
            evidence.append(ev)
    return Pulled(tuple(evidence), rates, memory, tuple(records))


def _pull_class(run: _Run, queries: ClassQueries, statistic: RateStatistic) -> list[Provenance]:
    out = []
    name = queries.op_class
    for quantity, promql in queries.given():
        frame = run.query(name, quantity, promql)
        if quantity == "latency_histogram":
            out.append(_histogram(run, name, promql, frame))
            continue
        values = _one_series(run, f"classes.{name}.{quantity}", promql, frame)
        used = statistic if quantity == "request_rate" else RateStatistic(_FIXED[quantity])
        value, how = _reduce(values, used)
        out.append(run.record(name, quantity, value, how, promql))
    return out


#: The statistic of the quantities other than the request rate.
_FIXED = {"cpu_seconds_per_request": "mean", "memory_per_pod": "peak"}


def _one_series(run: _Run, key: str, promql: str, frame: pd.DataFrame) -> np.ndarray:
    labels = [c for c in frame.columns if c not in ("timestamp", "value")]
    series = len(frame[labels].drop_duplicates()) if labels else 1
    if series != 1:
        raise run.fail(key, promql, f"expected one series, got {series}; aggregate it, e.g. sum(...)")
    return np.asarray(frame.sort_values("timestamp")["value"].to_numpy(dtype=float))


def _reduce(values: np.ndarray, statistic: RateStatistic) -> tuple[float, str]:
    """One number for a range of step values, and how it was taken."""
    steps = f"{values.size} step{'s' if values.size != 1 else ''}"
    if statistic.name == "peak":
        return float(values.max()), f"peak of {steps}"
    if statistic.name == "mean":
        return float(values.mean()), f"mean of {steps}"
    q = float(statistic.quantile)  # type: ignore[arg-type]
    return float(np.quantile(values, q)), f"{statistic.name} of {steps} (linear interpolation)"


def _histogram(run: _Run, op_class: str, promql: str, frame: pd.DataFrame) -> Provenance:
    """The bucket counts over the range, fitted; the provenance carries the fit's mean."""
    key = f"classes.{op_class}.latency_histogram"
    if "le" not in frame.columns:
        raise run.fail(key, promql, "no 'le' label: give bucket rates, e.g. sum by (le) (rate(x_bucket[5m]))")
    others = [c for c in frame.columns if c not in ("le", "timestamp", "value", "metric")]
    if others and len(frame[others].drop_duplicates()) > 1:
        raise run.fail(
            key, promql, f"several histograms (labels {others}); aggregate them: sum by (le) (...)"
        )
    per_le = frame.groupby("le")["value"].sum() * run.range.step
    try:
        bounds = np.array([float(x) for x in per_le.index])
    except ValueError:
        raise run.fail(
            key, promql, f"'le' values must be numbers or +Inf, got {list(per_le.index)}"
        ) from None
    order = np.argsort(bounds)
    le = bounds[order]
    counts = np.maximum.accumulate(per_le.to_numpy(dtype=float)[order])  # cumulative, as PromQL mends
    source = (
        f"Prometheus {run.sources.prometheus.url} {promql!r} over {run.where_range}, "
        "latency taken as service time (right only at low utilization)"
    )
    try:
        ev = best_fit(op_class, le=le, counts=counts, source=source)
    except ParameterError as exc:
        raise run.fail(key, promql, f"cannot fit a service-time distribution: {exc}") from None
    p50, p99 = (bucket_quantile(q, le, counts)[0] for q in (0.5, 0.99))
    family = ev.source.rsplit(": ", 1)[-1]
    how = (
        f"mean of the {family}; buckets' observations = sum over steps of rate x step; "
        f"PromQL histogram_quantile p50 {p50 * 1e3:.4g} ms, p99 {p99 * 1e3:.4g} ms"
    )
    run.evidence_by_class[op_class] = ev
    return run.record(op_class, "service_time", ev.mean_s, how, promql)


def _class_evidence(run: _Run, queries: ClassQueries, found: list[Provenance]) -> ServiceEvidence | None:
    if queries.op_class in run.evidence_by_class:
        return run.evidence_by_class[queries.op_class]
    cpu = next((p for p in found if p.quantity == "cpu_seconds_per_request"), None)
    if cpu is None:
        return None
    source = (
        f"Prometheus {cpu.source} {cpu.query!r}: CPU seconds per request, {cpu.statistic} over "
        f"{cpu.range}, SCV 1 assumed"
    )
    try:
        return ServiceEvidence(queries.op_class, cpu.value, 1.0, source)
    except ParameterError as exc:
        raise run.fail(f"classes.{queries.op_class}.cpu_seconds_per_request", cpu.query, str(exc)) from None
