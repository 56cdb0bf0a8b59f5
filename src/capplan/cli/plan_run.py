"""What ``capplan plan`` and ``capplan check`` do (their options are in :mod:`capplan.cli.plan`)."""

from __future__ import annotations

import argparse
import dataclasses
from collections.abc import Mapping
from typing import Any

from capplan._sources import read_path
from capplan._yaml_input import load_yaml
from capplan.autoscale import from_csv, load_hpa
from capplan.cli._common import (
    EXIT_MISS,
    EXIT_OK,
    INPUT_ERRORS,
    class_values,
    error,
    positive_duration,
)
from capplan.errors import ParameterError
from capplan.measurements import read_response_times
from capplan.plan import (
    CapacityPlan,
    ServiceEvidence,
    from_profile,
    render_markdown,
    write_report,
)
from capplan.plan import plan as build_plan
from capplan.plan.inputs import ROOT_KEY, PlanInputs, load_plan_inputs
from capplan.plan.loadtest import loadtest_evidence
from capplan.plan.overload_settings import load_overload
from capplan.profiles import load_profile
from capplan.sla import SLA, load_sla
from capplan.units import parse_percent

__all__ = ["build_from_args", "measured_percentiles", "run_check", "run_plan"]


def _is_plan_inputs(path: str) -> bool:
    try:
        text = read_path(path, what="a YAML file", error=ParameterError)
        document = load_yaml(text, label=path, error=ParameterError)
    except ParameterError:
        return False  # load_sla reports it properly
    return isinstance(document, Mapping) and ROOT_KEY in document


def _evidence_options(args: argparse.Namespace) -> list[ServiceEvidence]:
    out: list[ServiceEvidence] = []
    stated = class_values(args.service_time, "--service-time", positive_duration)
    out += [ServiceEvidence(c, s, 1.0, "stated") for c, s in stated.items()]
    profiles = class_values(args.profile, "--profile", str)
    requests = class_values(args.requests, "--requests", float)
    within = class_values(args.within, "--within", str)
    unused = sorted(set(within) - set(profiles))
    if unused:
        raise ParameterError(f"--within: no --profile for {', '.join(unused)}")
    for op_class, path in profiles.items():
        if op_class not in requests:
            raise ParameterError(f"--requests: give {op_class}=N, the requests served while profiling {path}")
        profile = load_profile(path)
        out.append(from_profile(profile, op_class, requests=requests[op_class], within=within.get(op_class)))
    out += [loadtest_evidence(c, p) for c, p in class_values(args.loadtest, "--loadtest", str).items()]
    return out


def _overrides(args: argparse.Namespace) -> dict[str, Any]:
    options: dict[str, Any] = {}
    if args.mix:
        options["mix"] = class_values(args.mix, "--mix", parse_percent)
    for key, value in (
        ("workers", args.workers),
        ("throughput", args.throughput),
        ("load", args.load),
        ("price_per_replica_hour", args.price),
        ("hpa_class", args.hpa_class),
    ):
        if value is not None:
            options[key] = value
    if args.hpa:
        options["hpa"] = load_hpa(args.hpa)
    if args.traffic:
        options["traffic"] = from_csv(args.traffic)
    if args.overload:
        options["overload"] = load_overload(args.overload)
    return options


def _build(args: argparse.Namespace) -> tuple[SLA, CapacityPlan | None]:
    """The SLA, and the plan when there is evidence for one."""
    extra = _evidence_options(args)
    if len(args.files) == 1 and _is_plan_inputs(args.files[0]):
        inputs = load_plan_inputs(args.files[0])
        replaced = {e.op_class for e in extra}
        inputs = dataclasses.replace(
            inputs,
            evidence=[e for e in inputs.evidence if e.op_class not in replaced] + extra,
            provenance=tuple(
                p for p in inputs.provenance if p.op_class not in replaced or p.quantity == "request_rate"
            ),
        )
        overrides = _overrides(args)
        result = inputs.plan(**overrides)
        if getattr(args, "confidence", None) is not None:
            result = _uncertain(result, inputs, overrides, args.confidence)
        return inputs.sla, result
    if getattr(args, "confidence", None) is not None:
        raise ParameterError("--confidence: give a plan file (capacity_plan:) with an uncertainty: section")
    sla = load_sla(*args.files)
    if not extra:
        return sla, None
    return sla, build_plan(sla, extra, **_overrides(args))


