"""The critical Prometheus rules, checked and unit-tested by the real ``promtool``.

``promtool check rules`` must accept the file; ``promtool test rules`` runs the rules over
synthetic series (one sample a minute) and the tests below say when each alert must fire.  The
expected times are worked out by hand from the scheme of the Google SRE Workbook, ch. 5 (burn rate
= bad fraction / error budget; page: 14.4x over 1h and 5m or 6x over 6h and 30m; ticket: 3x over
1d and 2h or 1x over 3d and 6h).  Every series has three days of history before the step, so
each window holds only minute samples of the series itself, and ``rate()`` over a window of a
counter sampled every minute is exactly the increase over the window (no extrapolation: a sample
sits on each end), so the crossing minute is exact.

promtool comes with the Debian package ``prometheus`` (the Makefile's ``system-deps``).
"""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest
import yaml

import capplan as cp
from capplan.export import BURN_WINDOWS
from capplan.export.promtool import counter_series

ROOT = Path(__file__).resolve().parents[1]
PROMTOOL = shutil.which("promtool")
pytestmark = pytest.mark.skipif(
    PROMTOOL is None, reason="promtool not installed (Debian package prometheus; make system-deps)"
)

JOB = 'job="critical-operations"'
HISTORY = 3 * 24 * 60  # minutes of steady series before the step (the longest window, 3d)
PER_MINUTE = 6000  # requests a minute (100/s)


@pytest.fixture(scope="module")
def critical_plan() -> cp.CapacityPlan:
    """One class, the seed's critical operations: 2000/s, 40 ms, 8 workers, N+1 and zone loss."""
    sla = cp.load_sla(ROOT / "data/performance-sla.yaml", ROOT / "data/performance-budget.yaml")
    return cp.plan(
        sla,
        service_time={"critical_operations": 0.040},
        mix={"critical_operations": 0.2},
        workers=8,
        redundancy=1,
        zones=3,
    )


