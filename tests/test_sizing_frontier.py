"""LoadFrontier: pass/fail of a monotone test at many rates from a few solves, each answer the one
solving that rate gives."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from capplan._validate import FloatArray
from capplan.sizing._frontier import LoadFrontier
from capplan.sizing._search import largest_passing_load

LEVELS = np.array([0.9, 0.99])


def _cdf_rows(boundary: float, solved: list[float]) -> LoadFrontier:
    """A family whose P(T <= t) falls with the rate like an exponential tail, the 0.99 target
    failing above ``boundary``; ``solved`` records the rates solved."""

    def solve(x: float) -> FloatArray:
        solved.append(x)
        tail = 0.01 * math.exp(0.05 * (x - boundary))
        return np.array([1.0 - 0.5 * tail, 1.0 - tail])

    return LoadFrontier(solve, LEVELS)


@settings(max_examples=40, deadline=None)
@given(
    boundary=st.floats(5.0, 500.0),
    queries=st.lists(st.floats(0.1, 1000.0), min_size=1, max_size=60),
)
def test_every_answer_is_the_direct_one(boundary: float, queries: list[float]) -> None:
    solved: list[float] = []
    frontier = _cdf_rows(boundary, solved)
    xs = np.array(queries)
    got = frontier.passes(xs)
    direct = np.array([bool(np.all(frontier.row(x) >= LEVELS)) for x in xs])
    np.testing.assert_array_equal(got, direct)


def test_a_capacity_search_takes_a_handful_of_solves() -> None:
    # largest_passing_load asks 33 rates per round, 3-4 rounds: the frontier solves far fewer, and
    # finds what asking every rate finds.
    solved: list[float] = []
    frontier = _cdf_rows(129.0353547, solved)

    def direct(rates: FloatArray) -> np.ndarray:
        return np.array([bool(np.all(frontier._solve(float(r)) >= LEVELS)) for r in rates])

    expected = largest_passing_load(direct, 100.0, 140.0)
    solved.clear()
    assert largest_passing_load(frontier.passes, 100.0, 140.0) == expected
    assert len(solved) <= 10
    assert expected == pytest.approx(129.0353547, rel=1e-4)


def test_known_passes_need_no_solve() -> None:
    solved: list[float] = []
    frontier = _cdf_rows(50.0, solved)
    assert frontier.passes(np.array([10.0, 40.0, 45.0])).all()
    assert solved == [45.0]  # the highest query passed: the others are below it
    assert frontier.passes_known(30.0)
    assert not frontier.passes_known(60.0)
    assert not frontier.passes(np.array([80.0, 90.0])).any()
