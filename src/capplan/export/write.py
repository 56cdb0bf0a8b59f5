"""Render every deployment file of a plan, then write the set into a new directory atomically.

All texts are rendered in memory first, so an error leaves nothing behind.  They are written into
a fresh hidden directory beside the target, which is then renamed to the target: a reader sees
the whole set or none of it.  An existing target is replaced only with ``force=True``; it is moved
aside, the new set renamed in, and the old one deleted (if the second rename fails the old set is
moved back).
"""

from __future__ import annotations

import os
import secrets
import shutil
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from capplan.errors import ParameterError
from capplan.export.budget import error_budget_csv, error_budget_rows
from capplan.export.database import database_files
from capplan.export.kubernetes import deployment_patches, hpa_manifests
from capplan.export.loadtest import k6_script, locustfile
from capplan.export.options import ExportOptions
from capplan.export.prometheus import prometheus_rules
from capplan.export.promtool import promtool_tests
from capplan.export.service import FILE as SERVICE_FILE
from capplan.export.service import service_deployment
from capplan.export.slo import ClassFacts, class_facts, plan_slos
from capplan.plan.model import CapacityPlan
from capplan.plan.render import render_html, render_markdown

__all__ = ["REPORTS", "ExportError", "ExportResult", "export_plan", "render_files"]

#: The reports written beside the deployment files, linking to them.
REPORTS = ("capacity-plan.md", "capacity-plan.html")


class ExportError(ParameterError):
    """The export cannot be written (the target exists, or is not a directory)."""


@dataclass(frozen=True)
class ExportResult:
    """What :func:`export_plan` wrote: file names, the plan's misses, and notes on what is missing."""

    directory: Path
    files: tuple[str, ...]
    misses: tuple[str, ...]
    notes: tuple[str, ...]

    @property
    def ok(self) -> bool:
        """True when the plan (and the exported database limits) meet the SLA."""
        return not self.misses

    def __repr__(self) -> str:
        status = "meets the SLA" if self.ok else f"{len(self.misses)} misses"
        return f"ExportResult({len(self.files)} files, {status}, {len(self.notes)} notes)"


def _memory_notes(plan: CapacityPlan, facts: list[ClassFacts]) -> list[str]:
    if plan.memory is not None:
        return []
    notes = [
        "memory: the plan states no memory per worker or per request, so deployment-resources.yaml "
        "sets no memory request or limit (give capacity_plan.memory, or memory= to capplan.plan)"
    ]
    for f in facts:
        if f.hpa is not None and any(
            m.name == "memory" and m.target_type == "Utilization" for m in f.hpa.metrics
        ):
            notes.append(
                f"memory: HPA {f.hpa.name!r} scales on memory utilization, which Kubernetes computes "
                "from the memory request: without one that metric cannot be computed"
            )
    return notes


def render_files(
    plan: CapacityPlan, options: ExportOptions, *, figures: bool = True
) -> tuple[dict[str, str], list[str], list[str]]:
    """``({file name: text}, misses, notes)`` for ``plan``; nothing is written."""
    facts = class_facts(plan)
    misses = list(plan.misses())
    notes = [f"{c}: not exported (no replica count meets its targets)" for c in plan.infeasible]
    notes += _memory_notes(plan, facts)
    texts: dict[str, str] = {}
    hpa = hpa_manifests(facts, options)
    if hpa is None:
        notes.append("hpa.yaml: not written - the plan checked no HPA; replicas are fixed in the patch")
    else:
        texts["hpa.yaml"] = hpa
    texts["deployment-resources.yaml"] = deployment_patches(facts, options, plan.memory, plan.max_utilization)
    if (service := service_deployment(plan, options)) is not None:
        texts[SERVICE_FILE] = service
    most = sum(f.max_replicas for f in facts)
    db = database_files(plan.database, most) if plan.database is not None and not plan.infeasible else None
    if db is None:
        notes.append(
            "pgbouncer.ini, postgresql.conf: not written - the plan checked no database configuration"
        )
    else:
        texts["pgbouncer.ini"] = db.pgbouncer_ini
        texts["postgresql.conf"] = db.postgresql_conf
        if not db.check.ok:
            misses.append(f"database at {most} replicas (HPA maxReplicas): {db.check.binding}")
    slos, slo_notes = plan_slos(plan, facts)
    notes += slo_notes
    rules, rule_notes = prometheus_rules(slos, facts, options, plan.max_utilization)
    notes += rule_notes
    texts["prometheus-rules.yaml"] = rules
    rule_tests = promtool_tests(slos, facts, options)
    if rule_tests is not None:
        texts["prometheus-rules.test.yaml"] = rule_tests
    texts["k6-thresholds.js"] = k6_script(plan, facts)
    texts["locustfile.py"] = locustfile(plan, facts)
    texts["error-budget.csv"] = error_budget_csv(error_budget_rows(plan, facts, slos))
    names = list(texts)
    texts[REPORTS[0]] = render_markdown(plan, files=names)
    texts[REPORTS[1]] = render_html(plan, figures=figures, files=names)
    return texts, misses, notes


