"""size_cache on the bundled access trace's Zipf fit: this tree against a baseline revision.

Run from the project root::

    .venv/bin/python benchmarks/bench_cache_sizing.py                 # baseline f6e7774
    .venv/bin/python benchmarks/bench_cache_sizing.py --baseline main --rounds 5
    .venv/bin/python benchmarks/bench_cache_sizing.py --new HEAD~1    # a revision instead of this tree

The baseline is the whole ``src/`` of a git revision (default ``f6e7774``, the plain geometric
search: the chain evaluated at every step, ~26 passes over the catalog, and each capacity tried
solved on its own), extracted with ``git archive`` into a temporary directory, so it runs with its
own chain evaluation too.  Each round runs one worker process per tree, alternating, so both see
the same machine (it is shared and has two cores: read the ratios).  A worker times each case
``--repeats`` times after one warm-up call (numba compilation, the first call's caches); the
medians over all rounds' calls are printed with the baseline-to-new ratio.

Cases (5000 reads/s, a 20 ms backend, 1 ms hits, the bundled SLA's 95% / 5 ms unless said):

* ``bench_user_path.py``'s: one LRU tier, in objects (the goal there is 50 ms a call);
* the same in bytes (sizes 256 B to 8 kB, fixed per object);
* the p99 latency within 30 ms at a 90% hit-ratio target, lognormal backend;
* an L2 sized behind a fixed in-process L1 of 2000 objects in 4 copies.

Each tree's answers (capacities, binding, hit ratio and backend rate to the last bit) are printed
and must agree.
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

from _revisions import run_worker, src_tree

ROOT = Path(__file__).resolve().parents[1]
BASELINE = "f6e7774"
CASES = ("bundled trace, objects", "bundled trace, bytes", "bundled trace, p99 30 ms", "L2 behind 4 x L1")


def _calls() -> dict[str, Callable[[], Any]]:
    import numpy as np  # noqa: PLC0415

    from capplan import load_sla  # noqa: PLC0415
    from capplan.caches import CacheTier, fit_zipf  # noqa: PLC0415
    from capplan.distributions import lognormal  # noqa: PLC0415
    from capplan.measurements import read_trace  # noqa: PLC0415
    from capplan.sizing import size_cache  # noqa: PLC0415

    sla = load_sla(ROOT / "data" / "performance-sla.yaml", ROOT / "data" / "performance-budget.yaml")
    popularity = fit_zipf(read_trace(ROOT / "data" / "access_trace.csv.gz").keys).popularity()
    sizes = 256.0 + (np.arange(popularity.size) * 7919 % 8192)
    common: dict[str, Any] = {"backend_latency": 0.020, "hit_latency": 0.001, "sla": sla}
    l1 = CacheTier("L1", 2000, 0.0001, copies=4)
    return {
        CASES[0]: lambda: size_cache(popularity, 5000.0, **common),
        CASES[1]: lambda: size_cache(popularity, 5000.0, sizes=sizes, **common),
        CASES[2]: lambda: size_cache(
            popularity,
            5000.0,
            backend_latency=lognormal(0.020, 1.0),
            target_hit_ratio=0.9,
            response_budget=0.030,
            latency_quantile=0.99,
        ),
        CASES[3]: lambda: size_cache(
            popularity, 5000.0, tiers=[l1, CacheTier("L2", None, 0.001)], backend_latency=0.020, sla=sla
        ),
    }


def worker(repeats: int) -> None:
    """Time every case in this process (capplan from ``sys.path``); print JSON."""
    import capplan  # noqa: PLC0415

    warnings.simplefilter("ignore")  # CatalogFractionWarning: these caches hold most of the catalog
    out: dict[str, Any] = {"capplan": capplan.__file__}
    for name, call in _calls().items():
        first = call()
        times = []
        for _ in range(repeats):
            t0 = time.perf_counter()
            call()
            times.append(1e3 * (time.perf_counter() - t0))
        answer = [list(first.capacities), first.binding, repr(first.hit_ratio), repr(first.backend_rate)]
        out[name] = {"ms": times, "answer": answer}
    print(json.dumps(out))


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--baseline", default=BASELINE, help="git revision to compare with (default: %(default)s)"
    )
    parser.add_argument("--new", default=None, help="git revision to time instead of this tree's src/")
    parser.add_argument("--rounds", type=int, default=3, help="alternating rounds (default: %(default)s)")
    parser.add_argument(
        "--repeats", type=int, default=7, help="timed calls per case and round (default: %(default)s)"
    )
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as old, tempfile.TemporaryDirectory() as new:
        trees = {
            "baseline": src_tree(args.baseline, Path(old)),
            "new": ROOT / "src" if args.new is None else src_tree(args.new, Path(new)),
        }
        runs: dict[str, list[dict[str, Any]]] = {name: [] for name in trees}
        for _ in range(args.rounds):
            for name, src in trees.items():
                runs[name].append(run_worker("bench_cache_sizing", src, args.repeats))
    calls = args.rounds * args.repeats
    print(f"baseline {args.baseline}; new {args.new or 'working tree'}; median of {calls} calls each")
    print(f"{'case':28} {'baseline ms':>12} {'new ms':>9} {'ratio':>7}")
    for case in CASES:
        old_ms, new_ms = (statistics.median(t for r in runs[name] for t in r[case]["ms"]) for name in trees)
        print(f"{case:28} {old_ms:12.1f} {new_ms:9.1f} {old_ms / new_ms:7.2f}")
    for case in CASES:
        old_answer, new_answer = (runs[name][0][case]["answer"] for name in trees)
        print(f"{case}: {'same answer' if old_answer == new_answer else 'DIFFERENT'}: new {new_answer}")
        if old_answer != new_answer:
            print(f"{'':{len(case)}}  baseline {old_answer}")


if __name__ == "__main__":
    main()
