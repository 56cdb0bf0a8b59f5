"""size_replicas across service families: heavy-tailed service (gridded waits) and service described
by its SCV (waits around the tail's decay rate), this tree against a baseline revision.

Run from the project root::

    .venv/bin/python benchmarks/bench_grid_sizing.py                  # baseline: merge-base with main
    .venv/bin/python benchmarks/bench_grid_sizing.py --baseline 1d4ebd1 --rounds 5
    .venv/bin/python benchmarks/bench_grid_sizing.py --new HEAD~1     # a revision instead of this tree

The baseline's ``src/`` is extracted with ``git archive`` into a temporary directory; each round
runs one worker process per tree, alternating, so both see the same machine (it is shared: read
the ratios).  A worker times the calls of ``bench_user_path.py``'s ``sizing_calls`` section
(8 workers per replica, 2000 requests/s, the bundled SLA's critical-operation targets, N+1 and
zone loss) in two ways, each after one warm-up call:

* ``same``: the same call repeated, as ``bench_user_path.py`` times it (caches of the first call
  help: the wait moments, and in this tree the gridded waits of the loads solved before);
* ``fresh``: the arrival rate moved by a part in 10^4 every call, so every load is new to the
  per-load caches (what a sweep over rates costs; the service's discretisation stays cached).

It also prints each tree's answers (replicas, binding constraint, headroom, p99.9), which must
agree.  Medians over the rounds are reported, with the baseline-to-new ratio.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from _revisions import run_worker, src_tree

ROOT = Path(__file__).resolve().parents[1]
CASES = (
    "exponential 40 ms",
    "lognormal 40 ms SCV 4",
    "Lomax 40 ms tail index 2.5",
    "two-moment 40 ms SCV 0.5",
    "two-moment 40 ms SCV 2",
    "constant 40 ms",
)


def _calls() -> dict[str, Callable[[float], Any]]:
    from scipy import stats  # noqa: PLC0415

    from capplan import load_sla  # noqa: PLC0415
    from capplan.distributions import lognormal  # noqa: PLC0415
    from capplan.sizing import size_replicas  # noqa: PLC0415

    sla = load_sla(ROOT / "data" / "performance-sla.yaml", ROOT / "data" / "performance-budget.yaml")
    targets = sla.latency_targets_for("api_endpoints", "critical_operations")
    common: dict[str, Any] = {"workers": 8, "max_utilization": 0.7, "redundancy": 1, "zones": 3}
    lomax = stats.lomax(2.5, scale=0.040 * 1.5)
    return {
        CASES[0]: lambda rate: size_replicas(rate, targets, service_time=0.040, **common),
        CASES[1]: lambda rate: size_replicas(rate, targets, service=lognormal(0.040, 4.0), **common),
        CASES[2]: lambda rate: size_replicas(rate, targets, service=lomax, **common),
        CASES[3]: lambda rate: size_replicas(rate, targets, service_time=0.040, service_scv=0.5, **common),
        CASES[4]: lambda rate: size_replicas(rate, targets, service_time=0.040, service_scv=2.0, **common),
        CASES[5]: lambda rate: size_replicas(rate, targets, service_time=0.040, service_scv=0.0, **common),
    }


def worker(repeats: int) -> None:
    """Time every case in this process (capplan from ``sys.path``); print JSON."""
    import capplan  # noqa: PLC0415

    out: dict[str, Any] = {"capplan": capplan.__file__}
    for name, call in _calls().items():
        first = call(2000.0)
        same, fresh = [], []
        for i in range(repeats):
            t0 = time.perf_counter()
            call(2000.0)
            same.append(time.perf_counter() - t0)
            t0 = time.perf_counter()
            call(2000.0 * (1 + 1e-4 * (i + 1)))
            fresh.append(time.perf_counter() - t0)
        out[name] = {
            "same_ms": 1e3 * statistics.median(same),
            "fresh_ms": 1e3 * statistics.median(fresh),
            "answer": [
                first.replicas,
                first.binding,
                round(first.headroom, 6),
                round(first.predicted[0.999], 6),
            ],
        }
    print(json.dumps(out))


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--baseline", default=None, help="git revision to compare with (default: merge-base with main)"
    )
    parser.add_argument("--new", default=None, help="git revision to time instead of this tree's src/")
    parser.add_argument("--rounds", type=int, default=3, help="alternating rounds (medians reported)")
    parser.add_argument("--repeats", type=int, default=3, help="timed calls per case and round")
    args = parser.parse_args()
    rev = (
        args.baseline
        or subprocess.run(
            ["git", "merge-base", "HEAD", "main"], cwd=ROOT, capture_output=True, text=True, check=True
        ).stdout.strip()
    )
    with tempfile.TemporaryDirectory() as old, tempfile.TemporaryDirectory() as new:
        trees = {
            "baseline": src_tree(rev, Path(old)),
            "new": ROOT / "src" if args.new is None else src_tree(args.new, Path(new)),
        }
        runs: dict[str, list[dict[str, Any]]] = {name: [] for name in trees}
        for _ in range(args.rounds):
            for name, src in trees.items():
                runs[name].append(run_worker("bench_grid_sizing", src, args.repeats))
    print(f"baseline {rev[:12]}; new {args.new or 'working tree'}")
    print(f"{'case':32} {'mode':6} {'baseline ms':>12} {'new ms':>9} {'ratio':>7}")
    for case in CASES:
        for mode in ("same", "fresh"):
            old = statistics.median(r[case][f"{mode}_ms"] for r in runs["baseline"])
            new = statistics.median(r[case][f"{mode}_ms"] for r in runs["new"])
            print(f"{case:32} {mode:6} {old:12.1f} {new:9.1f} {old / new:7.1f}")
    for case in CASES:
        print(f"{case}: baseline {runs['baseline'][0][case]['answer']}  new {runs['new'][0][case]['answer']}")


if __name__ == "__main__":
    main()
