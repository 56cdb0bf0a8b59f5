"""histogram_quantile and rate on samples, by the definitions in the Prometheus documentation
("Functions": ``histogram_quantile()`` - linear interpolation inside the bucket, the lowest
bucket starting at 0, the largest finite bound for a rank in the ``+Inf`` bucket, NaN without
an ``+Inf`` bucket, -Inf/+Inf for q < 0 / q > 1; ``rate()`` - per-second increase with counter
resets handled and extrapolation to the window edges).  The expected values below are worked by
hand from those rules; ``tests/test_prometheus.py`` checks the same functions against a real
server.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from capplan import ParameterError
from capplan.measurements.promql import bucket_quantile, extrapolated_rate, histogram_quantile, rate

LE = [0.1, 0.2, 0.5, math.inf]
COUNTS = [10, 30, 60, 100]


def test_interpolation_inside_bucket() -> None:
    # rank 50 of 100 lies in (0.2, 0.5] holding 30 observations, 20 of them up to the rank
    assert bucket_quantile(0.5, LE, COUNTS) == pytest.approx((0.2 + 0.3 * 20 / 30, 0.2, 0.5))
    # lowest bucket starts at 0
    assert bucket_quantile(0.05, LE, COUNTS) == pytest.approx((0.05, 0.0, 0.1))
    # exactly on a bucket boundary
    assert bucket_quantile(0.3, LE, COUNTS)[0] == pytest.approx(0.2)


def test_inf_bucket_and_out_of_range() -> None:
    assert bucket_quantile(0.7, LE, COUNTS) == (0.5, 0.5, math.inf)
    assert bucket_quantile(-0.1, LE, COUNTS)[0] == -math.inf
    assert bucket_quantile(1.1, LE, COUNTS)[0] == math.inf
    assert all(math.isnan(v) for v in bucket_quantile(0.5, [0.1, 0.2], [1, 2]))  # no +Inf bucket
    assert all(math.isnan(v) for v in bucket_quantile(0.5, [math.inf], [5]))  # fewer than 2 buckets
    assert all(math.isnan(v) for v in bucket_quantile(0.5, LE, [0, 0, 0, 0]))  # no observations
    assert all(math.isnan(v) for v in bucket_quantile(math.nan, LE, COUNTS))


def test_non_positive_lowest_bucket_and_repairs() -> None:
    assert bucket_quantile(0.2, [-1.0, 0.0, math.inf], [5, 10, 10])[0] == -1.0
    # unsorted input, duplicated bounds summed, non-monotonic counts made monotonic
    shuffled = bucket_quantile(0.5, [0.5, math.inf, 0.1, 0.2], [60, 100, 10, 30])
    assert shuffled == bucket_quantile(0.5, LE, COUNTS)
    dup = bucket_quantile(0.5, [0.1, 0.1, 0.2, math.inf], [5, 5, 20, 20])
    assert dup[0] == pytest.approx(0.1 + 0.1 * 0 / 10)
    assert bucket_quantile(0.5, [0.1, 0.2, math.inf], [10, 8, 20])[0] == pytest.approx(0.1)


@settings(max_examples=50, deadline=None)
@given(
    counts=st.lists(st.integers(0, 50), min_size=2, max_size=8),
    q=st.floats(0.0, 1.0),
)
def test_quantile_lies_in_its_bucket_and_is_monotone(counts: list[int], q: float) -> None:
    le = [0.01 * 2**i for i in range(len(counts) - 1)] + [math.inf]
    cum = np.cumsum(counts)
    v, lo, hi = bucket_quantile(q, le, cum)
    if cum[-1] == 0 or math.isnan(v):
        return
    assert lo <= v <= hi
    v2, _, _ = bucket_quantile(min(1.0, q + 0.1), le, cum)
    assert v2 >= v - 1e-12


def test_histogram_quantile_frame() -> None:
    frame = pd.DataFrame(
        {
            "users": [1] * 4 + [2] * 4,
            "le": ["0.1", "0.2", "0.5", "+Inf"] * 2,
            "value": [*COUNTS, 0, 0, 50, 100],
        }
    )
    out = histogram_quantile([0.5, 0.9], frame)
    assert out.columns.tolist() == ["users", "quantile", "value", "lower", "upper"]
    assert out["value"].tolist() == pytest.approx([0.4, 0.5, 0.5, 0.5])
    assert out["upper"].tolist()[1] == math.inf
    assert out.attrs["method"].startswith("approximate: linear interpolation")
    with pytest.raises(ParameterError, match="le must be a number"):
        histogram_quantile(0.5, frame.assign(le="big"))
    with pytest.raises(ParameterError, match="must have columns"):
        histogram_quantile(0.5, frame.drop(columns="le"))


def test_rate_steady_counter() -> None:
    t = np.arange(0.0, 11.0)
    v = 3.0 * t
    # samples cover the window exactly: rate = 30 / 10
    assert extrapolated_rate(t, v, 0.0, 10.0) == pytest.approx(3.0)
    assert extrapolated_rate(t, v, 0.0, 10.0, is_rate=False) == pytest.approx(30.0)


def test_rate_counter_reset_and_extrapolation() -> None:
    # samples at 1..5 in the window [0, 5]: increase 2 - 5 + 7 (value before the reset) = 4 over
    # 4 s; extrapolated by 1 s at the start (1 < 1.1 average intervals; zero is 5 s away)
    t = np.array([1.0, 2.0, 3.0, 4.0, 5.0])
    v = np.array([5.0, 6.0, 7.0, 1.0, 2.0])
    assert extrapolated_rate(t, v, 0.0, 5.0, is_rate=False) == pytest.approx(5.0)
    assert extrapolated_rate(t, v, 0.0, 5.0) == pytest.approx(1.0)
    # a first sample far from the start (and from zero) extrapolates by half an interval only
    assert extrapolated_rate([5.0, 6.0], [100.0, 110.0], 0.0, 6.0, is_rate=False) == pytest.approx(15.0)
    # ... but not past the counter's zero: 10 -> 20 in 1 s started 1 s before the first sample
    assert extrapolated_rate([5.0, 6.0], [10.0, 20.0], 0.0, 6.0, is_rate=False) == pytest.approx(20.0)
    # window starts 0.1 s before the first sample (within 1.1 intervals): extrapolated by 0.1 s
    assert extrapolated_rate([1.0, 2.0], [1.0, 11.0], 0.9, 2.0, is_rate=False) == pytest.approx(
        10.0 * 1.1 / 1.0
    )
    assert math.isnan(extrapolated_rate([1.0], [1.0], 0.0, 2.0))


def test_rate_frame() -> None:
    frame = pd.DataFrame(
        {
            "metric": "x_total",
            "code": ["200"] * 11 + ["500"] * 11,
            "timestamp": list(np.arange(0.0, 11.0)) * 2,
            "value": list(2.0 * np.arange(11.0)) + list(np.arange(11.0)),
        }
    )
    out = rate(frame, 10.0, [10.0])
    assert out["code"].tolist() == ["200", "500"]
    assert out["value"].tolist() == pytest.approx([2.0, 1.0])
    assert rate(frame, 0.5, [10.0]).empty  # one sample per window
    with pytest.raises(ParameterError, match="window must be"):
        rate(frame, 0.0, [10.0])
