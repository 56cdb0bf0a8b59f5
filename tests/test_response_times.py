"""Response times from any measurement file: the kind told by the content, and the CLI using it.

The files are the bundled recordings (``data/loadtest/``: Locust, wrk, the demo's ``/metrics``)
and the format fixtures of ``tests/data/``.  Expected percentiles are the numbers printed in the
files, or PromQL's ``histogram_quantile`` worked by hand on the bundled buckets.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from capplan.cli import main
from capplan.measurements import MeasurementError, detect_kind, read_response_times

ROOT = Path(__file__).resolve().parents[1]
LOADTEST = ROOT / "data" / "loadtest"
DATA = ROOT / "tests" / "data"
SLA_FILES = [str(ROOT / "data" / "performance-sla.yaml"), str(ROOT / "data" / "performance-budget.yaml")]


@pytest.mark.parametrize(
    ("path", "kind"),
    [
        (LOADTEST / "demo_stats.csv", "locust-stats"),
        (LOADTEST / "demo_wrk.txt", "wrk"),
        (LOADTEST / "demo_metrics.txt", "prometheus-text"),
        (LOADTEST / "latency_buckets.csv", "latency-csv"),
        (DATA / "wrk2_spectrum.txt", "wrk"),
        (DATA / "prometheus_text_example.txt", "prometheus-text"),
        (DATA / "k6_handle_summary.json", "k6-summary"),
    ],
)
def test_detect_kind(path: Path, kind: str) -> None:
    assert detect_kind(path.read_text()) == kind


def test_spectrum_without_a_wrk_summary_is_an_hdr_spectrum(tmp_path: Path) -> None:
    lines = (DATA / "wrk2_spectrum.txt").read_text().splitlines()
    start = next(i for i, ln in enumerate(lines) if "Value" in ln and "Percentile" in ln)
    path = tmp_path / "spectrum.txt"
    path.write_text("\n".join(lines[start:]).split("#[Mean")[0])
    assert detect_kind(path.read_text()) == "hdr-spectrum"
    times = read_response_times(path)
    # HdrHistogram's value at a percentile: the first row whose percentile reaches it
    assert times.percentiles[0.5] == pytest.approx(0.970e-3)
    assert times.percentiles[0.95] == pytest.approx(1.700e-3)
    assert times.percentiles[0.999] == pytest.approx(4.250e-3)


def test_demo_metrics_histogram_quantiles() -> None:
    times = read_response_times(LOADTEST / "demo_metrics.txt")
    # 2578 requests: the median's rank 1289 lies in (0.015, 0.0175] holding counts 918..1343
    assert times.percentiles[0.5] == pytest.approx(0.015 + 0.0025 * (1289 - 918) / (1343 - 918))
    # p99: rank 2552.22 in (0.075, 0.1] holding 2530..2558
    assert times.percentiles[0.99] == pytest.approx(0.075 + 0.025 * (2552.22 - 2530) / 28)
    assert times.counts is not None and times.counts[-1] == 2578
    assert any("interpolated" in note for note in times.notes)


def test_exposition_series_of_the_group(tmp_path: Path) -> None:
    text = (
        "# TYPE rt_seconds histogram\n"
        'rt_seconds_bucket{class="critical",le="0.1"} 10\nrt_seconds_bucket{class="critical",le="+Inf"} 10\n'
        'rt_seconds_bucket{class="batch",le="0.1"} 0\nrt_seconds_bucket{class="batch",le="+Inf"} 10\n'
    )
    path = ROOT / "tests" / "data" / "prometheus_text_example.txt"
    with pytest.raises(MeasurementError, match="expected one histogram or summary of seconds"):
        read_response_times(path)
    group_file = tmp_path / "metrics.txt"
    group_file.write_text(text)
    critical = read_response_times(group_file, "critical")
    assert critical.percentiles[0.5] == pytest.approx(0.05)  # rank 5 of 10 in (0, 0.1]
    together = read_response_times(group_file, "other")  # no series of that group: all summed
    assert together.percentiles[0.5] == pytest.approx(0.1)  # rank 10 of 20 reaches 0.1


def test_wrk_notes_and_all_failed() -> None:
    times = read_response_times(DATA / "wrk_404.txt")
    assert times.percentiles == pytest.approx({0.5: 195e-6, 0.75: 353e-6, 0.9: 3.31e-3, 0.99: 14.36e-3})
    assert "45290 responses were not 2xx or 3xx" in times.notes[0]
    with pytest.raises(MeasurementError, match="wrk recorded no latency: every request failed"):
        read_response_times(DATA / "wrk_timeout.txt")


def test_check_measured_with_wrk_and_metrics(capsys: pytest.CaptureFixture[str]) -> None:
    wrk = LOADTEST / "demo_wrk.txt"
    assert main(["check", *SLA_FILES, "--measured", f"critical_operations={wrk}"]) == 0
    out = capsys.readouterr().out
    assert "critical_operations: measured p50 22.94 ms, target 50 ms: ok" in out
    assert f"critical_operations: p95 not in {wrk}" in out
    metrics = LOADTEST / "demo_metrics.txt"
    assert main(["check", *SLA_FILES, "--measured", f"critical_operations={metrics}"]) == 0
    out = capsys.readouterr().out
    assert "critical_operations: measured p50 17.18 ms, target 50 ms: ok" in out
    assert "quantiles interpolated inside histogram buckets" in out


def test_loadtest_evidence_from_wrk(capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["plan", *SLA_FILES, "--mix", "standard_operations=10%", "--format", "json"]
    assert main([*argv, "--loadtest", f"standard_operations={LOADTEST / 'demo_wrk.txt'}"]) == 0
    evidence = json.loads(capsys.readouterr().out)["evidence"][0]
    assert evidence["distribution"] in ("gamma", "lognorm")
    # wrk's own mean latency of the run is 34.09 ms; a fit to its four percentiles lands near it
    assert evidence["mean_s"] == pytest.approx(0.03409, rel=0.25)
    assert main([*argv, "--loadtest", f"standard_operations={LOADTEST / 'demo_metrics.txt'}"]) == 0
    evidence = json.loads(capsys.readouterr().out)["evidence"][0]
    # the histogram's own mean: demo_request_duration_seconds_sum / _count = 56.7535 / 2578
    assert evidence["mean_s"] == pytest.approx(56.75351318498724 / 2578, rel=0.15)


def test_selector_after_hash_picks_family_and_series(tmp_path: Path) -> None:
    example = DATA / "prometheus_text_example.txt"
    hist = read_response_times(f"{example}#http_request_duration_seconds")
    # the documentation example's median: rank 72160 in (0.1, 0.2] holding 33444..100392
    assert hist.percentiles[0.5] == pytest.approx(0.1 + 0.1 * 38716 / 66948)
    summary = read_response_times(f"{example}#rpc_duration_seconds")
    assert summary.percentiles == {0.5: 4773.0, 0.9: 9001.0, 0.99: 76656.0}  # the levels it exposes
    two = tmp_path / "two.txt"
    two.write_text(
        '# TYPE s_seconds summary\ns_seconds{a="1",quantile="0.5"} 1\ns_seconds{a="2",quantile="0.5"} 2\n'
    )
    with pytest.raises(MeasurementError, match="quantiles do not add up across series"):
        read_response_times(two)
    assert read_response_times(f'{two}#s_seconds{{a="2"}}').percentiles == {0.5: 2.0}
    with pytest.raises(MeasurementError, match="a #selector applies to Prometheus text"):
        read_response_times(f"{LOADTEST / 'demo_wrk.txt'}#x")
    assert (
        main(
            [
                "check",
                *SLA_FILES,
                "--measured",
                f"critical_operations={example}#http_request_duration_seconds",
            ]
        )
        == 1
    )
