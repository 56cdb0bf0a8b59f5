"""Fuzzing every file loader with mutated copies of the bundled inputs.

Each example takes one real file from ``data/`` (the SLA, the budget, the HPA manifest, the plan,
the overload settings, pgbouncer.ini, postgresql.conf, the traffic history), applies one mutation
(a value swapped for a huge, negative, NaN, unitless, non-ASCII or structured one; a key misspelt;
a line deleted, duplicated or re-indented; the file truncated; YAML anchors and deep nesting
spliced in) and hands it to the loader.  Three properties hold for every example:

* only capplan's own errors (``CapplanError``) escape, and they name the file;
* no input runs longer than ``_TIME_LIMIT_S`` (a hang fails the test);
* what loads is sane (positive finite targets and rates, percentiles ascending, ``min <= max``).

Examples are derandomized, so CI sees the same inputs on every run; set ``CAPPLAN_FUZZ_EXAMPLES``
to run more (e.g. 10000) on a quiet machine.
"""

from __future__ import annotations

import math
import os
import shutil
import signal
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from types import FrameType
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from capplan.errors import CapplanError

DATA = Path(__file__).resolve().parent.parent / "data"
_EXAMPLES = int(os.environ.get("CAPPLAN_FUZZ_EXAMPLES", "300"))
_TIME_LIMIT_S = 10.0


class _HangError(Exception):
    """An input ran past the per-input time limit."""


@contextmanager
def _time_limit(seconds: float) -> Iterator[None]:
    def expire(signum: int, frame: FrameType | None) -> None:
        raise _HangError(f"no answer within {seconds} s")

    previous = signal.signal(signal.SIGALRM, expire)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


# -- what a loaded object must satisfy ---------------------------------------------------------


def _finite_positive(value: float, what: str) -> None:
    assert math.isfinite(value) and value > 0, f"{what} = {value!r} accepted"


def _sane_sla(sla: Any) -> None:
    by_class: dict[tuple[str, str], list[tuple[float, float]]] = {}
    for t in sla.latency_targets:
        assert 0 < t.quantile < 1, f"latency quantile {t.quantile!r} accepted"
        _finite_positive(t.target_s, f"latency target {t.group}.{t.op_class}")
        by_class.setdefault((t.group, t.op_class), []).append((t.quantile, t.target_s))
    for key, points in by_class.items():
        targets = [target for _, target in sorted(points)]
        assert targets == sorted(targets), f"{key}: targets fall as the percentile rises: {points}"
    for t in sla.throughput_targets:
        for name, value in vars(t).items():
            if isinstance(value, float):
                _finite_positive(value, f"throughput {t}.{name}")
    for u in sla.utilization_thresholds:
        for name, value in vars(u).items():
            if isinstance(value, float):
                assert 0 < value <= 1, f"utilization threshold {name} = {value!r} accepted"
    for a in sla.availability_targets:
        for name, value in vars(a).items():
            if isinstance(value, float) and "uptime" in name:
                assert 0 < value < 1, f"availability {name} = {value!r} accepted"


def _sane_hpa(hpa: Any) -> None:
    assert 1 <= hpa.min_replicas <= hpa.max_replicas < 10**7, (hpa.min_replicas, hpa.max_replicas)
    for m in hpa.metrics:
        _finite_positive(float(m.target), f"metric {m.type} target")


def _sane_plan(inputs: Any) -> None:
    _sane_sla(inputs.sla)
    for evidence in inputs.evidence:
        for name in ("rate", "mean", "scv"):
            value = getattr(evidence, name, None)
            if isinstance(value, float):
                assert math.isfinite(value) and value >= 0, f"evidence {name} = {value!r} accepted"


def _sane_pgbouncer(config: Any) -> None:
    for name, value in vars(config).items():
        if isinstance(value, int | float) and not isinstance(value, bool):
            assert math.isfinite(value) and value >= 0, f"pgbouncer {name} = {value!r} accepted"


