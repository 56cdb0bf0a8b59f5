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
        # profile: profiles/critical/ - a directory of py-spy/scalene files; requests over all of them
        standard_operations: {service_time: 80ms, scv: 1}
        batch_operations: {latency_csv: batch_latency.csv}   # or {loadtest: locust_stats.csv}: fitted
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
        steps:                         # per class, in order; a class left out: one CPU step
          critical_operations: [{cpu: 12ms}, {hold: db, time: 5ms},
                                {wait: downstream, time: 15ms, scv: 6}, {cpu: 8ms}]
          batch_operations: [{repeat: 8, steps: [{cpu: 12.5ms}, {hold: db, time: 5ms}]},
                             {wait: export, time: 1.86s}]
      price_per_replica_hour: 0.20
      forecast: {history: traffic-history.csv}   # for capplan plan --horizon (capplan.forecast)
      sources: {prometheus: {url: ..., range: ...}, classes: {...}}   # capplan.plan.sources
      uncertainty: {rate: {low: 8000, high: 12000}, draws: 4000, seed: 1}   # capplan.uncertainty.section

Units are parsed here (durations like ``80ms``, percentages like ``20%``, sizes like ``120Mi`` or
``2gb``); every error names the file and the key path.  Only ``sla`` and ``evidence`` are required
(``evidence`` may be left out when ``sources`` measures every class).

Every number has a valid range, checked here (a value outside it is an error naming the file and
the key, not minutes of search or a pool of 1e96 connections):

==============================================================  =================================
``cache.request_rate``                                          (0, 1e9] requests/s
``workers_per_replica``, ``service.processes`` / ``threads``    1 .. 100,000
``service.cores``                                               1 .. 10,000
``replicas.redundancy``                                         0 .. 1,000
``replicas.zones``, ``database.pgbouncer_instances``            1 .. 1,000
``mix`` shares, ``service.gil_free``                            [0, 1]
``scv`` (evidence and steps)                                    [0, 1e4]
service and step times, ``query_time``, ``*_latency``           (0, 1 h]
``replicas.mtbf``, ``replicas.mttr``                            (0, 100 y]
``evidence.*.requests``                                         (0, 1e12]
``evidence.*.cpu_s``                                            (0, 1e9] s
``memory.*``                                                    [0, 1 TiB]
``price_per_replica_hour``                                      [0, 1e6]
``repeat`` of a step list                                       1 .. 10,000 (and at most 100,000
                                                                steps per class in all)
