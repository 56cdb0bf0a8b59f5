"""What ``benchmarks/validate_layered.py`` makes of its measurements: profile categories and model inputs.

The measurements themselves come from real servers (``tests/test_demo_database.py`` checks those
pieces); here the arithmetic that turns them into the layered model's inputs is checked on
evidence written by hand, so every expected number follows from the documented definitions.
"""

from __future__ import annotations

import json
import shutil
import sys
import types
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
from _layered_measure import CATEGORIES, Mode, profile_split
from validate_layered import (
    build_model,
    cpu_shares,
    layer_loads,
    model_inputs,
    predict,
    rescore_summary,
    summary_table,
)

SUMMARY = "validate_layered_summary.json"

RUN = "Thread.run (threading.py:982)"
STEPS = f"{RUN};_Handler.do_GET (capplan/demo/http_service.py:130);serve_blocking (capplan/demo/steps.py:47)"
WORK = "capplan/demo/workload.py"
DB = "capplan/demo/dbstep.py"
STACKS = [  # (frames below the thread's root, samples), as py-spy writes them
    (f"{STEPS};begin_request ({WORK}:106);price ({WORK}:90)", 30),
    (f"{STEPS};end_request ({WORK}:111);render ({WORK}:99)", 10),
    (f"{STEPS};ThreadedPool.run ({DB}:140);run_query ({DB}:110);Cursor.execute (psycopg/cursor.py:97)", 50),
    (f"{STEPS};ThreadedPool.run ({DB}:139);ConnectionPool.getconn (psycopg_pool/pool.py:200)", 5),
    (f"{RUN};Worker.run (psycopg_pool/sched.py:60);Queue.get (queue.py:171)", 100),
    (f"{RUN};handle_one_request (http/server.py:404);SocketIO.readinto (socket.py:706)", 200),
    (f"{RUN};_Handler._reply (capplan/demo/http_service.py:120);BufferedWriter.flush (x.py:1)", 4),
    (f"{RUN};handle_one_request (http/server.py:410);parse_request (http/server.py:300)", 6),
]
RAW = "".join(f"{stack} {n}\n" for stack, n in STACKS)


def test_profile_stacks_fall_in_the_documented_categories(tmp_path: Path) -> None:
    path = tmp_path / "p.txt"
    path.write_text(RAW)
    split = profile_split([path], requests=10)
    per_request = split["seconds_per_request"]
    assert set(per_request) == set(CATEGORIES)
    rate = 100.0  # py-spy's default rate, assumed by the raw format: 0.01 s per sample
    expected = {
        "cpu_before": 30,
        "cpu_after": 10,
        "hold": 50,
        "pool_wait": 5,
        "idle": 300,  # the pool's worker thread and a keep-alive connection's thread in recv
        "http_after": 4,
        "http_before": 6,
        "steps_other": 0,
    }
    for name, samples in expected.items():
        assert per_request[name] == pytest.approx(samples / rate / 10), name


def _run(gil: dict[str, float], requests: int = 1000) -> dict[str, Any]:
    return {
        "evidence": {
            "requests": requests,
            "wall_s": 5.0,
            "cpu_s": {
                "server": 2.0,
                "server_system": 0.1,
                "postgres": 0.2,
                "pgbouncer": 0.1,
                "generator": 0.2,
                "machine": 3.0,
            },
            "pgbouncer": {"total_query_time": 5_000_000, "total_query_count": 1000, "total_wait_time": 0},
            "db_round_trip": {"overhead_s": 0.0001},
            "statements": [{"query": "SELECT pg_sleep($1)", "mean_exec_s": 0.004, "stddev_exec_s": 0.0004}],
            "profiles": {"gil": {"requests": 500, "samples": 100, "seconds_per_request": gil}},
        },
        "measured": {"server_split": {"cpu_before": {"scv": 0.01}, "cpu_after": {"scv": 0.05}}},
    }


