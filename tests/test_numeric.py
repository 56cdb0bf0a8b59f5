"""The vectorised root-bracketing helpers and the service shapes' quantile bounds."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from capplan._numeric import (
    FloatArray,
    bisect_decreasing,
    narrow_decreasing,
    newton_decreasing,
    newton_decreasing_array,
)
from capplan.queueing.service import TwoMomentService


def test_narrowing_keeps_the_root_of_exponential_survival() -> None:
    # exp(-r t) = 1 - p has the root -ln(1 - p) / r (closed form).
    rate = np.array([0.5, 1.0, 3.0, 40.0])
    p = np.array([0.5, 0.95, 0.99, 0.999])
    root = -np.log1p(-p) / rate
    lo, hi = np.zeros(4), root * 7.3

    def rows(t: FloatArray, mask: np.ndarray) -> FloatArray:
        return np.asarray(np.exp(-rate[mask][:, None] * t), dtype=np.float64)

    new_lo, new_hi = narrow_decreasing(rows, 1.0 - p, lo, hi, points=64, rounds=2)
    assert np.all((new_lo < root) & (root <= new_hi))
    np.testing.assert_allclose(new_hi - new_lo, (hi - lo) / 64**2, rtol=1e-9)
    solved = bisect_decreasing(lambda t, m: np.exp(-rate[m] * t), 1.0 - p, new_lo, new_hi, rtol=1e-14)
    np.testing.assert_allclose(solved, root, rtol=1e-12)


def test_narrowing_finds_the_left_end_of_a_flat_stretch_and_skips_empty_brackets() -> None:
    # A step from 1 to 0.5 at t = 1 and to 0 at t = 2: fn = 0.5 on [1, 2), so the smallest t with
    # fn(t) <= 0.5 is 1; a bracket with lo == hi or an infinite end is returned unchanged.
    def step(t: FloatArray) -> FloatArray:
        return np.where(t < 1.0, 1.0, np.where(t < 2.0, 0.5, 0.0))

    lo, hi = np.array([0.0, 3.0, 0.0]), np.array([3.0, 3.0, np.inf])
    new_lo, new_hi = narrow_decreasing(lambda t, m: step(t), np.full(3, 0.5), lo, hi, points=8, rounds=3)
    assert new_lo[0] < 1.0 <= new_hi[0]
    assert new_hi[0] - new_lo[0] <= 3.0 / 8**3 + 1e-15
    assert (new_lo[1], new_hi[1]) == (3.0, 3.0)
    assert (new_lo[2], new_hi[2]) == (0.0, np.inf)


def test_bracketed_newton_finds_closed_form_roots_where_plain_newton_diverges() -> None:
    # exp(-x) = 0.3 at x = ln(10/3); -arctan(x - 2) = 0 at x = 2, where Newton from x = 25 (the
    # bracket's middle) would be thrown out of [-50, 100] by the flat slope: the step bisects.
    root = newton_decreasing(lambda x: (math.exp(-x) - 0.3, -math.exp(-x)), 0.0, 10.0)
    assert root == pytest.approx(math.log(10 / 3), rel=1e-13)
    root = newton_decreasing(lambda x: (-math.atan(x - 2.0), -1.0 / (1.0 + (x - 2.0) ** 2)), -50.0, 100.0)
    assert root == pytest.approx(2.0, abs=1e-12)


def test_bracketed_newton_on_arrays_finds_closed_form_roots_element_wise() -> None:
    # Four functions side by side, each with its closed-form root:
    #   exp(-x) - 0.3 = 0 at ln(10/3), started in the bracket;
    #   -arctan(x - 2) = 0 at 2, started at 90 where the slope is flat (Newton would leave [-50, 100]);
    #   1/x - 4 = 0 at 1/4, started outside the bracket (the search starts at its middle);
    #   a bracket of zero width, returned as its lower end.
    lo = np.array([0.0, -50.0, 0.01, 3.0])
    hi = np.array([10.0, 100.0, 5.0, 3.0])
    start = np.array([0.5, 90.0, 7.0, 3.0])
    kind = np.arange(4)
    calls = []

    def fn(x: FloatArray, mask: np.ndarray) -> tuple[FloatArray, FloatArray]:
        calls.append(int(mask.sum()))
        k = kind[mask]
        value = np.select(
            [k == 0, k == 1, k == 2], [np.exp(-x) - 0.3, -np.arctan(x - 2.0), 1.0 / x - 4.0], np.nan
        )
        slope = np.select([k == 0, k == 1, k == 2], [-np.exp(-x), -1.0 / (1.0 + (x - 2.0) ** 2), -1.0 / x**2])
        return value, slope

    roots = newton_decreasing_array(fn, lo, hi, start, rtol=1e-15)
    np.testing.assert_allclose(roots[:3], [math.log(10 / 3), 2.0, 0.25], rtol=1e-14, atol=1e-14)
    assert roots[3] == 3.0
    assert max(calls) == 3 and len(calls) < 40  # the zero-width bracket is never evaluated
    # One point as a 0-d array: the same root, returned 0-d.
    one = newton_decreasing_array(
        lambda x, m: (np.exp(-x) - 0.3, -np.exp(-x)), np.array(0.0), np.array(10.0), np.array(1.0)
    )
    assert one.shape == () and float(one) == pytest.approx(math.log(10 / 3), rel=1e-14)


def test_bracketed_newton_on_arrays_stops_in_round_off_at_the_root() -> None:
    # (x - 1)^3 evaluated as x^3 - 3x^2 + 3x - 1 is round-off within ~1e-5 of its root 1, where its
    # slope vanishes: the search must still end near the root (not bisect away from it), in bounded
    # steps.
    def fn(x: FloatArray, mask: np.ndarray) -> tuple[FloatArray, FloatArray]:
        return -(x**3 - 3 * x**2 + 3 * x - 1), -(3 * x**2 - 6 * x + 3)

    root = newton_decreasing_array(fn, np.array([0.0, -3.0]), np.array([4.0, 1.5]), np.array([3.0, -2.0]))
    np.testing.assert_allclose(root, 1.0, atol=1e-4)


@settings(max_examples=60, deadline=None)
@given(
    mean=st.floats(1e-4, 10.0),
    scv=st.floats(0.02, 25.0),
    p=st.floats(0.01, 0.9999),
)
def test_two_moment_quantile_lies_within_its_bounds(mean: float, scv: float, p: float) -> None:
    # The bounds are the two gamma components' quantiles; the mixture's cdf is below p at the lower
    # and at or above p at the upper one, so the quantile (found by bisection) lies between.
    service = TwoMomentService(np.array([mean]), np.array([scv]))
    lo, hi = service.quantile_bounds(np.array([p]))
    q = service.quantile(np.array([p]))
    assert lo[0] <= q[0] * (1 + 1e-12) and q[0] <= hi[0] * (1 + 1e-12)
    assert 1.0 - service.sf(lo)[0] <= p + 1e-9
    assert 1.0 - service.sf(hi)[0] >= p - 1e-9


@pytest.mark.parametrize("k", [2, 3, 10])
def test_two_moment_quantile_at_scv_one_over_k_is_erlang_k(k: int) -> None:
    # At SCV 1/k the fit is the Erlang-k alone (the Erlang-(k-1) part has weight 0): its
    # quantiles are SciPy's gamma(k) ppf, found without a search (the bounds coincide).
    from scipy import stats  # noqa: PLC0415

    p = np.array([0.5, 0.95, 0.999])
    service = TwoMomentService(np.array(0.04), 1.0 / k)
    lo, hi = service.quantile_bounds(p)
    np.testing.assert_array_equal(lo, hi)
    np.testing.assert_allclose(service.quantile(p), stats.gamma(k, scale=0.04 / k).ppf(p), rtol=1e-14)


@pytest.mark.parametrize("scv", [0.3, 0.7, 2.0, 9.0])
def test_two_moment_quantile_of_a_mixture_meets_its_probability(scv: float) -> None:
    # A mixture of two gamma parts has no closed-form quantile: its cdf there must be p to round-off.
    p = np.array([0.01, 0.5, 0.95, 0.99, 0.9999])
    service = TwoMomentService(np.full(p.shape, 0.04), scv)
    q = service.quantile(p)
    np.testing.assert_allclose(1.0 - service.sf(q), p, rtol=1e-13, atol=1e-15)


def test_response_survival_slope_is_its_derivative() -> None:
    # d/dt P(T > t) = -(1 - sum w) f_S(t) - sum w_i r_i I_i(t - s_i): against central differences of
    # the survival itself, for a two-component wait law and gamma-mixture service (SCV 0.3 and 4).
    from capplan.queueing._sojourn import WaitLaw, _response  # noqa: PLC0415

    law = WaitLaw(np.array([[0.3], [0.25]]), np.array([[0.0], [0.02]]), np.array([[40.0], [15.0]]))
    t = np.array([0.005, 0.02, 0.03, 0.08, 0.2])
    for scv in (0.3, 4.0):
        service = TwoMomentService(np.array([0.04]), np.array([scv]))
        value, slope = _response(t, law, service, slope=True)
        h = 1e-7
        up, down = (_response(t + d, law, service, slope=False)[0] for d in (h, -h))
        assert slope is not None
        np.testing.assert_array_equal(value, _response(t, law, service, slope=False)[0])
        np.testing.assert_allclose(slope, (up - down) / (2 * h), rtol=1e-6)


def test_response_and_wait_quantiles_meet_their_probabilities() -> None:
    # The Newton searches' roots: the survival at each quantile is 1 - p to round-off, including a
    # wait law whose two components decay alike (the bracket's upper bound is then the root).
    from capplan.queueing._sojourn import (  # noqa: PLC0415
        WaitLaw,
        response_quantile,
        response_survival,
        wait_quantile,
        wait_survival,
    )

    p = np.array([0.5, 0.9, 0.99, 0.9999])
    laws = [
        WaitLaw(np.array([[0.3], [0.25]]), np.array([[0.0], [0.02]]), np.array([[40.0], [15.0]])),
        WaitLaw(np.array([[0.2], [0.4]]), np.array([[0.01], [0.01]]), np.array([[30.0], [30.0]])),
    ]
    for law in laws:
        q = wait_quantile(p[:, None], law)
        np.testing.assert_allclose(wait_survival(q, law), 1.0 - p[:, None], rtol=1e-12)
        service = TwoMomentService(np.array([0.04]), np.array([2.0]))
        r = response_quantile(p[:, None], law, service)
        np.testing.assert_allclose(response_survival(r, law, service), 1.0 - p[:, None], rtol=1e-12)
