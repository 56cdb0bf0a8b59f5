"""The Prometheus client and PromQL maths against a real Prometheus server.

A session fixture starts the instrumented demo service (``capplan.demo.http_service``) on a free
loopback port with a small load generator, then a real ``prometheus`` (Debian package
``prometheus``, 2.42 here) scraping it every second on another free loopback port, and waits
until the service's counters have samples.  The tests then check that

* the client's instant and range queries give the tidy frame the HTTP API documents;
* ``histogram_quantile`` and ``rate`` computed here from the *raw samples* the server returns
  equal what the server itself computes for the same expressions at the same instant (the
  reference is Prometheus's own PromQL engine);
* errors (a PromQL syntax error, a refused connection, a server that never answers) are
  :class:`PrometheusError` naming what went wrong.

Skipped only when the ``prometheus`` binary is missing or cannot start (the reason is printed).
"""

from __future__ import annotations

import contextlib
import math
import socket
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from capplan.demo.http_service import LATENCY_BUCKETS, make_server, serving
from capplan.measurements.prometheus import PrometheusClient, PrometheusError, query, query_range
from capplan.measurements.promql import histogram_quantile, rate

WINDOW = 5.0  # seconds: the rate window used by the parity tests
#: The ``scraping`` fixture of conftest.py: a real Prometheus scraping a port, as a context manager.
Scraping = Callable[[int, Path], contextlib.AbstractContextManager[str]]


@dataclass
class Live:
    url: str
    service_port: int
    at: float  # an evaluation instant with >= WINDOW seconds of samples before it


def _load(port: int, stop: threading.Event) -> None:
    """Bounded load: about 50 requests per second until stopped (at most 120 s)."""
    deadline = time.monotonic() + 120
    i = 0
    while not stop.is_set() and time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/work?id={i}", timeout=5) as r:
                r.read()
        except OSError:
            pass
        i += 1
        stop.wait(0.02)


@pytest.fixture(scope="module")
def live(scraping: Scraping, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Live]:
    workdir = tmp_path_factory.mktemp("prometheus")
    with serving(make_server(0, io_wait=0.002)) as server:
        yield from _live(server.port, workdir, scraping)


def _live(service_port: int, workdir: Path, scraping: Scraping) -> Iterator[Live]:
    """Load the demo service on ``service_port`` and scrape it with Prometheus until closed."""
    stop = threading.Event()
    loaders = [threading.Thread(target=_load, args=(service_port, stop), daemon=True) for _ in range(2)]
    for t in loaders:
        t.start()
    try:
        with scraping(service_port, workdir) as url:
            at = _wait_for_samples(url)
            yield Live(url=url, service_port=service_port, at=at)
    finally:
        stop.set()


def _wait_for_samples(url: str) -> float:
    """Wait until the counter has WINDOW + 2 seconds of samples; return the last sample's time."""
    client = PrometheusClient(url, timeout=5)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        frame = client.query(f'demo_requests_total{{path="/work"}}[{WINDOW + 3:g}s]')
        if len(frame) >= WINDOW + 2:
            return float(frame["timestamp"].max())
        time.sleep(0.5)
    raise AssertionError("the demo service's counter did not reach Prometheus within 60 s")


def test_instant_query_up(live: Live) -> None:
    frame = query(live.url, 'up{job="demo"}', time=live.at)
    assert list(frame.columns) == ["metric", "instance", "job", "timestamp", "value"]
    assert frame["metric"].tolist() == ["up"]
    assert frame["instance"].tolist() == [f"127.0.0.1:{live.service_port}"]
    assert frame["value"].tolist() == [1.0]
    assert frame["timestamp"].tolist() == [pytest.approx(live.at)]


def test_range_query_steps(live: Live) -> None:
    frame = query_range(live.url, 'demo_requests_total{path="/work"}', live.at - 5, live.at, 1)
    assert len(frame) == 6
    assert np.diff(frame["timestamp"].to_numpy()) == pytest.approx(np.ones(5))
    assert (np.diff(frame["value"].to_numpy()) >= 0).all()
    assert set(frame["code"]) == {"200"}


