"""Properties G/G/c must have whatever the inputs: monotone in load and servers, continuous in both
SCVs, ordered percentiles, and more variability never less wait where theory says so.

Hypothesis draws the points (seeded; ``CAPPLAN_PROPERTY_EXAMPLES`` raises the count).  Waits are
compared with a relative slack of 1e-7 plus 1e-9 of the mean service time: the lattice solution
(deterministic service) carries ~1e-8 of round-off, and waits below a billionth of a service time
are round-off too.
"""

from __future__ import annotations

import math
import os

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from capplan.queueing import GGc

EXAMPLES = int(os.environ.get("CAPPLAN_PROPERTY_EXAMPLES", "100"))
PROPERTY = settings(max_examples=EXAMPLES, deadline=None, derandomize=True)

QUANTILES = np.array([0.5, 0.9, 0.95, 0.99, 0.999])
servers = st.integers(1, 64)
scvs = st.one_of(st.sampled_from([0.0, 0.25, 0.5, 1.0, 2.0, 4.0, 9.0, 16.0]), st.floats(0.0, 16.0))
rhos = st.floats(0.05, 0.97)


def _metrics(model: GGc) -> np.ndarray:
    """Mean wait, then wait and response quantiles."""
    return np.concatenate(
        [[model.mean_wait], np.atleast_1d(model.wait_quantile(QUANTILES)), model.response_quantile(QUANTILES)]
    )


def _not_below(low: np.ndarray, high: np.ndarray) -> bool:
    return bool(np.all(high >= low * (1 - 1e-7) - 1e-9))


@PROPERTY
@given(c=servers, ca2=scvs, cs2=scvs, rho=rhos, step=st.floats(0.002, 0.2))
def test_waits_rise_with_utilization(c: int, ca2: float, cs2: float, rho: float, step: float) -> None:
    higher = min(rho + step, 0.98)
    low, high = (_metrics(GGc(r * c, 1.0, c, ca2, cs2)) for r in (rho, higher))
    assert _not_below(low, high), (low, high)


@PROPERTY
@given(c=st.integers(2, 64), ca2=scvs, cs2=scvs, rho=rhos, removed=st.integers(1, 8))
def test_waits_rise_as_servers_are_removed(c: int, ca2: float, cs2: float, rho: float, removed: int) -> None:
    fewer = max(c - removed, 1)
    lam = rho * fewer  # stable with the fewer servers
    many, few = (_metrics(GGc(lam, 1.0, n, ca2, cs2)) for n in (c, fewer))
    assert _not_below(many, few), (many, few)


@PROPERTY
@given(c=servers, scv=scvs, rho=rhos, which=st.sampled_from(["arrival", "service"]))
def test_continuous_in_both_scvs(c: int, scv: float, rho: float, which: str) -> None:
    def metrics(x: float) -> np.ndarray:
        ca2, cs2 = (x, 1.0) if which == "arrival" else (1.0, x)
        return _metrics(GGc(rho * c, 1.0, c, ca2, cs2))

    # 1e-8: near SCV 0 the phase-type fit's spread grows as sqrt(SCV), so a quantile moves ~1e-4.
    here, near = metrics(scv), metrics(scv + 1e-8)
    scale = np.maximum(np.abs(here), 1e-9)
    assert np.all(np.abs(near - here) <= 2e-3 * scale + 1e-10), (here, near)


@pytest.mark.parametrize("scv", [0.25, 0.5, 1.0])
@pytest.mark.parametrize("c", [1, 4, 32, 33])
def test_no_jump_at_method_boundaries(scv: float, c: int) -> None:
    # SCV 1/4 (arrival fits below it are scaled), 1/2 (two-phase service fits start), 1 (Erlang
    # mixtures meet the H2): the metrics either side of each agree; 32/33 servers are the
    # matrix-geometric and the anchored approximation.
    for ca2, cs2 in ((scv, 1.5), (1.5, scv)):
        below, above = ((ca2 - d, cs2) if ca2 == scv else (ca2, cs2 - d) for d in (1e-9, -1e-9))
        a, b = (_metrics(GGc(0.8 * c, 1.0, c, *args)) for args in (below, above))
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-12)


@PROPERTY
@given(c=servers, ca2=scvs, cs2=scvs, rho=rhos)
def test_percentiles_are_ordered(c: int, ca2: float, cs2: float, rho: float) -> None:
    model = GGc(rho * c, 1.0, c, ca2, cs2)
    for values in (np.atleast_1d(model.wait_quantile(QUANTILES)), model.response_quantile(QUANTILES)):
        assert np.all(np.diff(values) >= -1e-12), values
    assert model.response_quantile(0.99) >= model.wait_quantile(0.99)
    assert model.mean_response == pytest.approx(model.mean_wait + 1.0)


@PROPERTY
@given(ca2=scvs, cs2=scvs, rho=rhos, more=st.floats(0.01, 4.0), which=st.sampled_from(["arrival", "service"]))
def test_single_server_more_variability_more_wait(
    ca2: float, cs2: float, rho: float, more: float, which: str
) -> None:
    # GI/G/1: the wait is the supremum of a random walk; for these fits a larger SCV is a larger
    # step variance, so the mean wait grows (Kingman's bound; Stoyan, Comparison Methods for Queues
    # (1983), sec. 5.2, for convex-ordered steps).
    a2, s2 = (ca2 + more, cs2) if which == "arrival" else (ca2, cs2 + more)
    base, varied = GGc(rho, 1.0, 1, ca2, cs2), GGc(rho, 1.0, 1, a2, s2)
    assert varied.mean_wait >= base.mean_wait * (1 - 1e-7)


@PROPERTY
@given(c=servers, ca2=scvs, rho=rhos, more=st.floats(0.01, 4.0))
def test_more_variable_arrivals_more_wait_with_exponential_service(
    c: int, ca2: float, rho: float, more: float
) -> None:
    # GI/M/c: the queue seen by arrivals is geometric with ratio sigma = A*(c mu (1 - sigma)); a
    # more variable inter-arrival time (a larger SCV of these fits) has a larger transform, hence a
    # larger sigma and a longer wait (Ross, Stochastic Processes 2nd ed. (1996), sec. 9.5).
    base, varied = GGc(rho * c, 1.0, c, ca2, 1.0), GGc(rho * c, 1.0, c, ca2 + more, 1.0)
    assert varied.mean_wait >= base.mean_wait * (1 - 1e-7) - 1e-12
    assert varied.wait_quantile(0.99) >= base.wait_quantile(0.99) * (1 - 1e-7) - 1e-12


def test_unstable_is_infinite_never_nan() -> None:
    model = GGc([7.9, 8.0, 9.0], 1.0, 8, 4.0, 9.0)
    assert np.isfinite(model.mean_wait[0])
    assert np.all(np.isinf(model.mean_wait[1:]))
    assert np.all(np.isinf(model.response_quantile(0.99)[1:]))
    for p in (0.5, 0.99):
        assert not np.isnan(model.response_quantile(p)).any()
    assert math.isinf(GGc(9.0, 1.0, 8, 1.0, 0.0).wait_quantile(0.5))
