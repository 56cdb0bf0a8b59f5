"""A plan file's ``sources:`` section against a real Prometheus scraping the demo service under load.

The module fixture starts the instrumented demo service (``capplan.demo.http_service``, 10 ms
downstream wait plus its CPU work per request) on a loopback port, drives it with a paced load of
:data:`RATE` requests per second from a few client threads (each completion's wall-clock time
recorded), and has a real ``prometheus`` (Debian package, conftest's ``scraping`` fixture) scrape
it every second.  Once the server holds more than one rate window of scrapes under load, it fixes
a range ``[start, end]`` of about :data:`SPAN` seconds with 1 s steps inside the loaded period.

The references are what the service was driven with, measured independently of Prometheus:

* the request rate: completions the load generator saw in ``[start - 5 s, end]`` (the 5 s rate
  windows reach that far back) over that span - the plan's measured rate (mean, median) must be
  within 3 % (median: 5 %), and the achieved rate itself within 10 % of :data:`RATE`;
* the service time: the demo service's own trace of each request's service time
  (``/debug/service-times``, the same span its histogram times) over the same span - the mean of
  the distribution fitted to the Prometheus histogram must be within 5 % of the trace's mean
  (the histogram only places each request in a bucket).

Skipped, with the reason printed, when the ``prometheus`` binary is missing or cannot start.
"""

from __future__ import annotations

import contextlib
import html
import json
import shutil
import threading
import time
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import pytest
import yaml

from capplan.cli import main
from capplan.demo.http_service import make_server, serving
from capplan.measurements.prometheus import PrometheusClient
from capplan.plan.inputs import PlanInputError, load_plan_inputs
from capplan.plan.loadtest import loadtest_evidence
from capplan.plan.render import render_markdown
from capplan.plan.sources import QueryRange, SourcesError, parse_sources
from capplan.profiles import load_profile

#: The scraping fixture of conftest.py (a real Prometheus scraping a port, as a context manager).
Scraping = Callable[[int, Path], contextlib.AbstractContextManager[str]]

RATE = 40.0  # requests per second the load generator paces
THREADS = 4
SPAN = 20.0  # seconds of range
WINDOW = 5.0  # the rate window of the queries
DATA = Path(__file__).resolve().parents[1] / "data"
SLA_FILE = DATA / "performance-sla.yaml"
#: A regex matcher with ``|``: the Markdown report must escape it to keep the table's cell
RATE_QUERY = 'sum(rate(demo_requests_total{path=~"/work|/none"}[5s]))'
HISTOGRAM_QUERY = "sum by (le) (rate(demo_request_duration_seconds_bucket[5s]))"
SECRET = "Bearer s3cr3t-t0ken-4f9a2c"


@dataclass
class Live:
    url: str
    start: float
    end: float
    done: list[float]  # wall-clock completion times of the load generator's requests
    service: np.ndarray  # (wall-clock start, service time) of each request, from the demo's trace

    def driven_rate(self) -> float:
        """Requests per second the generator completed over the span the range's rates cover."""
        t = np.asarray(self.done)
        lo = self.start - WINDOW
        return float(np.count_nonzero((t > lo) & (t <= self.end)) / (self.end - lo))

    def service_mean(self) -> float:
        """Mean service time of the requests served over that span (the demo's own trace)."""
        t, s = self.service[:, 0], self.service[:, 1]
        return float(s[(t > self.start - WINDOW) & (t <= self.end)].mean())


def _paced(port: int, offset: int, stop: threading.Event, done: list[float]) -> None:
    """Request ``offset``, ``offset + THREADS``, ... at ``index / RATE`` seconds from the start."""
    begin = time.monotonic()
    i = offset
    while not stop.is_set() and time.monotonic() - begin < 180:
        stop.wait(max(0.0, begin + i / RATE - time.monotonic()))
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/work?id={i}", timeout=5) as r:
                r.read()
            done.append(time.time())
        except OSError:
            pass
        i += THREADS


