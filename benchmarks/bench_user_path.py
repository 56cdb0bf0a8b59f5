"""The path a user walks: import, help, the bundled plan, each sizing call, the notebook suite.

Run from the project root::

    .venv/bin/python benchmarks/bench_user_path.py                # ~1-3 min on 2 cores
    .venv/bin/python benchmarks/bench_user_path.py --notebooks    # + the nbval suite (~1.5 min more)
    .venv/bin/python benchmarks/bench_user_path.py --repeats 3 --skip-profile

What is measured (wall-clock seconds, medians of ``--repeats`` runs; the machine is shared):

* baseline, in the same run: ``python -c "import pandas"`` in a fresh interpreter.  Every
  process-level figure is also printed as a ratio to it, so a busy moment scales both.
* ``python -c "import capplan"`` (goal <= 0.3 s and <= 1.0x the baseline), and which heavy
  dependencies it loads (goal: none of scipy.stats, matplotlib, numba, dask, prometheus_client).
* ``capplan --help`` and ``capplan <command> --help`` for every command (goal <= 0.3 s).
* ``capplan plan data/capacity-plan.yaml --out r.html``: on an empty numba cache
  (``NUMBA_CACHE_DIR`` a new directory: every kernel compiles), the first run after install (a new
  cache filled by ``python -m capplan.warmup``, the step ``make install`` runs, itself timed) and
  warm runs; goals <= 3 s first and <= 1 s warm; peak RSS of the process (``ru_maxrss`` from
  ``wait4``, goal <= 300 MB).
* The floor under the plan: ``pandas``, matplotlib's Agg figure and ``numba`` imported and one
  cached kernel loaded in a fresh interpreter, with no model work (time and peak RSS): what the
  plan's process pays whatever the models cost.
* In this process, each sizing call after one warm-up call: one layered ``ServiceModel.solve()``
  (the layout bench_layered_sizing.py chooses for notebook 03's service), ``size_replicas`` with exponential,
  lognormal and heavy-tailed (Lomax, tail index 2.5) service, ``size_pool`` and ``size_cache``
  (the bundled access trace's Zipf fit, as the plan sizes it); goal <= 50 ms each.
* The plan's time split under cProfile (one run in a fresh interpreter, warm numba cache):
  imports, sizing, cache fit, database check, autoscaling run, report rendering and PNG encoding,
  numba compilation.  cProfile inflates pure-Python parts, so read the shares, not the totals.
* ``--notebooks``: the nbval suite (strict) once as ``make test`` runs it, a notebook per core
  (pytest-xdist, ``-n auto --dist loadfile``), total and per notebook; goal <= 90 s.  With
  ``--serial-notebooks`` also one notebook at a time (a plain ``pytest notebooks``), for reference.
"""

from __future__ import annotations

import argparse
import importlib.util
import io
import json
import os
import pstats
import statistics
import subprocess
import sys
import tempfile
import time
import xml.etree.ElementTree as ET
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
CAPPLAN = str(BIN / "capplan")
PLAN_ARGS = ["plan", "data/capacity-plan.yaml", "--out"]
HEAVY = ("scipy.stats", "matplotlib", "numba", "dask", "prometheus_client", "pandas")

GOAL_IMPORT_S = 0.3
GOAL_HELP_S = 0.3
GOAL_PLAN_WARM_S = 1.0
GOAL_PLAN_FIRST_S = 3.0
GOAL_PLAN_RSS_MB = 300.0
GOAL_SIZING_S = 0.050
GOAL_NOTEBOOKS_S = 90.0


def run_process(argv: Sequence[str], env: dict[str, str] | None = None) -> tuple[float, float]:
    """Wall seconds and peak RSS (MB) of one child process; its output is discarded."""
    t0 = time.perf_counter()
    proc = subprocess.Popen(
        argv, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True
    )
    _, status, usage = os.wait4(proc.pid, 0)
    elapsed = time.perf_counter() - t0
    proc.returncode = os.waitstatus_to_exitcode(status)
    stderr = proc.stderr.read() if proc.stderr else ""
    if proc.returncode not in (0, 1):  # capplan plan exits 0; check would exit 1 on a miss
        raise RuntimeError(f"{' '.join(argv)} exited {proc.returncode}: {stderr[-2000:]}")
    return elapsed, usage.ru_maxrss / 1024.0


def median_process(argv: Sequence[str], repeats: int, env: dict[str, str] | None = None) -> float:
    return statistics.median(run_process(argv, env)[0] for _ in range(repeats))


def median_call(fn: Callable[[], object], repeats: int) -> float:
    """Median seconds of ``fn()`` after one warm-up call (compilation, caches of the first call)."""
    fn()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


