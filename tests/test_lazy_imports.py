"""``import capplan`` and ``capplan --help`` stay light: heavy dependencies load only when used.

Each check runs a fresh interpreter (this test process has imported everything already) and looks
at ``sys.modules`` afterwards; it asserts what is imported, not how long it takes (the timings are
in ``benchmarks/bench_user_path.py``).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

import capplan
import capplan.autoscale
import capplan.plan

PLAN = Path(__file__).resolve().parents[1] / "data" / "capacity-plan.yaml"
HEAVY = (
    "pandas",
    "scipy",
    "matplotlib",
    "numba",
    "dask",
    "prometheus_client",
    "yaml",
    "psycopg",
    "psycopg_pool",
    "statsmodels",
)


def _loaded_after(code: str) -> list[str]:
    probe = f"{code}\nimport sys, json\nprint(json.dumps([m for m in {HEAVY!r} if m in sys.modules]))"
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    loaded: list[str] = json.loads(out.stdout.strip().splitlines()[-1])
    return loaded


def test_import_capplan_loads_no_heavy_dependency() -> None:
    assert _loaded_after("import capplan") == []


@pytest.mark.parametrize(
    "argv",
    [
        ["--help"],
        ["plan", "--help"],
        ["check", "--help"],
        ["servers", "--help"],
        ["sla", "--help"],
        ["profile", "--help"],
        ["--version"],
    ],
)
def test_cli_help_loads_no_heavy_dependency(argv: list[str]) -> None:
    code = f"from capplan.cli import main\ntry:\n    main({argv!r})\nexcept SystemExit:\n    pass"
    assert _loaded_after(code) == []


def test_the_report_and_autoscaling_do_not_load_pyplot() -> None:
    """Reports draw on Figure objects; pyplot (and a GUI backend) load only for ``ax=None`` plots."""
    code = "import capplan.autoscale\nimport capplan.plan.render\nimport capplan.plots\nimport sys"
    code += "\nassert 'matplotlib.pyplot' not in sys.modules"
    _loaded_after(code)


@pytest.mark.parametrize("package", [capplan, sys.modules["capplan.plan"], capplan.autoscale])
def test_every_exported_name_resolves(package: object) -> None:
    for name in package.__all__:  # type: ignore[attr-defined]
        assert getattr(package, name) is not None, name
    assert set(package.__all__) <= set(dir(package))  # type: ignore[attr-defined]


def test_cp_plan_is_the_function_whatever_was_imported_first() -> None:
    code = (
        "from capplan.plan import write_report\nimport capplan.plan.build\nimport capplan as cp\n"
        "assert callable(cp.plan) and cp.plan.__module__ == 'capplan.plan.build', cp.plan\n"
        "import capplan.plan as p\nassert p is cp.plan"
    )
    _loaded_after(code)
    with pytest.raises(AttributeError, match="no attribute 'nonexistent'"):
        capplan.nonexistent  # type: ignore[attr-defined]  # noqa: B018


def test_no_public_name_is_shadowed_by_its_submodule() -> None:
    # Importing a submodule binds it on its package under its own name: a lazily exported function
    # with the name of a module (capplan.forecast.runway once) then came out as the module whenever
    # the module had been imported first.  Fresh interpreter: every submodule first, then the names.
    code = """
import importlib, json, pkgutil, types, capplan
packages = [m.name for m in pkgutil.walk_packages(capplan.__path__, "capplan.") if m.ispkg]
for p in packages:
    for m in pkgutil.iter_modules(importlib.import_module(p).__path__, p + "."):
        if not m.name.startswith("capplan.demo."):
            importlib.import_module(m.name)
bad = [f"{p}.{n}" for p in packages for n in getattr(importlib.import_module(p), "__all__", [])
       if isinstance(getattr(importlib.import_module(p), n), types.ModuleType)]
print(json.dumps(bad))
"""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert json.loads(out.stdout.strip().splitlines()[-1]) == []


def test_the_bundled_plan_loads_neither_scipy_stats_nor_its_optimizers(tmp_path: Path) -> None:
    """scipy.stats and scipy.optimize cost a `capplan plan` about a second of imports between them;
    the bundled example's fits and searches use capplan's own root finders."""
    code = (
        "import os, sys\nos.environ['MPLBACKEND'] = 'Agg'\nfrom capplan.cli import main\n"
        f"assert main(['plan', {str(PLAN)!r}, '--out', {str(tmp_path / 'r.html')!r}]) == 0\n"
        "loaded = [m for m in ('scipy.stats', 'scipy.optimize') if m in sys.modules]\n"
        "assert loaded == [], loaded"
    )
    _loaded_after(code)
