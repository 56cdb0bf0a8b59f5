"""Every profile and measurement reader, fed mutants of the real bundled files, fails only cleanly.

Each seed file (``data/profiles/*``, ``data/loadtest/*``, ``tests/data/*``) is mutated by a short
list of edits - a byte replaced, a line deleted or duplicated, a number replaced by an
overflowing (``1e400``, ``99999999999999999999999``, 400 nines), negative, NaN, infinite or
non-ASCII (``١٢٣``, ``²``, ``1_000``) value, the file truncated - and handed to every reader.
Each reader must either

* raise one of capplan's own errors (:class:`capplan.errors.CapplanError`) whose message names
  the file - never a bare ``TypeError``, ``OverflowError``, ``KeyError``, ``RecursionError`` ... -
  within :data:`LIMIT` seconds per reader and input (a ``SIGALRM`` timer), or
* return a result that passes its checks: percentiles ascending, times, rates and counts finite
  and non-negative, profile weights finite with a positive total.

Hypothesis runs derandomized (a fixed seed per test), so CI sees the same mutants every run:
``EXAMPLES`` per seed file (a tenth of that for files over 100 kB, whose readers take longer).
Set ``CAPPLAN_FUZZ_EXAMPLES`` for a longer search, e.g. ``CAPPLAN_FUZZ_EXAMPLES=2000``.
"""

from __future__ import annotations

import json
import math
import os
import re
import signal
from collections.abc import Callable, Iterator
from pathlib import Path
from types import FrameType
from typing import Any

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from capplan.errors import CapplanError
from capplan.measurements import (
    K6Summary,
    ResponseTimes,
    WrkResult,
    read_bucket_csv,
    read_exposition,
    read_hdr_spectrum,
    read_k6_points,
    read_k6_summary,
    read_latency_csv,
    read_locust_history,
    read_locust_stats,
    read_response_times,
    read_trace,
    read_wrk,
)
from capplan.measurements.locust import PERCENTILES
from capplan.measurements.prometheus import frame_from_response
from capplan.profiles import Profile, load_profile

ROOT = Path(__file__).resolve().parents[1]
SEEDS = sorted(
    p
    for folder in (ROOT / "data" / "profiles", ROOT / "data" / "loadtest", ROOT / "tests" / "data")
    for p in folder.iterdir()
    if p.is_file()
)
#: Mutants per seed file in CI; more with CAPPLAN_FUZZ_EXAMPLES.
EXAMPLES = int(os.environ.get("CAPPLAN_FUZZ_EXAMPLES", "150"))
#: Seconds one reader may take on one input.
LIMIT = 2.0
BIG = 100_000

NUMBER = re.compile(rb"[-+]?[0-9]+(?:\.[0-9]+)?(?:[eE][-+]?[0-9]+)?")
REPLACEMENTS = [
    "1e400",
    "-1e400",
    "99999999999999999999999",
    "9" * 400,
    "-5",
    "-0.25",
    "NaN",
    "nan",
    "-nan",
    "inf",
    "+Inf",
    "Infinity",
    "١٢٣",
    "²",
    "1_000",
    "0x1A",
    "",
    "0",
    "1e-400",
]


def _read_prometheus_answer(path: Path) -> pd.DataFrame:
    return frame_from_response(path.read_bytes().decode("utf-8", errors="replace"), str(path))


READERS: dict[str, Callable[[Path], Any]] = {
    "load_profile": load_profile,
    "collapsed": lambda p: load_profile(p, format="collapsed"),
    "speedscope": lambda p: load_profile(p, format="speedscope"),
    "scalene": lambda p: load_profile(p, format="scalene"),
    "locust_stats": read_locust_stats,
    "locust_history": read_locust_history,
    "k6_points": read_k6_points,
    "k6_summary": read_k6_summary,
    "hdr_spectrum": read_hdr_spectrum,
    "latency_csv": lambda p: read_latency_csv(p, column="count"),
    "bucket_csv": read_bucket_csv,
    "prometheus_answer": _read_prometheus_answer,
    "exposition": read_exposition,
    "wrk": read_wrk,
    "response_times": read_response_times,
    "trace": read_trace,
}


# -- mutations ---------------------------------------------------------------------------------
def _apply(data: bytes, edit: tuple[Any, ...]) -> bytes:
    kind, at = edit[0], edit[1]
    lines = data.split(b"\n")
    if kind == "flip" and data:
        i = at % len(data)
        return data[:i] + bytes([edit[2]]) + data[i + 1 :]
    if kind == "truncate":
        return data[: at % (len(data) + 1)]
    if kind == "delete_line":
        del lines[at % len(lines)]
        return b"\n".join(lines)
    if kind == "duplicate_line":
        i = at % len(lines)
        return b"\n".join([*lines[: i + 1], lines[i], *lines[i + 1 :]])
    numbers = list(NUMBER.finditer(data))
    if kind == "number" and numbers:
        m = numbers[at % len(numbers)]
        return data[: m.start()] + str(edit[2]).encode() + data[m.end() :]
    return data


