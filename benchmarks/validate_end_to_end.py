"""End-to-end check: predicted against measured response-time percentiles of a real HTTP service.

Run from the project root::

    .venv/bin/python benchmarks/validate_end_to_end.py                  # full run (~16 min)
    .venv/bin/python benchmarks/validate_end_to_end.py --quick          # smoke run (~40 s)
    .venv/bin/python benchmarks/validate_end_to_end.py --markdown out.md  # also write the tables
    .venv/bin/python benchmarks/validate_end_to_end.py --server threads # the thread-per-connection server
    .venv/bin/python benchmarks/validate_end_to_end.py --realtime       # SCHED_FIFO server and generator

What it does (the method, and why each choice, are in ``docs/validation.md``):

1. Starts the demo service ``python -m capplan.demo.http_service --port 0 --concurrency C`` (the
   workload of :mod:`capplan.demo.workload` behind an HTTP server; ``C`` is ``event-loop`` by
   default: one thread, each request run to completion) as a subprocess on a free loopback port,
   pinned to CPU 0; this script (the load generator) is pinned to CPU 1.
2. **Evidence**, gathered apart from the measured runs, afresh for every repeat.  ``py-spy record
   --pid --gil`` records the server while it serves a Poisson stream at about 45% utilization;
   the mean service demand is ``D = server CPU seconds / requests served`` over that stream (the
   service demand law, :func:`capplan.profiles.request_demand` with ``cpu_s``), and the profile
   splits it between the workload (``capplan.demo.workload:handle_request``) and the HTTP
   overhead.  A sampling profile cannot resolve the spread of a 2 ms request; the *shape* of
   the service time comes from the server's own record of the same stream
   (``/debug/service-times``: when each request started and how long it took).  On a shared
   machine that record shows more than a distribution: slow requests come in phases (the lag-1
   autocorrelation of consecutive service times is up to 0.87 here), and a queue feels the order.
   :func:`capplan.sim.split_trace` splits the record into the machine's slowdown over time
   (windows of 25 ms) and the requests' own work.  Empty requests (``/nope``) give the
   distribution of the path latency outside the server's CPU (client, loopback, wake-ups).
3. **Model.**  One FIFO server with Poisson arrivals (:func:`capplan.sim.simulate_queue`, 200,000
   customers): each service is a request's work drawn from a record, stretched by the
   recorded slowdown at the moment it starts (a :class:`capplan.sim.Slowdown`), all rescaled to
   a demand ``D``; a path latency drawn from the probe is added to each response.  The
   *prediction* of a run takes its arrival rate, its demand ``D`` = the server's CPU seconds per
   request during the run (the service demand law, as for the profiled stream) and the server's
   record of the run; the *forecast* takes the record of the repeat's profiled stream and ``D``
   measured over a Poisson stream at the run's rate just before it.  This machine's CPU cost
   per request and its slow phases drift from minute to minute, and the two show how much of
   the error is the model and how much the drift.  For comparison, :class:`capplan.queueing.MG1`
   with the run's recorded service times taken as independent (a histogram; the exact
   Pollaczek-Khinchine wait), convolved with the path latency.  Nothing in any of them is
   fitted to, or taken from, the measured latencies.
4. **Measurement.**  An open-loop Poisson load generator (``benchmarks/_loadgen.py``: arrivals
   at exponential gaps fixed in advance, independent of the responses) drives the server at
   target utilizations ``rho = lambda * D``; client-side response times (send to last byte) are
   recorded, the first ``warmup`` seconds of each run dropped.  The generator reports its
   achieved rate and send lateness; the server's measured CPU utilization is reported too.
   Each run's prediction uses that run's achieved arrival rate.  Runs are repeated (repeats in
   the outer loop, so a burst of noise does not hit every repeat of one level); the tables
   report medians over repeats, and a p95 error is the median over the runs of each run's own
   error.

Goal checked at the end: predicted p95 within 15% of the measured p95 below 70% utilisation.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import platform
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray
from scipy import stats

from _loadgen import LoadResult, run_closed_loop, run_open_loop
from capplan.profiles import Profile, RequestDemand, load_profile, request_demand
from capplan.queueing import MG1
from capplan.sim import Slowdown, simulate_queue, split_trace

FloatArray = NDArray[np.float64]

HOST = "127.0.0.1"
QUANTILES = (0.50, 0.95, 0.99)
GOAL_P95_ERROR = 0.15
GOAL_BELOW_UTILIZATION = 0.70
HANDLER = "capplan.demo.workload:handle_request"
SERVER_CPU, CLIENT_CPU = 0, 1
SERVICE_BINS = 200
CALIBRATION_UTILIZATION = 0.4  # of the rough closed-loop demand; lands near 50% in practice
REALTIME_PRIORITY = 10
CHANCE_SIMULATIONS = 200
#: The demo server's ``--concurrency`` choices, described.
SERVERS = {
    "event-loop": "one thread, each request run to completion",
    "threads": "a thread per connection, sharing the interpreter lock",
}
PROBE_RATE = 100.0  # empty requests per second for the path-latency probe
CDF_POINTS = 600  # grid of the M/G/1 response-time CDF convolved with the path latency
SLOWDOWN_WINDOW = 0.025  # seconds: windows of the server's trace that give its slowdown over time
PREDICTION_CUSTOMERS = 200_000  # simulated per prediction: many passes over the slowdown's period


@dataclass(frozen=True)
class Settings:
    utilizations: tuple[float, ...]
    repeats: int
    duration: float  # seconds of schedule per run (at least) ...
    min_requests: int  # ... and at least this many arrivals
    warmup: float  # seconds at the start of each run that are not counted
    calibration_duration: float  # seconds of the profiled Poisson stream
    probe_duration: float  # seconds of empty requests at PROBE_RATE
    demand_duration: float  # seconds of the stream that re-measures D just before each run ...
    demand_requests: int  # ... and at least this many requests in it
    profile_rate: int  # py-spy samples per second


FULL = Settings(
    utilizations=(0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8),
    repeats=5,
    duration=12.0,
    min_requests=1000,
    warmup=1.0,
    calibration_duration=20.0,
    probe_duration=10.0,
    demand_duration=4.0,
    demand_requests=600,
    profile_rate=250,
)
QUICK = Settings(
    utilizations=(0.2, 0.5, 0.7),
    repeats=1,
    duration=4.0,
    min_requests=0,
    warmup=0.5,
    calibration_duration=6.0,
    probe_duration=3.0,
    demand_duration=2.0,
    demand_requests=150,
    profile_rate=250,
)


# -- the server -------------------------------------------------------------------------------------
@dataclass
class Server:
    process: subprocess.Popen[str]
    port: int

    @property
    def pid(self) -> int:
        return self.process.pid


@contextlib.contextmanager
def running_server(concurrency: str) -> Iterator[Server]:
    """Start the demo HTTP service on a free loopback port (``--port 0``); stop it afterwards."""
    cmd = [sys.executable, "-m", "capplan.demo.http_service", "--port", "0", "--host", HOST]
    proc = subprocess.Popen([*cmd, "--concurrency", concurrency], stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        found = re.search(r":(\d+)/", line)
        if found is None:
            raise RuntimeError(f"the demo service did not report its port: {line!r}")
        yield Server(proc, int(found.group(1)))
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def pin(pid: int, cpu: int) -> bool:
    """Pin a process to one CPU when the machine has it (returns whether it did)."""
    if not hasattr(os, "sched_setaffinity") or (os.cpu_count() or 1) < 2:
        return False
    try:
        os.sched_setaffinity(pid, {cpu})
    except OSError:
        return False
    return True


def realtime(pid: int) -> bool:
    """Give a process (and the threads it starts later) the SCHED_FIFO policy, if permitted."""
    if not hasattr(os, "sched_setscheduler"):
        return False
    try:
        os.sched_setscheduler(pid, os.SCHED_FIFO, os.sched_param(REALTIME_PRIORITY))
    except OSError:
        return False
    return True


def _threads(pid: int) -> list[int]:
    """Thread ids of a process (Linux): its threads started later inherit the policy of their creator."""
    return [int(t) for t in os.listdir(f"/proc/{pid}/task")]


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of a process, all threads (Linux ``/proc/PID/stat``)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


# -- the server's record of its requests: shape of the service time and the machine's slowdown -----
@dataclass(frozen=True)
class Record:
    """The server's own record of a stream of requests (``/debug/service-times``), split by
    :func:`capplan.sim.split_trace` into the machine's slowdown over time and the requests' work."""

    start: FloatArray  # when each request's service started (seconds, the server's clock)
    service: FloatArray  # how long it took (seconds, wall clock)
    slowdown: Slowdown
    work: FloatArray  # the service times with the slowdown divided out

    @classmethod
    def of(cls, start: FloatArray, service: FloatArray) -> Record:
        slowdown, work = split_trace(start, service, SLOWDOWN_WINDOW)
        return cls(start, service, slowdown, work)

    @property
    def lag1(self) -> float:
        """Lag-1 autocorrelation of the service times, in the order they started."""
        x = self.service[np.argsort(self.start)]
        x = x - x.mean()
        return float(np.dot(x[:-1], x[1:]) / np.dot(x, x))

    def slowdown_range(self) -> tuple[float, float]:
        """5th and 95th percentiles of the slowdown factor the requests met."""
        lo, hi = np.percentile(self.slowdown(self.start - self.start.min()), [5, 95])
        return float(lo), float(hi)

    def iid_service(self, mean: float) -> Any:
        """The service times rescaled to ``mean`` as one distribution (a histogram), their order
        forgotten: the input of M/G/1."""
        counts, edges = np.histogram(self.service * (mean / self.service.mean()), bins=SERVICE_BINS)
        return stats.rv_histogram((counts, edges), density=False)

    def simulate(
        self,
        rate: float,
        mean: float,
        *,
        seed: int,
        customers: int = PREDICTION_CUSTOMERS,
        warmup: int | None = None,
        start: float = 0.0,
    ) -> FloatArray:
        """Server response times (seconds) of Poisson arrivals at ``rate`` to one FIFO server whose
        services are the recorded work rescaled to ``mean`` and stretched by the recorded slowdown,
        from ``start`` seconds into the record (which repeats: the default length passes over it
        many times).  ``warmup`` arrivals are dropped (default 10%)."""
        slowdown = self.slowdown.shifted(start) if start else self.slowdown
        work = self.work * (mean / self.service.mean())
        result = simulate_queue(
            rate, work, 1, customers, seed=seed, warmup=warmup, slowdown=slowdown, batches=2
        )
        return np.asarray(result.responses)


def read_record(server: Server) -> NDArray[np.float64]:
    """Rows ``(start, service)`` the server recorded since the last call (it forgets them)."""
    url = f"http://{HOST}:{server.port}/debug/service-times"
    with urllib.request.urlopen(url, timeout=30) as response:
        lines = response.read().decode().splitlines()
    return np.array([line.split() for line in lines], dtype=np.float64).reshape(-1, 2)


def fetch_record(server: Server) -> Record:
    """The server's record since the last call, split into slowdown and work."""
    rows = read_record(server)
    if len(rows) < 2:
        raise SystemExit(f"the server recorded {len(rows)} request(s); is it the demo service?")
    return Record.of(np.asarray(rows[:, 0]), np.asarray(rows[:, 1]))


