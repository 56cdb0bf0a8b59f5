"""Real-server check of the overload model: goodput and recovery after a spike, measured and predicted.

Run from the project root::

    .venv/bin/python benchmarks/validate_overload.py                    # full run (~12 min)
    .venv/bin/python benchmarks/validate_overload.py --quick            # smoke run (~2 min)
    .venv/bin/python benchmarks/validate_overload.py --markdown out.md  # also write the tables

What it does (``docs/validation.md``, section "Overload", says why):

1. Starts the demo service ``python -m capplan.demo.http_service --concurrency event-loop`` (one
   thread, each request run to completion: one FIFO server) on a free loopback port, pinned to
   CPU 0; this script, the load generator, runs on CPU 1.  Both run under ``SCHED_FIFO`` when
   permitted (``--no-realtime`` to leave the scheduler alone): the machine is shared, and a
   server that gets half a CPU has half the capacity the model was told about.
2. **Calibration.**  A Poisson stream at about 25% utilization: the service demand ``D`` is the
   server's CPU seconds per request over it (the service demand law), the shape of the service
   time the server's own record of those requests (``/debug/service-times``), rescaled to ``D``.
3. **Model.**  Clients with a timeout of 200 ms (about 130 ``D``), one retry after a backoff
   drawn uniformly from [0, 10 ms] (full jitter).  From ``D`` alone:
   :class:`capplan.overload.RetryAmplification` gives the recovery load (``mu / 2``) and the
   collapse load, :func:`capplan.overload.spike_tolerance` the longest spike survived at the
   vulnerable load, and :func:`capplan.sim.simulate_overload` replays each run's own schedule of
   first attempts (several seeds) to predict its success ratio over time and whether and when it
   recovers.
4. **Measurement.**  ``benchmarks/_loadgen.py``'s :func:`run_with_retries`: first attempts at
   the scheduled instants (Poisson at the base load with a spike to 1.5 ``mu``), each attempt
   abandoned after the timeout and retried; the late response of an abandoned attempt is read
   and thrown away (the server is not told the client left, and serves it).  Scenarios: a
   stable load (25% of ``mu``, below the recovery load) and a vulnerable one (65%, between the
   recovery and collapse loads), each with a 2 s spike; in the full run also the vulnerable load
   with spikes half and twice the predicted tolerance.  The first attempts of a run are all
   scheduled in advance, so what the server does cannot slow them down (open loop).

The model is told ``D`` and the shape of the service time; nothing in it is fitted to the runs.
"""

from __future__ import annotations

import argparse
import os
import platform
import random
import statistics
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from _loadgen import RetryLoadResult, run_open_loop, run_with_retries
from capplan.overload import Backoff, ClientPolicy, RetryAmplification, RetryPolicy, spike_tolerance
from capplan.sim import Load, simulate_overload
from capplan.sim.overload_result import recovery_time, success_by_bin
from validate_end_to_end import (
    HOST,
    Server,
    _threads,
    cpu_seconds,
    path_maker,
    pin,
    read_record,
    realtime,
    request_ids,
    running_server,
)

FloatArray = NDArray[np.float64]
SERVER_CPU, CLIENT_CPU = 0, 1
TIMEOUT = 0.200
RETRIES = 1
BACKOFF = Backoff.fixed(0.010, jitter="full")
CLIENT = ClientPolicy(TIMEOUT, RetryPolicy(RETRIES, BACKOFF))
PEAK = 1.5  # spike height, times mu
STABLE, VULNERABLE = 0.25, 0.65  # base loads, times mu
BIN = 1.0  # seconds: success ratio per second of first sends
RECOVERED = 0.9  # a bin has recovered when this share of its requests succeed


@dataclass(frozen=True)
class Settings:
    calibration_duration: float
    before: float  # seconds of base load before the spike
    after: float  # seconds of base load after it
    repeats: int
    seeds: int  # simulations per prediction
    tolerance_spikes: bool  # also spikes of 0.5x and 2x the predicted tolerance


FULL = Settings(calibration_duration=20.0, before=5.0, after=25.0, repeats=3, seeds=8, tolerance_spikes=True)
QUICK = Settings(calibration_duration=8.0, before=4.0, after=15.0, repeats=1, seeds=4, tolerance_spikes=False)


@dataclass(frozen=True)
class Calibration:
    demand: float  # D, CPU seconds per request
    service: FloatArray  # the server's recorded service times, rescaled to mean D
    requests: int

    @property
    def mu(self) -> float:
        return 1.0 / self.demand


@dataclass(frozen=True)
class Scenario:
    name: str
    base: float  # times mu
    spike: float  # seconds


@dataclass(frozen=True)
class Outcome:
    """Success ratio per window, whether and when the run recovered, attempts per request."""

    windows: dict[str, float]
    recovery: float  # seconds after the spike (inf: not recovered by the end)
    attempts: float