def _sane_postgres(config: Any) -> None:
    assert 1 <= config.max_connections < 2**31, f"max_connections = {config.max_connections!r}"


def _sane_history(series: Any) -> None:
    assert len(series) > 0
    assert bool((series.to_numpy() >= 0).all()), "negative rates accepted"


def _sane_overload(settings_: Any) -> None:
    for name, value in vars(settings_).items():
        if isinstance(value, float):
            assert not math.isnan(value), f"overload {name} is NaN"


# -- the corpus ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Case:
    file: str
    load: Callable[[Path], Any]
    sane: Callable[[Any], None]


def _load_sla(path: Path) -> Any:
    from capplan.sla import load_sla  # noqa: PLC0415

    return load_sla(path)


def _load_hpa(path: Path) -> Any:
    from capplan.autoscale.manifest import load_hpa  # noqa: PLC0415

    return load_hpa(path)


def _load_plan(path: Path) -> Any:
    from capplan.plan.inputs import load_plan_inputs  # noqa: PLC0415

    return load_plan_inputs(path)


def _load_overload(path: Path) -> Any:
    from capplan.plan.overload_settings import load_overload  # noqa: PLC0415

    return load_overload(path)


def _load_pgbouncer(path: Path) -> Any:
    from capplan.dbconfig import load_pgbouncer  # noqa: PLC0415

    return load_pgbouncer(path)


def _load_postgres(path: Path) -> Any:
    from capplan.dbconfig import load_postgresql_conf  # noqa: PLC0415

    return load_postgresql_conf(path)


def _load_history(path: Path) -> Any:
    from capplan.forecast.history import load_history  # noqa: PLC0415

    return load_history(path)


CASES = (
    _Case("performance-sla.yaml", _load_sla, _sane_sla),
    _Case("performance-budget.yaml", _load_sla, _sane_sla),
    _Case("hpa.yaml", _load_hpa, _sane_hpa),
    _Case("capacity-plan-small.yaml", _load_plan, _sane_plan),
    _Case("overload.yaml", _load_overload, _sane_overload),
    _Case("pgbouncer.ini", _load_pgbouncer, _sane_pgbouncer),
    _Case("postgresql.conf", _load_postgres, _sane_postgres),
)
# The history is a year of hourly rows; fuzz its first rows only (the reader is the same).
_HISTORY_ROWS = 400

# -- mutations ----------------------------------------------------------------------------------

_VALUES = (
    "1e300", "-1e300", "1e400", ".nan", ".inf", "-.inf", "-1", "0", "-0.0", "99999999999999999999999",
    "1e-320", "0x1F", "'١٢٣'", "१२ms", "50", "50xs", "''", "~", "true", "[]", "{}", "[1, [2, [3]]]",
    "{a: 1}", "&x [*x, *x]", "!!binary aGVsbG8=", "2001-12-14", "'50ms'", "500%", "-5ms", "1e300ms",
    "99.99999999999999%", "p99.99999999999999", "\"\\u0000\"", "'" + "9" * 400 + "'",
)  # fmt: skip


def _lines(text: str) -> list[str]:
    return text.splitlines(keepends=True)


def _replace_value(text: str, line: int, value: str) -> str:
    lines = _lines(text)
    if not lines:
        return value
    i = line % len(lines)
    head, sep, _ = lines[i].partition(":") if ":" in lines[i] else lines[i].partition("=")
    if not sep:
        return text
    lines[i] = f"{head}{sep} {value}\n"
    return "".join(lines)


def _misspell_key(text: str, line: int, position: int) -> str:
    lines = _lines(text)
    if not lines:
        return text
    i = line % len(lines)
    stripped = lines[i].lstrip(" -")
    key = stripped.partition(":")[0]
    if not key.strip() or ":" not in stripped:
        return text
    j = position % len(key)
    lines[i] = lines[i].replace(key, key[:j] + key[j + 1 :] + key[j : j + 1], 1)
    return "".join(lines)


