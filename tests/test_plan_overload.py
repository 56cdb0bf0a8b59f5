"""The plan's overload section: per-class numbers from the retry-amplification fixed point, the
SLA's error_rate / timeout_rate / uptime as checks, settings that restore recovery, the YAML
section (errors name the key path) and the command line.

Reference values: capplan.overload.RetryAmplification evaluated directly for one replica (itself
checked against closed forms and the simulator in test_overload_models.py); the plan must report
the same numbers scaled to the fleet.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
import yaml

import capplan as cp
from capplan.cli import main
from capplan.errors import ParameterError
from capplan.overload import Backoff, ClientPolicy, RetryAmplification, RetryPolicy
from capplan.plan import plan
from capplan.plan.inputs import PlanInputError, load_plan_inputs
from capplan.plan.overload_settings import OverloadSettings, load_overload, parse_overload

DATA = Path(__file__).resolve().parents[1] / "data"
SLA = cp.load_sla(DATA / "performance-sla.yaml", DATA / "performance-budget.yaml")
CRITICAL = "critical_operations"
CLIENT = ClientPolicy(1.0, RetryPolicy(3, Backoff.exponential(0.05, cap=1.0)))


def _plan(settings: OverloadSettings) -> cp.CapacityPlan:
    return plan(SLA, service_time={CRITICAL: 0.040}, mix={CRITICAL: 0.2}, overload=settings)


@pytest.fixture(scope="module")
def planned() -> cp.CapacityPlan:
    return _plan(OverloadSettings(CLIENT))


def test_per_class_numbers_are_the_fixed_point_of_one_replica(planned: cp.CapacityPlan) -> None:
    assert planned.overload is not None
    row = planned.overload.to_frame().set_index("class").loc[CRITICAL]
    n = planned.replicas[CRITICAL].replicas
    model = RetryAmplification(CLIENT, 8, service_rate=25.0)
    good = model.operating_point(2000.0 / n)
    assert row["planned_rate"] == 2000.0
    assert row["goodput"] == pytest.approx(good["goodput"] * n)
    assert row["attempt_timeout_probability"] == pytest.approx(good["timeout_probability"])
    assert row["recovery_load"] == pytest.approx(model.recovery_load * n)
    assert row["collapse_load"] == pytest.approx(model.collapse_load * n)
    # the SLA's burst (15,000/s x 20%) stays below the collapse load: no finite spike tips it
    assert row["spike_rate"] == 3000.0 and row["spike_tolerance_s"] == math.inf
    assert row["state"].startswith("vulnerable")


def test_settings_that_restore_recovery(planned: cp.CapacityPlan) -> None:
    assert planned.overload is not None
    fixes = {str(r["setting"]): r for r in planned.overload.fixes().to_dict(orient="records")}
    assert fixes["retry budget 10%"]["recovers"]
    assert fixes["retry budget 10%"]["recovery_load"] > 2000.0  # the planned load is below it
    assert not fixes["timeout 2 s"]["recovers"]  # longer timeouts never remove the bad state
    codel = [k for k in fixes if k.startswith("shedding by queueing time")]
    assert len(codel) == 1 and fixes[codel[0]]["recovers"]
    breaker = fixes["circuit breaker (capplan's defaults)"]
    assert breaker["recovers"] and breaker["recovery_time"] >= 60.0  # after its 60 s open time
    assert planned.ok  # stable enough at the planned load: nothing in the SLA is missed


def test_short_timeouts_miss_the_availability_targets() -> None:
    # A 50 ms timeout on a 40 ms exponential service: about a third of attempts time out, and one
    # retry leaves several percent of requests failing.
    short = _plan(OverloadSettings(ClientPolicy(0.05, RetryPolicy(1))))
    assert short.overload is not None
    checks = {str(r["target"]): r for r in short.overload.sla_checks().to_dict(orient="records")}
    assert not any(r["met"] for r in checks.values())
    fail = checks["error_rate"]["value"]
    model = RetryAmplification(ClientPolicy(0.05, RetryPolicy(1)), 8, service_rate=25.0)
    per_replica = 2000.0 / short.replicas[CRITICAL].replicas
    assert fail == pytest.approx(model.operating_point(per_replica)["request_failure"])
    assert checks["uptime"]["error_budget_spend"] == pytest.approx(fail / 1e-4)
    misses = short.misses()
    for name in ("error_rate", "timeout_rate", "uptime"):
        assert any(m.startswith(f"{CRITICAL}: {name} ") for m in misses), misses


def test_timeouts_below_the_service_time_take_the_fleet_down_without_a_spike() -> None:
    down = _plan(OverloadSettings(ClientPolicy(0.02, RetryPolicy(3))))
    assert any("above the collapse load" in m for m in down.misses())
    assert down.overload is not None
    row = down.overload.to_frame().iloc[0]
    assert row["goodput"] == 0.0 and row["request_failure"] == 1.0 and row["spike_tolerance_s"] == 0.0


def test_a_spike_longer_than_tolerated_is_a_miss_naming_the_fixes() -> None:
    # 3.5x the planned load for a minute: above the collapse load, so it tips the fleet.
    settings = OverloadSettings(CLIENT, spike_rate=35_000.0, spike_duration=60.0)
    tipped = _plan(settings)
    assert tipped.overload is not None
    row = tipped.overload.to_frame().iloc[0]
    assert 0 < row["spike_tolerance_s"] < 60.0
    miss = [m for m in tipped.misses() if "leaves the fleet down" in m]
    assert len(miss) == 1 and "retry budget 10%" in miss[0]
    assert not json.loads(tipped.to_json())["ok"]


OVERLOAD_YAML = """
overload:
  timeout: 1s
  timeouts: {batch_operations: 60s}
  retries: 3
  backoff: {base: 50ms, multiplier: 2, cap: 1s, jitter: full}
  retry_budget: 10%
  circuit_breaker: {failure_threshold: 5, success_threshold: 2, timeout: 30s,
                    response_time_threshold: 500ms, error_rate_threshold: 50%, window: 100}
  shedding: {max_queue: 100, target: 5ms, interval: 100ms, drop_expired: true}
  spike: {rate: 15000, duration: 30s}