POSITION = st.integers(min_value=0, max_value=2**20)
EDITS = st.lists(
    st.one_of(
        st.tuples(st.just("flip"), POSITION, st.integers(0, 255)),
        st.tuples(st.just("truncate"), POSITION),
        st.tuples(st.just("delete_line"), POSITION),
        st.tuples(st.just("duplicate_line"), POSITION),
        st.tuples(st.just("number"), POSITION, st.sampled_from(REPLACEMENTS)),
        st.tuples(st.just("number"), POSITION, st.sampled_from(REPLACEMENTS)),
    ),
    min_size=1,
    max_size=4,
)


# -- what a successful read must satisfy ---------------------------------------------------------
def _finite_nonnegative(values: Any, what: str) -> None:
    arr = np.asarray(values, dtype=float)
    arr = arr[~np.isnan(arr)]
    assert np.all(np.isfinite(arr)) and np.all(arr >= 0), f"{what}: {arr}"


def _ascending(values: Any, what: str) -> None:
    arr = np.asarray(values, dtype=float)
    arr = arr[~np.isnan(arr)]
    assert np.all(np.diff(arr) >= 0), f"{what} not ascending: {arr}"


def _check_profile(result: Profile) -> None:
    _finite_nonnegative(result.seconds, "profile seconds")
    _finite_nonnegative(result.samples, "profile samples")
    total = float(result.seconds.sum())
    assert math.isfinite(total) and total > 0


def _check_frame(name: str, frame: pd.DataFrame) -> None:
    if name in ("locust_stats", "locust_history"):
        numeric = frame.drop(columns=["type", "name"])
        _finite_nonnegative(numeric.to_numpy(dtype=float), name)
        pct = [c for c in PERCENTILES.values() if c in frame.columns]
        for row in frame[pct].to_numpy(dtype=float):
            _ascending(row, f"{name} percentiles")
    elif name == "hdr_spectrum":
        for col in ("value", "count"):
            _finite_nonnegative(frame[col], col)
            _ascending(frame[col], col)
        _ascending(frame["percentile"], "percentile")
    elif name == "latency_csv":
        _finite_nonnegative(frame["latency"], "latency")
    elif name == "bucket_csv":
        _finite_nonnegative(frame["count"], "count")
        assert not frame["le"].isna().any()
    elif name in ("k6_points", "prometheus_answer"):
        assert np.all(np.isfinite(frame["timestamp"].to_numpy(dtype=float)))
    elif name == "exposition":
        buckets = frame[frame["metric"].str.endswith(("_bucket", "_count", "_total"))]
        kinds = frame.attrs["types"]
        counted = [m for m in buckets["metric"] if kinds.get(m.rsplit("_", 1)[0]) in ("histogram", "summary")]
        _finite_nonnegative(buckets[buckets["metric"].isin(counted)]["value"], "counts")


def _check(name: str, result: Any) -> None:
    if isinstance(result, Profile):
        _check_profile(result)
    elif isinstance(result, pd.DataFrame):
        _check_frame(name, result)
    elif isinstance(result, K6Summary):
        assert np.all(np.isfinite(result.metrics["value"].to_numpy(dtype=float)))
    elif isinstance(result, WrkResult):
        _finite_nonnegative(list(result.percentiles.values()), "wrk percentiles")
        _ascending(list(result.percentiles.values()), "wrk percentiles")
        _finite_nonnegative([result.throughput, result.transfer_rate, result.duration_s], "wrk rates")
    elif isinstance(result, ResponseTimes):
        levels = sorted(result.percentiles)
        _finite_nonnegative([result.percentiles[q] for q in levels], "percentiles")
        _ascending([result.percentiles[q] for q in levels], "percentiles")
        if result.counts is not None:
            _finite_nonnegative(result.counts, "bucket counts")
        if result.samples is not None:
            _finite_nonnegative(result.samples, "samples")
    elif result is not None and hasattr(result, "keys"):  # a trace chunk
        if result.sizes is not None:
            assert np.all(result.sizes > 0) and np.all(np.isfinite(result.sizes))
        if result.timestamps is not None:
            _ascending(result.timestamps, "timestamps")


# -- the test ----------------------------------------------------------------------------------
class Hang(BaseException):  # not an Exception, so no reader's handler can catch it
    """A reader ran past LIMIT seconds."""


def _alarm(signum: int, frame: FrameType | None) -> None:
    del signum, frame
    raise Hang


