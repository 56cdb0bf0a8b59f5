"""Profiles: load speed against ``json.loads`` of the same file, and what-if accuracy.

1. Load speed: ``load_profile`` on a synthetic py-spy speedscope file (``--samples`` samples,
   60-frame stacks, 50 distinct stacks) and the bundled files, each against the bare
   ``json.loads`` (or ``str.splitlines``) of the same text measured in this run: the ratio is
   what the validation and the stack table cost on top of decoding.
2. What-if accuracy: record the demo workload with py-spy (real profiler), then for each leaf
   stage and factor predict the CPU-time ratio by Amdahl on the profile's inclusive share and
   measure it (median of alternating slowed/as-is batch pairs on the thread CPU clock).

Run: ``.venv/bin/python benchmarks/bench_profiles.py [--samples 200000] [--skip-whatif]``.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from capplan.demo import workload
from capplan.profiles import load_profile, record

DATA = Path(__file__).resolve().parents[1] / "data" / "profiles"


def _median_time(fn: Callable[[], object], repeats: int = 5) -> float:
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def _synthetic_speedscope(path: Path, samples: int) -> None:
    frames = [{"name": f"f{i}", "file": f"pkg/mod{i % 7}.py", "line": i} for i in range(120)]
    stacks = [[(k + d) % 120 for d in range(60)] for k in range(50)]
    doc = {
        "$schema": "https://www.speedscope.app/file-format-schema.json",
        "shared": {"frames": frames},
        "profiles": [
            {
                "type": "sampled",
                "name": 'Thread 1 "MainThread"',
                "unit": "seconds",
                "startValue": 0.0,
                "endValue": samples * 0.01,
                "samples": [stacks[i % 50] for i in range(samples)],
                "weights": [0.01] * samples,
            }
        ],
        "exporter": "py-spy@0.4.3",
    }
    path.write_text(json.dumps(doc))


def bench_load(samples: int) -> None:
    print("load_profile vs decoding alone (median of 5)")
    with tempfile.TemporaryDirectory() as tmp:
        synth = Path(tmp) / "synthetic.json"
        _synthetic_speedscope(synth, samples)
        files = [(synth, None), *((p, 200.0) for p in sorted(DATA.glob("demo_*")))]
        for path, rate in files:
            text = path.read_text()
            raw_rate = rate if path.suffix == ".txt" else None

            def decode(t: str = text) -> object:
                return json.loads(t) if t.lstrip().startswith("{") else t.splitlines()

            def load(p: Path = path, r: float | None = raw_rate) -> object:
                return load_profile(p, rate=r)

            def load_functions(p: Path = path, r: float | None = raw_rate) -> object:
                return load_profile(p, rate=r).functions()

            base = _median_time(decode)
            full = _median_time(load)
            funcs = _median_time(load_functions)
            print(
                f"  {path.name:40s} {path.stat().st_size / 1e6:6.2f} MB  decode {base * 1e3:8.1f} ms  "
                f"load {full * 1e3:8.1f} ms ({full / base:5.2f}x)  load+functions {funcs * 1e3:8.1f} ms"
            )


def bench_whatif() -> None:
    script = str(Path(workload.__file__).resolve())
    profile = record([sys.executable, script, "--requests", "1000"], rate=400.0, quiet=True)
    scoped = profile.filter(within="handle_request")
    print(f"\nwhat-if accuracy ({scoped.total_samples:.0f} samples inside handle_request)")
    header = ["factor", "share", "±se", "predicted", "measured", "error"]
    print(f"  {'stage':16s} " + " ".join(f"{h:>9s}" for h in header))
    errors = []
    table = scoped.functions().set_index("function")
    share = table["inclusive_share"].to_dict()
    share_se = table["inclusive_share_se"].to_dict()
    for name in ["parse_request", "validate", "apply_discounts", "render"]:
        for factor in (2.0, 3.0):
            w = profile.what_if({f"workload:{name}": 1 / factor}, requests=1000, within="handle_request")
            predicted = 1 / w.speedup
            measured = workload.measured_slowdown(name, factor)
            err = measured / predicted - 1
            errors.append(abs(err))
            print(
                f"  {name:16s} {factor:9.1f} {share[name]:9.3f} {share_se[name]:9.3f} "
                f"{predicted:9.3f} {measured:9.3f} {err:+9.1%}"
            )
    print(f"  median |error| {statistics.median(errors):.1%}, max |error| {max(errors):.1%}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=200_000, help="samples in the synthetic file")
    parser.add_argument("--skip-whatif", action="store_true", help="only measure load speed")
    args = parser.parse_args()
    bench_load(args.samples)
    if not args.skip_whatif:
        bench_whatif()


if __name__ == "__main__":
    main()