def test_model_inputs_follow_their_definitions() -> None:
    gil = dict.fromkeys(CATEGORIES, 0.0) | {
        "cpu_before": 6e-4,
        "cpu_after": 2e-4,
        "hold": 1e-4,
        "http_after": 1e-4,
    }
    run = _run(gil)
    shares = cpu_shares([run])
    # before: 0.6 + half of the driver's 0.1; after: 0.2 + 0.1 + the other half (ms per request)
    assert shares["before"] == pytest.approx(0.65 / 1.0)
    assert shares["after"] == pytest.approx(0.35 / 1.0)
    x = model_inputs(run, "sleep:0.004", shares)
    assert x["cpu_s"] == pytest.approx(2.0 / 1000)  # CPU clock / requests
    assert x["cpu_before_s"] == pytest.approx(0.002 * 0.65)
    assert x["rate"] == pytest.approx(1000 / 5.0)
    assert x["gil_free"] == pytest.approx(0.1 / 2.0)  # the system-time share
    assert x["hold_s"] == pytest.approx(5.0 / 1000 + 0.0001)  # PgBouncer's query time + round trip
    assert x["hold_scv"] == pytest.approx(0.01)  # (0.4 ms / 4 ms)^2
    assert x["other_cpu_s"] == pytest.approx(0.5 / 1000)
    assert x["background_cores"] == pytest.approx((3.0 - 2.5) / 5.0)


def test_layer_loads_name_the_busiest_layer() -> None:
    rough = {"server_cpu_s": 0.002, "other_cpu_s": 0.0005, "hold_s": 0.006}
    threads = layer_loads(Mode("threads", 1, None, 4), rough)
    assert max(threads, key=threads.__getitem__) == "interpreter_lock"  # 2 ms on one lock
    prefork = layer_loads(Mode("prefork", 4, 4, 2), rough)
    # four locks share the load; PgBouncer's 4 server connections at 6 ms each bind first
    assert prefork["cores"] == pytest.approx(0.0025 / 2)
    assert prefork["pgbouncer_servers"] == pytest.approx(0.006 / 4)
    assert max(prefork, key=prefork.__getitem__) == "pgbouncer_servers"


def test_the_model_is_built_from_the_inputs_and_its_absence_is_recorded(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """``build_model`` against the documented API (a recording stand-in for ``capplan.layered``,
    which is written in parallel); without the module the run is kept with the reason."""
    made: dict[str, Any] = {}

    def recorder(name: str) -> Any:
        return lambda *args, **kwargs: (
            made.setdefault(name, []).append((args, kwargs)) or (name, args, kwargs)
        )

    fake = types.ModuleType("capplan.layered")
    for name in ("ServiceModel", "Workers", "EventLoop", "Pool", "RequestClass", "Cpu", "Hold"):
        setattr(fake, name, recorder(name))
    run = _run(dict.fromkeys(CATEGORIES, 1e-4))
    run["config"] = {
        "name": "prefork", "processes": 4, "worker_threads_per_process": 4, "pool_size": 2,
        "server_connections": 4, "cores": 2, "client_connections": 32,
    }  # fmt: skip
    run["inputs"] = model_inputs(run, "sleep:0.004", cpu_shares([run]))
    monkeypatch.setitem(sys.modules, "capplan.layered", fake)
    build_model(run)
    model_kwargs = made["ServiceModel"][0][1]
    assert model_kwargs["cores"] == 2 and model_kwargs["gil_free"] == pytest.approx(0.05)
    assert made["Workers"] == [((), {"processes": 4, "threads": 4})]
    assert made["Pool"] == [((), {"size": 2, "server_limit": 4})]
    assert made["Hold"][0][0] == ("db", run["inputs"]["hold_s"])
    assert [a[0] for a, _ in made["Cpu"]] == [run["inputs"]["cpu_before_s"], run["inputs"]["cpu_after_s"]]
    assert made["RequestClass"][0][1]["rate"] == pytest.approx(200.0)
    monkeypatch.setitem(sys.modules, "capplan.layered", None)  # importing it now raises ImportError
    assert "capplan.layered not available" in predict(run)["error"]


def test_summary_rescore_predicts_every_committed_run(tmp_path: Path) -> None:
    """``--from-summary``: every run of the committed summary (3 modes x 4 levels) gets the layered
    model's p50 <= p95 <= p99 from its configuration and inputs alone, and the table compares
    them with the measured p95."""
    path = tmp_path / "summary.json"
    shutil.copy(Path(__file__).resolve().parents[1] / "benchmarks" / "results" / SUMMARY, path)
    assert rescore_summary(path) == 0
    runs = json.loads(path.read_text())["runs"]
    assert len(runs) == 12
    for run in runs:
        pred = run["predicted"]
        assert 0 < pred["p50_s"] <= pred["p95_s"] <= pred["p99_s"], (run["mode"], run["level"], pred)
    rows = summary_table(runs).splitlines()[2:]
    assert len(rows) == 12 and all(row.rstrip(" |").endswith("%") for row in rows)