==============================================================  =================================
"""

from __future__ import annotations

import dataclasses
import functools
import os
import warnings
from collections.abc import Mapping
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
from capplan.plan.overload_settings import load_overload, parse_overload
from capplan.plan.provenance import Provenance
from capplan.plan.service import ServiceLayers
from capplan.plan.sources_apply import with_sources
from capplan.profiles import load_profiles
from capplan.sizing.caches import size_cache
from capplan.sla import SLA, load_sla
from capplan.uncertainty.section import UncertainInputs, parse_uncertainty
from capplan.units import parse_duration, parse_percent, parse_size

__all__ = ["PlanInputError", "PlanInputs", "forecast_history", "load_plan_inputs"]

ROOT_KEY = "capacity_plan"
_EVIDENCE_KINDS = ("service_time", "profile", "latency_csv", "loadtest")


class PlanInputError(ParameterError):
    """A plan-inputs file is malformed; the message names the file and the key path."""


@dataclass
class _Node:
    """A mapping in the file, with its key path for error messages."""

    label: str
    path: str
    data: Mapping[str, Any]

    def fail(self, key: str | None, message: str) -> PlanInputError:
        where = f"{self.path}.{key}" if key else self.path
        return PlanInputError(f"{self.label}: {where}: {message}")

    def child(self, key: str, *, required: bool = False) -> _Node | None:
        value = self.data.get(key)
        if value is None:
            if required:
                raise self.fail(key, "is required")
            return None
        if not isinstance(value, Mapping):
            raise self.fail(key, f"must be a mapping, got {type(value).__name__}")
        return _Node(self.label, f"{self.path}.{key}", value)

    def convert(self, key: str, parse: Any, default: Any = None) -> Any:
        value = self.data.get(key)
        if value is None:
            return default
        try:
            return parse(value)
        except (CapplanError, ValueError, TypeError) as exc:
            raise self.fail(key, str(exc)) from None

    def text(self, key: str, default: str | None = None) -> str | None:
        value = self.data.get(key, default)
        if value is not None and not isinstance(value, str):
            raise self.fail(key, f"must be a string, got {value!r}")
        return value

    def check_keys(self, allowed: tuple[str, ...]) -> None:
        unknown = sorted(set(self.data) - set(allowed))
        if unknown:
            raise self.fail(None, f"unknown keys {unknown}; allowed: {', '.join(allowed)}")


@dataclass(frozen=True)
class _Range:
    """A valid range ``[low, high]`` (``(low, high]`` when ``low_open``) of one kind of input."""

    low: float
    high: float
    unit: str = ""
    low_open: bool = False

    def __call__(self, parse: Any) -> Any:
        """``parse`` followed by the range check (a ``ValueError`` that ``convert`` names)."""

        def checked(value: Any) -> Any:
            number = parse(value)
            above = number > self.low if self.low_open else number >= self.low
            if not (above and number <= self.high):  # also NaN
                unit = f" {self.unit}" if self.unit else ""
                bracket = "(" if self.low_open else "["
                raise ValueError(
                    f"{value!r} is outside the valid range {bracket}{self.low:g}, {self.high:g}]{unit}"
                )
            return number

        return checked


_RATE = _Range(0.0, 1e9, "requests/s", low_open=True)
_WORKERS = _Range(1, 100_000)
_SCV = _Range(0.0, 1e4)
_TIME = _Range(0.0, 3600.0, "s", low_open=True)
_UPTIME = _Range(0.0, 100 * 365 * 86400.0, "s", low_open=True)
_FRACTION = _Range(0.0, 1.0)
_MEMORY = _Range(0.0, 2.0**40, "bytes")
_MAX_STEPS = 100_000


def _seconds(value: Any) -> float:
    return parse_duration(value) if isinstance(value, str) else float(value)


def _share(value: Any) -> float:
    return parse_percent(value) if isinstance(value, str) else float(value)


def _count(value: Any) -> int:
    number = float(value)
    if isinstance(value, bool) or not number.is_integer():
        raise ValueError(f"must be a whole number, got {value!r}")
    return int(number)


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


def load_plan_inputs(path: str | os.PathLike[str]) -> PlanInputs:
    """Read a plan-inputs YAML file (see the module docstring) and every file it names."""
    file = Path(path)
    label = str(path)
    document = _read_document(path)
    if not isinstance(document, Mapping) or not isinstance(document.get(ROOT_KEY), Mapping):
        raise PlanInputError(f"{label}: expected a mapping under the top-level key {ROOT_KEY!r}")
    root = _Node(label, ROOT_KEY, document[ROOT_KEY])
    root.check_keys(
        (
            "sla", "group", "throughput", "load", "workers_per_replica", "mix", "evidence",
            "replicas", "database", "cache", "autoscaling", "price_per_replica_hour", "memory",
            "overload", "service", "forecast", "sources", "uncertainty",
        )
    )  # fmt: skip
    files = _Files(file.parent)
    _forecast_history(root, files.base)
    sla = _sla(root, files.base)
    options = _top_options(root)
    has_sources = root.data.get("sources") is not None
    listed = root.child("evidence", required=not has_sources)
    evidence = [] if listed is None else _evidence(listed, files.load)
    if (replicas := root.child("replicas")) is not None:
        options |= _replicas(replicas)
    if (db := root.child("database")) is not None:
        options |= _database(db, files)
    if (cache := root.child("cache")) is not None:
        options["cache"] = _cache(cache, sla, files.load, options.get("query_time"))
    if (auto := root.child("autoscaling")) is not None:
        options |= _autoscaling(auto, files)
    if (memory := root.child("memory")) is not None:
        options["memory"] = _memory(memory)
    if root.data.get("overload") is not None:
        options["overload"] = _overload(root, files)
    provenance: tuple[Provenance, ...] = ()
    if has_sources:
        sla, evidence, options, provenance = with_sources(root.data["sources"], label, sla, evidence, options)
    if (service := root.child("service")) is not None:
        options["service"] = _service(service)
        try:
            options["service"].check(evidence)
        except CapplanError as exc:
            raise root.fail("service", str(exc)) from None
    uncertain = None
    if root.data.get("uncertainty") is not None:
        uncertain = parse_uncertainty(
            root.data["uncertainty"], label=label, path=f"{ROOT_KEY}.uncertainty", error=PlanInputError
        )
    return PlanInputs(label, sla, evidence, options, files.named, provenance, uncertain)


@dataclass(frozen=True)
class _Files:
    """Files the plan file names, relative to its folder; a loader's error names the file and key."""

    base: Path
    named: dict[str, Path] = field(default_factory=dict)  # key path (without the root key): file

    def resolve(self, node: _Node, key: str) -> Path:
        name = node.text(key)
        if not name:
            raise node.fail(key, "must name a file")
        self.named[f"{node.path}.{key}".removeprefix(f"{ROOT_KEY}.")] = self.base / name
        return self.base / name

    def load(self, node: _Node, key: str, loader: Any) -> Any:
        target = self.resolve(node, key)
        try:
            return loader(target)
        except (CapplanError, OSError, ValueError) as exc:
            text = str(exc)
            raise node.fail(key, text if str(target) in text else f"{target}: {text}") from None