@dataclass(frozen=True)
class Run:
    scenario: Scenario
    repeat: int
    measured: Outcome
    predicted: list[Outcome]
    served: int  # requests the server served during the run and its backlog
    sent: int  # attempts the clients sent
    lateness_p99: float
    connections: int


def wait_idle(server: Server, quiet: float = 0.02, every: float = 0.5) -> None:
    """Return once the server's CPU clock advances less than ``quiet`` s in ``every`` s."""
    last = cpu_seconds(server.pid)
    while True:
        time.sleep(every)
        now = cpu_seconds(server.pid)
        if now - last < quiet:
            return
        last = now


def calibrate(server: Server, s: Settings, seed: int) -> Calibration:
    """D from the CPU clock over a light Poisson stream, the shape from the server's record."""
    read_record(server)  # forget what came before
    ids = request_ids(seed, 100_000)
    probe = run_open_loop(HOST, server.port, 50.0, 2.0, path_maker(ids), seed=seed)  # rough D
    del probe
    rough = read_record(server)[:, 1].mean()
    before = cpu_seconds(server.pid)
    run_open_loop(HOST, server.port, 0.25 / rough, s.calibration_duration, path_maker(ids), seed=seed + 1)
    wait_idle(server)
    cpu = cpu_seconds(server.pid) - before
    record = read_record(server)
    demand = cpu / len(record)
    service = record[:, 1] * (demand / record[:, 1].mean())
    return Calibration(demand, np.asarray(service), len(record))


def outcome(
    first_sent: FloatArray, succeeded: NDArray[np.bool_], attempts: float, sc: Scenario, s: Settings
) -> Outcome:
    end = s.before + sc.spike
    duration = end + s.after
    success = success_by_bin(first_sent, succeeded, BIN, int(np.ceil(duration / BIN)))
    windows = {
        "before": (0.0, s.before),
        "spike": (s.before, end),
        "0-5 s after": (end, end + 5.0),
        "5-15 s after": (end + 5.0, end + 15.0),
        "last 10 s": (duration - 10.0, duration),
    }
    shares = {}
    for name, (a, b) in windows.items():
        mask = (first_sent >= a) & (first_sent < b)
        shares[name] = float(succeeded[mask].mean()) if mask.any() else float("nan")
    return Outcome(shares, recovery_time(success, BIN, end, RECOVERED), attempts)


def measure(server: Server, cal: Calibration, sc: Scenario, repeat: int, s: Settings, seed: int) -> Run:
    load = Load.spike(sc.base * cal.mu, PEAK * cal.mu, s.before, sc.spike, s.before + sc.spike + s.after)
    schedule = load.arrival_times(np.random.default_rng(seed))
    jitter = random.Random(seed)
    ids = request_ids(seed, schedule.size)
    read_record(server)
    result: RetryLoadResult = run_with_retries(
        HOST,
        server.port,
        schedule,
        path_maker(ids),
        timeout=TIMEOUT,
        max_retries=RETRIES,
        backoff=lambda k: float(BACKOFF.delay(k)) * jitter.random(),
        connections=5000,
    )
    wait_idle(server)
    served = len(read_record(server))
    sent = int(np.isfinite(result.sent).sum())
    measured = outcome(schedule, result.succeeded, sent / schedule.size, sc, s)
    predicted = []
    for k in range(s.seeds):
        sim = simulate_overload(
            schedule,
            cal.service,
            1,
            seed=seed * 100 + k,
            client=CLIENT,
            duration=load.duration,
            bin_width=BIN,
        )
        predicted.append(outcome(schedule, sim.succeeded, sim.totals()["amplification"], sc, s))
    late = float(np.percentile(result.lateness, 99)) if result.lateness.size else 0.0
    return Run(sc, repeat, measured, predicted, served, sent, late, result.connections)


def _fmt_time(seconds: float) -> str:
    return "never" if not np.isfinite(seconds) else f"{seconds:.0f} s"


def _median(values: Sequence[float]) -> float:
    finite = [v for v in values if np.isfinite(v)]
    if len(finite) * 2 <= len(values):  # most did not recover: the median is "never"
        return float("inf")
    return float(statistics.median(sorted(values)))