def _line_edit(text: str, line: int, how: int) -> str:
    lines = _lines(text)
    if not lines:
        return text
    i = line % len(lines)
    if how == 0:
        del lines[i]
    elif how == 1:
        lines.insert(i, lines[i])
    elif how == 2:
        lines[i] = "  " + lines[i]
    else:
        lines[i] = lines[i].lstrip()
    return "".join(lines)


def _splice(text: str, line: int, snippet: str) -> str:
    lines = _lines(text)
    lines.insert(line % (len(lines) + 1), snippet)
    return "".join(lines)


_ALIAS_BOMB = (
    "a: &a [x, x, x, x, x, x, x, x, x]\nb: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a]\n"
    "c: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b]\nd: &d [*c, *c, *c, *c, *c, *c, *c, *c, *c]\n"
    "e: &e [*d, *d, *d, *d, *d, *d, *d, *d, *d]\nf: &f [*e, *e, *e, *e, *e, *e, *e, *e, *e]\n"
    "g: &g [*f, *f, *f, *f, *f, *f, *f, *f, *f]\nh: [*g, *g, *g, *g, *g, *g, *g, *g, *g]\n"
)
_SNIPPETS = (
    _ALIAS_BOMB,
    "deep: " + "[" * 2000 + "]" * 2000 + "\n",
    "%YAML 1.1\n---\n",
    "---\nkind: x\n",
    "\t\n",
)


@st.composite
def _mutated(draw: st.DrawFn, text: str) -> str:
    line = draw(st.integers(0, 10**6))
    kind = draw(st.sampled_from(("value", "value", "value", "key", "line", "truncate", "splice", "bytes")))
    if kind == "value":
        return _replace_value(text, line, draw(st.sampled_from(_VALUES)))
    if kind == "key":
        return _misspell_key(text, line, draw(st.integers(0, 50)))
    if kind == "line":
        return _line_edit(text, line, draw(st.integers(0, 3)))
    if kind == "truncate":
        return text[: line % (len(text) + 1)]
    if kind == "splice":
        return _splice(text, line, draw(st.sampled_from(_SNIPPETS)))
    at = line % (len(text) + 1)
    return text[:at] + draw(st.text(min_size=1, max_size=8)) + text[at:]


@pytest.fixture(scope="module")
def workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A copy of data/ (the plan names files beside it); mutated files are written into it."""
    target = tmp_path_factory.mktemp("fuzz") / "data"
    shutil.copytree(DATA, target)
    history = (DATA / "traffic-history.csv").read_text().splitlines(keepends=True)[:_HISTORY_ROWS]
    (target / "history-head.csv").write_text("".join(history))
    return target


def _check(case: _Case, path: Path, text: str) -> None:
    path.write_text(text, encoding="utf-8", errors="surrogatepass")
    try:
        with _time_limit(_TIME_LIMIT_S):
            loaded = case.load(path)
    except CapplanError as exc:
        message = str(exc)
        assert path.name in message, f"error does not name the file: {message[:300]}"
        assert len(message) <= 5000, f"error message of {len(message)} characters"
        return
    case.sane(loaded)


_SETTINGS = settings(
    max_examples=_EXAMPLES,
    derandomize=True,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
    database=None,
)


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.file)
def test_loader_survives_mutations(case: _Case, workdir: Path) -> None:
    text = (DATA / case.file).read_text()

    @_SETTINGS
    @given(mutated=_mutated(text))
    def run(mutated: str) -> None:
        _check(case, workdir / f"mutated-{case.file}", mutated)

    run()


def test_history_reader_survives_mutations(workdir: Path) -> None:
    text = (workdir / "history-head.csv").read_text()
    case = _Case("history-head.csv", _load_history, _sane_history)

    @_SETTINGS
    @given(mutated=_mutated(text))
    def run(mutated: str) -> None:
        _check(case, workdir / "mutated-history.csv", mutated)

    run()
