"""A plan's inputs in one YAML file: which SLA, what evidence, which configurations.

``capplan plan data/capacity-plan.yaml`` reads a file like this (paths are relative to it)::

    capacity_plan:
      sla: [performance-sla.yaml, performance-budget.yaml]
      throughput: api_gateway          # a throughput target of the SLA ...
      load: peak                       # ... and its level
      workers_per_replica: 8
      mix: {critical_operations: 20%, standard_operations: 75%, batch_operations: 5%}
      evidence:                        # one entry per operation class, one kind each:
        critical_operations: {profile: profiles/x.speedscope.json, requests: 2000}
        standard_operations: {service_time: 80ms, scv: 1}
        batch_operations: {latency_csv: batch_latency.csv}
      replicas: {redundancy: 1, zones: 3, mtbf: 720h, mttr: 10m}
      database: {query_time: 5ms, pgbouncer: pgbouncer.ini, postgresql: postgresql.conf,
                 pgbouncer_instances: 3}
      cache: {trace: access_trace.csv.gz, request_rate: 5000, backend_latency: 20ms}
      autoscaling: {hpa: hpa.yaml, traffic: traffic_day_spike.csv, class: critical_operations}
      memory: {per_worker: 120Mi, per_request: 2Mi, base: 64Mi}   # one replica; for the exports
      overload: overload.yaml          # or the section itself (capplan.plan.overload_settings)
      service:                         # one replica as layers (capplan.plan.service)
        cores: 4
        gil_free: 5%                   # CPU outside the interpreter lock
        processes: [4, 8]              # candidates (optional), likewise threads
        verify: 400000                 # simulate the decision with 400,000 requests (optional)
        steps:                         # per class, in order; a class left out: one CPU step
          critical_operations: [{cpu: 12ms}, {hold: db, time: 5ms},
                                {wait: downstream, time: 15ms, scv: 6}, {cpu: 8ms}]
          batch_operations: [{repeat: 8, steps: [{cpu: 12.5ms}, {hold: db, time: 5ms}]},
                             {wait: export, time: 1.86s}]
      price_per_replica_hour: 0.20
      forecast: {history: traffic-history.csv}   # for capplan plan --horizon (capplan.forecast)
      sources: {prometheus: {url: ..., range: ...}, classes: {...}}   # capplan.plan.sources
      uncertainty: {rate: {low: 8000, high: 12000}, draws: 4000, seed: 1}   # capplan.uncertainty.section

The file's shape is :class:`capplan.schema.plan.PlanFile`: every key, its type, its unit and its
valid range (``capplan schema plan`` prints it as JSON Schema).  The file is checked against it
right after parsing; every error names the file and the key path, with a suggestion for a
misspelt key.  Only ``sla`` and ``evidence`` are required (``evidence`` may be left out when
``sources`` measures every class).
"""

from __future__ import annotations

import dataclasses
import functools
import os
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from capplan._sources import read_path
from capplan._yaml_input import load_yaml
from capplan.autoscale import from_csv, load_hpa
from capplan.caches import CatalogFractionWarning, fit_zipf
from capplan.dbconfig import load_pgbouncer, load_postgresql_conf
from capplan.errors import CapplanError, ParameterError
from capplan.layered import Cpu, Hold, Step, Wait
from capplan.measurements import count_keys, read_latency_csv
from capplan.plan.build import plan
from capplan.plan.evidence import ServiceEvidence, from_profile, from_samples
from capplan.plan.loadtest import loadtest_evidence
from capplan.plan.memory import PodMemory
from capplan.plan.model import CapacityPlan
from capplan.plan.overload_settings import load_overload, overload_settings
from capplan.plan.provenance import Provenance
from capplan.plan.service import ServiceLayers
from capplan.plan.sources_apply import with_sources
from capplan.profiles import load_profiles
from capplan.schema import plan as schema
from capplan.schema.overload import OverloadSection
from capplan.schema.validation import validate
from capplan.sizing.caches import size_cache
from capplan.sla import SLA, load_sla
from capplan.uncertainty.section import UncertainInputs, parse_uncertainty