def results_table(runs: Sequence[Run]) -> str:
    lines = [
        "| scenario | run | recovered (measured) | recovered (predicted, of seeds) "
        "| success 0-5 s after: measured / predicted | success 5-15 s after | success last 10 s "
        "| attempts per request | served / sent |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in runs:
        m, p = r.measured, r.predicted
        ok = sum(np.isfinite(o.recovery) for o in p)
        pred = {k: statistics.mean(o.windows[k] for o in p) for k in m.windows}
        lines.append(
            f"| {r.scenario.name} | {r.repeat + 1} | {_fmt_time(m.recovery)} | {ok} of {len(p)} "
            f"(median {_fmt_time(_median([o.recovery for o in p]))}) | "
            f"{m.windows['0-5 s after']:.2f} / {pred['0-5 s after']:.2f} | "
            f"{m.windows['5-15 s after']:.2f} / {pred['5-15 s after']:.2f} | "
            f"{m.windows['last 10 s']:.2f} / {pred['last 10 s']:.2f} | "
            f"{m.attempts:.2f} / {statistics.mean(o.attempts for o in p):.2f} | {r.served} / {r.sent} |"
        )
    return "\n".join(lines)


def diagnostics_table(runs: Sequence[Run]) -> str:
    lines = [
        "| scenario | run | success before the spike | during the spike: measured / predicted | "
        "generator lateness p99 | connections opened |",
        "|---|---|---|---|---|---|",
    ]
    for r in runs:
        p = statistics.mean(o.windows["spike"] for o in r.predicted)
        lines.append(
            f"| {r.scenario.name} | {r.repeat + 1} | {r.measured.windows['before']:.3f} | "
            f"{r.measured.windows['spike']:.2f} / {p:.2f} | {r.lateness_p99 * 1e3:.2f} ms | {r.connections} |"
        )
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--quick", action="store_true", help="two scenarios, one repeat, shorter runs")
    parser.add_argument("--markdown", metavar="FILE", help="also write the tables as Markdown")
    parser.add_argument("--no-realtime", action="store_true", help="leave the scheduler policy alone")
    parser.add_argument("--seed", type=int, default=2026)
    args = parser.parse_args(argv)
    s = QUICK if args.quick else FULL
    started = time.perf_counter()
    pinned = pin(os.getpid(), CLIENT_CPU)
    with running_server("event-loop") as server:
        pinned = pin(server.pid, SERVER_CPU) and pinned
        rt = not args.no_realtime and realtime(0) and all(realtime(t) for t in _threads(server.pid))
        cal = calibrate(server, s, args.seed)
        model = RetryAmplification(
            CLIENT, 1, service_rate=cal.mu, service_scv=float(np.var(cal.service) / cal.demand**2)
        )
        tolerance = spike_tolerance(model, VULNERABLE * cal.mu, PEAK * cal.mu)
        scenarios = [
            Scenario(f"stable: {STABLE:.0%} of mu, 2 s spike", STABLE, 2.0),
            Scenario(f"vulnerable: {VULNERABLE:.0%} of mu, 2 s spike", VULNERABLE, 2.0),
        ]
        if s.tolerance_spikes and np.isfinite(tolerance):
            scenarios += [
                Scenario(
                    f"vulnerable, spike 0.5x tolerance ({0.5 * tolerance:.2f} s)", VULNERABLE, 0.5 * tolerance
                ),
                Scenario(
                    f"vulnerable, spike 2x tolerance ({2 * tolerance:.2f} s)", VULNERABLE, 2.0 * tolerance
                ),
            ]
        runs = []
        for repeat in range(s.repeats):
            for i, sc in enumerate(scenarios):
                seed = args.seed + 1000 * repeat + 10 * i
                runs.append(measure(server, cal, sc, repeat, s, seed))
                healed = _fmt_time(runs[-1].measured.recovery)
                print(f"  done: {sc.name}, run {repeat + 1} (recovered after {healed})", flush=True)
    elapsed = time.perf_counter() - started
    head = [
        f"Machine: {platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()}; "
        f"server on CPU {SERVER_CPU}, generator on CPU {CLIENT_CPU} "
        f"({'pinned' if pinned else 'NOT pinned'}); SCHED_FIFO: {'yes' if rt else 'no'}; "
        f"{elapsed / 60:.1f} min ({'quick' if args.quick else 'full'}).",
        "",
        f"Calibration: D = {cal.demand * 1e3:.3f} ms of server CPU per request over {cal.requests} requests "
        f"(mu = {cal.mu:.0f}/s); service-time SCV {np.var(cal.service) / cal.demand**2:.3f}.",
        f"Clients: timeout {TIMEOUT * 1e3:.0f} ms ({TIMEOUT / cal.demand:.0f} D), {RETRIES} retry after "
        f"U(0, {BACKOFF.base * 1e3:.0f} ms); spikes to {PEAK:g} mu = {PEAK * cal.mu:.0f}/s.",
        f"Model: recovery load {model.recovery_load:.0f}/s ({model.recovery_load / cal.mu:.2f} mu), "
        f"collapse load {model.collapse_load:.0f}/s ({model.collapse_load / cal.mu:.2f} mu); at "
        f"{VULNERABLE:.0%} of mu a spike to {PEAK:g} mu is survived for {tolerance:.2f} s (fluid model).",
        "",
        "### Recovery and success after the spike: measured against predicted",
        "",
        results_table(runs),
        "",
        "### Run diagnostics",
        "",
        diagnostics_table(runs),
    ]
    text = "\n".join(head)
    print(text)
    if args.markdown:
        Path(args.markdown).write_text(text + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
