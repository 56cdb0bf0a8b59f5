"""Prometheus exposition text: the documentation's example, prometheus_client's output, the demo's /metrics.

* ``tests/data/prometheus_text_example.txt`` is the "Text format example" of the Prometheus
  documentation ("Exposition formats"), verbatim: escaped label values, millisecond timestamps
  (one before the epoch), ``+Inf``, a histogram and a summary.
* prometheus_client's ``generate_latest`` (text 0.0.4) and its OpenMetrics ``generate_latest``
  write metrics whose values follow from the observations the test makes.
* The demo service (``capplan.demo.http_service``) is run and its ``/metrics`` read after a known
  number of requests.

Expected quantiles are PromQL's ``histogram_quantile`` worked by hand: rank ``q * count``, then
linear interpolation inside the bucket holding the rank (Prometheus ``promql/quantile.go``).
"""

from __future__ import annotations

import math
import urllib.request
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.exposition import generate_latest
from prometheus_client.openmetrics.exposition import generate_latest as generate_openmetrics

from capplan.demo.http_service import make_server, serving
from capplan.errors import ParameterError
from capplan.measurements import MeasurementError, read_exposition, series_quantiles

DATA = Path(__file__).parent / "data"
EXAMPLE = DATA / "prometheus_text_example.txt"


def test_documentation_example() -> None:
    frame = read_exposition(EXAMPLE)
    assert frame.attrs["format"] == "text"
    assert frame.attrs["types"]["http_request_duration_seconds"] == "histogram"
    posts = frame[frame["metric"] == "http_requests_total"]
    assert posts["code"].tolist() == ["200", "400"]
    assert posts["value"].tolist() == [1027.0, 3.0]
    assert posts["timestamp"].tolist() == [1395066363.0, 1395066363.0]  # milliseconds in the file
    msdn = frame[frame["metric"] == "msdn_documentation_"].iloc[0]
    assert msdn["path"] == "C:\\DIR\\FILE.TXT"
    assert msdn["error"] == 'Cannot find file:\n"FILE.TXT"'
    assert math.isnan(msdn["timestamp"])
    weird = frame[frame["metric"] == "something_weird"].iloc[0]
    assert weird["value"] == math.inf
    assert weird["timestamp"] == -3982.045


def test_documentation_example_quantiles() -> None:
    frame = read_exposition(EXAMPLE)
    hist = series_quantiles(frame, "http_request_duration_seconds", [0.5, 0.1])
    # q=0.5: rank 72160 lies in (0.1, 0.2]: 0.1 + 0.1 * (72160 - 33444) / (100392 - 33444);
    # q=0.1: rank 14432 lies in the first bucket, (0, 0.05]: 0.05 * 14432 / 24054
    assert hist["value"].tolist() == pytest.approx([0.1 + 0.1 * 38716 / 66948, 0.05 * 14432 / 24054])
    assert hist["lower"].tolist() == [0.1, 0.0]
    assert hist["upper"].tolist() == [0.2, 0.05]
    summary = series_quantiles(frame, "rpc_duration_seconds", [0.5, 0.99, 0.75])
    assert summary["quantile"].tolist() == [0.5, 0.99]  # the summary has no 0.75
    assert summary["value"].tolist() == [4773.0, 76656.0]


def test_selector_by_name_and_labels() -> None:
    assert read_exposition(EXAMPLE, 'http_requests_total{code="400"}')["value"].tolist() == [3.0]
    assert read_exposition(EXAMPLE, 'http_requests_total{code!="400"}')["value"].tolist() == [1027.0]
    family = read_exposition(EXAMPLE, "http_request_duration_seconds")
    assert sorted(set(family["metric"])) == [
        "http_request_duration_seconds_bucket",
        "http_request_duration_seconds_count",
        "http_request_duration_seconds_sum",
    ]
    le = read_exposition(EXAMPLE, 'http_request_duration_seconds_bucket{le=~"0\\\\.[0-9]+"}')
    assert le["le"].tolist() == ["0.05", "0.1", "0.2", "0.5"]
    assert read_exposition(EXAMPLE, '{problem=~"division.*"}')["metric"].tolist() == ["something_weird"]
    with pytest.raises(ParameterError, match="selector"):
        read_exposition(EXAMPLE, "x{a=b}")
    with pytest.raises(ParameterError, match="bad regex"):
        read_exposition(EXAMPLE, 'x{a=~"("}')


def _client_registry() -> CollectorRegistry:
    registry = CollectorRegistry()
    hist = Histogram("req_seconds", "Request time.", ["path"], buckets=(0.1, 0.2, 0.5), registry=registry)
    for v in (0.05, 0.15, 0.15, 0.3, 0.7):
        hist.labels(path="/a").observe(v)
    hist.labels(path='/b\n"x"\\').observe(0.01)
    Counter("jobs", "Jobs.", ["code"], registry=registry).labels(code="200").inc(3)
    Gauge("temp", 'A "quoted" help.', ["where"], registry=registry).labels(where="a,b}").set(math.nan)
    return registry


