"""Fixtures shared by the export tests: the bundled example plan, and its files exported once."""

from __future__ import annotations

from pathlib import Path

import pytest

import capplan as cp
from capplan.plan.inputs import load_plan_inputs

PLAN_FILE = Path(__file__).resolve().parents[1] / "data" / "capacity-plan.yaml"


@pytest.fixture(scope="session")
def bundled() -> cp.CapacityPlan:
    """``data/capacity-plan.yaml``'s plan (it misses the SLA on purpose: the seed HPA)."""
    return load_plan_inputs(PLAN_FILE).plan()


@pytest.fixture(scope="session")
def exported(bundled: cp.CapacityPlan, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The bundled plan's files (no figures in the HTML report).  Read only: tests that change
    files export their own."""
    out = tmp_path_factory.mktemp("bundled-export") / "deploy"
    bundled.export(out, figures=False)
    return out