__all__ = ["PlanInputError", "PlanInputs", "forecast_history", "load_plan_inputs"]

ROOT_KEY = "capacity_plan"
#: Steps one class may take in all (a ``repeat`` multiplies them).
_MAX_STEPS = 100_000


class PlanInputError(ParameterError):
    """A plan-inputs file is malformed; the message names the file and the key path."""


def _fail(label: str, where: str, message: str) -> PlanInputError:
    return PlanInputError(f"{label}: {ROOT_KEY}.{where}: {message}")


@dataclass
class PlanInputs:
    """The SLA and the keyword arguments of :func:`capplan.plan.plan`, read from a file."""

    source: str
    sla: SLA
    evidence: list[ServiceEvidence]
    options: dict[str, Any] = field(default_factory=dict)
    files: dict[str, Path] = field(default_factory=dict)
    """Every file the plan names and read, by key path (``cache.trace``, ``autoscaling.hpa``, ...)."""
    provenance: tuple[Provenance, ...] = ()
    """Where each number measured by the file's ``sources`` came from (:mod:`capplan.plan.sources`)."""
    uncertainty: UncertainInputs | None = None
    """The file's ``uncertainty:`` section (:mod:`capplan.uncertainty.section`), for ``--confidence``."""

    def plan(self, **overrides: Any) -> CapacityPlan:
        """Run :func:`capplan.plan.plan` with the file's inputs (``overrides`` win)."""
        result = plan(self.sla, self.evidence, **(self.options | overrides))
        classes = {e.op_class for e in self.evidence}
        kept = tuple(p for p in self.provenance if p.op_class in classes)
        return dataclasses.replace(result, provenance=kept) if kept else result


def _document(path: str | os.PathLike[str]) -> Any:
    """The YAML document of a plan-inputs file (errors name the file)."""
    text = read_path(path, what="a plan-inputs YAML file", error=PlanInputError)
    return load_yaml(text, label=str(path), error=PlanInputError, what="a plan-inputs file")


def load_plan_inputs(path: str | os.PathLike[str]) -> PlanInputs:
    """Read a plan-inputs YAML file (see the module docstring) and every file it names."""
    label = str(path)
    document = _document(path)
    if not isinstance(document, Mapping) or not isinstance(document.get(ROOT_KEY), Mapping):
        raise PlanInputError(f"{label}: expected a mapping under the top-level key {ROOT_KEY!r}")
    spec = validate(schema.PlanFile, document, label=label, error=PlanInputError).capacity_plan
    files = _Files(label, Path(path).parent)
    if spec.evidence is None and spec.sources is None:
        raise _fail(
            label, "evidence", "is required (service-time evidence per class), unless sources measures it"
        )
    sla = _sla(spec, files)
    options = _top_options(spec)
    evidence = _evidence(spec.evidence or {}, files)
    if spec.replicas is not None:
        options |= _replicas(spec.replicas)
    if spec.database is not None:
        options |= _database(spec.database, files)
    if spec.cache is not None:
        options["cache"] = _cache(spec.cache, sla, files, options.get("query_time"))
    if spec.autoscaling is not None:
        options |= _autoscaling(spec.autoscaling, files)
    if spec.memory is not None:
        options["memory"] = _memory(spec.memory, label)
    if spec.overload is not None:
        options["overload"] = _overload(spec.overload, files)
    provenance: tuple[Provenance, ...] = ()
    if spec.sources is not None:  # checked in full by capplan.plan.sources
        raw = document[ROOT_KEY]["sources"]
        sla, evidence, options, provenance = with_sources(raw, label, sla, evidence, options)
    if spec.service is not None:
        options["service"] = _service(spec.service, label)
        try:
            options["service"].check(evidence)
        except CapplanError as exc:
            raise _fail(label, "service", str(exc)) from None
    uncertain = None
    if spec.uncertainty is not None:  # checked in full by capplan.uncertainty.section
        raw = document[ROOT_KEY]["uncertainty"]
        uncertain = parse_uncertainty(raw, label=label, path=f"{ROOT_KEY}.uncertainty", error=PlanInputError)
    return PlanInputs(label, sla, evidence, options, files.named, provenance, uncertain)


