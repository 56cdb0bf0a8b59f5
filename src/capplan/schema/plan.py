"""The schema of a plan-inputs file (``capplan plan data/capacity-plan.yaml``).

One model per section of ``capacity_plan``; a new section is a model and a field of
:class:`CapacityPlanSection`.  Durations take a unit (``80ms``, ``720h``; a bare number is
seconds), shares a ``%`` (or a fraction), sizes a unit (``120Mi``; a bare number is bytes).  Every
number has a valid range, stated in its description; a value outside it is an error naming the
file and the key, not minutes of search or a pool of 1e96 connections.  Rules between values (a
class's steps add up to its evidence) are :func:`capplan.plan.inputs.load_plan_inputs`'s.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Discriminator, Field, Tag

from capplan.schema._types import Range, absent, duration, file_name, integer, number, percent, size
from capplan.schema.overload import OverloadSection

__all__ = [
    "VERIFY_REQUESTS",
    "Autoscaling",
    "Cache",
    "CapacityPlanSection",
    "Database",
    "Forecast",
    "Memory",
    "PlanFile",
    "Replicas",
    "Service",
    "Sources",
    "Uncertainty",
]

#: Service and step times, query times, latencies.
TIME = Range(0.0, 3600.0, "s", low_open=True)
_UPTIME = Range(0.0, 100 * 365 * 86400.0, "s", low_open=True)
_SHARE = Range(0.0, 1.0)
_MEMORY = Range(0.0, 2.0**40, "bytes")
_WORKERS = (1, 100_000)
_MAX_REPEAT = 10_000

Seconds = Annotated[float, duration(TIME, "A time.", bare_seconds=True)]
Scv = Annotated[
    float, number(0.0, 1e4, "Squared coefficient of variation of the time (1: exponential, 0: constant).")
]
Workers = Annotated[int, integer(*_WORKERS, "A count of workers.")]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


# -- evidence: one kind per operation class -------------------------------------------------------
class StatedEvidence(_Strict):
    """A stated mean service time."""

    service_time: Annotated[float, duration(TIME, "Mean service time of one request.", bare_seconds=True)]
    scv: Scv = absent()


class ProfileEvidence(_Strict):
    """A profile (py-spy speedscope or raw, scalene JSON) and the requests it covers."""

    profile: Annotated[str, file_name("The profile, or a folder of profiles (their CPU time adds up).")]
    requests: Annotated[float, number(0.0, 1e12, "Requests served while profiling.", low_open=True)]
    within: str = absent(description="Only samples under this frame (a function name).")
    cpu_s: Annotated[
        float, number(0.0, 1e9, "The process's own CPU seconds over those requests.", unit="s", low_open=True)
    ] = absent()
    scv: Scv = absent()


class LatencyEvidence(_Strict):
    """Measured latencies (a CSV with a ``latency`` column, seconds)."""

    latency_csv: Annotated[str, file_name("The CSV.")]


class LoadtestEvidence(_Strict):
    """A load test's result (latency log, Locust, k6, wrk, /metrics text), fitted as a distribution."""

    loadtest: Annotated[str, file_name("The load-test result.")]


def _tag(key: str) -> Tag:
    """The union member of an entry holding ``key`` (a name that is not a key, so error paths skip it)."""
    return Tag(f"{key} entry")


def _one_of(*keys: str) -> Discriminator:
    """Tells a union's members apart by which one of ``keys`` an entry holds (exactly one)."""

    def which(value: Any) -> str | None:
        found = [k for k in keys if isinstance(value, dict) and k in value]
        return _tag(found[0]).tag if len(found) == 1 else None

    return Discriminator(
        which, custom_error_type="entry_kind", custom_error_message=f"give exactly one of {', '.join(keys)}"
    )


Evidence = Annotated[
    Annotated[StatedEvidence, _tag("service_time")]
    | Annotated[ProfileEvidence, _tag("profile")]
    | Annotated[LatencyEvidence, _tag("latency_csv")]
    | Annotated[LoadtestEvidence, _tag("loadtest")],
    _one_of("service_time", "profile", "latency_csv", "loadtest"),
]


# -- service: one replica as layers ----------------------------------------------------------------
#: Fewest and most requests ``service.verify`` may simulate (fewer: the tails' confidence intervals
#: are wide; more: the simulation's per-request arrays take gigabytes).
VERIFY_REQUESTS = (10_000, 5_000_000)


class CpuStep(_Strict):
    """CPU work under the interpreter lock (the part outside it is ``gil_free``)."""

    cpu: Seconds
    scv: Scv = absent()


class HoldStep(_Strict):
    """A connection of the pool ``hold`` held for ``time`` (a query)."""

    hold: str = Field(min_length=1, description="The pool (the service section's pool, default db).")
    time: Seconds
    scv: Scv = absent()