def test_rate_and_increase_equal_promql(live: Live) -> None:
    client = PrometheusClient(live.url)
    sel = f'demo_requests_total{{path="/work"}}[{WINDOW:g}s]'
    raw = client.query(sel, time=live.at)
    assert len(raw) >= 5
    for fn, increase in (("rate", False), ("increase", True)):
        server = client.query(f"{fn}({sel})", time=live.at)
        ours = rate(raw, WINDOW, live.at, increase=increase)
        assert len(ours) == len(server) == 1, (raw, server)
        mine, theirs = float(ours["value"].iloc[0]), float(server["value"].iloc[0])
        assert mine == pytest.approx(theirs, rel=1e-12), (fn, raw.to_dict("list"), theirs)
    # the load generator is running
    assert float(ours["value"].iloc[0]) > 0


def test_histogram_quantile_equals_promql(live: Live) -> None:
    client = PrometheusClient(live.url)
    buckets = client.query("demo_request_duration_seconds_bucket", time=live.at)
    assert len(buckets) == len(LATENCY_BUCKETS) + 1  # the finite bounds and +Inf
    for q in (0.0, 0.5, 0.9, 0.99, 1.0):
        server = client.query(f"histogram_quantile({q}, demo_request_duration_seconds_bucket)", time=live.at)
        ours = histogram_quantile(q, buckets.drop(columns="timestamp"))
        value = float(ours["value"].iloc[0])
        assert value == pytest.approx(float(server["value"].iloc[0]), rel=1e-12, nan_ok=True)
        if not math.isnan(value):
            assert float(ours["lower"].iloc[0]) <= value <= float(ours["upper"].iloc[0])


def test_quantile_of_bucket_rates_equals_promql(live: Live) -> None:
    client = PrometheusClient(live.url)
    sel = f"demo_request_duration_seconds_bucket[{WINDOW:g}s]"
    raw = client.query(sel, time=live.at)
    rates = rate(raw, WINDOW, live.at)
    ours = histogram_quantile(0.95, rates.drop(columns="timestamp"))
    server = client.query(f"histogram_quantile(0.95, rate({sel}))", time=live.at)
    assert float(ours["value"].iloc[0]) == pytest.approx(float(server["value"].iloc[0]), rel=1e-9)


def test_promql_syntax_error_is_named(live: Live) -> None:
    with pytest.raises(PrometheusError, match=r"HTTP 400: bad_data: .*parse error"):
        query(live.url, "rate(demo_requests_total[")


def test_connection_refused(free_port: Callable[[], int]) -> None:
    port = free_port()
    with pytest.raises(PrometheusError, match=rf"127.0.0.1:{port}/api/v1/query .*cannot connect"):
        query(f"http://127.0.0.1:{port}", "up", timeout=2)


def test_timeout() -> None:
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(1)
        url = f"http://127.0.0.1:{silent.getsockname()[1]}"
        start = time.monotonic()
        with pytest.raises(PrometheusError, match=r"no answer within 0.3 s"):
            query(url, "up", timeout=0.3)
        assert time.monotonic() - start < 5


def test_bad_client_arguments() -> None:
    with pytest.raises(PrometheusError, match="url must be"):
        PrometheusClient("localhost:9090")
    with pytest.raises(PrometheusError, match="timeout must be"):
        PrometheusClient("http://127.0.0.1:9090", timeout=0)
    with pytest.raises(PrometheusError, match="step must be"):
        PrometheusClient("http://127.0.0.1:9090").query_range("up", 0, 10, 0)


def test_empty_result_is_an_empty_frame(live: Live) -> None:
    frame = query(live.url, "no_such_metric_anywhere", time=live.at)
    assert frame.empty
    assert {"timestamp", "value"} <= set(frame.columns)


def test_forecast_history_from_a_range_query(live: Live) -> None:
    """The forecast's Prometheus path: one series on the step grid, checked like a CSV history; a
    few seconds of samples are too short for it, and the error names the server and the query."""
    from capplan.forecast import ForecastError, history_from_prometheus  # noqa: PLC0415

    promql = 'sum(demo_requests_total{path="/work"})'
    with pytest.raises(ForecastError, match=r"query_range .*demo_requests_total.*: too short: 6 rows"):
        history_from_prometheus(live.url, promql, live.at - 5, live.at, "1s")
    with pytest.raises(ForecastError, match=r"expected one series, got \d+; aggregate it"):
        history_from_prometheus(live.url, '{job="demo"}', live.at - 5, live.at, "1s")