@dataclass(frozen=True)
class _Files:
    """Files the plan file names, relative to its folder; a loader's error names the file and key."""

    label: str
    base: Path
    named: dict[str, Path] = field(default_factory=dict)  # key path (without the root key): file

    def load(self, where: str, name: str, loader: Any) -> Any:
        target = self.base / name
        self.named[where] = target
        try:
            return loader(target)
        except (CapplanError, OSError, ValueError) as exc:
            text = str(exc)
            raise _fail(self.label, where, text if str(target) in text else f"{target}: {text}") from None


def _sla(spec: schema.CapacityPlanSection, files: _Files) -> SLA:
    sla_files = [spec.sla] if isinstance(spec.sla, str) else spec.sla
    try:
        return load_sla(*(files.base / f for f in sla_files))
    except CapplanError as exc:  # names the SLA file and key; the plan file and its key go first
        raise _fail(files.label, "sla", str(exc)) from None


def _given(**values: Any) -> dict[str, Any]:
    return {k: v for k, v in values.items() if v is not None}


def _top_options(spec: schema.CapacityPlanSection) -> dict[str, Any]:
    return _given(
        group=spec.group,
        throughput=spec.throughput,
        load=spec.load,
        workers=spec.workers_per_replica,
        price_per_replica_hour=spec.price_per_replica_hour,
        mix=None if spec.mix is None else dict(spec.mix),
    )


def _replicas(r: schema.Replicas) -> dict[str, Any]:
    return _given(
        redundancy=r.redundancy,
        zones=r.zones,
        replica_mtbf=r.mtbf,
        replica_mttr=r.mttr,
        balancing=r.balancing,
    )


def _database(db: schema.Database, files: _Files) -> dict[str, Any]:
    options: dict[str, Any] = {"query_time": db.query_time}
    if db.pgbouncer is not None:
        options["pgbouncer"] = files.load("database.pgbouncer", db.pgbouncer, load_pgbouncer)
    if db.postgresql is not None:
        options["postgres"] = files.load("database.postgresql", db.postgresql, load_postgresql_conf)
    return options | _given(pgbouncer_instances=db.pgbouncer_instances)


def _autoscaling(auto: schema.Autoscaling, files: _Files) -> dict[str, Any]:
    options: dict[str, Any] = {"hpa": files.load("autoscaling.hpa", auto.hpa, load_hpa)}
    if auto.traffic is not None:
        options["traffic"] = files.load("autoscaling.traffic", auto.traffic, from_csv)
    return options | _given(hpa_class=auto.class_)


def _memory(memory: schema.Memory, label: str) -> PodMemory:
    try:
        return PodMemory(
            memory.per_worker, memory.per_request or 0.0, memory.base or 0.0, source=f"stated in {label}"
        )
    except CapplanError as exc:
        raise _fail(label, "memory", str(exc)) from None


def _overload(overload: str | OverloadSection, files: _Files) -> Any:
    if isinstance(overload, str):
        return files.load("overload", overload, load_overload)
    try:
        return overload_settings(overload, f"{ROOT_KEY}.overload")
    except ParameterError as exc:
        raise PlanInputError(f"{files.label}: {exc}") from None


def forecast_history(path: str | os.PathLike[str]) -> Path | None:
    """The ``forecast.history`` file of the plan-inputs file at ``path`` (None when not given, or
    when the file is not a plan-inputs file)."""
    document = _document(path)
    if not isinstance(document, Mapping) or not isinstance(document.get(ROOT_KEY), Mapping):
        return None
    section = document[ROOT_KEY].get("forecast")
    if section is None:
        return None
    forecast = validate(
        schema.Forecast, section, label=str(path), error=PlanInputError, prefix=(ROOT_KEY, "forecast")
    )
    return Path(path).parent / forecast.history


