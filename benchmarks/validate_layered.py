"""The layered service model against the demo service with a real database, in three server modes.

Run from the project root (as root, or with PostgreSQL and PgBouncer installed)::

    .venv/bin/python benchmarks/validate_layered.py               # full run (~7 min)
    .venv/bin/python benchmarks/validate_layered.py --quick       # smoke run (~2 min)
    .venv/bin/python benchmarks/validate_layered.py --modes threads --query lookup:20000
    .venv/bin/python benchmarks/validate_layered.py \
        --from-summary benchmarks/results/validate_layered_summary.json   # re-solve the saved runs

What it does (the method is in ``docs/validation.md``, section "The layered model"):

1. Starts a throw-away PostgreSQL behind PgBouncer (:mod:`capplan.demo.database`; transaction
   pooling, :data:`SERVER_CONNECTIONS` server connections) and, per mode, the demo service
   (``python -m capplan.demo.http_service``) with its database step: CPU, hold a connection of an
   application-side pool for one query (``--query``, default ``sleep:0.004``: ``pg_sleep``, a
   pure wait), CPU again.  Modes (:data:`MODES`): ``event-loop`` (one thread, the query
   awaited), ``threads`` (a thread per connection under one interpreter lock), ``prefork``
   (worker processes sharing the socket, each with its own threads and pool).  Nothing is
   pinned: server, database, PgBouncer and load generator share the machine's cores.
2. A closed-loop warm-up gives rough costs that set the rates: the loads are fractions
   (``--levels``) of the capacity of the busiest layer (cores, one interpreter lock per process,
   the application pools, PgBouncer's server connections).
3. Per load level: **evidence** (the model's inputs) - a Poisson stream profiled by py-spy
   ``--idle`` (where every thread is, waits included; one py-spy per process), another by
   py-spy ``--gil`` (what holds the interpreter lock); then the **measured run** (no profiler):
   server CPU clock (all processes), the database's CPU, PgBouncer's and the generator's,
   ``pg_stat_statements`` (calls, mean/total execution time), PgBouncer ``SHOW STATS`` deltas and
   ``SHOW POOLS`` sampled every 100 ms, and, kept apart for diagnosis, client-side latencies
   (open-loop Poisson, ``benchmarks/_loadgen.py``) and the server's per-request split
   (``/debug/requests``: CPU by thread clock, pool wait, hold).
4. Writes one JSON file per run (mode x level) under ``--out`` and a summary to ``--summary``;
   :func:`build_model` turns a run's evidence into a :class:`capplan.layered.ServiceModel`
   (inputs from the profiles, the CPU clocks and the database statistics only - never from the
   measured latencies).  When :mod:`capplan.layered` is importable the prediction is solved and
   compared; otherwise the measurements are still saved and the table says "no model".
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import platform
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from _layered_measure import (
    CONNECTIONS,
    Mode,
    Server,
    closed_loop_warmup,
    db_round_trip,
    measured_stream,
    path_probe,
    profiled_stream,
    realtime_tree,
    running_server,
    served,
)
from _loadgen import LoadResult
from capplan.demo.database import Database, DatabaseSettings, DatabaseUnavailableError, running_database
from capplan.demo.endpoints import REQUEST_FIELDS

ROOT = Path(__file__).resolve().parents[1]
CORES = 2
SERVER_CONNECTIONS = 4  # PgBouncer default_pool_size = max_db_connections
QUANTILES = (0.50, 0.95, 0.99)
GOAL_P95_ERROR = 0.15
GOAL_BELOW_UTILIZATION = 0.70
MODES = {
    "event-loop": Mode("event-loop", processes=1, threads=None, pool_size=4),
    "threads": Mode("threads", processes=1, threads=None, pool_size=4),
    "prefork": Mode("prefork", processes=4, threads=4, pool_size=2),
}


@dataclass(frozen=True)
class Settings:
    levels: tuple[float, ...]  # target utilization of the busiest layer
    duration: float  # seconds of each measured run
    warmup: float  # seconds at its start not counted in the latencies
    profile_duration: float  # seconds of each profiled stream
    spy_rate: int  # py-spy samples per second (per process)
    warm_requests: int
    probe_duration: float


FULL = Settings((0.2, 0.4, 0.55, 0.7), 12.0, 1.0, 6.0, 200, 400, 3.0)
QUICK = Settings((0.3, 0.6), 5.0, 0.5, 3.0, 200, 200, 2.0)


# -- rates: the loads of each layer per request/s, from the warm-up ------------------------------------
def layer_loads(mode: Mode, rough: dict[str, float]) -> dict[str, float]:
    """Utilization of each layer per request/s (the warm-up's rough costs; busy time / servers)."""
    lock = rough["server_cpu_s"] / mode.processes  # one interpreter lock (or event loop) per process
    return {
        "cores": (rough["server_cpu_s"] + rough["other_cpu_s"]) / CORES,
        "interpreter_lock": lock,
        "app_pool": rough["hold_s"] / (mode.processes * mode.pool_size),
        "pgbouncer_servers": rough["hold_s"] / SERVER_CONNECTIONS,
    }


# -- one level ------------------------------------------------------------------------------------------
def latency_summary(result: LoadResult, warmup: float) -> dict[str, Any]:
    counted = result.window(warmup)
    ok = counted & result.ok
    resp = result.response[ok]
    late = result.lateness[counted & np.isfinite(result.sent)]
    return {
        "requests": int(ok.sum()),
        "failed": int((counted & ~result.ok).sum()),
        "achieved_rate": result.achieved_rate(warmup),
        "mean_s": float(resp.mean()) if resp.size else float("nan"),
        **{
            f"p{round(q * 100)}_s": float(np.quantile(resp, q)) if resp.size else float("nan")
            for q in QUANTILES
        },
        "lateness_p50_s": float(np.percentile(late, 50)) if late.size else float("nan"),
        "lateness_p99_s": float(np.percentile(late, 99)) if late.size else float("nan"),
    }


def records_summary(records: list[np.ndarray]) -> dict[str, Any]:
    """Server-side per-request split (diagnosis): mean, p50, p95 of each field; requests per process."""
    rows = np.concatenate(records) if records else np.empty((0, len(REQUEST_FIELDS)))
    out: dict[str, Any] = {"per_process_requests": [len(r) for r in records]}
    for k, name in enumerate(REQUEST_FIELDS[1:], start=1):
        col = rows[:, k]
        out[name] = {
            "mean_s": float(col.mean()) if col.size else float("nan"),
            "p50_s": float(np.percentile(col, 50)) if col.size else float("nan"),
            "p95_s": float(np.percentile(col, 95)) if col.size else float("nan"),
            "scv": float(col.var() / col.mean() ** 2) if col.size and col.mean() > 0 else 0.0,
        }
    return out


def run_level(
    server: Server, db: Database, mode: Mode, level: float, rate: float, s: Settings, workdir: Path
) -> dict[str, Any]:
    seed = 1000 * list(MODES).index(mode.name) + round(100 * level)
    tag = f"{mode.name}-{round(100 * level)}"
    idle = profiled_stream(
        server, rate, s.profile_duration, seed + 1, workdir, f"{tag}-idle", "--idle", s.spy_rate
    )
    gil = profiled_stream(
        server, rate, s.profile_duration, seed + 2, workdir, f"{tag}-gil", "--gil", s.spy_rate
    )
    result, measured = measured_stream(server, db, rate, s.warmup + s.duration, seed + 3)
    evidence = measured["evidence"]
    evidence["requests"] = served(result)
    evidence["profiles"] = {"idle": idle, "gil": gil}
    return {
        "mode": mode.name,
        "level": level,
        "planned_rate": rate,
        "config": config(mode, db),
        "evidence": evidence,
        "measured": {
            "latency": latency_summary(result, s.warmup),
            "server_split": records_summary(measured["records"]),
        },
    }


def config(mode: Mode, db: Database) -> dict[str, Any]:
    return {
        **asdict(mode),
        "cores": CORES,
        "client_connections": CONNECTIONS,
        "worker_threads_per_process": mode.worker_threads(),
        "server_connections": db.settings.server_connections,
        "switch_interval_s": sys.getswitchinterval(),
    }


# -- the model ------------------------------------------------------------------------------------------
def cpu_shares(runs: Sequence[dict[str, Any]]) -> dict[str, float]:
    """Shares of the CPU before and after the database step, from the ``--gil`` profiles of ``runs``.

    The profiles of every level of a mode are pooled (the anatomy does not change with the load,
    and py-spy ``--gil`` takes few samples: about 100 per profile of 500 requests here).  Before:
    the workload's ``begin_request`` and the HTTP work of reading and routing the request; after:
    ``end_request`` and writing the response; the pool's and the driver's own CPU
    (``pool_wait``, ``hold``, ``steps_other``) split evenly around the hold.
    """
    total = {k: 0.0 for k in ("before", "after")}
    samples = 0.0
    for run in runs:
        prof = run["evidence"]["profiles"]["gil"]
        g = {k: v * prof["requests"] for k, v in prof["seconds_per_request"].items()}
        driver = g["hold"] + g["pool_wait"] + g["steps_other"]
        total["before"] += g["cpu_before"] + g["http_before"] + driver / 2
        total["after"] += g["cpu_after"] + g["http_after"] + driver / 2
        samples += prof["samples"]
    both = total["before"] + total["after"]
    return {"before": total["before"] / both, "after": total["after"] / both, "samples": samples}


def model_inputs(run: dict[str, Any], query: str, shares: dict[str, float]) -> dict[str, Any]:
    """The model's inputs from a run's evidence: CPU clock, profile shares, database statistics.

    * CPU per request ``D`` = the server's CPU seconds (all processes, process clock) / requests
      served in the measured run, split before/after the database step by ``shares``
      (:func:`cpu_shares`).
    * ``gil_free`` = the system-time share of the server's CPU clock: CPython releases the
      interpreter lock around system calls (socket I/O, waits), and user time is interpreter
      work.  (``gil_free_profile``, one less the ``--gil`` profile's sampled seconds over the
      CPU clock, is reported too; py-spy ``--gil`` misses samples, so it overstates.)
    * Hold = PgBouncer's query time per query in the run (``SHOW STATS``: from sending the query
      to the server connection to its result) plus the driver's round trip beyond it, measured
      apart by :func:`_layered_measure.db_round_trip`; its SCV from ``pg_stat_statements``
      (stddev / mean of the execution time, squared).
    * CPU SCVs from the thread clocks of the server's record (CPU time, not latency).
    * The CPU that other processes on the same cores spend per request (PostgreSQL, PgBouncer,
      the load generator) is reported, not modelled: ``other_cpu_s``; so are the cores other
      users of the machine kept busy during the run: ``background_cores``.
    """
    ev = run["evidence"]
    n = max(1, ev["requests"])
    d = ev["cpu_s"]["server"] / n
    g = ev["profiles"]["gil"]["seconds_per_request"]
    gil_sampled = sum(v for k, v in g.items() if k != "idle")
    bouncer = ev["pgbouncer"]
    hold = bouncer["total_query_time"] / 1e6 / max(1, bouncer["total_query_count"])
    hold += ev["db_round_trip"]["overhead_s"]
    stmt = next((st for st in ev["statements"] if _is_demo_query(st["query"], query)), None)
    hold_scv = (stmt["stddev_exec_s"] / stmt["mean_exec_s"]) ** 2 if stmt and stmt["mean_exec_s"] > 0 else 0.0
    split = run["measured"]["server_split"]
    wall = ev["wall_s"]
    return {
        "rate": n / wall,
        "cpu_s": d,
        "cpu_before_s": d * shares["before"],
        "cpu_after_s": d * shares["after"],
        "cpu_before_scv": split["cpu_before"]["scv"],
        "cpu_after_scv": split["cpu_after"]["scv"],
        "gil_free": ev["cpu_s"]["server_system"] / ev["cpu_s"]["server"]
        if ev["cpu_s"]["server"] > 0
        else 0.0,
        "gil_free_profile": max(0.0, 1.0 - gil_sampled / d) if d > 0 else 0.0,
        "hold_s": hold,
        "hold_scv": hold_scv,
        "db_exec_s": stmt["mean_exec_s"] if stmt else float("nan"),
        "other_cpu_s": sum(ev["cpu_s"][k] for k in ("postgres", "pgbouncer", "generator")) / n,
        "background_cores": _background_cores(ev),
    }


def _background_cores(ev: dict[str, Any]) -> float:
    """Cores kept busy, on average over the run, by other users of the machine (not ours)."""
    cpu = ev["cpu_s"]
    if "machine" not in cpu:
        return float("nan")
    ours = sum(cpu[k] for k in ("server", "postgres", "pgbouncer", "generator"))
    return max(0.0, float(cpu["machine"] - ours) / float(ev["wall_s"]))


def _is_demo_query(text: str, query: str) -> bool:
    return (
        ("pg_sleep" in text) if query.startswith("sleep") else ("generate_series" in text and "items" in text)
    )


def build_model(measurements: dict[str, Any]) -> Any:
    """A :class:`capplan.layered.ServiceModel` of the run ``measurements`` (one mode, one level).

    Its inputs are ``measurements["inputs"]`` (:func:`model_inputs`: profiles, CPU clocks,
    database statistics); the arrival rate is the measured run's (requests served / its wall
    time).  Raises ``ImportError`` when :mod:`capplan.layered` is not there.
    """
    # optional: the measurements stand without it (imported by name: it may not exist yet)
    ly: Any = importlib.import_module("capplan.layered")

    cfg, x = measurements["config"], measurements["inputs"]
    if cfg["name"] == "event-loop":
        workers = ly.EventLoop(concurrency=cfg["client_connections"])
    else:
        workers = ly.Workers(processes=cfg["processes"], threads=cfg["worker_threads_per_process"])
    steps = [
        ly.Cpu(x["cpu_before_s"], scv=x["cpu_before_scv"]),
        ly.Hold("db", x["hold_s"], scv=x["hold_scv"]),
        ly.Cpu(x["cpu_after_s"], scv=x["cpu_after_scv"]),
    ]
    return ly.ServiceModel(
        cores=cfg["cores"],
        workers=workers,
        gil_free=x["gil_free"],
        pools={"db": ly.Pool(size=cfg["pool_size"], server_limit=cfg["server_connections"])},
        classes=[ly.RequestClass("work", rate=x["rate"], steps=steps)],
    )


def predict(run: dict[str, Any]) -> dict[str, Any]:
    """The model's answer for a run, or why there is none (the measurements are kept either way)."""
    try:
        frame = build_model(run).solve().to_frame()
    except ImportError as exc:
        return {"error": f"capplan.layered not available: {exc}"}
    except Exception as exc:  # the model is under construction: record, do not lose the run
        return {"error": f"{type(exc).__name__}: {exc}"}
    table = json.loads(frame.reset_index().to_json(orient="records"))
    return {"frame": table, **_response_quantiles(table)}


def _response_quantiles(rows: list[dict[str, Any]]) -> dict[str, float]:
    """p50/p95/p99 (seconds) of the class ``work``'s response from the solution's table, if found."""
    out: dict[str, float] = {}
    for row in rows:
        if row.get("class") not in (None, "work"):
            continue
        for q in ("p50", "p95", "p99"):
            for key in (f"response_{q}", q, f"{q}_s", f"response_{q}_s"):
                if isinstance(row.get(key), int | float):
                    out.setdefault(f"{q}_s", float(row[key]))
    return out


# -- report ---------------------------------------------------------------------------------------------
def _ms(v: float) -> str:
    return f"{1e3 * v:.2f}" if np.isfinite(v) else "-"


def table(runs: Sequence[dict[str, Any]]) -> str:
    head = (
        "| mode | level | rate (req/s) | CPU/req (ms) | before / after (ms) | gil_free | hold (ms) | "
        "other CPU/req (ms) | pgb wait/query (ms) | p50 / p95 / p99 measured (ms) | "
        "p95 predicted (ms) | err |"
    )
    lines = [head, "|---|" + "---:|" * 11]
    for run in runs:
        x, lat = run["inputs"], run["measured"]["latency"]
        bouncer = run["evidence"]["pgbouncer"]
        wait = bouncer["total_wait_time"] / 1e6 / max(1, bouncer["total_query_count"])
        pred = run["prediction"].get("p95_s", float("nan"))
        err = f"{100 * (pred / lat['p95_s'] - 1):+.1f}%" if np.isfinite(pred) else "no model"
        lines.append(
            f"| {run['mode']} | {run['level']:.2f} | {lat['achieved_rate']:.1f} | {_ms(x['cpu_s'])} | "
            f"{_ms(x['cpu_before_s'])} / {_ms(x['cpu_after_s'])} | {x['gil_free']:.3f} | "
            f"{_ms(x['hold_s'])} | "
            f"{_ms(x['other_cpu_s'])} | {_ms(wait)} | "
            f"{_ms(lat['p50_s'])} / {_ms(lat['p95_s'])} / {_ms(lat['p99_s'])} | {_ms(pred)} | {err} |"
        )
    return "\n".join(lines)


def summary(runs: Sequence[dict[str, Any]], meta: dict[str, Any]) -> dict[str, Any]:
    keep = []
    for run in runs:
        split = run["measured"]["server_split"]
        keep.append(
            {
                "mode": run["mode"],
                "level": run["level"],
                "config": run["config"],
                "inputs": run["inputs"],
                "measured_latency": run["measured"]["latency"],
                "server_split_mean_s": {k: split[k]["mean_s"] for k in REQUEST_FIELDS[1:]},
                "per_process_requests": split["per_process_requests"],
                "pgbouncer_pools": run["evidence"]["pgbouncer_pools"],
                "path_probe": run["evidence"]["path_probe"],
                "db_round_trip": run["evidence"]["db_round_trip"],
                "predicted": {k: v for k, v in run["prediction"].items() if k != "frame"},
            }
        )
    return {"meta": meta, "runs": keep}


def summary_table(runs: Sequence[dict[str, Any]]) -> str:
    """Measured against predicted response times, one row per run of a summary file (ms)."""
    head = (
        "| mode | level | rate (req/s) | measured p50 / p95 / p99 | predicted p50 / p95 / p99 | p95 error |"
    )
    lines = [head, "|---|---:|---:|---:|---:|---:|"]
    for run in runs:
        lat, pred = run["measured_latency"], run["predicted"]
        p95 = pred.get("p95_s", float("nan"))
        err = f"{100 * (p95 / lat['p95_s'] - 1):+.1f}%" if np.isfinite(p95) else "no model"
        measured = " / ".join(_ms(lat[f"{q}_s"]) for q in ("p50", "p95", "p99"))
        predicted = " / ".join(_ms(pred.get(f"{q}_s", float("nan"))) for q in ("p50", "p95", "p99"))
        row = f"| {run['mode']} | {run['level']:.2f} | {lat['achieved_rate']:.1f} |"
        lines.append(f"{row} {measured} | {predicted} | {err} |")
    return "\n".join(lines)


def rescore_summary(path: Path) -> int:
    """Re-solve the model of every run in a summary file (its configurations and model inputs are
    all the model needs) and rewrite the file's predictions."""
    data = json.loads(path.read_text())
    for run in data["runs"]:
        run["predicted"] = {k: v for k, v in predict(run).items() if k != "frame"}
    path.write_text(json.dumps(data, indent=1, default=float) + "\n")
    print(summary_table(data["runs"]))
    return 0


def rescore(directory: Path, summary_path: Path | None) -> int:
    """Re-solve the model of every run file in ``directory`` (e.g. once :mod:`capplan.layered` exists)."""
    order = list(MODES)
    pairs = [(json.loads(f.read_text()), f) for f in directory.glob("*-[0-9][0-9][0-9].json")]
    pairs.sort(key=lambda pair: (order.index(pair[0]["mode"]), pair[0]["level"]))
    for run, path in pairs:
        run["prediction"] = predict(run)
        path.write_text(json.dumps(run, indent=1, default=float))
    runs = [run for run, _ in pairs]
    old = directory / "summary.json"
    meta = json.loads(old.read_text())["meta"] if old.exists() else {}
    result = summary(runs, meta)
    for target in filter(None, (old, summary_path)):
        target.write_text(json.dumps(result, indent=1, default=float) + "\n")
    print(table(runs))
    return 0


# -- main -----------------------------------------------------------------------------------------------
def run_mode(
    mode: Mode, db: Database, s: Settings, query: str, out: Path, workdir: Path, rt: bool
) -> list[dict[str, Any]]:
    runs = []
    with running_server(mode, db, query) as server:
        if rt and not all(realtime_tree(pid) for pid in (server.process.pid, *db.pids.values())):
            raise SystemExit("--realtime: could not set SCHED_FIFO (needs root or CAP_SYS_NICE)")
        rough = closed_loop_warmup(server, db, s.warm_requests, seed=7)
        probe = path_probe(server, s.probe_duration, seed=8)
        round_trip = db_round_trip(db)
        loads = layer_loads(mode, rough)
        busiest = max(loads.values())
        print(
            f"{mode.name}: rough costs {rough}, busiest layer {max(loads, key=loads.__getitem__)}", flush=True
        )
        for level in s.levels:
            rate = level / busiest
            run = run_level(server, db, mode, level, rate, s, workdir)
            run["planning"] = {"rough": rough, "layer_loads_per_rps": loads}
            run["evidence"]["path_probe"] = probe
            run["evidence"]["db_round_trip"] = round_trip
            runs.append(run)
            lat = run["measured"]["latency"]
            print(
                f"  level {level:.2f}: {lat['achieved_rate']:.1f} req/s, p50/p95/p99 "
                f"{_ms(lat['p50_s'])}/{_ms(lat['p95_s'])}/{_ms(lat['p99_s'])} ms",
                flush=True,
            )
    shares = cpu_shares(runs)
    for run in runs:
        run["inputs"] = {**model_inputs(run, query, shares), "cpu_share_samples": shares["samples"]}
        run["prediction"] = predict(run)
        path = out / f"{mode.name}-{round(100 * run['level']):03d}.json"
        path.write_text(json.dumps(run, indent=1, default=float))
    return runs


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="short smoke run (2 levels, short streams)")
    parser.add_argument("--modes", nargs="+", choices=sorted(MODES), default=list(MODES))
    parser.add_argument("--levels", type=float, nargs="+", help="target utilizations of the busiest layer")
    parser.add_argument("--query", default="sleep:0.004", help="database step: sleep:SECONDS or lookup:ROWS")
    parser.add_argument(
        "--out", type=Path, help="directory of the per-run JSON (default reports/validate_layered/)"
    )
    parser.add_argument("--summary", type=Path, help="also write the summary JSON here")
    parser.add_argument(
        "--from-runs",
        type=Path,
        metavar="DIR",
        help="measure nothing: re-solve the models of the run files in DIR and rewrite its summary",
    )
    parser.add_argument(
        "--realtime",
        action="store_true",
        help="SCHED_FIFO for this script (the generator, py-spy), the service, PostgreSQL and PgBouncer: "
        "shields them from other work on the machine (needs root)",
    )
    parser.add_argument(
        "--from-summary",
        type=Path,
        metavar="JSON",
        help="measure nothing: re-solve the models of a summary file's runs and rewrite its predictions",
    )
    args = parser.parse_args(argv)
    if args.from_summary is not None:
        return rescore_summary(args.from_summary)
    if args.from_runs is not None:
        return rescore(args.from_runs, args.summary)
    s = QUICK if args.quick else FULL
    if args.levels:
        s = replace(s, levels=tuple(args.levels))
    out = args.out or ROOT / "reports" / "validate_layered" / time.strftime("%Y%m%d-%H%M%S")
    out.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    if args.realtime and not realtime_tree(os.getpid()):
        raise SystemExit("--realtime: could not set SCHED_FIFO (needs root or CAP_SYS_NICE)")
    runs: list[dict[str, Any]] = []
    try:
        with (
            running_database(DatabaseSettings(server_connections=SERVER_CONNECTIONS)) as db,
            tempfile.TemporaryDirectory(prefix="capplan-layered-") as tmp,
        ):
            for name in args.modes:
                runs += run_mode(MODES[name], db, s, args.query, out, Path(tmp), args.realtime)
                for f in Path(tmp).iterdir():  # keep the profiles next to the runs that used them
                    f.replace(out / f.name)
    except DatabaseUnavailableError as exc:
        raise SystemExit(f"validate_layered: {exc}") from None
    meta = {
        "machine": f"{platform.platform()}, {os.cpu_count()} CPUs, Python {platform.python_version()}",
        "query": args.query,
        "realtime": args.realtime,
        "settings": asdict(s),
        "elapsed_s": round(time.perf_counter() - started, 1),
        "finished": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "load_average": os.getloadavg(),
    }
    result = summary(runs, meta)
    (out / "summary.json").write_text(json.dumps(result, indent=1, default=float))
    if args.summary:
        args.summary.write_text(json.dumps(result, indent=1, default=float) + "\n")
    print()
    print(table(runs))
    print(f"\nper-run JSON and profiles in {out}; took {meta['elapsed_s']} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