def _sla(root: _Node, base: Path) -> SLA:
    sla_files = root.data.get("sla")
    if isinstance(sla_files, str):
        sla_files = [sla_files]
    if not isinstance(sla_files, list) or not sla_files or not all(isinstance(f, str) for f in sla_files):
        raise root.fail("sla", "must name one or more SLA YAML files")
    try:
        return load_sla(*(base / f for f in sla_files))
    except CapplanError as exc:  # names the SLA file and key; the plan file and its key go first
        raise root.fail("sla", str(exc)) from None


def _top_options(root: _Node) -> dict[str, Any]:
    options: dict[str, Any] = {}
    for key in ("group", "throughput", "load"):
        if (value := root.text(key)) is not None:
            options[key] = value
    if (workers := root.convert("workers_per_replica", _WORKERS(_count))) is not None:
        options["workers"] = workers
    if (price := root.convert("price_per_replica_hour", _Range(0.0, 1e6)(float))) is not None:
        options["price_per_replica_hour"] = price
    if (mix := root.child("mix")) is not None:
        options["mix"] = {str(k): mix.convert(k, _FRACTION(_share)) for k in mix.data}
    return options


def _replicas(node: _Node) -> dict[str, Any]:
    node.check_keys(("redundancy", "zones", "balancing", "mtbf", "mttr"))
    options: dict[str, Any] = {}
    for key, name, parse in (
        ("redundancy", "redundancy", _Range(0, 1000)(_count)),
        ("zones", "zones", _Range(1, 1000)(_count)),
        ("mtbf", "replica_mtbf", _UPTIME(_seconds)),
        ("mttr", "replica_mttr", _UPTIME(_seconds)),
    ):
        if (value := node.convert(key, parse)) is not None:
            options[name] = value
    if (balancing := node.text("balancing")) is not None:
        options["balancing"] = balancing
    return options


def _database(node: _Node, files: _Files) -> dict[str, Any]:
    node.check_keys(("query_time", "pgbouncer", "postgresql", "pgbouncer_instances"))
    options: dict[str, Any] = {"query_time": node.convert("query_time", _TIME(_seconds))}
    if node.data.get("pgbouncer") is not None:
        options["pgbouncer"] = files.load(node, "pgbouncer", load_pgbouncer)
    if node.data.get("postgresql") is not None:
        options["postgres"] = files.load(node, "postgresql", load_postgresql_conf)
    if (instances := node.convert("pgbouncer_instances", _Range(1, 1000)(_count))) is not None:
        options["pgbouncer_instances"] = instances
    return options


def _autoscaling(node: _Node, files: _Files) -> dict[str, Any]:
    node.check_keys(("hpa", "traffic", "class"))
    options: dict[str, Any] = {"hpa": files.load(node, "hpa", load_hpa)}
    if node.data.get("traffic") is not None:
        options["traffic"] = files.load(node, "traffic", from_csv)
    if (op_class := node.text("class")) is not None:
        options["hpa_class"] = op_class
    return options