def _trace(port: int) -> np.ndarray:
    """The demo's service-time trace, its start times moved to the wall clock (perf_counter is
    the system's monotonic clock on Linux, shared with this process)."""
    shift = time.time() - time.perf_counter()
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/debug/service-times", timeout=5) as r:
        rows = [line.split() for line in r.read().decode().splitlines() if line.strip()]
    trace = np.array(rows, dtype=float)
    trace[:, 0] += shift
    return trace


def _wait_for_scrapes(url: str) -> None:
    """Until the server holds WINDOW + 3 seconds of scrapes of the loaded service (its first
    scrape comes up to ~5 s after it is ready: target discovery is batched)."""
    client = PrometheusClient(url, timeout=5)
    deadline = time.monotonic() + 60
    while len(client.query(f'demo_requests_total{{path="/work"}}[{WINDOW + 4:g}s]')) < WINDOW + 3:
        assert time.monotonic() < deadline, "the demo service's counter did not reach Prometheus in 60 s"
        time.sleep(0.5)


@pytest.fixture(scope="module")
def live(scraping: Scraping, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Live]:
    stop = threading.Event()
    done: list[float] = []
    with serving(make_server(0, io_wait=0.01)) as server:
        threads = [
            threading.Thread(target=_paced, args=(server.port, k, stop, done), daemon=True)
            for k in range(THREADS)
        ]
        try:
            with scraping(server.port, tmp_path_factory.mktemp("prometheus")) as url:
                for t in threads:
                    t.start()
                _wait_for_scrapes(url)
                start = time.time()
                time.sleep(SPAN + 1.5)  # the last scrape inside the range has landed
                end = float(np.floor(time.time() - 1.0))
                yield Live(url, float(np.floor(start)), end, done, _trace(server.port))
        finally:
            stop.set()
            for t in threads:
                t.join(timeout=10)


def _plan_file(tmp_path: Path, sources: dict[str, Any], **top: Any) -> Path:
    body = {"sla": str(SLA_FILE), "load": "measured", "workers_per_replica": 4, **top, "sources": sources}
    path = tmp_path / "plan.yaml"
    path.write_text(yaml.safe_dump({"capacity_plan": body}, sort_keys=False))
    return path


def _sources(live: Live, classes: dict[str, Any], **prometheus: Any) -> dict[str, Any]:
    prom = {"url": live.url, "range": {"start": live.start, "end": live.end, "step": "1s"}, **prometheus}
    return {"prometheus": prom, "rate_statistic": "mean", "classes": classes}


CRITICAL = {"critical_operations": {"request_rate": RATE_QUERY, "latency_histogram": HISTOGRAM_QUERY}}
CRITICAL_STATED = {"critical_operations": {"service_time": "12ms"}}


def test_rates_and_service_times_match_the_driven_load(live: Live, tmp_path: Path) -> None:
    driven = live.driven_rate()
    assert driven == pytest.approx(RATE, rel=0.10)  # the generator kept its pace
    inputs = load_plan_inputs(_plan_file(tmp_path, _sources(live, CRITICAL)))
    (rate,) = [p for p in inputs.provenance if p.quantity == "request_rate"]
    assert rate.value == pytest.approx(driven, rel=0.03)
    assert rate.statistic == f"mean of {int(live.end - live.start) + 1} steps"
    (evidence,) = inputs.evidence
    # the mean of the distribution fitted to the latency buckets (latency: the server's own
    # queueing and a loaded machine's delays included) against the server's record of its service
    assert evidence.mean_s == pytest.approx(live.service_mean(), rel=0.10)
    assert evidence.distribution is not None  # the fitted distribution, not only a mean
    result = inputs.plan()
    assert result.load == "measured"
    assert result.arrival_rate == pytest.approx(rate.value, rel=1e-12)
    assert result.mix == {"critical_operations": 1.0}
    markdown = render_markdown(result)
    assert "## Measured inputs and their queries" in markdown
    assert RATE_QUERY.replace("|", "\\|") in markdown
    print(
        f"driven {driven:.3f}/s, measured {rate.value:.3f}/s; service time: trace mean "
        f"{live.service_mean() * 1e3:.3f} ms, fitted mean {evidence.mean_s * 1e3:.3f} ms"
    )