@pytest.fixture(scope="module")
def critical(critical_plan: cp.CapacityPlan, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("export") / "deploy"
    critical_plan.export(out, figures=False)
    return out


def _rules(critical: Path) -> list[dict[str, Any]]:
    doc = yaml.safe_load((critical / "prometheus-rules.yaml").read_text())
    return [rule for group in doc["groups"] for rule in group["rules"]]


def _expected(critical: Path, alert: str, **labels: str) -> dict[str, Any]:
    """An exp_alerts entry: the rule's labels and its annotations, as promtool must see them."""
    for rule in _rules(critical):
        if rule.get("alert") == alert and all(rule["labels"].get(k) == v for k, v in labels.items()):
            return {"exp_labels": dict(rule["labels"]), "exp_annotations": dict(rule["annotations"])}
    raise AssertionError(f"no rule {alert} with {labels}")


def _start(critical: Path, tests: list[dict[str, Any]], path: Path, every: str) -> subprocess.Popen[str]:
    """Start ``promtool test rules`` on the critical file with ``tests``, rules evaluated ``every``."""
    spec = {
        "rule_files": [str(critical / "prometheus-rules.yaml")],
        "evaluation_interval": every,
        "tests": tests,
    }
    path.write_text(yaml.safe_dump(spec, sort_keys=False))
    return subprocess.Popen(
        [str(PROMTOOL), "test", "rules", str(path)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def _passes(run: subprocess.Popen[str]) -> None:
    out, _ = run.communicate(timeout=600)
    assert run.returncode == 0, out


def _at(minutes: int, alert: str, expected: list[dict[str, Any]]) -> dict[str, Any]:
    return {"eval_time": f"{minutes}m", "alertname": alert, "exp_alerts": expected}


def test_promtool_accepts_the_bundled_plans_rules(exported: Path) -> None:
    run = subprocess.run(
        [str(PROMTOOL), "check", "rules", str(exported / "prometheus-rules.yaml")],
        capture_output=True,
        text=True,
        check=False,
    )
    assert run.returncode == 0, run.stdout + run.stderr
    assert "SUCCESS" in run.stdout
    # three classes, each with 4 (or 3) latency SLOs and 3 availability SLOs
    alerts = [r for r in _rules(exported) if r.get("alert") == "SLOErrorBudgetBurn"]
    slos = {(r["labels"]["op_class"], r["labels"]["slo"]) for r in alerts}
    assert len(slos) == 4 + 3 + 4 + 3 + 3 + 3


def _test_rules(folder: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(PROMTOOL), "test", "rules", "prometheus-rules.test.yaml"],
        cwd=folder,
        capture_output=True,
        text=True,
        check=False,
    )


def test_the_exported_promtool_tests_pass_and_can_fail(exported: Path, tmp_path: Path) -> None:
    # prometheus-rules.test.yaml (a full outage per Deployment) passes on the rules as written ...
    run = _test_rules(exported)
    assert run.returncode == 0 and "SUCCESS" in run.stdout, run.stdout + run.stderr
    # ... and fails on rules whose availability pages need a 100x higher burn (both conditions)
    broken = tmp_path / "broken"
    shutil.copytree(exported, broken)
    rules = broken / "prometheus-rules.yaml"
    text = rules.read_text().replace("(14.4 * 0.0001)", "(14.4 * 0.01)").replace("(6 * 0.0001)", "(6 * 0.01)")
    rules.write_text(text)
    run = _test_rules(broken)
    assert run.returncode == 1 and 'slo="availability"' in run.stdout + run.stderr


def test_scheme_is_the_workbooks() -> None:
    # Google SRE Workbook ch. 5, Table 5-8 and the final example: budget consumed 2%, 5%, 10%, 10%
    assert [(w.severity, w.burn_rate, w.long, w.short) for w in BURN_WINDOWS] == [
        ("page", 14.4, "1h", "5m"),
        ("page", 6.0, "6h", "30m"),
        ("ticket", 3.0, "1d", "2h"),
        ("ticket", 1.0, "3d", "6h"),
    ]
    assert [round(w.budget_consumed, 4) for w in BURN_WINDOWS] == [0.02, 0.05, 0.1, 0.1]


def _availability_burn(critical: Path) -> list[dict[str, Any]]:
    # 99.99% availability: budget 1e-4.  From minute HISTORY on, 15 of 6000 requests a minute fail
    # (0.25% = 25x the budget).  1h window: 0.0025 * d / 60 > 14.4e-4 for d > 34.56; the 5m window
    # is above it after 3 minutes; 6h: 0.0025 * d / 360 > 6e-4 only for d > 86.4.  Ticket: 1d:
    # 0.0025 * d / 1440 > 3e-4 and 3d: 0.0025 * d / 4320 > 1e-4, both for d > 172.8.  The error-rate
    # SLO (budget 1e-3) burns at 2.5x: below 3x, and 1x over 3d needs d > 1728, after this test.
    bad = 15
    ok = counter_series((PER_MINUTE, HISTORY), (PER_MINUTE - bad, 300))
    series = [
        {"series": f'http_requests_total{{{JOB},code="200"}}', "values": ok},
        {
            "series": f'http_requests_total{{{JOB},code="500"}}',
            "values": counter_series((0, HISTORY), (bad, 300)),
        },
    ]
    page = _expected(critical, "SLOErrorBudgetBurn", slo="availability", severity="page")
    ticket = _expected(critical, "SLOErrorBudgetBurn", slo="availability", severity="ticket")
    name = "SLOErrorBudgetBurn"
    checks = [
        _at(HISTORY - 5, name, []),
        _at(HISTORY + 30, name, []),
        _at(HISTORY + 35, name, [page]),
        _at(HISTORY + 170, name, [page]),
        _at(HISTORY + 175, name, [page, ticket]),
        _at(HISTORY + 295, name, [page, ticket]),
    ]
    return [{"interval": "1m", "input_series": series, "alert_rule_test": checks}]


def _latency_series(
    per_minute: Mapping[str, float], after: Mapping[str, float] | None, minutes: int
) -> list[dict[str, str]]:
    """Cumulative histogram buckets (le -> requests a minute), before and after the step."""
    after = after or per_minute
    out = []
    for le, before in per_minute.items():
        out.append(
            {
                "series": f'http_request_duration_seconds_bucket{{{JOB},le="{le}"}}',
                "values": counter_series((before, HISTORY), (after[le], minutes)),
            }
        )
    out.append(
        {
            "series": f"http_request_duration_seconds_count{{{JOB}}}",
            "values": counter_series((per_minute["+Inf"], HISTORY), (after["+Inf"], minutes)),
        }
    )
    return out


def _latency_burn(critical: Path) -> list[dict[str, Any]]:
    # p95 <= 200 ms: budget 5%.  Before the step every request is under 50 ms; after it 85% take
    # between 200 and 500 ms (17x the budget).  1h window: 0.85 * d / 60 > 14.4 * 0.05 = 0.72 for
    # d > 50.8.  Ticket: 1d: 0.85 * d / 1440 > 0.15 and 3d: 0.85 * d / 4320 > 0.05 for d > 254.1.
    # p99 (500 ms) and p99.9 (1 s) see no bad request; p50 (50 ms, budget 50%) can only ticket at
    # 1x over 3d: 0.85 * d / 4320 > 0.5 needs d > 2541.
    fast = {"0.05": 6000, "0.2": 6000, "0.5": 6000, "1.0": 6000, "+Inf": 6000}
    slow = {"0.05": 900, "0.2": 900, "0.5": 6000, "1.0": 6000, "+Inf": 6000}
    page = _expected(critical, "SLOErrorBudgetBurn", slo="latency-p95", severity="page")
    ticket = _expected(critical, "SLOErrorBudgetBurn", slo="latency-p95", severity="ticket")
    name = "SLOErrorBudgetBurn"
    checks = [
        _at(HISTORY + 50, name, []),
        _at(HISTORY + 55, name, [page]),
        _at(HISTORY + 250, name, [page]),
        _at(HISTORY + 255, name, [page, ticket]),
    ]
    return [{"interval": "1m", "input_series": _latency_series(fast, slow, 260), "alert_rule_test": checks}]


def _healthy() -> list[dict[str, Any]]:
    # Every SLO at half its budget or less for four days (burn rate <= 0.5): nothing may fire.
    # Failures: 0.3 of 6000 a minute (5e-5; availability budget 1e-4, error rate 1e-3).
    # Latency: 80% within 50 ms (p50: 20% of a 50% budget), 98% within 200 ms (p95: 2% of 5%),
    # 99.5% within 500 ms (p99: 0.5% of 1%), 99.95% within 1 s (p99.9: 0.05% of 0.1%).
    minutes = 24 * 60
    good = {"0.05": 4800, "0.2": 5880, "0.5": 5970, "1.0": 5997, "+Inf": 6000}
    series = _latency_series(good, None, minutes)
    ok = counter_series((PER_MINUTE - 0.3, HISTORY + minutes))
    series += [
        {"series": f'http_requests_total{{{JOB},code="200"}}', "values": ok},
        {
            "series": f'http_requests_total{{{JOB},code="500"}}',
            "values": counter_series((0.3, HISTORY + minutes)),
        },
    ]
    times = [60, 360, 1440, HISTORY, HISTORY + 720, HISTORY + minutes - 5]
    return [
        {
            "interval": "1m",
            "input_series": series,
            "alert_rule_test": [_at(t, "SLOErrorBudgetBurn", []) for t in times],
        }
    ]


@pytest.fixture(scope="module")
def burn_runs(critical: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, subprocess.Popen[str]]:
    """The three long promtool runs, started together (they take tens of seconds each).

    Series have a sample a minute; the rules are evaluated every 5 minutes (each evaluation reads
    three days of samples), so an alert is checked on the 5-minute grid around its crossing time.
    """
    folder = tmp_path_factory.mktemp("promtool")
    scenarios = {
        "availability": _availability_burn(critical),
        "latency": _latency_burn(critical),
        "healthy": _healthy(),
    }
    return {
        name: _start(critical, tests, folder / f"{name}_test.yaml", "5m") for name, tests in scenarios.items()
    }


def test_availability_burn_pages_then_tickets_at_the_right_time(burn_runs: dict[str, Any]) -> None:
    _passes(burn_runs["availability"])


def test_latency_p95_burn_fires_through_the_buckets(burn_runs: dict[str, Any]) -> None:
    _passes(burn_runs["latency"])


def test_a_healthy_service_stays_silent(burn_runs: dict[str, Any]) -> None:
    _passes(burn_runs["healthy"])


def test_capacity_alerts(critical: Path, critical_plan: cp.CapacityPlan, tmp_path: Path) -> None:
    sizing = critical_plan.replicas["critical_operations"]
    assert (sizing.replicas, sizing.scenarios["one of 3 zones lost"]["replicas_up"]) == (23, 15)
    pod = 'container="critical-operations",pod="critical-operations-7d9f8b6c5d-x2k4q"'
    # CPU: 4 of the 8 requested cores (50%), then 6.5 (81% > the plan's 70%) from minute 30.  The
    # 5-minute rate with k minutes at 6.5 is (4 (5 - k) + 6.5 k) / 5 > 5.6 cores for k > 3.2: first at
    # minute 34 (k = 4), pending for 15m -> firing at 49.
    cpu = {
        "series": f"container_cpu_usage_seconds_total{{{pod}}}",
        "values": counter_series((240, 30), (390, 60)),
    }
    request = {"series": f'kube_pod_container_resource_requests{{{pod},resource="cpu"}}', "values": "8x90"}
    # Headroom: 2000 requests/s x 40 ms / (8 workers x 0.7) = 14.29 replicas needed; the plan
    # survives losing 8 of 23 (a zone).  With 23 available 15 remain: fine.  At minute 60 two
    # replicas go: 21 - 8 = 13 < 14.29, for: 10m -> fires at 70.
    traffic = {"series": f'http_requests_total{{{JOB},code="200"}}', "values": counter_series((120000, 90))}
    available = {
        "series": 'kube_deployment_status_replicas_available{deployment="critical-operations"}',
        "values": "23x59 21x30",
    }
    util = _expected(critical, "CapacityUtilizationAbovePlan")
    head = _expected(critical, "CapacityHeadroomBelowPlan")
    checks = [
        _at(48, "CapacityUtilizationAbovePlan", []),
        _at(49, "CapacityUtilizationAbovePlan", [util]),
        _at(69, "CapacityHeadroomBelowPlan", []),
        _at(70, "CapacityHeadroomBelowPlan", [head]),
        _at(70, "SLOErrorBudgetBurn", []),
    ]
    tests = [
        {"interval": "1m", "input_series": [cpu, request, traffic, available], "alert_rule_test": checks}
    ]
    _passes(_start(critical, tests, tmp_path / "capacity_test.yaml", "1m"))