# -- the evidence: CPU clock and profile (mean, split), the server's record (shape, slowdown) --------
@dataclass(frozen=True)
class Evidence:
    """What the forecast is built from; nothing here comes from the measured load runs."""

    demand: RequestDemand  # CPU seconds per request: clock total, split by the profile
    profile: Profile  # py-spy --gil recording of the profiled stream
    calibration_rate: float  # requests/s of the profiled Poisson stream
    wall_s: float
    probe_times: FloatArray  # response times of the empty requests (seconds)
    probe_cpu: float  # server CPU seconds per empty request
    record: Record  # the server's record of the profiled stream

    @property
    def requests(self) -> float:
        return self.demand.requests

    @property
    def service_time(self) -> float:
        """Mean service demand D per request, seconds (server CPU clock over the profiled stream)."""
        return self.demand.service_time

    @property
    def profile_service_time(self) -> float:
        """D from the profile alone: GIL-holding sampled seconds per request."""
        return self.profile.total_s / self.requests

    @property
    def handler_share(self) -> float:
        """Share of the profiled time inside the workload's ``handle_request``."""
        return self.profile.filter(within=HANDLER).total_s / self.profile.total_s

    def path_samples(self) -> FloatArray:
        """Time an empty request spends outside the server's CPU (client, loopback, wake-ups), seconds."""
        return np.asarray(np.maximum(self.probe_times - self.probe_cpu, 0.0))