class WaitStep(_Strict):
    """A wait holding the worker but no CPU (a downstream call, an export)."""

    wait: str = Field(min_length=1, description="A name for the wait.")
    time: Seconds
    scv: Scv = absent()


class RepeatStep(_Strict):
    """``steps`` done ``repeat`` times in a row."""

    repeat: Annotated[int, integer(1, _MAX_REPEAT, "How many times.")]
    steps: list[Step] = Field(min_length=1)


Step = Annotated[
    Annotated[CpuStep, _tag("cpu")]
    | Annotated[HoldStep, _tag("hold")]
    | Annotated[WaitStep, _tag("wait")]
    | Annotated[RepeatStep, _tag("repeat")],
    _one_of("cpu", "hold", "wait", "repeat"),
]
RepeatStep.model_rebuild(force=True)  # resolve ``list[Step]`` in its field, for error suggestions


class Service(_Strict):
    """``service``: one replica as layers; the plan also sizes one deployment of every class."""

    cores: Annotated[int, integer(1, 10_000, "CPU cores of one replica (its CPU limit).")]
    gil_free: Annotated[
        float, percent(_SHARE, "Share of CPU work outside the interpreter lock.", bare_fraction=True)
    ] = absent()
    pool: str = absent(min_length=1, description="The connection pool sized per process (default db).")
    processes: list[Workers] = absent(min_length=1, description="Candidate processes per replica.")
    threads: list[Workers] = absent(min_length=1, description="Candidate threads per process.")
    steps: dict[str, Annotated[list[Step], Field(min_length=1)]] = absent(
        description="Per class, in order; a class left out is one CPU step of its evidence."
    )
    verify: Annotated[
        int,
        integer(*VERIFY_REQUESTS, "Requests to simulate the decision with, in its worst scenario."),
    ] = absent()


# -- the other sections ---------------------------------------------------------------------------
class Replicas(_Strict):
    """``replicas``: spares, zones and failure rates."""

    redundancy: Annotated[int, integer(0, 1000, "Replicas that may be down (N+redundancy).")] = absent()
    zones: Annotated[int, integer(1, 1000, "Zones the replicas spread over; one may be lost.")] = absent()
    balancing: str = absent(description="How the load balancer spreads requests.")
    mtbf: Annotated[
        float, duration(_UPTIME, "Mean time between failures of a replica.", bare_seconds=True)
    ] = absent()
    mttr: Annotated[float, duration(_UPTIME, "Mean time to repair a replica.", bare_seconds=True)] = absent()


class Database(_Strict):
    """``database``: the query time and the pooler's and the server's configurations."""

    query_time: Annotated[
        float, duration(TIME, "Mean time a query holds a connection.", bare_seconds=True)
    ] = absent()
    pgbouncer: Annotated[str, file_name("pgbouncer.ini.")] = absent()
    postgresql: Annotated[str, file_name("postgresql.conf.")] = absent()
    pgbouncer_instances: Annotated[int, integer(1, 1000, "PgBouncer pods, each with these pools.")] = absent()


class Cache(_Strict):
    """``cache``: a cache in front of the backend, sized from an access trace for the SLA's hit ratio."""

    trace: Annotated[str, file_name("The access trace (CSV, optionally gzipped: timestamp, key, size).")]
    request_rate: Annotated[
        float, number(0.0, 1e9, "Reads per second through the cache.", unit="requests/s", low_open=True)
    ]
    backend_latency: Annotated[float, duration(TIME, "Latency of a miss.", bare_seconds=True)]
    hit_latency: Annotated[float, duration(TIME, "Latency of a hit (default 1ms).", bare_seconds=True)] = (
        absent()
    )


class Autoscaling(_Strict):
    """``autoscaling``: an HPA manifest checked against a traffic trace."""

    hpa: Annotated[str, file_name("The HorizontalPodAutoscaler manifest (autoscaling/v2).")]
    traffic: Annotated[str, file_name("Traffic over time (CSV: time_s, arrival_rate).")] = absent()
    class_: str = absent(alias="class", description="The operation class the HPA scales.")


class Memory(_Strict):
    """``memory``: one replica's memory, for the exports' requests and limits."""

    per_worker: Annotated[float, size(_MEMORY, "Memory of one idle worker.")]
    per_request: Annotated[float, size(_MEMORY, "Memory per request in flight.")] = absent()
    base: Annotated[float, size(_MEMORY, "Memory of the pod besides its workers.")] = absent()


class Forecast(_Strict):
    """``forecast``: read by ``capplan plan --horizon``."""

    history: Annotated[str, file_name("Hourly request counts (CSV: timestamp, requests).")]


# -- sources: the live system ---------------------------------------------------------------------
_UnixSeconds = Annotated[float, number(0.0, 1e11, "Unix seconds.", unit="s")]