class Table:
    """Rows of ``what, seconds, ratio to the baseline, goal, met``, printed as they come."""

    def __init__(self, baseline: float) -> None:
        self.baseline = baseline
        self.rows: list[dict[str, Any]] = []
        print(f"{'what':58} {'seconds':>9} {'x base':>7} {'goal':>9}  met")

    def add(self, what: str, seconds: float, goal: float | None, unit: str = "s") -> None:
        met = None if goal is None else seconds <= goal
        self.rows.append({"what": what, "value": seconds, "unit": unit, "goal": goal, "met": met})
        ratio = f"{seconds / self.baseline:7.2f}" if unit == "s" else f"{'':7}"
        goal_text = "" if goal is None else f"{goal:g} {unit}"
        mark = "" if met is None else ("yes" if met else "NO")
        print(f"{what:58} {seconds:9.3f} {ratio} {goal_text:>9}  {mark}", flush=True)


def heavy_modules_on_import() -> list[str]:
    code = f"import sys, capplan; print(','.join(m for m in {HEAVY!r} if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    return [m for m in out.stdout.strip().split(",") if m]


def commands() -> list[str]:
    from capplan.cli import _parser  # noqa: PLC0415 - after the import timings

    parser = _parser()
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return list(sub.choices)


def bench_processes(table: Table, repeats: int) -> None:
    t = median_process([sys.executable, "-c", "import capplan"], repeats)
    table.add("import capplan", t, GOAL_IMPORT_S)
    table.add("import capplan / import pandas (goal <= 1.0x)", t / table.baseline, 1.0, unit="x")
    loaded = heavy_modules_on_import()
    print(f"  heavy modules after `import capplan`: {', '.join(loaded) or 'none'}")
    table.add("capplan --help", median_process([CAPPLAN, "--help"], repeats), GOAL_HELP_S)
    for command in commands():
        t = median_process([CAPPLAN, command, "--help"], repeats)
        table.add(f"capplan {command} --help", t, GOAL_HELP_S)


#: What the plan's process cannot skip before any model work: pandas (its tables), matplotlib's Agg
#: figure (the report's figures), and numba with one cached kernel loaded (LLVM's set-up).
_FLOOR = """
import numpy as np, pandas
import matplotlib.figure, matplotlib.backends.backend_agg
from capplan.caches._ttl_kernel import hit_probabilities
hit_probabilities(np.ones(2), 1.0, 1.0, 0)
"""


def bench_floor(table: Table, repeats: int) -> None:
    """The plan path's floor: the dependencies it needs, imported, and one kernel loaded."""
    env = os.environ | {"MPLBACKEND": "Agg"}
    seconds = statistics.median(run_process([sys.executable, "-c", _FLOOR], env)[0] for _ in range(repeats))
    table.add("  floor: import pandas, matplotlib Agg, numba + 1 kernel", seconds, None)
    table.add("  floor peak RSS (MB)", run_process([sys.executable, "-c", _FLOOR], env)[1], None, unit="MB")


def bench_plan(table: Table, repeats: int, report: Path) -> None:
    """The bundled plan on an empty numba cache (no install step), after ``make install``'s
    ``python -m capplan.warmup`` filled a new one, and warm."""
    argv = [CAPPLAN, *PLAN_ARGS, str(report)]
    with tempfile.TemporaryDirectory(prefix="numba-cache-") as cold, tempfile.TemporaryDirectory() as cache:
        cold_s, _ = run_process(argv, os.environ | {"NUMBA_CACHE_DIR": cold, "MPLBACKEND": "Agg"})
        table.add("capplan plan, empty numba cache (no install step)", cold_s, None)
        env = os.environ | {"NUMBA_CACHE_DIR": cache, "MPLBACKEND": "Agg"}
        if importlib.util.find_spec("capplan.warmup") is not None:  # older capplans had no install step
            install_s, _ = run_process([sys.executable, "-m", "capplan.warmup"], env)
            table.add("  install step: python -m capplan.warmup (make install)", install_s, None)
        first, first_rss = run_process(argv, env)
        table.add("capplan plan (first run after install)", first, GOAL_PLAN_FIRST_S)
        runs = [run_process(argv, env) for _ in range(repeats)]
    table.add("capplan plan (warm)", statistics.median(r[0] for r in runs), GOAL_PLAN_WARM_S)
    table.add("capplan plan peak RSS, warm (MB)", max(r[1] for r in runs), GOAL_PLAN_RSS_MB, unit="MB")
    table.add("capplan plan peak RSS, first run (MB)", first_rss, GOAL_PLAN_RSS_MB, unit="MB")