def py_spy() -> str:
    local = Path(sys.executable).parent / "py-spy"
    found = str(local) if local.exists() else shutil.which("py-spy")
    if found is None:
        raise SystemExit("py-spy is needed to profile the server (pip install py-spy)")
    return found


def request_ids(seed: int, n: int) -> NDArray[np.int64]:
    """Request ids of a run: uniform, so every weight of the workload's ``render`` is equally likely."""
    return np.random.default_rng(seed).integers(0, 2**31, size=n)


def served(result: LoadResult) -> int:
    """Requests of a load run that got a complete response (what the server's CPU was spent on)."""
    return int(np.isfinite(result.done).sum())


def path_maker(ids: NDArray[np.int64]) -> Callable[[int], str]:
    table = [f"/work?id={int(i)}" for i in ids]
    return table.__getitem__


def gather_evidence(server: Server, settings: Settings, workdir: Path, seed: int) -> Evidence:
    """Profile the server under a Poisson stream, probe the path latency, time the handler.

    1. A short closed loop warms the server and gives a rough demand ``D0`` (CPU clock) that
       only sets the rate of the profiled stream.
    2. Empty requests (``/nope``, answered 404 without running the workload) at a low rate give
       the distribution of the path latency (client, loopback, wake-ups): their response times
       less the server's CPU seconds per empty request.
    3. py-spy records the server while it serves a Poisson stream at ``~CALIBRATION_UTILIZATION``
       (a separate run, not one of the measured ones); ``D = busy seconds / requests served``.
       The server's own record of that stream (``/debug/service-times``: when each request
       started and how long it took) gives the shape of the service time and how the machine's
       speed moved while it ran (:func:`capplan.sim.split_trace`).
    """
    warm = 400
    cpu0 = cpu_seconds(server.pid)
    run_closed_loop(HOST, server.port, warm, path_maker(request_ids(seed + 1, warm)))
    rough = max((cpu_seconds(server.pid) - cpu0) / warm, 1e-4)

    probe_cpu0 = cpu_seconds(server.pid)
    probe = run_open_loop(
        HOST,
        server.port,
        PROBE_RATE,
        settings.probe_duration,
        lambda i: "/nope",
        seed=seed + 4,
        connections=8,
    )
    answered = np.isfinite(probe.done)
    probe_cpu = (cpu_seconds(server.pid) - probe_cpu0) / max(1, served(probe))
    out = workdir / "server.speedscope.json"
    spy_cmd = [py_spy(), "record", "--pid", str(server.pid), "--rate", str(settings.profile_rate)]
    spy_cmd += ["--format", "speedscope", "--output", str(out), "--nonblocking", "--gil"]
    spy = subprocess.Popen(spy_cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    pin(spy.pid, CLIENT_CPU)
    time.sleep(1.0)  # let py-spy attach
    rate = CALIBRATION_UTILIZATION / rough
    paths = path_maker(request_ids(seed + 2, int(rate * settings.calibration_duration * 1.5 + 100)))
    read_record(server)  # forget what came before
    cpu0, t0 = cpu_seconds(server.pid), time.perf_counter()
    calib = run_open_loop(HOST, server.port, rate, settings.calibration_duration, paths, seed=seed + 5)
    cpu1, t1 = cpu_seconds(server.pid), time.perf_counter()
    record = fetch_record(server)
    time.sleep(0.5)
    spy.send_signal(signal.SIGINT)
    _, err = spy.communicate(timeout=60)
    if not out.exists():
        raise SystemExit(f"py-spy wrote no profile (exit {spy.returncode}): {err[-500:]}")
    profile = load_profile(out)
    return Evidence(
        demand=request_demand(profile, served(calib), cpu_s=cpu1 - cpu0),
        profile=profile,
        calibration_rate=served(calib) / calib.duration,
        wall_s=t1 - t0,
        probe_times=np.asarray(probe.response[answered]),
        probe_cpu=probe_cpu,
        record=record,
    )


# -- the load runs ------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Run:
    target: float  # target utilization
    repeat: int
    planned_rate: float
    achieved_rate: float
    cpu_utilization: float  # measured: server CPU seconds / wall seconds
    requests: int
    failed: int
    lateness_p50: float
    lateness_p99: float
    demand_run: float  # D during the run: server CPU seconds / requests (the prediction's input)
    demand_before: float  # D measured the same way over a stream just before the run (forecast)
    record: Record  # the server's record of the run (the prediction's service times and slowdown)
    measured: tuple[float, float, float]
    predicted: tuple[float, float, float]  # the prediction: the run's record and demand_run
    predicted_mean: float
    measured_mean: float
    predicted_p95_forecast: float  # p95 from the profiled stream's record and demand_before
    predicted_p95_profiled: float  # p95 from the profiled stream's record and demand_run
    predicted_p95_iid: float  # p95 of M/G/1: the run's service times, i.i.d. (order forgotten)


def client_quantiles(model: MG1, path: FloatArray, qs: Sequence[float]) -> list[float]:
    """Quantiles of ``T + L``: the M/G/1 response time ``T`` plus an independent path latency ``L``.

    ``P(T + L <= r) = mean over the path samples l of P(T <= r - l)``, with ``P(T <= t)`` from
    :meth:`MG1.response_cdf` on a grid up to its 99.999th percentile.
    """
    top = float(model.response_quantile(0.99999))
    grid = np.linspace(0.0, top, CDF_POINTS)
    cdf = np.asarray(model.response_cdf(grid))
    r = np.linspace(0.0, top + float(path.max()), 4 * CDF_POINTS)
    cdf_sum = np.mean(np.interp(r[:, None] - path[None, :], grid, cdf, left=0.0, right=1.0), axis=1)
    return [float(np.interp(q, cdf_sum, r)) for q in qs]


def server_demand(server: Server, rate: float, seconds: float, seed: int) -> float:
    """CPU seconds per request of the server over a Poisson stream of ``rate`` (latencies unused)."""
    ids = request_ids(seed, int(rate * seconds * 1.5 + 100))
    cpu0 = cpu_seconds(server.pid)
    result = run_open_loop(HOST, server.port, rate, seconds, path_maker(ids), seed=seed)
    return (cpu_seconds(server.pid) - cpu0) / max(1, served(result))


def load_run(server: Server, evidence: Evidence, target: float, repeat: int, s: Settings) -> Run:
    """One open-loop run at ``target`` utilization and its predictions (none uses its latencies).

    The prediction takes the run's arrival rate, its demand (the server's CPU seconds per request
    during the run) and the server's record of the run (the shape of the service time and the
    machine's slowdown while it ran); the forecast takes the record of the repeat's profiled
    stream and the demand measured over a stream at the same rate just before the run.
    """
    rate = target / evidence.service_time
    seed = 10_000 + 100 * repeat + round(100 * target)
    demand_before = server_demand(
        server, rate, max(s.demand_duration, s.demand_requests / rate), seed + 50_000
    )
    duration = s.warmup + max(s.duration, s.min_requests / rate)
    ids = request_ids(seed, int(rate * duration * 1.5 + 100))
    read_record(server)  # forget the stream that measured demand_before
    cpu0, t0 = cpu_seconds(server.pid), time.perf_counter()
    result: LoadResult = run_open_loop(HOST, server.port, rate, duration, path_maker(ids), seed=seed)
    cpu1, t1 = cpu_seconds(server.pid), time.perf_counter()
    record = fetch_record(server)
    counted = result.window(s.warmup)
    ok = counted & result.ok
    resp = result.response[ok]
    if len(resp) == 0:
        raise SystemExit(f"no request was answered at rho = {target} (server down or overloaded?)")
    achieved = result.achieved_rate(s.warmup)
    path = evidence.path_samples()
    rng = np.random.default_rng(seed)

    def client_times(source: Record, mean: float) -> FloatArray:
        """Predicted client-side response times: the simulated server plus a path latency each."""
        server_times = source.simulate(achieved, mean, seed=seed)
        return np.asarray(server_times + rng.choice(path, server_times.size))

    def p95(source: Record, mean: float) -> float:
        return float(np.quantile(client_times(source, mean), 0.95))

    demand_run = (cpu1 - cpu0) / max(1, served(result))
    predicted = client_times(record, demand_run)
    iid = MG1(achieved, service=record.iid_service(demand_run))
    late = result.lateness[counted & np.isfinite(result.sent)]
    return Run(
        target=target,
        repeat=repeat,
        planned_rate=rate,
        achieved_rate=achieved,
        cpu_utilization=(cpu1 - cpu0) / (t1 - t0),
        requests=int(ok.sum()),
        failed=int((counted & ~result.ok).sum()),
        lateness_p50=float(np.percentile(late, 50)),
        lateness_p99=float(np.percentile(late, 99)),
        demand_run=demand_run,
        demand_before=demand_before,
        record=record,
        measured=_triple(np.percentile(resp, [100 * q for q in QUANTILES])),
        predicted=_triple(np.quantile(predicted, QUANTILES)),
        predicted_mean=float(predicted.mean()),
        measured_mean=float(resp.mean()),
        predicted_p95_forecast=p95(evidence.record, demand_before),
        predicted_p95_profiled=p95(evidence.record, demand_run),
        predicted_p95_iid=client_quantiles(iid, path, [0.95])[0],
    )


def _ms(seconds: float, digits: int = 2) -> str:
    return f"{seconds * 1e3:.{digits}f}"


def _triple(values: Sequence[float] | FloatArray) -> tuple[float, float, float]:
    a, b, c = (float(v) for v in values)
    return a, b, c


# -- summary and report -------------------------------------------------------------------------------
@dataclass(frozen=True)
class Level:
    target: float
    runs: tuple[Run, ...]
    chance_sd: float  # relative s.d. of the median-of-runs p95 from sampling alone (simulated)

    def median(self, pick: Callable[[Run], float]) -> float:
        return float(np.median([pick(r) for r in self.runs]))

    def measured(self, k: int) -> float:
        return self.median(lambda r: r.measured[k])

    def predicted(self, k: int) -> float:
        return self.median(lambda r: r.predicted[k])

    def error(self, k: int) -> float:
        """Median over the runs of each run's relative error (its prediction against its measurement).

        Each run has its own prediction (its own rate, demand and record), and from run to run
        the measured p95 moves by up to 2x with the machine: the runs are compared one by one.
        """
        return self.median(lambda r: r.predicted[k] / r.measured[k] - 1.0)

    def error_of_medians(self, k: int) -> float:
        """Relative error of the median prediction against the median measurement (unpaired)."""
        return self.predicted(k) / self.measured(k) - 1.0

    def p95_error(self, pick: Callable[[Run], float]) -> float:
        """Median over the runs of the relative error of another p95 prediction (e.g. the forecast)."""
        return self.median(lambda r: pick(r) / r.measured[1] - 1.0)

    def spread(self, k: int) -> tuple[float, float]:
        values = [r.measured[k] for r in self.runs]
        return min(values), max(values)


def chance_spread(runs: Sequence[Run], warmup: float, repeats: int) -> float:
    """Relative s.d. of the median-of-``repeats`` p95 that runs of this length show by chance.

    Each run's predicted queue (its arrival rate, demand and record, from the record's start) is
    simulated with :func:`capplan.sim.simulate_queue` for runs of the measured length with other
    random arrivals and work; the p95s relative to their median are pooled over the runs, and
    medians of ``repeats`` of them resampled.  This is the spread a perfect model would still
    show against one measurement: the floor under the errors in the tables.
    """
    rng = np.random.default_rng(0)
    relative = []
    for r in runs:
        skip = int(r.achieved_rate * warmup)
        p95 = np.array(
            [
                np.percentile(
                    r.record.simulate(
                        r.achieved_rate, r.demand_run, seed=k, customers=r.requests + skip, warmup=skip
                    ),
                    95,
                )
                for k in range(CHANCE_SIMULATIONS // len(runs))
            ]
        )
        relative.append(p95 / np.median(p95))
    pooled = np.concatenate(relative)
    picks = rng.choice(pooled, size=(4000, repeats))
    return float(np.median(picks, axis=1).std())


def results_table(levels: Sequence[Level]) -> str:
    head = (
        "| target rho | rate (req/s) | measured CPU util | p50 meas / pred (ms) | err | "
        "p95 meas / pred (ms) | err | p99 meas / pred (ms) | err |"
    )
    lines = [head, "|" + "---:|" * 9]
    for lv in levels:
        cells = [
            f"{lv.target:.2f}",
            f"{lv.median(lambda r: r.achieved_rate):.1f}",
            f"{lv.median(lambda r: r.cpu_utilization):.2f}",
        ]
        for k in range(3):
            cells.append(f"{lv.measured(k) * 1e3:.2f} / {lv.predicted(k) * 1e3:.2f}")
            cells.append(f"{100 * lv.error(k):+.1f}%")
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def diagnostics_table(levels: Sequence[Level]) -> str:
    head = (
        "| target rho | runs | requests/run | failed | D in the run (ms) | D just before (ms) | "
        "run's record: lag-1 autocorr., slowdown p5 / p95 | mean meas / pred (ms) | "
        "p95 range over runs (ms) | p95 err of the medians | p95 s.d. by chance | "
        "p95 forecast: profiled record, D just before (ms) | err | "
        "p95 pred: profiled record, D in the run (ms) | err | "
        "p95 pred: M/G/1, the run's service times i.i.d. (ms) | err | send lateness p50 / p99 (ms) |"
    )
    lines = [head, "|" + "---:|" * 18]

    def forecast(r: Run) -> float:
        return r.predicted_p95_forecast

    def profiled(r: Run) -> float:
        return r.predicted_p95_profiled

    def iid(r: Run) -> float:
        return r.predicted_p95_iid

    def slow(r: Run, k: int) -> float:
        return r.record.slowdown_range()[k]

    for lv in levels:
        lo, hi = lv.spread(1)
        cells = [
            f"{lv.target:.2f}",
            f"{len(lv.runs)}",
            f"{lv.median(lambda r: r.requests):.0f}",
            f"{sum(r.failed for r in lv.runs)}",
            _ms(lv.median(lambda r: r.demand_run), 3),
            _ms(lv.median(lambda r: r.demand_before), 3),
            f"{lv.median(lambda r: r.record.lag1):.2f}, "
            f"{lv.median(lambda r: slow(r, 0)):.2f} / {lv.median(lambda r: slow(r, 1)):.2f}",
            f"{_ms(lv.median(lambda r: r.measured_mean))} / {_ms(lv.median(lambda r: r.predicted_mean))}",
            f"{lo * 1e3:.2f} - {hi * 1e3:.2f}",
            f"{100 * lv.error_of_medians(1):+.1f}%",
            f"{100 * lv.chance_sd:.1f}%",
        ]
        for pick in (forecast, profiled, iid):
            cells += [_ms(lv.median(pick)), f"{100 * lv.p95_error(pick):+.1f}%"]
        cells.append(
            f"{_ms(lv.median(lambda r: r.lateness_p50), 3)} / {_ms(lv.median(lambda r: r.lateness_p99), 3)}"
        )
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def evidence_table(evidence: Sequence[Evidence], first: int = 0) -> str:
    """One row per repeat (numbered from ``first``): what each repeat's predictions were built from."""
    head = (
        "| repeat | profiled stream: requests, req/s, CPU util | D by CPU clock (ms) | "
        "D by profile alone (ms) | "
        f"share in `{HANDLER}` | the server's record: requests, mean (ms), SCV, p95 (ms) | "
        f"lag-1 autocorrelation | slowdown over {SLOWDOWN_WINDOW * 1e3:g} ms windows: p5 / p95 | "
        "path latency p50 / p95 / p99 (ms) |"
    )
    lines = [head, "|" + "---:|" * 9]
    for k, ev in enumerate(evidence, start=first):
        svc = ev.record.service
        factors = ev.record.slowdown_range()
        path = np.percentile(ev.path_samples(), [50, 95, 99]) * 1e3
        cells = [
            f"{k}",
            f"{ev.requests:.0f}, {ev.calibration_rate:.1f}, {ev.demand.cpu_s / ev.wall_s:.2f}",
            _ms(ev.service_time, 3),
            f"{_ms(ev.profile_service_time, 3)} "
            f"({100 * (ev.profile_service_time / ev.service_time - 1):+.1f}%)",
            f"{100 * ev.handler_share:.1f}%",
            f"{svc.size}, {_ms(svc.mean(), 3)}, {svc.var() / svc.mean() ** 2:.4f}, "
            f"{_ms(float(np.percentile(svc, 95)), 3)}",
            f"{ev.record.lag1:.2f}",
            f"{factors[0]:.2f} / {factors[1]:.2f}",
            f"{path[0]:.3f} / {path[1]:.3f} / {path[2]:.3f}",
        ]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def goal_text(levels: Sequence[Level]) -> tuple[str, bool]:
    """Whether the prediction meets the goal; the forecast's largest error for comparison."""
    below = [lv for lv in levels if lv.target < GOAL_BELOW_UTILIZATION]
    worst = max(below, key=lambda lv: abs(lv.error(1)))
    met = abs(worst.error(1)) <= GOAL_P95_ERROR

    def forecast_error(lv: Level) -> float:
        return lv.p95_error(lambda r: r.predicted_p95_forecast)

    worst_forecast = max(below, key=lambda lv: abs(forecast_error(lv)))
    unpaired = max(below, key=lambda lv: abs(lv.error_of_medians(1)))
    text = (
        f"Goal (p95 within {100 * GOAL_P95_ERROR:.0f}% below "
        f"{100 * GOAL_BELOW_UTILIZATION:.0f}% utilization): "
        f"{'MET' if met else 'NOT MET'}; largest |p95 error| below the limit: "
        f"{100 * abs(worst.error(1)):.1f}% at rho = {worst.target:.2f} (median over the runs of each "
        f"run's error; comparing the median prediction with the median measurement instead: "
        f"{100 * abs(unpaired.error_of_medians(1)):.1f}% at rho = {unpaired.target:.2f}). "
        f"Forecast with D measured just before each run: largest |p95 error| below the limit "
        f"{100 * abs(forecast_error(worst_forecast)):.1f}% at rho = {worst_forecast.target:.2f}."
    )
    return text, met


def machine_text(args: argparse.Namespace, pinned: bool, elapsed: float) -> str:
    load = os.getloadavg() if hasattr(os, "getloadavg") else (float("nan"),) * 3
    server_text = f"python -m capplan.demo.http_service --concurrency {args.server} ({SERVERS[args.server]})"
    return "\n".join(
        [
            f"- {platform.platform()}, {os.cpu_count()} CPUs ({platform.processor() or platform.machine()}), "
            f"Python {platform.python_version()}, switch interval {sys.getswitchinterval() * 1e3:.0f} ms",
            f"- server pinned to CPU {SERVER_CPU}, generator to CPU {CLIENT_CPU}: "
            f"{'yes' if pinned else 'no'}; scheduling: "
            f"{'SCHED_FIFO (--realtime)' if args.realtime else 'default (SCHED_OTHER)'}",
            f"- server: {server_text}",
            f"- load average at the end: {load[0]:.2f} / {load[1]:.2f} / {load[2]:.2f} (1 / 5 / 15 min)",
            f"- run finished {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, took {elapsed:.0f} s",
        ]
    )


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="short smoke run (3 levels, 1 repeat)")
    parser.add_argument("--repeats", type=int, help="repeats per utilization (default 5; 1 with --quick)")
    parser.add_argument("--markdown", type=Path, help="also write the tables as Markdown to this file")
    parser.add_argument(
        "--server", choices=sorted(SERVERS), default="event-loop", help="the demo server's concurrency"
    )
    parser.add_argument(
        "--realtime",
        action="store_true",
        help="run server and generator under SCHED_FIFO (shields them from other work; needs root)",
    )
    args = parser.parse_args(argv)
    settings = QUICK if args.quick else FULL
    if args.repeats is not None:
        settings = Settings(**{**settings.__dict__, "repeats": args.repeats})
    started = time.perf_counter()
    evidence: list[Evidence] = []
    runs: list[Run] = []
    with tempfile.TemporaryDirectory(prefix="capplan-e2e-") as tmp, running_server(args.server) as server:
        pinned = pin(server.pid, SERVER_CPU) and pin(0, CLIENT_CPU)
        if args.realtime and not (realtime(0) and all(realtime(t) for t in _threads(server.pid))):
            raise SystemExit("--realtime: could not set SCHED_FIFO (needs root or CAP_SYS_NICE)")
        for repeat in range(settings.repeats):
            ev = gather_evidence(server, settings, Path(tmp), seed=100 * repeat)
            evidence.append(ev)
            print(f"Evidence of repeat {repeat} (profile, CPU clock, the server's record, empty requests):")
            print(evidence_table([ev], first=repeat), flush=True)
            for target in settings.utilizations:
                run = load_run(server, ev, target, repeat, settings)
                runs.append(run)
                print(
                    f"  rho={target:.2f} repeat {repeat}: {run.achieved_rate:7.1f} req/s, "
                    f"cpu {run.cpu_utilization:.2f}, D in run / before {_ms(run.demand_run, 3)} / "
                    f"{_ms(run.demand_before, 3)} ms, p95 measured {_ms(run.measured[1])} ms / predicted "
                    f"{_ms(run.predicted[1])} ms / forecast {_ms(run.predicted_p95_forecast)} ms / "
                    f"M/G/1 i.i.d. {_ms(run.predicted_p95_iid)} ms, "
                    f"lateness p99 {run.lateness_p99 * 1e3:.2f} ms",
                    flush=True,
                )
    levels = []
    for t in settings.utilizations:
        mine = tuple(r for r in runs if r.target == t)
        levels.append(Level(t, mine, chance_spread(mine, settings.warmup, settings.repeats)))
    elapsed = time.perf_counter() - started
    goal, _met = goal_text(levels)
    sections = [
        "#### Machine and run",
        machine_text(args, pinned, elapsed),
        "#### Evidence, gathered afresh for each repeat",
        evidence_table(evidence),
        f"#### Predicted (one FIFO server, the run's recorded service times and slowdown) against measured, "
        f"medians over {settings.repeats} run(s) per level",
        "meas / pred: medians over the runs; err: the median over the runs of each run's "
        "(predicted - measured) / measured.",
        results_table(levels),
        "#### Run diagnostics",
        diagnostics_table(levels),
        goal,
    ]
    report = "\n\n".join(sections) + "\n"
    print()
    print(report)
    if args.markdown is not None:
        args.markdown.write_text(report)
    return 0


if __name__ == "__main__":
    sys.exit(main())