def _evidence(entries: Mapping[str, Any], files: _Files) -> list[ServiceEvidence]:
    out = []
    for op_class, entry in entries.items():
        where = f"evidence.{op_class}"
        if isinstance(entry, schema.StatedEvidence):
            out.append(ServiceEvidence(op_class, entry.service_time, _scv(entry.scv), "stated"))
        elif isinstance(entry, schema.ProfileEvidence):
            profile = files.load(f"{where}.profile", entry.profile, load_profiles)  # a file or a folder
            try:
                evidence = from_profile(
                    profile,
                    op_class,
                    requests=entry.requests,
                    within=entry.within,
                    cpu_s=entry.cpu_s,
                    scv=_scv(entry.scv),
                )
            except CapplanError as exc:
                raise _fail(files.label, f"{where}.profile", str(exc)) from None
            out.append(evidence)
        elif isinstance(entry, schema.LoadtestEvidence):
            read = functools.partial(loadtest_evidence, op_class)
            out.append(files.load(f"{where}.loadtest", entry.loadtest, read))
        else:
            frame = files.load(f"{where}.latency_csv", entry.latency_csv, read_latency_csv)
            out.append(from_samples(op_class, frame["latency"].to_numpy(), source=entry.latency_csv))
    return out


def _scv(value: float | None) -> float:
    return 1.0 if value is None else value


def _cache(cache: schema.Cache, sla: SLA, files: _Files, query_time: float | None) -> Any:
    counts = files.load("cache.trace", cache.trace, count_keys)
    popularity = fit_zipf(counts=counts).popularity()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", CatalogFractionWarning)  # the report shows the catalog share
        return size_cache(
            popularity,
            cache.request_rate,
            backend_latency=cache.backend_latency,
            hit_latency=0.001 if cache.hit_latency is None else cache.hit_latency,
            sla=sla,
            db_hold_time=query_time,
        )


def _service(service: schema.Service, label: str) -> ServiceLayers:
    steps = {
        name: _steps(items, label, f"service.steps.{name}") for name, items in (service.steps or {}).items()
    }
    try:
        return ServiceLayers(
            service.cores,
            service.gil_free or 0.0,
            steps,
            service.pool or "db",
            None if service.processes is None else tuple(service.processes),
            None if service.threads is None else tuple(service.threads),
            service.verify,
        )
    except CapplanError as exc:
        raise _fail(label, "service", str(exc)) from None


def _steps(items: Sequence[Any], label: str, where: str) -> tuple[Step, ...]:
    """A class's steps, each ``repeat`` unrolled (at most :data:`_MAX_STEPS` in all)."""
    out: list[Step] = []
    for i, item in enumerate(items):
        if isinstance(item, schema.RepeatStep):
            inner = _steps(item.steps, label, f"{where}[{i}].steps")
            if len(out) + len(inner) * item.repeat > _MAX_STEPS:
                raise _fail(
                    label,
                    f"{where}[{i}].repeat",
                    f"{len(inner)} steps x {item.repeat} is over {_MAX_STEPS} steps in all",
                )
            out.extend(inner * item.repeat)
        else:
            out.append(_step(item, label, f"{where}[{i}]"))
    if len(out) > _MAX_STEPS:
        raise _fail(label, where, f"{len(out)} steps, over {_MAX_STEPS}")
    return tuple(out)


def _step(item: schema.CpuStep | schema.HoldStep | schema.WaitStep, label: str, where: str) -> Step:
    scv = _scv(item.scv)
    made: Step
    if isinstance(item, schema.CpuStep):
        made, kind = Cpu(item.cpu, scv=scv), "cpu"
    elif isinstance(item, schema.HoldStep):
        made, kind = Hold(item.hold, item.time, scv=scv), "hold"
    else:
        made, kind = Wait(item.time, scv=scv, name=item.wait), "wait"
    try:
        made.check(kind)
    except CapplanError as exc:
        raise _fail(label, where, str(exc)) from None
    return made