def sizing_calls() -> dict[str, Callable[[], object]]:
    """The sizing calls of the bundled plan, and heavier service distributions for size_replicas."""
    import warnings  # noqa: PLC0415

    from scipy import stats  # noqa: PLC0415

    from capplan import load_sla  # noqa: PLC0415
    from capplan.caches import CatalogFractionWarning, fit_zipf  # noqa: PLC0415
    from capplan.distributions import lognormal  # noqa: PLC0415
    from capplan.measurements import read_trace  # noqa: PLC0415
    from capplan.sizing import size_cache, size_pool, size_replicas  # noqa: PLC0415

    sla = load_sla(ROOT / "data" / "performance-sla.yaml", ROOT / "data" / "performance-budget.yaml")
    targets = sla.latency_targets_for("api_endpoints", "critical_operations")
    common: dict[str, Any] = {"workers": 8, "max_utilization": 0.7, "redundancy": 1, "zones": 3}
    lomax = stats.lomax(2.5, scale=0.040 * 1.5)  # mean scale / (c - 1) = 40 ms, tail index 2.5
    popularity = fit_zipf(read_trace(ROOT / "data" / "access_trace.csv.gz").keys).popularity()

    def cache() -> object:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", CatalogFractionWarning)
            return size_cache(popularity, 5000.0, backend_latency=0.020, hit_latency=0.001, sla=sla)

    return {
        "layered solve, notebook 03's service, 8 x 8 workers": layered_solve(),
        "size_replicas, exponential 40 ms": lambda: size_replicas(
            2000.0, targets, service_time=0.040, **common
        ),
        "size_replicas, lognormal 40 ms SCV 4": lambda: size_replicas(
            2000.0, targets, service=lognormal(0.040, 4.0), **common
        ),
        "size_replicas, Lomax 40 ms tail index 2.5": lambda: size_replicas(
            2000.0, targets, service=lomax, **common
        ),
        "size_replicas, constant 40 ms (GI/D/c lattice)": lambda: size_replicas(
            2000.0, targets, service_time=0.040, service_scv=0.0, **common
        ),
        "size_pool, 6000 queries/s of 5 ms, 10 ms budget": lambda: size_pool(
            6000.0 / 40, 0.005, budget=0.010, threads=8
        ),
        "size_cache, bundled trace's Zipf fit, 5000/s": cache,
    }


def layered_solve() -> Callable[[], object]:
    """One ``ServiceModel.solve()``: the layout bench_layered_sizing.py's search chooses for notebook
    03's service (4 cores, 8 processes x 8 threads, pool 1; 56 replicas) at the load per replica
    after losing one of 3 zones, the model that benchmark times (found by one search, ~2-8 s)."""
    from bench_layered_sizing import LIMITS, TARGETS, example_service  # noqa: PLC0415 - beside this script
    from capplan.layered import size_service  # noqa: PLC0415

    sized = size_service(example_service(), TARGETS, **LIMITS)  # type: ignore[arg-type]
    return sized.model.scaled(sized.replicas / min(sized.scenarios.values())).solve


def bench_sizing(table: Table, repeats: int) -> None:
    from capplan.caches import fit_zipf  # noqa: PLC0415
    from capplan.measurements import read_trace  # noqa: PLC0415

    keys = read_trace(ROOT / "data" / "access_trace.csv.gz").keys
    table.add("fit_zipf, bundled access trace", median_call(lambda: fit_zipf(keys), repeats), None)
    for name, call in sizing_calls().items():
        table.add(name, median_call(call, repeats), GOAL_SIZING_S)


#: cProfile buckets of the plan's time: (label, function name as pstats prints it, file suffix).
SPLIT = (
    ("imports (capplan's modules and their dependencies)", "_find_and_load", "<frozen importlib._bootstrap>"),
    ("load the inputs (SLA, profile, trace, HPA, traffic)", "load_plan_inputs", "plan/inputs.py"),
    ("  of which fit_zipf", "fit_zipf", "caches/popularity.py"),
    ("  of which size_cache", "size_cache", "sizing/caches.py"),
    ("plan()", "plan", "plan/build.py"),
    ("  of which size_replicas", "size_replicas", "sizing/replicas.py"),
    ("  of which size_pool", "size_pool", "sizing/pools.py"),
    ("  of which check_database_pools", "check_database_pools", "sizing/database.py"),
    ("  of which autoscaling (HPA run + fixed fleet)", "autoscaling_check", "plan/components.py"),
    ("write the report", "write_report", "plan/render.py"),
    ("  of which the figures' curves (plan_figures)", "plan_figures", "plan/render.py"),
    ("  of which PNG encoding (savefig)", "savefig", "matplotlib/figure.py"),
    ("numba compilation (anywhere)", "compile", "numba/core/dispatcher.py"),
    ("numba ufunc compilation (anywhere)", "_compile_for_argtys", "numba/np/ufunc/dufunc.py"),
)

_PROFILE_RUN = """
import cProfile, sys
from capplan.cli import main
sys.stdout = open("/dev/null", "w")
cProfile.run("main(sys.argv[2:])", sys.argv[1])
"""


