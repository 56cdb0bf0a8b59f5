"""``capplan plan`` / ``capplan check`` and the plan-inputs file they read."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from capplan.cli import main
from capplan.plan.inputs import PlanInputError, load_plan_inputs

DATA = Path(__file__).resolve().parents[1] / "data"
EXAMPLE = str(DATA / "capacity-plan.yaml")
SLA_FILES = [str(DATA / "performance-sla.yaml"), str(DATA / "performance-budget.yaml")]
LOCUST = str(DATA / "loadtest" / "demo_stats.csv")


def test_plan_on_the_bundled_example_writes_a_self_contained_report(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    report = tmp_path / "report.html"
    assert main(["plan", EXAMPLE, "--out", str(report)]) == 0  # a plan that misses still exits 0
    out = capsys.readouterr().out
    assert out.startswith("# Capacity plan: MISSES the SLA")
    assert f"report written to {report}" in out
    page = report.read_text()
    assert page.count("data:image/png;base64,") == 4  # three classes and the HPA timeline
    assert 'src="http' not in page
    # counts print as whole numbers (23 replicas, not 23.000000), others to six significant digits
    assert not re.search(r"<td>-?\d+\.0{6}</td>", page)
    assert "<td>23</td>" in page and "<td>249.997</td>" in page
    alts = re.findall(r'<img alt="([^"]*)"', page)  # each figure says what it plots
    assert alts[0].startswith("critical_operations: response time (ms) against utilization")
    assert alts[-1] == (
        "performance-based-hpa over the traffic: replicas and p95 response time (ms) against time (hours); "
        "HPA performance-based-hpa"
    )


def test_plan_json_equals_the_library_plan(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["plan", EXAMPLE, "--format", "json"]) == 0
    data = json.loads(capsys.readouterr().out)
    direct = load_plan_inputs(EXAMPLE).plan()
    assert data["total_replicas"] == direct.total_replicas
    assert data["misses"] == direct.misses()
    sources = {e["op_class"]: e["source"] for e in data["evidence"]}
    assert sources["critical_operations"] == "stated"
    assert "py-spy profile" in sources["standard_operations"]


def test_check_exits_1_on_a_miss_and_0_when_met(capsys: pytest.CaptureFixture[str]) -> None:
    # The bundled example: the seed's HPA falls behind the 13:00 spike, so minutes over the targets.
    assert main(["check", EXAMPLE]) == 1
    out = capsys.readouterr().out
    assert "MISSES" in out and "autoscaling: p95 <= 0.2 s missed" in out
    argv = [
        "check",
        *SLA_FILES,
        "--service-time",
        "critical_operations=40ms",
        "--mix",
        "critical_operations=20%",
    ]
    assert main(argv) == 0
    assert capsys.readouterr().out.rstrip().endswith("meets the SLA")


def test_check_measured_percentiles_against_targets(capsys: pytest.CaptureFixture[str]) -> None:
    # The bundled Locust run: p95 220 ms, p99 350 ms, p99.9 560 ms (demo_stats.csv, Aggregated row).
    assert main(["check", *SLA_FILES, "--measured", f"critical_operations={LOCUST}"]) == 1
    out = capsys.readouterr().out
    assert "critical_operations: measured p95 220 ms > 200 ms" in out
    assert main(["check", *SLA_FILES, "--measured", f"standard_operations={LOCUST}"]) == 0
    assert "measured p99 350 ms, target 1000 ms: ok" in capsys.readouterr().out


def test_check_measured_p99_9_matches_the_sla_key_by_value(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # 99.9 / 100 is 0.9990000000000001, the SLA's p99.9 key is 0.999: the two must meet. Only the
    # p99.9 (5000 ms against standard_operations' 2000 ms) misses here, so the check must fail on it.
    text = Path(LOCUST).read_text().replace(",350,560,920,1300", ",350,5000,5100,5200")
    stats = tmp_path / "stats.csv"
    stats.write_text(text)
    assert main(["check", *SLA_FILES, "--measured", f"standard_operations={stats}"]) == 1
    out = capsys.readouterr().out
    assert "standard_operations: measured p99.9 5000 ms > 2000 ms" in out
    assert "not checked" not in out


def test_loadtest_evidence_is_a_fitted_distribution(capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["plan", *SLA_FILES, "--loadtest", f"standard_operations={LOCUST}"]
    assert main([*argv, "--mix", "standard_operations=10%", "--format", "json"]) == 0
    evidence = json.loads(capsys.readouterr().out)["evidence"][0]
    assert evidence["distribution"] in ("gamma", "lognorm")
    assert "response times taken as service times" in evidence["source"]
    # The Locust mean response time is 73.0 ms; a fit to its percentile spectrum lands near it.
    assert evidence["mean_s"] == pytest.approx(0.073, rel=0.25)


def _locust_with(tmp_path: Path, percentiles: str) -> Path:
    """The bundled Locust stats with its percentile columns (50% ... 100%) replaced."""
    old = ",46,71,93,110,170,220,300,350,560,920,1300"
    path = tmp_path / "stats.csv"
    path.write_text(Path(LOCUST).read_text().replace(old, "," + percentiles))
    return path


def test_loadtest_evidence_with_tied_percentiles(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # Locust rounds response times, so neighbouring percentiles often tie; a tie is one bucket
    # bound holding the larger quantile, and a file whose percentiles all tie is a constant.
    argv = ["plan", *SLA_FILES, "--mix", "standard_operations=10%", "--format", "json"]
    tied = _locust_with(tmp_path, "46,71,93,110,170,220,350,350,560,1300,1300")
    assert main([*argv, "--loadtest", f"standard_operations={tied}"]) == 0
    evidence = json.loads(capsys.readouterr().out)["evidence"][0]
    assert evidence["distribution"] in ("gamma", "lognorm")
    assert evidence["mean_s"] == pytest.approx(0.073, rel=0.25)
    flat = _locust_with(tmp_path, ",".join(["1000"] * 11))
    assert main([*argv, "--loadtest", f"standard_operations={flat}"]) == 0
    evidence = json.loads(capsys.readouterr().out)["evidence"][0]
    assert (evidence["mean_s"], evidence["scv"]) == (1.0, 0.0)
    assert "every percentile is 1000 ms, taken as a constant service time" in evidence["source"]
    zero = _locust_with(tmp_path, ",".join(["0"] * 11))
    assert main([*argv, "--loadtest", f"standard_operations={zero}"]) == 2
    assert (
        f"{zero}: cannot fit a service-time distribution: every percentile is 0 ms" in capsys.readouterr().err
    )


def test_plan_inputs_name_every_file_they_read() -> None:
    # the files named in data/capacity-plan.yaml and data/capacity-plan-small.yaml besides their SLA
    files = load_plan_inputs(EXAMPLE).files
    assert files == {
        "evidence.standard_operations.profile": DATA / "profiles" / "demo_pyspy.speedscope.json",
        "database.pgbouncer": DATA / "pgbouncer.ini",
        "database.postgresql": DATA / "postgresql.conf",
        "cache.trace": DATA / "access_trace.csv.gz",
        "autoscaling.hpa": DATA / "hpa.yaml",
        "autoscaling.traffic": DATA / "traffic_day_spike.csv",
    }
    small = load_plan_inputs(DATA / "capacity-plan-small.yaml").files
    assert small == {
        "database.pgbouncer": DATA / "pgbouncer.ini",
        "database.postgresql": DATA / "postgresql.conf",
    }


def test_plan_profile_within_scopes_the_demand(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # A py-spy raw (collapsed) profile at 100 Hz: 300 samples of imports at start-up, 100 inside
    # the handler while serving 1000 requests. Whole profile: 4 s / 1000 = 4 ms per request;
    # within the handler: 1 s / 1000 = 1 ms.
    raw = tmp_path / "app.txt"
    raw.write_text(
        "MainThread (1);<module> (app.py:1);_find_and_load (<frozen importlib._bootstrap>:1) 300\n"
        "MainThread (1);<module> (app.py:1);serve (app.py:20);handle_request (app.py:10) 100\n"
    )
    argv = [
        "plan",
        *SLA_FILES,
        "--profile",
        f"standard_operations={raw}",
        "--requests",
        "standard_operations=1000",
    ]
    argv += ["--mix", "standard_operations=20%", "--format", "json"]
    assert main(argv) == 0
    assert json.loads(capsys.readouterr().out)["evidence"][0]["mean_s"] == pytest.approx(0.004)
    assert main([*argv, "--within", "standard_operations=app:handle_request"]) == 0
    evidence = json.loads(capsys.readouterr().out)["evidence"][0]
    assert evidence["mean_s"] == pytest.approx(0.001)
    assert f"{raw} within app:handle_request: 1000 requests" in evidence["source"]
    assert main([*argv, "--within", "critical_operations=app:handle_request"]) == 2
    assert "--within: no --profile for critical_operations" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["plan", *SLA_FILES], "no service-time evidence"),
        (
            ["plan", *SLA_FILES, "--profile", "critical_operations=x.json"],
            "--requests: give critical_operations=N",
        ),
        (["plan", *SLA_FILES, "--service-time", "critical_operations"], "expected CLASS=VALUE"),
        (["check", *SLA_FILES], "nothing to check"),
        (["check", *SLA_FILES, "--measured", "critical_operations=missing.csv"], "missing.csv"),
    ],
)
def test_bad_input_exits_2(argv: list[str], message: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("capplan: error: ") and message in err
    assert "Traceback" not in err


def _inputs(tmp_path: Path, body: str) -> Path:
    path = tmp_path / "plan.yaml"
    sla = ", ".join(SLA_FILES)
    path.write_text(f"capacity_plan:\n  sla: [{sla}]\n{body}")
    return path


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (
            "  evidence: {critical_operations: {service_time: 4x}}\n",
            "capacity_plan.evidence.critical_operations.service_time:",
        ),
        (
            "  evidence: {critical_operations: {service_time: 4ms, profile: p.json}}\n",
            "give exactly one of service_time, profile, latency_csv",
        ),
        (
            "  evidence: {critical_operations: {profile: p.json}}\n",
            "capacity_plan.evidence.critical_operations.requests: is required",
        ),
        (
            "  evidence: {critical_operations: {service_time: 4ms}}\n  replica: {}\n",
            "capacity_plan.replica: unknown key (did you mean replicas?)",
        ),
        ("  mix: {critical_operations: 20%}\n", "capacity_plan.evidence: is required"),
        (
            "  evidence: {critical_operations: {service_time: 4ms}}\n  autoscaling: {hpa: none.yaml}\n",
            "capacity_plan.autoscaling.hpa:",
        ),
    ],
)
def test_plan_inputs_errors_name_file_and_key_path(tmp_path: Path, body: str, message: str) -> None:
    path = _inputs(tmp_path, body)
    with pytest.raises(PlanInputError, match=re.escape(message)) as info:
        load_plan_inputs(path)
    assert str(path) in str(info.value)


_EV = "  evidence: {critical_operations: {service_time: 40ms}}\n"
_CACHE = "  cache: {trace: %s, backend_latency: 20ms, request_rate: %s}\n"


@pytest.mark.parametrize(
    ("body", "key", "message"),
    [
        # 1e300 hung the cache search for minutes; 1e100 printed a pool of 2.5e96 connections
        (
            _EV + _CACHE % (DATA / "access_trace.csv.gz", "1e300"),
            "cache.request_rate",
            "(0, 1e+09] requests/s",
        ),
        (_EV + _CACHE % (DATA / "access_trace.csv.gz", "1e100"), "cache.request_rate", "(0, 1e+09]"),
        (_EV + _CACHE % (DATA / "access_trace.csv.gz", "0"), "cache.request_rate", "(0, 1e+09]"),
        (_EV + "  workers_per_replica: 1e20\n", "workers_per_replica", "[1, 100000]"),
        (
            "  evidence: {critical_operations: {service_time: 40ms, scv: 1e308}}\n",
            "evidence.critical_operations.scv",
            "[0, 10000]",
        ),
        (
            "  evidence: {critical_operations: {service_time: 1e9s}}\n",
            "evidence.critical_operations.service_time",
            "(0, 3600] s",
        ),
        (
            "  evidence: {critical_operations: {service_time: .nan}}\n",
            "evidence.critical_operations.service_time",
            "(0, 3600] s",
        ),
        (_EV + "  mix: {critical_operations: 1.5}\n", "mix.critical_operations", "[0, 1]"),
        (_EV + "  replicas: {zones: 0}\n", "replicas.zones", "[1, 1000]"),
        (_EV + "  replicas: {mtbf: 1e30h}\n", "replicas.mtbf", "(0, 3.1536e+09] s"),
        (_EV + "  memory: {per_worker: 1e30}\n", "memory.per_worker", "[0, 1.09951e+12] bytes"),
        (_EV + "  service: {cores: 4, processes: [1e9]}\n", "service.processes[0]", "[1, 100000]"),
        (
            _EV + "  service: {cores: 4, steps: {critical_operations: [{cpu: 1ms, scv: 1e308}]}}\n",
            "service.steps.critical_operations[0].scv",
            "[0, 10000]",
        ),
        (
            _EV
            + "  service: {cores: 4, steps: {critical_operations: [{repeat: 1e20, steps: [{cpu: 1ms}]}]}}\n",
            "service.steps.critical_operations[0].repeat",
            "[1, 10000]",
        ),
        (
            _EV + "  service: {cores: 4, steps: {critical_operations: "
            "[{repeat: 1000, steps: [{repeat: 1000, steps: [{cpu: 1ms}]}]}]}}\n",
            "service.steps.critical_operations[0].repeat",
            "1000 steps x 1000 is over 100000 steps",
        ),
    ],
)
def test_plan_inputs_out_of_range_name_file_field_and_range(
    tmp_path: Path, body: str, key: str, message: str
) -> None:
    path = _inputs(tmp_path, body)
    with pytest.raises(PlanInputError, match=re.escape(message)) as info:
        load_plan_inputs(path)
    assert f"{path}: capacity_plan.{key}: " in str(info.value)


def test_help_names_the_bundled_example(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as done:
        main(["--help"])
    assert done.value.code == 0
    text = capsys.readouterr().out
    assert "capplan plan data/capacity-plan.yaml" in text
    for command in ("plan", "check", "servers", "sla", "profile"):
        assert f"    {command} " in text


def test_a_missing_sla_file_names_the_plan_file_and_key(tmp_path: Path) -> None:
    """The plan's `sla:` naming a file that is not there says which plan and key named it (fuzzing
    found the SLA loader's "file not found" reaching the user without the plan file)."""
    path = tmp_path / "plan.yaml"
    path.write_text(
        "capacity_plan:\n  sla: missing-sla.yaml\n  evidence: {critical_operations: {service_time: 4ms}}\n"
    )
    with pytest.raises(PlanInputError) as info:
        load_plan_inputs(path)
    assert str(info.value) == f"{path}: capacity_plan.sla: {tmp_path / 'missing-sla.yaml'}: file not found"


def test_plan_inputs_with_a_key_twice_name_both_lines(tmp_path: Path) -> None:
    path = _inputs(tmp_path, "  evidence: {critical_operations: {service_time: 4ms}}\n  mix: {}\n  mix: {}\n")
    with pytest.raises(PlanInputError) as info:
        load_plan_inputs(path)
    assert str(info.value) == (
        f"{path}: line 5: capacity_plan: key 'mix' is given twice (lines 4 and 5); "
        "YAML would silently keep the last"
    )