"""


def test_the_yaml_section_mirrors_the_seed_breaker() -> None:
    s = parse_overload(yaml.safe_load(OVERLOAD_YAML)["overload"])
    assert s.client.timeout == 1.0 and s.client_for("batch_operations").timeout == 60.0
    assert s.client.retry.max_retries == 3 and s.client.retry.backoff.jitter == "full"
    assert s.client.retry.budget is not None and s.client.retry.budget.ratio == pytest.approx(0.1)
    b = s.breaker
    assert b is not None
    assert (b.failure_threshold, b.success_threshold, b.timeout, b.window) == (5, 2, 30.0, 100)
    assert b.response_time_threshold == pytest.approx(0.5) and b.error_rate_threshold == pytest.approx(0.5)
    assert s.shedding is not None and s.shedding.max_queue == 100 and s.shedding.drop_expired
    assert (s.spike_rate, s.spike_duration) == (15000.0, 30.0)


@pytest.mark.parametrize(
    ("section", "message"),
    [
        ({"retries": 3}, "overload.timeout: is required"),
        ({"timeout": "0s"}, "overload.timeout: '0s' is outside the valid range (0, 86400] s"),
        ({"timeout": "1s", "retries": -1}, "overload.retries: -1 is outside the valid range [0, 100]"),
        (
            {"timeout": "1s", "backoff": {"base": -0.1}},
            "overload.backoff.base: -0.1 is outside the valid range [0, 86400] s",
        ),
        (
            {"timeout": "1s", "circuit_breaker": {"window": 0}},
            "overload.circuit_breaker.window: 0 is outside the valid range [1, 1e+06]",
        ),
        ({"timeout": "1s", "circuit_breaker": {"timeout": "soon"}}, "overload.circuit_breaker.timeout"),
        (
            {"timeout": "1s", "shedding": {"interval": "0ms"}},
            "overload.shedding.interval: '0ms' is outside the valid range (0, 86400] s",
        ),
        ({"timeout": "1s", "timeouts": {"batch": "-1s"}}, "overload.timeouts.batch"),
        (
            {"timeout": "1s", "spike": {"rate": 0}},
            "overload.spike.rate: 0 is outside the valid range (0, 1e+09] requests/s",
        ),
        ({"timeout": "1s", "retry": 3}, "overload.retry: unknown key (did you mean retries?)"),
    ],
)
def test_invalid_sections_name_the_key(section: dict[str, object], message: str) -> None:
    with pytest.raises(ParameterError) as info:
        parse_overload(section)
    assert message in str(info.value)


def test_plan_inputs_read_the_section_inline_or_from_a_file(tmp_path: Path) -> None:
    (tmp_path / "overload.yaml").write_text(OVERLOAD_YAML)
    sla_paths = f"sla: [{DATA / 'performance-sla.yaml'}, {DATA / 'performance-budget.yaml'}]"
    body = (
        "capacity_plan:\n"
        f"  {sla_paths}\n"
        "  mix: {critical_operations: 20%}\n"
        "  evidence: {critical_operations: {service_time: 40ms}}\n"
    )
    by_file = tmp_path / "by-file.yaml"
    by_file.write_text(body + "  overload: overload.yaml\n")
    inline = tmp_path / "inline.yaml"
    inline.write_text(body + "  overload:\n    timeout: 1s\n    retries: 2\n")
    assert load_plan_inputs(by_file).options["overload"] == load_overload(tmp_path / "overload.yaml")
    assert load_plan_inputs(inline).options["overload"].client.retry.max_retries == 2
    bad = tmp_path / "bad.yaml"
    bad.write_text(body + "  overload: {timeout: 1s, retries: -2}\n")
    with pytest.raises(PlanInputError, match=r"bad\.yaml: capacity_plan\.overload\.retries"):
        load_plan_inputs(bad)
    missing = tmp_path / "missing.yaml"
    missing.write_text(body + "  overload: nowhere.yaml\n")
    with pytest.raises(PlanInputError, match=r"nowhere\.yaml"):
        load_plan_inputs(missing)


def test_command_line_overload_option(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "plan.json"
    args = ["plan", str(DATA / "performance-sla.yaml"), str(DATA / "performance-budget.yaml")]
    args += ["--service-time", "critical_operations=40ms", "--mix", "critical_operations=20%"]
    assert main([*args, "--overload", str(DATA / "overload.yaml"), "--out", str(out)]) == 0
    text = capsys.readouterr().out
    assert "## Overload: timeouts (1 s unless set per class) and 3 retries at the planned load" in text
    assert "## Overload: settings that restore recovery" in text
    report = json.loads(out.read_text())
    assert report["overload"]["classes"][0]["class"] == CRITICAL
    bad = tmp_path / "bad-overload.yaml"
    bad.write_text("overload: {timeout: 1s, circuit_breaker: {window: 0}}\n")
    assert main([*args, "--overload", str(bad)]) == 2
    assert "breaker.window" in capsys.readouterr().err


def test_requests_the_hpa_run_drops_count_against_the_availability_targets() -> None:
    # With overload settings the HPA's pods have the class's client timeout: a backlog that would
    # wait longer is dropped (the fluid model), and those requests are failures the SLA counts.
    from capplan import autoscale as au  # noqa: PLC0415

    hpa = au.load_hpa(DATA / "hpa.yaml")
    traffic = au.from_csv(DATA / "traffic_day_spike.csv")
    with_hpa = plan(
        SLA, service_time={CRITICAL: 0.040}, mix={CRITICAL: 0.2}, hpa=hpa, traffic=traffic,
        overload=OverloadSettings(CLIENT),
    )  # fmt: skip
    assert with_hpa.autoscaling is not None and with_hpa.autoscaling.result is not None
    run = with_hpa.autoscaling.result
    direct = au.simulate(
        traffic, hpa, au.Workload(service_time=0.040, workers=8, timeout=1.0),
        sla=SLA.latency_targets_for("api_endpoints", CRITICAL), price_per_replica_hour=0.0,
    )  # fmt: skip
    assert run.dropped == pytest.approx(direct.dropped) and run.dropped > 0
    assert with_hpa.overload is not None
    checks = with_hpa.overload.sla_checks()
    hpa_rows = checks[checks["source"].str.startswith("over the HPA")]
    total = float((traffic.rate * traffic.step).sum())
    share = dict(zip(hpa_rows["target"], hpa_rows["value"], strict=True))
    assert share["error_rate"] == pytest.approx(run.dropped / total)
    assert share["uptime"] == pytest.approx(1 - run.dropped / total)
    assert any("over the HPA's traffic" in m for m in with_hpa.misses()) == (run.dropped / total > 1e-4)


def test_overload_file_with_a_key_twice_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "overload.yaml"
    path.write_text("overload:\n  timeout: 1s\n  retries: 3\n  timeout: 2s\n")
    with pytest.raises(ParameterError) as info:
        load_overload(path)
    assert str(info.value) == (
        f"{path}: line 4: overload: key 'timeout' is given twice (lines 2 and 4); "
        "YAML would silently keep the last"
    )