def _write_set(target: Path, texts: Mapping[str, str], force: bool) -> None:
    if target.exists() or target.is_symlink():
        if not force:
            raise ExportError(
                f"{target}: already exists; give force=True (capplan export --force) to replace it"
            )
        if target.is_symlink() or not target.is_dir():
            raise ExportError(f"{target}: exists and is not a directory; not replaced")
    parent = target.parent
    parent.mkdir(parents=True, exist_ok=True)
    fresh = parent / f".{target.name}.{secrets.token_hex(6)}.tmp"
    fresh.mkdir()  # permissions from the umask, as a plain mkdir gives
    try:
        for name, text in texts.items():
            (fresh / name).write_text(text, encoding="utf-8", newline="\n")
        if not target.exists():
            fresh.rename(target)
            return
        old = parent / f".{target.name}.{secrets.token_hex(6)}.old"
        target.rename(old)
        try:
            fresh.rename(target)
        except BaseException:
            old.rename(target)
            raise
        shutil.rmtree(old, ignore_errors=True)
    except BaseException:
        shutil.rmtree(fresh, ignore_errors=True)
        raise


def export_plan(
    plan: CapacityPlan,
    directory: str | os.PathLike[str],
    *,
    force: bool = False,
    figures: bool = True,
    **options: Any,
) -> ExportResult:
    """Write the deployment files of ``plan`` into the new directory ``directory``.

    Files: ``hpa.yaml`` (when the plan has an HPA), ``deployment-resources.yaml``,
    ``pgbouncer.ini`` and ``postgresql.conf`` (when the plan checked them),
    ``prometheus-rules.yaml`` with its ``promtool test rules`` file ``prometheus-rules.test.yaml``,
    ``k6-thresholds.js``, ``locustfile.py``, ``error-budget.csv``, and
    the report (``capacity-plan.md``, ``capacity-plan.html``) linking to them.  A plan that misses
    the SLA is written too; :attr:`ExportResult.misses` lists why (the command line exits 1).

    Parameters
    ----------
    plan : CapacityPlan
    directory : path
        Must not exist unless ``force``; written atomically (see the module docstring).
    force : bool
        Replace an existing directory.
    figures : bool
        Embed the figures in the HTML report.
    **options
        :class:`capplan.export.ExportOptions` fields: ``namespace``, ``deployments``,
        ``containers``, ``buckets``, ``requests_metric``, ``duration_metric``, ``code_label``,
        ``job_label``.
    """
    opts = ExportOptions.make(**options)
    target = Path(directory)
    if (target.exists() or target.is_symlink()) and not force:
        raise ExportError(f"{target}: already exists; give force=True (capplan export --force) to replace it")
    texts, misses, notes = render_files(plan, opts, figures=figures)
    _write_set(target, texts, force)
    return ExportResult(target, tuple(texts), tuple(misses), tuple(notes))