def bench_split(report: Path) -> None:
    """cProfile of one ``capplan plan`` in a fresh interpreter (warm numba cache): what a user waits
    for, imports and any compilation included."""
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "plan.prof"
        argv = [sys.executable, "-c", _PROFILE_RUN, str(out), *PLAN_ARGS, str(report)]
        subprocess.run(argv, cwd=ROOT, check=True, env=os.environ | {"MPLBACKEND": "Agg"})
        stats = pstats.Stats(str(out), stream=io.StringIO())
    total = stats.total_tt  # type: ignore[attr-defined]
    cumulative: dict[str, float] = {}
    for (file, _, name), row in stats.stats.items():  # type: ignore[attr-defined]
        for label, fn, suffix in SPLIT:
            if name == fn and file.endswith(suffix):
                cumulative[label] = max(cumulative.get(label, 0.0), row[3])
    print(f"\nOne capplan plan under cProfile (fresh process, warm numba cache): {total:.2f} s in all")
    for label, _, _ in SPLIT:
        seconds = cumulative.get(label, 0.0)
        print(f"  {label:58} {seconds:7.3f} s {seconds / total:6.1%}")


#: ``make test``'s notebook step: one notebook per pytest-xdist worker, as many workers as cores.
NOTEBOOKS_PARALLEL = ("-n", "auto", "--dist", "loadfile")


def bench_notebooks(table: Table, serial: bool) -> None:
    """The nbval suite as ``make test`` runs it (side by side on the cores) and, with ``serial``,
    one notebook at a time as a plain ``pytest notebooks`` does."""
    runs: list[tuple[str, Sequence[str], float | None]] = [
        ("as make test runs it, a notebook per core", NOTEBOOKS_PARALLEL, GOAL_NOTEBOOKS_S)
    ]
    if serial:
        runs.append(("one notebook at a time", (), None))
    for label, flags, goal in runs:
        elapsed, status, per_notebook = _notebook_run(flags)
        table.add(f"nbval notebook suite, {label} ({status})", elapsed, goal)
        for name, seconds in sorted(per_notebook.items(), key=lambda kv: -kv[1]):
            print(f"  {name:56} {seconds:7.2f} s")


def _notebook_run(flags: Sequence[str]) -> tuple[float, str, dict[str, float]]:
    """Wall seconds, pass/fail and per-notebook seconds (summed over its cells) of one run."""
    with tempfile.TemporaryDirectory() as tmp:
        xml = Path(tmp) / "nb.xml"
        argv = [sys.executable, "-m", "pytest", "notebooks", "-q", "-p", "no:cacheprovider", *flags]
        t0 = time.perf_counter()
        done = subprocess.run(
            [*argv, f"--junitxml={xml}"], cwd=ROOT, capture_output=True, text=True, check=False
        )
        elapsed = time.perf_counter() - t0
        if done.returncode != 0:
            print(done.stdout[-3000:])
        per_notebook: dict[str, float] = {}
        for case in ET.parse(xml).getroot().iter("testcase"):
            name = case.get("classname") or case.get("file") or "?"
            per_notebook[name] = per_notebook.get(name, 0.0) + float(case.get("time", 0.0))
    status = "passed" if done.returncode == 0 else f"FAILED (exit {done.returncode})"
    return elapsed, status, per_notebook


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--repeats", type=int, default=5, help="runs per figure (median)")
    parser.add_argument("--notebooks", action="store_true", help="also time the nbval notebook suite")
    parser.add_argument(
        "--serial-notebooks", action="store_true", help="with --notebooks, also one notebook at a time"
    )
    parser.add_argument("--skip-sizing", action="store_true", help="skip the in-process sizing calls")
    parser.add_argument("--skip-profile", action="store_true", help="skip the cProfile split of the plan")
    parser.add_argument("--json", metavar="FILE", help="also write the rows as JSON")
    args = parser.parse_args()

    print(f"python {sys.version.split()[0]}, {os.cpu_count()} cores, load average {os.getloadavg()[0]:.2f}")
    baseline = median_process([sys.executable, "-c", "import pandas"], args.repeats)
    print(f"baseline: python -c 'import pandas' = {baseline:.3f} s (median of {args.repeats})\n")
    table = Table(baseline)
    with tempfile.TemporaryDirectory() as tmp:
        report = Path(tmp) / "r.html"
        bench_processes(table, args.repeats)
        bench_plan(table, args.repeats, report)
        bench_floor(table, args.repeats)
        if not args.skip_sizing:
            bench_sizing(table, args.repeats)
        if args.notebooks:
            bench_notebooks(table, args.serial_notebooks)
        if not args.skip_profile:
            bench_split(report)
    if args.json:
        Path(args.json).write_text(json.dumps({"baseline_s": baseline, "rows": table.rows}, indent=2))


if __name__ == "__main__":
    main()