class QueryRange(_Strict):
    """The range the queries cover: ``last`` (up to now) or ``start`` and ``end``, with a ``step``."""

    last: str = absent(description="A duration up to now, e.g. 7d.")
    start: str | _UnixSeconds = absent(description="ISO 8601 timestamp (UTC without a zone) or Unix seconds.")
    end: str | _UnixSeconds = absent(description="ISO 8601 timestamp (UTC without a zone) or Unix seconds.")
    step: str = absent(description="Resolution, e.g. 1m (at most 11,000 steps over the range).")


class Prometheus(_Strict):
    """The Prometheus server to read."""

    url: str = Field(description="http(s)://host[:port][/path], without credentials.")
    auth_header_env: str = absent(description="Environment variable holding the Authorization header.")
    range: QueryRange
    timeout: str = absent(description="Per query, e.g. 30s (default 30 s).")


class ClassQueries(_Strict):
    """PromQL expressions of one operation class (at least one)."""

    request_rate: str = absent(description="Requests/s of the class.")
    latency_histogram: str = absent(description="Rate of the latency histogram's buckets, by le.")
    cpu_seconds_per_request: str = absent(description="CPU seconds per request.")
    memory_per_pod: str = absent(description="Bytes per pod.")


class Sources(_Strict):
    """``sources``: rates and service times measured by Prometheus (:mod:`capplan.plan.sources`)."""

    prometheus: Prometheus
    rate_statistic: str = absent(description="peak (default), mean, or a percentile such as p95.")
    classes: dict[str, ClassQueries] = Field(description="Queries per operation class.")


# -- uncertainty: inputs as distributions ----------------------------------------------------------
_Plain = Annotated[float, number(0.0, 1e12, "A number in the key's unit (requests/s, seconds, a share).")]
_Uncertain = str | _Plain | dict[Literal["low", "high", "dist", "median", "p90", "mean", "sd"], str | _Plain]
_UNCERTAIN = (
    "A point (5000, 30ms, 20%), {low, high} (a lognormal with those 5th and 95th percentiles; "
    "dist: uniform for a uniform), {median, p90} or {mean, sd} (lognormals)."
)


class Uncertainty(_Strict):
    """``uncertainty``: inputs as distributions, for ``capplan plan --confidence``
    (:mod:`capplan.uncertainty.section` checks each value)."""

    rate: _Uncertain = absent(description=f"Requests/s, instead of the SLA level's. {_UNCERTAIN}")
    mix: dict[str, _Uncertain] = absent(description=f"Share per class. {_UNCERTAIN}")
    service_time: dict[str, _Uncertain] = absent(description=f"Mean service time per class. {_UNCERTAIN}")
    scv: dict[str, _Uncertain] = absent(description=f"Service-time SCV per class. {_UNCERTAIN}")
    draws: Annotated[int, integer(1, 1_000_000, "Monte Carlo draws (default 4,000).")] = absent()
    seed: Annotated[int, integer(0, 2**63 - 1, "Seed of the draws (default 0).")] = absent()


class CapacityPlanSection(_Strict):
    """``capacity_plan``: the SLA, the evidence, and the configurations to size."""

    sla: (
        Annotated[str, file_name("An SLA YAML file.")] | list[Annotated[str, file_name("An SLA YAML file.")]]
    ) = Field(description="The SLA file(s): performance_requirements and performance_budgets.")
    group: str = absent(description="Latency group of the SLA to plan (default api_endpoints).")
    throughput: str = absent(description="Throughput target of the SLA (default api_gateway).")
    load: str = absent(description="Level of that target: peak, sustained, burst (default peak).")
    workers_per_replica: Workers = absent()
    mix: dict[
        str, Annotated[float, percent(_SHARE, "Share of the requests in this class.", bare_fraction=True)]
    ] = absent(description="Traffic share per operation class.")
    evidence: dict[str, Evidence] = absent(
        description="Service-time evidence per operation class (required unless sources measures it)."
    )
    replicas: Replicas = absent()
    database: Database = absent()
    cache: Cache = absent()
    autoscaling: Autoscaling = absent()
    price_per_replica_hour: Annotated[float, number(0.0, 1e6, "Price of one replica for an hour.")] = absent()
    memory: Memory = absent()
    overload: Annotated[str, file_name("A file holding the overload section.")] | OverloadSection = absent(
        description="Client timeouts and retries, breaker, shedding, spike: the section or a file."
    )
    service: Service = absent()
    forecast: Forecast = absent()
    sources: Sources = absent()
    uncertainty: Uncertainty = absent()


class PlanFile(_Strict):
    """A plan-inputs file."""

    model_config = ConfigDict(extra="forbid", frozen=True, title="capplan plan inputs")

    capacity_plan: CapacityPlanSection