def _memory(node: _Node) -> PodMemory:
    node.check_keys(("per_worker", "per_request", "base"))
    if node.data.get("per_worker") is None:
        raise node.fail("per_worker", "is required (memory of one idle worker, e.g. 120Mi)")
    sizes = {k: node.convert(k, _MEMORY(parse_size), 0.0) for k in ("per_worker", "per_request", "base")}
    try:
        return PodMemory(**sizes, source=f"stated in {node.label}")
    except CapplanError as exc:
        raise node.fail(None, str(exc)) from None


def _overload(root: _Node, files: _Files) -> Any:
    if isinstance(root.data.get("overload"), str):
        return files.load(root, "overload", load_overload)
    try:
        return parse_overload(root.data["overload"], f"{ROOT_KEY}.overload")
    except ParameterError as exc:
        raise PlanInputError(f"{root.label}: {exc}") from None


def _forecast_history(root: _Node, base: Path) -> Path | None:
    """The traffic history file named by ``forecast.history`` (read only by ``--horizon``)."""
    node = root.child("forecast")
    if node is None:
        return None
    node.check_keys(("history",))
    name = node.text("history")
    if not name:
        raise node.fail("history", "must name a traffic history CSV file")
    return base / name


def _read_document(path: str | os.PathLike[str]) -> Any:
    """The YAML document of a plan-inputs file (errors name the file)."""
    text = read_path(path, what="a plan-inputs YAML file", error=PlanInputError)
    return load_yaml(text, label=str(path), error=PlanInputError, what="a plan-inputs file")


def forecast_history(path: str | os.PathLike[str]) -> Path | None:
    """The ``forecast.history`` file of the plan-inputs file at ``path`` (None when not given, or
    when the file is not a plan-inputs file)."""
    label = str(path)
    document = _read_document(path)
    if not isinstance(document, Mapping) or not isinstance(document.get(ROOT_KEY), Mapping):
        return None
    return _forecast_history(_Node(label, ROOT_KEY, document[ROOT_KEY]), Path(path).parent)


def _evidence(node: _Node, load: Any) -> list[ServiceEvidence]:
    out = []
    for op_class in node.data:
        entry = node.child(str(op_class), required=True)
        assert entry is not None
        kinds = [k for k in _EVIDENCE_KINDS if k in entry.data]
        if len(kinds) != 1:
            raise entry.fail(None, f"give exactly one of {', '.join(_EVIDENCE_KINDS)}, got {kinds or 'none'}")
        scv = entry.convert("scv", _SCV(float), 1.0)
        if kinds[0] == "service_time":
            entry.check_keys(("service_time", "scv"))
            out.append(
                ServiceEvidence(str(op_class), entry.convert("service_time", _TIME(_seconds)), scv, "stated")
            )
        elif kinds[0] == "profile":
            entry.check_keys(("profile", "requests", "within", "cpu_s", "scv"))
            requests = entry.convert("requests", _Range(0.0, 1e12, low_open=True)(float))
            if requests is None:
                raise entry.fail("requests", "is required with a profile (requests served while profiling)")
            profile = load(entry, "profile", load_profiles)  # a file or a directory of them
            cpu_s = entry.convert("cpu_s", _Range(0.0, 1e9, "s", low_open=True)(float))
            try:
                evidence = from_profile(
                    profile,
                    str(op_class),
                    requests=requests,
                    within=entry.text("within"),
                    cpu_s=cpu_s,
                    scv=scv,
                )
            except CapplanError as exc:
                raise entry.fail("profile", str(exc)) from None
            out.append(evidence)
        elif kinds[0] == "loadtest":
            entry.check_keys(("loadtest",))
            out.append(load(entry, "loadtest", functools.partial(loadtest_evidence, str(op_class))))
        else:
            entry.check_keys(("latency_csv",))
            frame = load(entry, "latency_csv", read_latency_csv)
            samples = frame["latency"].to_numpy()
            out.append(from_samples(str(op_class), samples, source=str(entry.data["latency_csv"])))
    return out