def _uncertain(
    result: CapacityPlan, inputs: PlanInputs, overrides: Mapping[str, Any], level: float
) -> CapacityPlan:
    """The plan with its replicas under the file's uncertain inputs (``--confidence``)."""
    if inputs.uncertainty is None:
        raise ParameterError(f"--confidence: {inputs.source} has no uncertainty: section to draw from")
    from capplan.uncertainty.from_plan import with_uncertainty  # noqa: PLC0415

    return with_uncertainty(result, inputs.uncertainty, level, inputs.options | dict(overrides))


#: What ``capplan export`` shares with ``plan`` and ``check``: the build from the arguments.
build_from_args = _build


def run_plan(args: argparse.Namespace) -> int:
    """Print the plan (Markdown or JSON); write the report with ``--out``."""
    try:
        _, result = _build(args)
        if result is None:
            raise ParameterError(
                "no service-time evidence: give a plan-inputs file, or --service-time, --profile or "
                "--loadtest per operation class (capplan plan --help)"
            )
        if args.horizon is not None:
            from capplan.cli.plan_forecast import with_runway  # noqa: PLC0415 - statsmodels

            result = with_runway(result, args)
        text = result.to_json() if args.format == "json" else render_markdown(result)
        written = write_report(result, args.out) if args.out else None
    except INPUT_ERRORS as exc:
        return error(exc)
    print(text, end="" if text.endswith("\n") else "\n")
    if written is not None:
        print(f"report written to {written}")
    return EXIT_OK


def measured_percentiles(path: str, op_class: str | None = None) -> dict[float, float]:
    """Response-time percentiles ``{quantile: seconds}`` of any file
    :func:`capplan.measurements.read_response_times` reads (Locust stats, k6 summary, wrk / wrk2
    output, a percentile spectrum, Prometheus ``/metrics`` text, a latency CSV)."""
    return read_response_times(path, op_class).percentiles


def _measured_misses(sla: SLA, group: str, measured: Mapping[str, str]) -> tuple[list[str], list[str]]:
    lines: list[str] = []
    misses: list[str] = []
    for op_class, path in measured.items():
        targets = sla.latency_targets_for(group, op_class)
        times = read_response_times(path, op_class)
        seen = times.percentiles
        lines += [f"{op_class}: note: {note}" for note in times.notes]
        for q, target in sorted(targets.items()):
            label = f"p{q * 100:g}"
            value = seen.get(q)
            if value is None:
                lines.append(f"{op_class}: {label} not in {path}; target {target * 1e3:g} ms not checked")
                continue
            ok = value <= target
            lines.append(
                f"{op_class}: measured {label} {value * 1e3:.4g} ms, target {target * 1e3:g} ms: "
                f"{'ok' if ok else 'MISS'}"
            )
            if not ok:
                misses.append(
                    f"{op_class}: measured {label} {value * 1e3:.4g} ms > {target * 1e3:g} ms ({path})"
                )
    return lines, misses


def run_check(args: argparse.Namespace) -> int:
    """Exit 0 when the plan and the measurements meet the SLA, 1 on a miss, 2 on bad input."""
    try:
        sla, result = _build(args)
        measured = class_values(args.measured, "--measured", str)
        if result is None and not measured:
            raise ParameterError("nothing to check: give evidence for a plan, or --measured CLASS=FILE")
        lines, misses = _measured_misses(sla, args.group, measured)
    except INPUT_ERRORS as exc:
        return error(exc)
    if result is not None:
        print(repr(result))
        misses = result.misses() + misses
    for line in lines:
        print(line)
    if misses:
        print(f"\nMISSES ({len(misses)}):")
        for miss in misses:
            print(f"  - {miss}")
        return EXIT_MISS
    print("\nmeets the SLA")
    return EXIT_OK