def test_rate_statistics_reduce_the_servers_range(live: Live, tmp_path: Path) -> None:
    """peak and p50 are the maximum and median of the range the server answers (PromQL itself)."""
    steps = PrometheusClient(live.url).query_range(RATE_QUERY, live.start, live.end, 1)["value"].to_numpy()
    for statistic, expected in (("peak", steps.max()), ("p50", np.median(steps))):
        sources = _sources(live, {"critical_operations": {"request_rate": RATE_QUERY}})
        sources["rate_statistic"] = statistic
        path = _plan_file(tmp_path, sources, evidence=CRITICAL_STATED)
        (rate,) = load_plan_inputs(path).provenance
        assert rate.value == pytest.approx(float(expected), rel=1e-12), statistic
    assert float(np.median(steps)) == pytest.approx(live.driven_rate(), rel=0.05)


def test_measured_rates_set_the_mix(live: Live, tmp_path: Path) -> None:
    """Two classes, the second at half the first's rate: shares 2/3 and 1/3; a stated mix wins."""
    classes = {
        "critical_operations": {"request_rate": RATE_QUERY, "latency_histogram": HISTOGRAM_QUERY},
        "standard_operations": {"request_rate": f"0.5 * {RATE_QUERY}"},
    }
    evidence = {"standard_operations": {"service_time": "20ms"}}
    inputs = load_plan_inputs(_plan_file(tmp_path, _sources(live, classes), evidence=evidence))
    mix = inputs.options["mix"]
    assert mix["critical_operations"] == pytest.approx(2 / 3, rel=1e-12)
    assert mix["standard_operations"] == pytest.approx(1 / 3, rel=1e-12)
    stated = load_plan_inputs(
        _plan_file(
            tmp_path,
            _sources(live, classes),
            evidence=evidence,
            load="peak",
            mix={"critical_operations": 0.2, "standard_operations": 0.8},
        )
    )
    assert stated.options["mix"] == {"critical_operations": 0.2, "standard_operations": 0.8}


MEAN_LATENCY_QUERY = (
    "sum(rate(demo_request_duration_seconds_sum[5s])) / sum(rate(demo_request_duration_seconds_count[5s]))"
)


def test_cpu_seconds_and_memory_queries(live: Live, tmp_path: Path) -> None:
    """``cpu_seconds_per_request`` (its mean over the steps) is the service time when no histogram
    is given, SCV 1 assumed; ``memory_per_pod`` (its peak) the pod memory spread over the workers.
    The demo service exports neither, so stand-ins: its mean service time (sum over count), which
    must agree with its own trace within 5 %, and the samples of each scrape times 1 MiB as bytes,
    whose peak must be the maximum of the server's range answer."""
    memory_query = 'scrape_samples_scraped{job="demo"} * 1048576'
    classes = {
        "critical_operations": {"cpu_seconds_per_request": MEAN_LATENCY_QUERY, "memory_per_pod": memory_query}
    }
    inputs = load_plan_inputs(_plan_file(tmp_path, _sources(live, classes), load="peak"))
    (evidence,) = inputs.evidence
    # the mean of the distribution fitted to the latency buckets (latency: the server's own
    # queueing and a loaded machine's delays included) against the server's record of its service
    assert evidence.mean_s == pytest.approx(live.service_mean(), rel=0.10)
    assert evidence.scv == 1.0 and "SCV 1 assumed" in evidence.source
    steps = PrometheusClient(live.url).query_range(memory_query, live.start, live.end, 1)["value"]
    memory = inputs.options["memory"]
    assert memory.per_worker * 4 == pytest.approx(float(steps.max()), rel=1e-12)  # workers_per_replica: 4
    assert memory_query in memory.source
    assert [p.quantity for p in inputs.provenance] == ["cpu_seconds_per_request", "memory_per_pod"]
    assert "mix" not in inputs.options  # no request rates: the plan file's own mix (none here)