@pytest.mark.parametrize("generate", [generate_latest, generate_openmetrics])
def test_prometheus_client_output(generate: object) -> None:
    text = generate(_client_registry()).decode()  # type: ignore[operator]
    frame = read_exposition(text)
    assert frame.attrs["format"] == ("openmetrics" if text.rstrip().endswith("# EOF") else "text")
    buckets = frame[(frame["metric"] == "req_seconds_bucket") & (frame["path"] == "/a")]
    assert buckets["le"].tolist() == ["0.1", "0.2", "0.5", "+Inf"]
    assert buckets["value"].tolist() == [1.0, 3.0, 4.0, 5.0]  # cumulative counts of the observations
    assert frame[frame["metric"] == "jobs_total"]["value"].tolist() == [3.0]
    assert frame[frame["metric"] == "temp"]["where"].tolist() == ["a,b}"]
    table = series_quantiles(frame, "req_seconds", [0.5])
    by_path = dict(zip(table["path"], table["value"], strict=True))
    # /a: rank 2.5 in (0.1, 0.2] holding counts 1..3; /b: rank 0.5 of 1 in (0, 0.1]
    assert by_path == pytest.approx({"/a": 0.1 + 0.1 * 1.5 / 2, '/b\n"x"\\': 0.05})


def test_openmetrics_exemplars_and_seconds_timestamps() -> None:
    # OpenMetrics 1.0 specification, "Histogram with exemplars" example (exemplars are skipped)
    text = (
        "# TYPE foo histogram\n"
        'foo_bucket{le="0.01"} 0\n'
        'foo_bucket{le="0.1"} 8 # {} 0.054\n'
        'foo_bucket{le="1"} 11 # {trace_id="KOO5S4vxi0o"} 0.67\n'
        'foo_bucket{le="10"} 17 # {trace_id="oHg5SJYRHA0"} 9.8 1520879607.789\n'
        'foo_bucket{le="+Inf"} 17\n'
        "foo_count 17\nfoo_sum 324789.3\nfoo_created 1520430000.123\n"
        "# TYPE bar gauge\nbar 1 1520879607.789\n# EOF\n"
    )
    frame = read_exposition(text)
    assert frame[frame["metric"] == "foo_bucket"]["value"].tolist() == [0.0, 8.0, 11.0, 17.0, 17.0]
    assert frame[frame["metric"] == "bar"]["timestamp"].tolist() == [1520879607.789]


def test_demo_service_metrics() -> None:
    requests = 25
    with serving(make_server(0, io_wait=0.001)) as server:
        for i in range(requests):
            with urllib.request.urlopen(f"http://127.0.0.1:{server.port}/work?id={i}", timeout=10) as r:
                r.read()
        with urllib.request.urlopen(f"http://127.0.0.1:{server.port}/metrics", timeout=10) as r:
            text = r.read().decode()
    frame = read_exposition(text, 'demo_requests_total{path="/work"}')
    assert frame["value"].tolist() == [float(requests)]
    hist = read_exposition(text, "demo_request_duration_seconds")
    counts = hist[hist["metric"] == "demo_request_duration_seconds_bucket"]
    assert counts["value"].iloc[-1] == requests
    assert hist[hist["metric"] == "demo_request_duration_seconds_count"]["value"].tolist() == [requests]
    table = series_quantiles(hist, "demo_request_duration_seconds", [0.5, 0.99])
    assert (table["lower"] <= table["value"]).all() and (table["value"] <= table["upper"]).all()
    assert table["value"].is_monotonic_increasing
    assert table["value"].iloc[0] >= 0.001  # every request waited io_wait


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        ('x{a="1"} 1\nx{a="1",} 2\n', "line 2: sample x{'a': '1'} repeats"),
        ('x{a="1",a="2"} 1\n', "line 1: label 'a' given twice"),
        ('x{a="1} 1\n', "line 1: malformed label set"),
        ('x{a="1" b="2"} 1\n', "line 1: expected ',' or '}'"),
        ("x ١٢٣\n", "line 1: value '١٢٣' is not a number"),
        ("x 1_000\n", "line 1: value '1_000' is not a number"),
        ("x 1 1e400\n", "line 1: timestamp '1e400' is not a number"),
        ("x 1 2 3\n", "line 1: expected 'name{labels} value [timestamp]'"),
        ("# TYPE x histogramm\n", "line 1: expected '# TYPE name"),
        ("x 1\n# TYPE x gauge\n", "line 2: TYPE of 'x' given twice or after its samples"),
        ("# TYPE x counter\nx -1\n", "line 2: x is a count, got -1.0"),
        ("# TYPE x counter\nx_total NaN\n", "line 2: x_total is a count, got nan"),
        ('# TYPE h histogram\nh_bucket{le="a"} 1\n', "line 2: bucket needs a numeric 'le' label"),
        ('# TYPE h histogram\nh_bucket{le="1"} 1e400\n', "line 2: h_bucket is a count, got inf"),
        ('# TYPE h histogram\nh_bucket{le="1"} 1\n', "line 2: histogram h_bucket{} has no +Inf bucket"),
        (
            '# TYPE h histogram\nh_bucket{le="1"} 5\nh_bucket{le="+Inf"} 4\n',
            "line 3: cumulative bucket counts of h_bucket{} decrease",
        ),
        ('# TYPE s summary\ns{quantile="1.5"} 1\n', "line 2: quantile label '1.5' is not in [0, 1]"),
        (
            '# TYPE s summary\ns{quantile="0.5"} 3\ns{quantile="0.9"} 2\n',
            "line 3: summary quantiles of s{} decrease",
        ),
    ],
)
def test_malformed_lines_name_file_and_line(tmp_path: Path, text: str, needle: str) -> None:
    path = tmp_path / "metrics.txt"
    path.write_text(text)
    with pytest.raises(MeasurementError) as info:
        read_exposition(path)
    assert str(path) in str(info.value)
    assert needle in str(info.value)
