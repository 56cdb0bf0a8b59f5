"""Readers of load-test output, latency logs, percentile spectra and histogram buckets.

Fixtures under ``tests/data/`` follow the tools' documented formats:

* ``k6_points.json``: k6 documentation, "JSON" output (``--out json``): ``Metric`` and ``Point``
  lines, nanosecond RFC 3339 times, ``tags`` possibly ``null``;
* ``k6_handle_summary.json``: k6 documentation, "Custom summary" (the ``data`` object given to
  ``handleSummary``), with ``thresholds: {expr: {"ok": bool}}``;
* ``k6_summary_export.json``: the legacy ``--summary-export`` file, whose threshold booleans are
  true when the threshold *failed* (k6 issue #1498; k6-docs issue #30);
* ``wrk2_spectrum.txt``: wrk2 README, "Detailed Percentile spectrum" output of ``--latency``.

The Locust files are the bundled recording in ``data/loadtest/`` (real ``locust --csv`` output).
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from capplan import ParameterError
from capplan.measurements import MeasurementError
from capplan.measurements.hdr import read_hdr_spectrum
from capplan.measurements.k6 import read_k6_points, read_k6_summary
from capplan.measurements.latency_csv import read_bucket_csv, read_latency_csv
from capplan.measurements.locust import locust_stages, read_locust_history, read_locust_stats
from capplan.measurements.prometheus import PrometheusError, frame_from_response

DATA = Path(__file__).parent / "data"
LOADTEST = Path(__file__).parent.parent / "data" / "loadtest"


# -- Locust ----------------------------------------------------------------------------------
def test_locust_stats_in_seconds() -> None:
    stats = read_locust_stats(LOADTEST / "demo_stats.csv")
    assert stats["name"].tolist() == ["/work", "Aggregated"]
    raw = (LOADTEST / "demo_stats.csv").read_text().splitlines()
    header = raw[0].split(",")
    agg = raw[2].split(",")
    assert stats["mean"].iloc[1] == pytest.approx(float(agg[header.index("Average Response Time")]) / 1000)
    assert stats["p95"].iloc[1] == pytest.approx(float(agg[header.index("95%")]) / 1000)
    assert stats["requests"].iloc[1] == float(agg[header.index("Request Count")])
    assert stats["throughput"].iloc[1] == pytest.approx(float(agg[header.index("Requests/s")]))
    assert (stats["min"] <= stats["median"]).all()
    assert (stats["median"] <= stats["max"]).all()


def test_locust_history_and_stages() -> None:
    hist = read_locust_history(LOADTEST / "demo_stats_history.csv")
    assert {"timestamp", "users", "total_requests", "p95"} <= set(hist.columns)
    assert math.isnan(hist["p50"].iloc[0])  # Locust writes N/A before the first response
    stages = locust_stages(hist, warmup=4)
    assert stages["users"].tolist() == sorted(set(stages["users"]))
    assert len(stages) >= 6
    assert (stages["throughput"] > 0).all()
    assert (stages["failure_fraction"] == 0).all()
    # Little's law for a closed loop with no think time: N = X (R + client overhead), so
    # R <= N / X, and the client's share is small against the service's latency
    little = stages["users"] / stages["throughput"]
    assert (stages["mean_latency"] <= little * 1.05).all()
    assert (stages["mean_latency"] >= little * 0.5).all()


def test_locust_stages_reconstruct_stage_mean() -> None:
    text = (
        "Timestamp,User Count,Type,Name,Requests/s,Failures/s,50%,95%,99%,Total Request Count,"
        "Total Failure Count,Total Median Response Time,Total Average Response Time,Total Min Response Time,"
        "Total Max Response Time,Total Average Content Size\n"
        "100,1,,Aggregated,0,0,N/A,N/A,N/A,0,0,0,0,0,0,0\n"
        "101,1,,Aggregated,10,0,10,10,10,10,0,10,10.0,10,10,5\n"
        "102,1,,Aggregated,10,0,10,10,10,20,0,10,10.0,10,10,5\n"
        "103,2,,Aggregated,10,0,30,30,30,20,0,10,10.0,10,10,5\n"
        "104,2,,Aggregated,20,0,30,30,30,40,0,20,20.0,10,30,5\n"
        "105,2,,Aggregated,20,0,30,40,50,60,1,30,23.333333333333332,10,30,5\n"
    )
    stages = locust_stages(read_locust_history(text))
    assert stages["users"].tolist() == [1, 2]
    # users=1: 20 requests in 2 s (the first row has no total yet); users=2: 40 requests, 2 s,
    # mean = (60 * 23.33 - 20 * 10) / 40 ms = 30 ms
    assert stages["throughput"].tolist() == pytest.approx([10.0, 20.0])
    assert stages["mean_latency"].tolist() == pytest.approx([0.010, 0.030])
    assert stages["p99"].tolist() == pytest.approx([0.010, 0.050])
    assert stages["failure_fraction"].tolist() == pytest.approx([0.0, 1 / 40])
    with pytest.raises(ParameterError, match="warmup"):
        locust_stages(read_locust_history(text), warmup=-1)


def test_locust_malformed() -> None:
    with pytest.raises(MeasurementError, match=r"<text>: line 1: missing column\(s\) \['Request Count'"):
        read_locust_stats("Type,Name\nGET,/x\n")
    bad = (LOADTEST / "demo_stats.csv").read_text().replace("/work,", "/work,abc", 1)
    with pytest.raises(MeasurementError, match=r"line 2: column 'Request Count': 'abc\d+' is not a number"):
        read_locust_stats(bad)
    short = (LOADTEST / "demo_stats.csv").read_text().splitlines()
    with pytest.raises(MeasurementError, match="line 2: 3 fields, the header has 22"):
        read_locust_stats(short[0] + "\nGET,/x,1\n")
    with pytest.raises(MeasurementError, match=r"no_such\.csv: file not found"):
        read_locust_stats("no_such.csv")


# -- k6 --------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("old", "new", "needle"),
    [
        (",46,71,93", ",-46,71,93", "line 2: column '50%': '-46' ms is negative"),
        (
            ",46,71,93",
            ",460,71,93",
            "line 2: percentiles must not decrease, but column '66%' (71 ms) < column '50%'",
        ),
        (",350,560,920", ",350,560,92", "line 2: percentiles must not decrease, but column '99.99%' (92 ms)"),
        (",0,46,73.02", ",0,-46,73.02", "line 2: column 'Median Response Time': '-46' ms is negative"),
    ],
)
def test_locust_negative_or_decreasing_percentiles_name_file_line_column(
    tmp_path: Path, old: str, new: str, needle: str
) -> None:
    lines = (LOADTEST / "demo_stats.csv").read_text().splitlines()
    assert old in lines[1]
    path = tmp_path / "stats.csv"
    path.write_text("\n".join([lines[0], lines[1].replace(old, new, 1), *lines[2:]]) + "\n")
    with pytest.raises(MeasurementError) as info:
        read_locust_stats(path)
    assert str(path) in str(info.value)
    assert needle in str(info.value)


def test_k6_points() -> None:
    pts = read_k6_points(DATA / "k6_points.json")
    assert pts["metric"].tolist() == [
        "http_reqs",
        "http_req_duration",
        "http_req_duration",
        "data_received",
        "custom_wait",
    ]
    # 2017-05-09T14:34:45.625742514+02:00 = 12:34:45.625742 UTC
    assert pts["timestamp"].iloc[0] == pytest.approx(1494333285.625742, abs=1e-6)
    assert pts["value"].tolist() == pytest.approx([1.0, 0.459865729, 0.0125, 2048.0, 0.25])
    assert pts["status"].tolist()[:3] == ["200", "200", "500"]
    assert pts["status"].iloc[3] == ""


def test_k6_points_malformed() -> None:
    with pytest.raises(MeasurementError, match=r"line 2 column \d+: not valid JSON"):
        read_k6_points('{"type":"Metric","metric":"x","data":{}}\n{"type": "Point",\n')
    with pytest.raises(MeasurementError, match=r"line 1: data.value: expected a number, got 'x'"):
        read_k6_points('{"type":"Point","metric":"m","data":{"time":"2020-01-01T00:00:00Z","value":"x"}}\n')
    with pytest.raises(MeasurementError, match=r"line 1: data.time 'yesterday' is not an RFC 3339 time"):
        read_k6_points('{"type":"Point","metric":"m","data":{"time":"yesterday","value":1}}\n')


def test_k6_handle_summary() -> None:
    s = read_k6_summary(DATA / "k6_handle_summary.json")
    assert s.format == "handleSummary"
    assert s.stat("http_req_duration", "p(95)") == pytest.approx(0.14821)
    assert s.stat("http_req_duration", "avg") == pytest.approx(0.14036)
    assert s.stat("http_reqs", "rate") == pytest.approx(6.561)
    assert s.stat("data_received", "count") == 61234
    th = s.thresholds.set_index("threshold")["ok"]
    assert bool(th["p(95)<1500"]) is True
    assert bool(th["p(90)<100"]) is False
    assert not s.passed


def test_k6_legacy_summary_export_true_means_failed() -> None:
    s = read_k6_summary(DATA / "k6_summary_export.json")
    assert s.format == "summary-export"
    assert s.stat("http_req_duration", "p(95)") == pytest.approx(0.14821)
    assert s.stat("http_req_duration", "med") == pytest.approx(0.14096)
    assert s.stat("http_reqs", "count") == 45  # a count, not scaled
    th = s.thresholds.set_index("threshold")["ok"]
    assert bool(th["p(95)<1500"]) is True  # exported as false = passed
    assert bool(th["p(90)<100"]) is False  # exported as true = failed
    assert bool(th["rate<0.01"]) is True
    assert not s.passed
    assert repr(s) == "K6Summary(format='summary-export', metrics=5, thresholds=3, passed=False)"


def test_k6_summary_malformed() -> None:
    with pytest.raises(MeasurementError, match=r"line 1 column \d+: not valid JSON"):
        read_k6_summary("{metrics:\n")
    with pytest.raises(MeasurementError, match="'metrics' object"):
        read_k6_summary('{"root_group": {}}\n')
    with pytest.raises(MeasurementError, match=r"metrics.http_reqs.count: expected a number"):
        read_k6_summary('{"metrics": {"http_reqs": {"count": "many"}}}\n')
    with pytest.raises(MeasurementError, match="no statistic 'p\\(99\\)'"):
        read_k6_summary(DATA / "k6_summary_export.json").stat("http_req_duration", "p(99)")


# -- wrk2 / HdrHistogram ---------------------------------------------------------------------
def test_wrk2_spectrum() -> None:
    spec = read_hdr_spectrum(DATA / "wrk2_spectrum.txt")
    assert len(spec) == 11
    assert spec["value"].iloc[0] == pytest.approx(0.262e-3)
    assert spec["percentile"].iloc[3] == 0.5
    assert spec["count"].iloc[-1] == 59974
    assert spec.attrs == pytest.approx({"mean": 1.018e-3, "std": 0.411e-3, "max": 9.920e-3, "total": 59974})


def test_hdr_csv_variant_and_errors() -> None:
    text = (
        '"Value","Percentile","TotalCount","1/(1-Percentile)"\n'
        "1.000,0.000000000000,1,1.00\n2.000,0.500000000000,5,2.00\n4.000,1.000000000000,10,Infinity\n"
    )
    spec = read_hdr_spectrum(text.replace('"', ""), unit=1e-6)
    assert spec["value"].tolist() == pytest.approx([1e-6, 2e-6, 4e-6])
    with pytest.raises(MeasurementError, match="no 'Value Percentile TotalCount' header"):
        read_hdr_spectrum("Running 30s test\n")
    with pytest.raises(MeasurementError, match="line 3: values, percentiles and counts must not decrease"):
        read_hdr_spectrum("Value Percentile TotalCount 1/(1-Percentile)\n2 0.1 5 1.1\n1 0.2 6 1.2\n")
    with pytest.raises(MeasurementError, match=r"line 2: percentile 1.5 outside \[0, 1\]"):
        read_hdr_spectrum("Value Percentile TotalCount 1/(1-Percentile)\n2 1.5 5 1.1\n")


# -- plain CSV ---------------------------------------------------------------------------------
def test_latency_csv() -> None:
    frame = read_latency_csv("ts,latency_ms,status\n1,12.5,200\n2,7,500\n", column="latency_ms", unit="ms")
    assert frame.columns.tolist() == ["latency", "ts", "status"]
    assert frame["latency"].tolist() == pytest.approx([0.0125, 0.007])
    with pytest.raises(MeasurementError, match=r"line 3: column 'latency': latency must be >= 0, got -1.0"):
        read_latency_csv("latency\n1\n-1\n")
    with pytest.raises(MeasurementError, match=r"line 2: column 'latency': 'fast' is not a number"):
        read_latency_csv("latency\nfast\n")
    with pytest.raises(ParameterError, match="unit must be one of"):
        read_latency_csv("latency\n1\n", unit="minutes")


def test_bucket_csv() -> None:
    frame = read_bucket_csv(LOADTEST / "latency_buckets.csv")
    assert {"users", "le", "count"} <= set(frame.columns)
    assert np.isinf(frame["le"]).sum() == frame["users"].nunique()
    for _, g in frame.groupby("users"):
        assert (np.diff(g.sort_values("le")["count"].to_numpy()) >= 0).all()
    with pytest.raises(MeasurementError, match=r"line 2: column 'count': count must be >= 0"):
        read_bucket_csv("le,count\n0.1,-3\n")
    with pytest.raises(MeasurementError, match=r"line 1: missing column\(s\) \['count'\]"):
        read_bucket_csv("le,n\n0.1,3\n")


# -- Prometheus API answers (format: Prometheus docs, "HTTP API", "Expression query result formats")
def test_prometheus_answers() -> None:
    vector = (
        '{"status":"success","data":{"resultType":"vector","result":[{"metric":{"__name__":"up",'
        '"job":"demo","instance":"127.0.0.1:8000"},"value":[1435781451.781,"1"]},{"metric":{"job":"x"},'
        '"value":[1435781451.781,"NaN"]}]}}'
    )
    frame = frame_from_response(vector)
    assert frame.columns.tolist() == ["metric", "instance", "job", "timestamp", "value"]
    assert frame["metric"].tolist() == ["up", ""]
    assert frame["instance"].tolist() == ["127.0.0.1:8000", ""]
    assert frame["value"].iloc[0] == 1.0
    assert math.isnan(frame["value"].iloc[1])
    matrix = (
        '{"status":"success","data":{"resultType":"matrix","result":[{"metric":{"__name__":"x"},'
        '"values":[[1,"1"],[2,"+Inf"]]}]}}'
    )
    assert frame_from_response(matrix)["value"].tolist() == [1.0, math.inf]
    scalar = '{"status":"success","data":{"resultType":"scalar","result":[5,"2.5"]}}'
    assert frame_from_response(scalar)["value"].tolist() == [2.5]
    with pytest.raises(PrometheusError, match=r"status='error': bad_data: parse error"):
        frame_from_response('{"status":"error","errorType":"bad_data","error":"parse error"}')
    with pytest.raises(PrometheusError, match="answer: line 1 column 1: not valid JSON"):
        frame_from_response("<html>502 Bad Gateway</html>")
    with pytest.raises(PrometheusError, match=r"data.result\[0\]: sample \[1, 'x'\] is not"):
        frame_from_response(
            '{"status":"success","data":{"resultType":"vector","result":[{"metric":{},"value":[1,"x"]}]}}'
        )
    with pytest.raises(PrometheusError, match="unsupported resultType 'string'"):
        frame_from_response('{"status":"success","data":{"resultType":"string","result":[1,"a"]}}')