def test_provenance_in_report_and_json(
    live: Live, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = _plan_file(tmp_path, _sources(live, CRITICAL))
    report = tmp_path / "report.html"
    assert main(["plan", str(path), "--format", "json", "--out", str(report)]) == 0
    out, written = capsys.readouterr().out.rstrip("\n").rsplit("\n", 1)
    assert written == f"report written to {report}"
    document = json.loads(out)
    rows = {row["quantity"]: row for row in document["provenance"]}
    assert set(rows) == {"request_rate", "service_time"}
    assert rows["request_rate"]["query"] == RATE_QUERY
    assert rows["service_time"]["query"] == HISTOGRAM_QUERY
    for row in rows.values():
        assert row["source"] == live.url
        assert row["range"].endswith("step 1 s")
    assert document["throughput"]["per_second"] == pytest.approx(rows["request_rate"]["value"])
    page = report.read_text().replace("<wbr>", "")  # the table renderer adds break hints in long cells
    assert "<h2>Measured inputs and their queries</h2>" in page
    assert html.escape(RATE_QUERY) in page and html.escape(HISTOGRAM_QUERY) in page


class _EchoAuth(BaseHTTPRequestHandler):
    """Refuses every request with 401, echoing the Authorization header it got (a careless proxy)."""

    seen: ClassVar[list[str]] = []

    def do_GET(self) -> None:
        header = self.headers.get("Authorization", "")
        self.seen.append(header)
        body = json.dumps({"status": "error", "errorType": "unauthorized", "error": f"bad token {header}"})
        self.send_response(401)
        self.send_header("Content-Type", "application/json")
        self.end_headers()
        self.wfile.write(body.encode())

    def log_message(self, *args: Any) -> None:
        pass


def test_auth_header_is_sent_and_never_written(
    live: Live,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("PROM_AUTH", SECRET)
    path = _plan_file(tmp_path, _sources(live, CRITICAL, auth_header_env="PROM_AUTH"))
    report = tmp_path / "report.html"
    assert main(["plan", str(path), "--format", "json", "--out", str(report)]) == 0
    inputs = load_plan_inputs(path)
    captured = capsys.readouterr()
    written = [captured.out, captured.err, caplog.text, report.read_text(), repr(inputs), str(inputs.options)]
    assert all(SECRET not in text and "s3cr3t" not in text for text in written)
    # a server that checks the header (and echoes it in its error) gets it; the error does not show it
    echo = HTTPServer(("127.0.0.1", 0), _EchoAuth)
    threading.Thread(target=echo.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{echo.server_port}"
        bad = _plan_file(tmp_path, _sources(live, CRITICAL, auth_header_env="PROM_AUTH", url=url))
        with pytest.raises(SourcesError, match=r"HTTP 401: unauthorized: bad token <redacted>") as caught:
            load_plan_inputs(bad)
        assert main(["plan", str(bad)]) != 0
        err = capsys.readouterr().err
    finally:
        echo.shutdown()
        echo.server_close()
    assert _EchoAuth.seen[0] == SECRET
    assert "s3cr3t" not in str(caught.value) and "s3cr3t" not in err and "sources" in err
    monkeypatch.setenv("PROM_AUTH", f"{SECRET}\r\nX-Injected: 1")
    with pytest.raises(SourcesError, match=r"PROM_AUTH holds control or non-ASCII characters") as caught:
        load_plan_inputs(path)
    assert "s3cr3t" not in str(caught.value)
    monkeypatch.delenv("PROM_AUTH")
    with pytest.raises(
        SourcesError, match=r"prometheus.auth_header_env: environment variable PROM_AUTH is not set"
    ):
        load_plan_inputs(path)


def test_errors_name_file_field_url_and_query(
    live: Live, tmp_path: Path, free_port: Callable[[], int]
) -> None:
    key = r"capacity_plan\.sources\.classes\.critical_operations"
    cases = [
        (
            {},
            {"request_rate": "sum(rate(demo_requests_total["},
            rf"{key}\.request_rate: .*HTTP 400: bad_data",
        ),
        (
            {},
            {"request_rate": "no_such_metric_anywhere"},
            rf"{key}\.request_rate: .*'no_such_metric_anywhere' over .*: empty result",
        ),
        ({}, {"latency_histogram": RATE_QUERY}, rf"{key}\.latency_histogram: .*no 'le' label"),
        (
            {},
            {"request_rate": "demo_request_duration_seconds_bucket"},
            rf"{key}\.request_rate: .*: expected one series, got 23; aggregate it",
        ),
        (
            {"url": f"http://127.0.0.1:{free_port()}"},
            {"request_rate": RATE_QUERY},
            rf"{key}\.request_rate: .*/api/v1/query_range .*cannot connect",
        ),
    ]
    for prometheus, queries, pattern in cases:
        path = _plan_file(
            tmp_path, _sources(live, {"critical_operations": queries}, **prometheus), evidence=CRITICAL_STATED
        )
        with pytest.raises(SourcesError, match=pattern) as caught:
            load_plan_inputs(path)
        assert str(caught.value).startswith(f"{path}: capacity_plan.sources.")
    both = _plan_file(tmp_path, _sources(live, CRITICAL), evidence=CRITICAL_STATED)
    with pytest.raises(SourcesError, match=r"sources\.classes: \['critical_operations'\] also have evidence"):
        load_plan_inputs(both)


def test_section_is_checked_before_any_query(tmp_path: Path) -> None:
    """Malformed sections fail with the key path, without a server."""
    good = {
        "prometheus": {"url": "http://127.0.0.1:9", "range": {"last": "1h", "step": "1m"}},
        "classes": {"c": {"request_rate": "up"}},
    }
    parsed = parse_sources(good, "plan.yaml", now=7200.0)
    assert (parsed.prometheus.range.start, parsed.prometheus.range.end, parsed.prometheus.range.step) == (
        3600.0,
        7200.0,
        60.0,
    )
    assert parse_sources({**good, "rate_statistic": "p95"}, "plan.yaml").rate_statistic.quantile == 0.95
    stamped = {"start": "2026-12-05T10:00:00Z", "end": "2026-12-05T11:00:00", "step": 60}
    r = parse_sources(
        {**good, "prometheus": {"url": "http://h:9090", "range": stamped}}, "p"
    ).prometheus.range
    assert (r.start, r.end) == (1796464800.0, 1796468400.0)  # date -u -d 2026-12-05T10:00:00Z +%s
    bad = [
        ({**good, "rate_statistic": "max"}, r"sources\.rate_statistic: must be peak, mean or a percentile"),
        ({**good, "classes": {"c": {}}}, r"sources\.classes\.c: name at least one of request_rate"),
        ({**good, "classes": {"c": {"rate": "up"}}}, r"sources\.classes\.c: unknown keys \['rate'\]"),
        (
            {**good, "prometheus": {"url": "http://u:pw@h:9090", "range": {"last": "1h", "step": "1m"}}},
            r"url: must not hold credentials",
        ),
        (
            {**good, "prometheus": {"url": "localhost:9090", "range": {"last": "1h", "step": "1m"}}},
            r"url: must be http\(s\)://",
        ),
        (
            {**good, "prometheus": {"url": "http://h", "range": {"last": "7d", "step": "1s"}}},
            r"range\.step: 1 s gives 604801 points",
        ),
        (
            {**good, "prometheus": {"url": "http://h", "range": {"last": "1h", "start": 0, "step": "1m"}}},
            r"range: give either last, or start and end",
        ),
        (
            {**good, "prometheus": {"url": "http://h", "range": {"start": 10, "end": 5, "step": "1s"}}},
            r"range\.end: must be after start",
        ),
        ({**good, "prometheus": {"url": "http://h", "range": {"last": "1h"}}}, r"range\.step: is required"),
        (
            {
                **good,
                "prometheus": {
                    "url": "http://h",
                    "range": {"last": "1h", "step": "1m"},
                    "auth_header_env": "A B",
                },
            },
            r"auth_header_env: must be an environment variable name",
        ),
    ]
    for section, pattern in bad:
        with pytest.raises(
            SourcesError,
            match=rf"^plan\.yaml: capacity_plan\.{pattern}" if pattern.startswith("sources") else pattern,
        ):
            parse_sources(section, "plan.yaml")
    example = yaml.safe_load((DATA / "capacity-plan-prometheus.yaml").read_text())["capacity_plan"]
    parsed = parse_sources(example["sources"], "capacity-plan-prometheus.yaml", now=7 * 86400.0)
    assert [c.op_class for c in parsed.classes] == ["critical_operations", "batch_operations"]
    assert parsed.prometheus.range == QueryRange(0.0, 7 * 86400.0, 60.0)
    path = tmp_path / "plan.yaml"
    path.write_text(yaml.safe_dump({"capacity_plan": {"sla": str(SLA_FILE)}}))
    with pytest.raises(PlanInputError, match=r"capacity_plan\.evidence: is required"):
        load_plan_inputs(path)


# -- file sources: a directory of profiles, a load test's result file (no server needed) ----------


def _evidence_plan(tmp_path: Path, entry: dict[str, Any]) -> Path:
    path = tmp_path / "plan.yaml"
    body = {"sla": str(SLA_FILE), "evidence": {"critical_operations": entry}}
    path.write_text(yaml.safe_dump({"capacity_plan": body}))
    return path


def test_profile_directory_is_one_service_demand(tmp_path: Path) -> None:
    """py-spy and scalene profiles of the same 2,000-request workload, in one directory: the service
    demand law over both, D = (T_1 + T_2) / N (Denning & Buzen 1978), T_i each profile's seconds."""
    folder = tmp_path / "critical"
    folder.mkdir()
    names = ("demo_pyspy.speedscope.json", "demo_scalene.json")
    for name in names:
        shutil.copy(DATA / "profiles" / name, folder / name)
    (folder / ".notes").write_text("hidden files are skipped\n")
    entry = {"profile": "critical", "requests": 4000, "within": "handle_request"}
    (evidence,) = load_plan_inputs(_evidence_plan(tmp_path, entry)).evidence
    total = sum(load_profile(folder / name).total_s for name in names)  # every sample is in the handler
    assert evidence.mean_s == pytest.approx(total / 4000, rel=1e-12)
    assert (
        evidence.source.startswith("py-spy/scalene profiles 2 files")
        and "within handle_request" in evidence.source
    )
    with pytest.raises(
        PlanInputError, match=r"evidence\.critical_operations\.profile: .*cpu_s: applies to one profile"
    ):
        load_plan_inputs(_evidence_plan(tmp_path, {**entry, "cpu_s": 3.0}))
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(PlanInputError, match=rf"profile: {empty}: a directory without profile files"):
        load_plan_inputs(_evidence_plan(tmp_path, {**entry, "profile": "empty"}))


def test_loadtest_result_file(tmp_path: Path) -> None:
    """A Locust stats CSV named relative to the plan file gives the fitted evidence that
    ``capplan plan --loadtest`` gives for the same file."""
    shutil.copy(DATA / "loadtest" / "demo_stats.csv", tmp_path / "stats.csv")
    (evidence,) = load_plan_inputs(_evidence_plan(tmp_path, {"loadtest": "stats.csv"})).evidence
    reference = loadtest_evidence("critical_operations", DATA / "loadtest" / "demo_stats.csv")
    assert (evidence.mean_s, evidence.scv) == (reference.mean_s, reference.scv)
    assert evidence.distribution is not None and "response times taken as service times" in evidence.source
    with pytest.raises(PlanInputError, match=r"evidence\.critical_operations\.loadtest: .*missing\.csv"):
        load_plan_inputs(_evidence_plan(tmp_path, {"loadtest": "missing.csv"}))
