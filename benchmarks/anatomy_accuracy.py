"""How well ``anatomy_from_profile`` recovers a request's CPU / wait split from real py-spy runs.

Records ``tests/data/anatomy/app.py`` (two classes with programmed CPU loops, a sleep, a database
round trip and an HTTP call; every phase also timed in-process) ``--runs`` times with
``py-spy record --idle --native`` and prints, per part kind (CPU, waits), the median and largest
absolute error of the recovered shares against

* the program's own timing of each phase (what actually happened on this busy machine; the CPU
  work inside a waiting phase, encoding a query or parsing a reply, counts as CPU: see
  ``reference`` in the program), and
* the programmed durations (what the program was told to do),

and the relative error of the seconds per request against the timed phases.

Run: ``.venv/bin/python benchmarks/anatomy_accuracy.py [--runs 5] [--rate 250] [--requests 200]``.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import statistics
import sys
import tempfile
from pathlib import Path
from typing import Any

from capplan.layered.anatomy import anatomy_from_profile
from capplan.profiles import record

APP = Path(__file__).resolve().parents[1] / "tests" / "data" / "anatomy" / "app.py"
CLASSES = {"handle_checkout": "checkout", "handle_search": "search"}


def _load_app() -> Any:
    """The profiled program as a module, for its programmed durations and its reference split."""
    spec = importlib.util.spec_from_file_location("anatomy_app", APP)
    assert spec is not None and spec.loader is not None
    sys.path.insert(0, str(APP.parent))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _one_run(tmp: Path, k: int, rate: float, requests: int) -> tuple[Any, dict[str, Any]]:
    timings = tmp / f"t{k}.json"
    prof = record(
        [sys.executable, str(APP), str(timings), str(requests)],
        idle=True,
        native=True,
        fmt="raw",
        rate=rate,
        out=tmp / f"p{k}.txt",
        quiet=True,
        timeout=300,
    )
    measured = json.loads(timings.read_text())
    a = anatomy_from_profile(prof, CLASSES, requests=measured["requests"], resources={"fakedb": "hold:db"})
    return a, measured


def _errors(a: Any, cls: str, expected: dict[str, float]) -> dict[str, list[float]]:
    """Absolute share errors per kind, and (key ``"z"``) the errors in binomial standard errors."""
    total = sum(expected.values())
    rows = a.to_frame().set_index("class").loc[[cls]].set_index("part")
    out: dict[str, list[float]] = {"cpu": [], "wait": [], "z": []}
    for part, seconds in expected.items():
        share, se = (float(rows.loc[part, c]) if part in rows.index else 0.0 for c in ("share", "share_se"))
        err = abs(share - seconds / total)
        out["cpu" if part == "cpu" else "wait"].append(err)
        out["z"].append(err / se if se > 0 else float("inf"))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--rate", type=float, default=250.0)
    parser.add_argument("--requests", type=int, default=200, help="requests of each class per run")
    args = parser.parse_args()
    app = _load_app()
    nominal = app.programmed()
    vs_timed: dict[str, list[float]] = {"cpu": [], "wait": [], "z": []}
    vs_nominal: dict[str, list[float]] = {"cpu": [], "wait": [], "z": []}
    seconds_err: list[float] = []
    with tempfile.TemporaryDirectory() as tmp:
        for k in range(args.runs):
            a, measured = _one_run(Path(tmp), k, args.rate, args.requests)
            for cls, timed in app.reference(measured).items():
                for kind, errs in _errors(a, cls, timed).items():
                    vs_timed[kind] += errs
                for kind, errs in _errors(a, cls, nominal[cls]).items():
                    vs_nominal[kind] += errs
                parts = a.parts(cls)
                seconds_err += [abs(parts.get(p, 0.0) / s - 1) for p, s in timed.items()]
            print(f"run {k + 1}/{args.runs}: {a!r}".replace("\n", "\n    "), flush=True)
    print(
        f"\n{args.runs} runs of py-spy --idle --native at {args.rate:g}/s, {args.requests} requests "
        "of each class; absolute share errors (z: in binomial standard errors)"
    )
    print(f"{'reference':<22}{'kind':<6}{'median':>8}{'max':>8}")
    for name, table in (("timed phases", vs_timed), ("programmed durations", vs_nominal)):
        for kind, values in table.items():
            print(f"{name:<22}{kind:<6}{statistics.median(values):>8.4f}{max(values):>8.4f}")
    print(
        f"seconds per request vs timed phases: median {statistics.median(seconds_err):.1%}, "
        f"max {max(seconds_err):.1%}"
    )


if __name__ == "__main__":
    main()