def _cache(node: _Node, sla: SLA, load: Any, query_time: float | None) -> Any:
    node.check_keys(("trace", "request_rate", "backend_latency", "hit_latency"))
    counts = load(node, "trace", count_keys)
    rate = node.convert("request_rate", _RATE(float))
    backend = node.convert("backend_latency", _TIME(_seconds))
    if rate is None or backend is None:
        raise node.fail(None, "request_rate and backend_latency are required with a trace")
    popularity = fit_zipf(counts=counts).popularity()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", CatalogFractionWarning)  # the report shows the catalog share
        return size_cache(
            popularity,
            rate,
            backend_latency=backend,
            hit_latency=node.convert("hit_latency", _TIME(_seconds), 0.001),
            sla=sla,
            db_hold_time=query_time,
        )


def _service(node: _Node) -> ServiceLayers:
    node.check_keys(("cores", "gil_free", "pool", "processes", "threads", "steps"))
    cores = node.convert("cores", _Range(1, 10_000)(_count))
    if cores is None:
        raise node.fail("cores", "is required (CPU cores of one replica)")
    candidates = {k: node.convert(k, _counts) for k in ("processes", "threads")}
    steps: dict[str, tuple[Step, ...]] = {}
    if (by_class := node.child("steps")) is not None:
        for name, items in by_class.data.items():
            steps[str(name)] = _steps(by_class, str(name), items)
    gil_free = node.convert("gil_free", _FRACTION(_share), 0.0)
    try:
        return ServiceLayers(
            cores,
            gil_free,
            steps,
            node.text("pool", "db") or "db",
            candidates["processes"],
            candidates["threads"],
        )
    except CapplanError as exc:
        raise node.fail(None, str(exc)) from None


def _counts(value: Any) -> tuple[int, ...]:
    if not isinstance(value, list) or not value:
        raise ValueError(f"must be a list of whole numbers, got {value!r}")
    return tuple(_WORKERS(_count)(v) for v in value)


def _steps(parent: _Node, key: str, items: Any) -> tuple[Step, ...]:
    """``[{cpu: 12ms}, {hold: db, time: 5ms}, {wait: name, time: 15ms, scv: 6},
    {repeat: 8, steps: [...]}]`` (each with an optional ``scv``)."""
    if not isinstance(items, list) or not items:
        raise parent.fail(key, "must be a list of steps ({cpu: 12ms}, {hold: db, time: 5ms}, ...)")
    out: list[Step] = []
    for i, item in enumerate(items):
        if not isinstance(item, Mapping):
            raise parent.fail(f"{key}[{i}]", f"must be a mapping, got {item!r}")
        step = _Node(parent.label, f"{parent.path}.{key}[{i}]", item)
        if "repeat" in item:
            step.check_keys(("repeat", "steps"))
            repeat = step.convert("repeat", _Range(1, 10_000)(_count))
            if not repeat:
                raise step.fail("repeat", f"must be a whole number >= 1, got {item['repeat']!r}")
            inner = _steps(step, "steps", item.get("steps"))
            if len(out) + len(inner) * repeat > _MAX_STEPS:
                raise step.fail("repeat", f"{len(inner)} steps x {repeat} is over {_MAX_STEPS} steps in all")
            out.extend(inner * repeat)
            continue
        kinds = [k for k in ("cpu", "hold", "wait") if k in item]
        if len(kinds) != 1:
            raise step.fail(None, f"give exactly one of cpu, hold, wait, repeat; got {sorted(item)}")
        out.append(_step(step, kinds[0]))
    if len(out) > _MAX_STEPS:
        raise parent.fail(key, f"{len(out)} steps, over {_MAX_STEPS}")
    return tuple(out)


def _step(step: _Node, kind: str) -> Step:
    scv = step.convert("scv", _SCV(float), 1.0)
    made: Step
    if kind == "cpu":
        step.check_keys(("cpu", "scv"))
        cpu = step.convert("cpu", _TIME(_seconds))
        if cpu is None:
            raise step.fail("cpu", "needs a time, e.g. {cpu: 12ms}")
        made = Cpu(cpu, scv=scv)
    else:
        step.check_keys((kind, "time", "scv"))
        name, time = step.text(kind), step.convert("time", _TIME(_seconds))
        if not name or time is None:
            raise step.fail(None, f"{kind} needs a name and a time, e.g. {{{kind}: db, time: 5ms}}")
        made = Hold(name, time, scv=scv) if kind == "hold" else Wait(time, scv=scv, name=name)
    try:
        made.check(kind)
    except CapplanError as exc:
        raise step.fail(None, str(exc)) from None
    return made