@pytest.fixture(scope="module")
def workdir(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    previous = signal.signal(signal.SIGALRM, _alarm)
    yield tmp_path_factory.mktemp("fuzz")
    signal.signal(signal.SIGALRM, previous)


def _read(name: str, reader: Callable[[Path], Any], path: Path) -> None:
    signal.setitimer(signal.ITIMER_REAL, LIMIT)
    try:
        result = reader(path)
    except CapplanError as exc:
        assert str(path) in str(exc), f"{name}: the message does not name the file: {exc}"
        return
    except Hang:
        pytest.fail(f"{name} took over {LIMIT} s on {path}")
    except Exception as exc:  # the bug this test is for: say which reader and what escaped
        raise AssertionError(f"{name} raised {type(exc).__name__}: {exc}") from exc
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
    _check(name, result)


def _fuzz_settings(size: int) -> settings:
    """Derandomized (the same inputs every run), EXAMPLES inputs, a tenth of that for big seeds."""
    return settings(
        max_examples=max(1, EXAMPLES // 10) if size > BIG else EXAMPLES,
        derandomize=True,
        deadline=None,
        database=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )


@pytest.mark.parametrize("seed", SEEDS, ids=[f"{p.parent.name}/{p.name}" for p in SEEDS])
def test_readers_fail_cleanly_on_mutants(seed: Path, workdir: Path) -> None:
    data = seed.read_bytes()
    path = workdir / seed.name  # the suffix (.csv, .json, .txt) as the real file's

    @_fuzz_settings(len(data))
    @given(edits=EDITS)
    def run(edits: list[tuple[Any, ...]]) -> None:
        mutant = data
        for edit in edits:
            mutant = _apply(mutant, edit)
        path.write_bytes(mutant)
        for name, reader in READERS.items():
            _read(name, reader, path)

    run()


def _is_json_document(path: Path) -> bool:
    try:
        return isinstance(json.loads(path.read_text()), dict)
    except ValueError:  # JSON lines (k6 points), or not JSON
        return False


JSON_SEEDS = [p for p in SEEDS if _is_json_document(p)]
WRONG_TYPES: list[Any] = [None, True, 5, -1, 1e308, 2**70, "x", "١٢٣", [], {}, [1, "a"], [[0]], {"a": 1}]


def _paths(doc: Any, prefix: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    """Every key path of a JSON document (the first three items of each list)."""
    if prefix:
        yield prefix
    items = doc.items() if isinstance(doc, dict) else enumerate(doc[:3]) if isinstance(doc, list) else ()
    for key, value in items:
        yield from _paths(value, (*prefix, key))


def _substitute(doc: Any, path: tuple[Any, ...], value: Any) -> Any:
    if not path:
        return value
    head, rest = path[0], path[1:]
    if isinstance(doc, dict):
        return {k: _substitute(v, rest, value) if k == head else v for k, v in doc.items()}
    if isinstance(doc, list):
        return [_substitute(v, rest, value) if i == head else v for i, v in enumerate(doc)]
    return doc  # an earlier edit replaced a parent of this path


@pytest.mark.parametrize("seed", JSON_SEEDS, ids=[f"{p.parent.name}/{p.name}" for p in JSON_SEEDS])
def test_readers_fail_cleanly_on_wrong_json_types(seed: Path, workdir: Path) -> None:
    """Values of the wrong JSON type (a list for a number, an object for a list, ...) anywhere."""
    text = seed.read_text()
    doc = json.loads(text)
    paths = list(_paths(doc))
    path = workdir / seed.name

    @_fuzz_settings(len(text))
    @given(
        edits=st.lists(
            st.tuples(st.sampled_from(paths), st.sampled_from(WRONG_TYPES)), min_size=1, max_size=2
        )
    )
    def run(edits: list[tuple[tuple[Any, ...], Any]]) -> None:
        mutant = doc
        for key_path, value in edits:
            mutant = _substitute(mutant, key_path, value)
        path.write_text(json.dumps(mutant))
        for name in (
            "load_profile",
            "speedscope",
            "scalene",
            "k6_summary",
            "prometheus_answer",
            "response_times",
        ):
            _read(name, READERS[name], path)

    run()


def test_every_reader_accepts_its_own_seed(workdir: Path) -> None:
    """The unmutated files load, so the mutants start from inputs the readers accept."""
    del workdir
    own = {
        "demo_pyspy.speedscope.json": "speedscope",
        "demo_pyspy_threads.txt": "collapsed",
        "demo_scalene.json": "scalene",
        "demo_stats.csv": "locust_stats",
        "demo_stats_history.csv": "locust_history",
        "k6_points.json": "k6_points",
        "k6_handle_summary.json": "k6_summary",
        "wrk2_spectrum.txt": "hdr_spectrum",
        "latency_buckets.csv": "bucket_csv",
        "demo_metrics.txt": "exposition",
        "demo_wrk.txt": "wrk",
    }
    for seed in SEEDS:
        if seed.name in own:
            name = own[seed.name]
            _check(name, READERS[name](seed))
