"""Erlang B and Erlang C: reference values, 50-digit accuracy, vectorisation, edges, properties.

References are computed independently of the library:

* exact rational arithmetic (``fractions.Fraction``) of the defining sum
  B(c, a) = (a^c / c!) / sum_{k<=c} a^k / k!  for small ``c``;
* 50-digit mpmath through the incomplete gamma function,
  B(c, a) = exp(c log a - a - log c!) / Q(c + 1, a),  Q the regularized upper incomplete gamma,
  and C = c B / (c - a + a B) for a < c, C = 1 for a >= c (Gross, Shortle, Thompson & Harris,
  *Fundamentals of Queueing Theory* 4th ed., sec. 2.3 and eq. (2.47)).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from decimal import Decimal
from fractions import Fraction
from typing import Any

import mpmath as mp
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from capplan.queueing import erlang_b, erlang_c, log_erlang_b, log_erlang_c

REF_DPS = 50
UNDERFLOW = 1e-300  # below this, compare logarithms instead of values
REL_TOL = 1e-10


# --------------------------------------------------------------------------------------------
# Independent references
# --------------------------------------------------------------------------------------------


def exact_erlang_b(c: int, a: Fraction) -> Fraction:
    """B(c, a) from its definition, in exact rational arithmetic (small ``c`` only)."""
    term = Fraction(1)
    total = Fraction(1)
    for k in range(1, c + 1):
        term = term * a / k
        total += term
    return term / total


def exact_erlang_c(c: int, a: Fraction) -> Fraction:
    if a >= c:
        return Fraction(1)
    b = exact_erlang_b(c, a)
    return c * b / (c - a + a * b)


def mp_log_erlang_b(c: float, a: float) -> mp.mpf:
    """log B(c, a) at 50 digits; ``a`` is taken as the exact binary value of the double."""
    with mp.workdps(REF_DPS):
        cc = mp.mpf(c)
        aa = mp.mpf(a)
        q = mp.gammainc(cc + 1, aa, mp.inf, regularized=True)
        return +(cc * mp.log(aa) - aa - mp.loggamma(cc + 1) - mp.log(q))


def mp_log_erlang_c(c: float, a: float) -> mp.mpf:
    with mp.workdps(REF_DPS):
        if a >= c:
            return mp.mpf(0)
        log_b = mp_log_erlang_b(c, a)
        b = mp.exp(log_b)
        return +(log_b + mp.log(c) - mp.log(mp.mpf(c) - a + a * b))


def _rel(got: float, ref: mp.mpf) -> float:
    with mp.workdps(REF_DPS):
        return float(abs((mp.mpf(got) - ref) / ref))


# --------------------------------------------------------------------------------------------
# Textbook values
# --------------------------------------------------------------------------------------------

# The classic Erlang B traffic table (offered load in Erlangs carried by n circuits at a given
# grade of service B, as printed in telephone traffic-engineering handbooks), entries copied with
# their printed precision. A printed load a_tab means the exact load solving B(n, a) = GoS lies
# within half a unit of the last printed digit, which the test checks both with capplan and with
# exact rational arithmetic.
ERLANG_B_TABLE = [
    # (servers, grade of service, printed load in Erlangs)
    (1, "0.01", "0.0101"),
    (2, "0.01", "0.153"),
    (5, "0.01", "1.36"),
    (5, "0.02", "1.66"),
    (5, "0.05", "2.22"),
    (10, "0.01", "4.46"),
    (10, "0.02", "5.08"),
    (10, "0.05", "6.22"),
    (20, "0.01", "12.03"),
    (20, "0.02", "13.18"),
    (20, "0.05", "15.25"),
    (50, "0.01", "37.90"),
    (50, "0.02", "40.26"),
    (100, "0.01", "84.06"),
    (100, "0.02", "87.97"),
]


@pytest.mark.parametrize(("servers", "gos", "printed"), ERLANG_B_TABLE)
def test_classic_erlang_b_table(servers: int, gos: str, printed: str) -> None:
    exponent = Decimal(printed).as_tuple().exponent
    assert isinstance(exponent, int)
    half_unit = Fraction(1, 2) * Fraction(10) ** exponent
    lo = float(Fraction(printed) - half_unit)
    hi = float(Fraction(printed) + half_unit)
    target = float(gos)
    # The table entry brackets the root of B(n, a) = GoS ...
    assert erlang_b(servers, lo) < target < erlang_b(servers, hi)
    # ... and so does exact arithmetic, which also pins capplan's value at the printed load.
    assert exact_erlang_b(servers, Fraction(lo)) < Fraction(gos) < exact_erlang_b(servers, Fraction(hi))
    a = float(printed)
    assert erlang_b(servers, a) == pytest.approx(float(exact_erlang_b(servers, Fraction(a))), rel=1e-12)


def test_mmc_textbook_values() -> None:
    # M/M/10 at a = 8 Erlangs (rho = 0.8): C(10, 8) = 0.4092 and B(10, 8) = 0.1217 to 4 decimals;
    # exact rationals: B = (8^10/10!) / sum_{k<=10} 8^k/k!, C = 10 B / (2 + 8 B).
    b = erlang_b(10, 8.0)
    c = erlang_c(10, 8.0)
    assert round(b, 4) == 0.1217
    assert round(c, 4) == 0.4092
    assert b == pytest.approx(float(exact_erlang_b(10, Fraction(8))), rel=1e-13)
    assert c == pytest.approx(float(exact_erlang_c(10, Fraction(8))), rel=1e-13)


@pytest.mark.parametrize("a", [1e-6, 0.1, 0.5, 0.8, 0.95, 0.999999])
def test_single_and_two_server_closed_forms(a: float) -> None:
    # Kleinrock, *Queueing Systems* vol. 1 (1975): M/M/1 (sec. 3.2) waits with probability
    # rho = a; Erlang's loss formula with one server (sec. 3.7) is a / (1 + a); M/M/2 (sec. 3.5,
    # m = 2) waits with probability 2 rho^2 / (1 + rho) = a^2 / (2 + a), e.g. 1/3 at a = 1.
    assert erlang_c(1, a) == pytest.approx(a, rel=1e-14)
    assert erlang_b(1, a) == pytest.approx(a / (1 + a), rel=1e-14)
    assert erlang_b(2, 2 * a) == pytest.approx(float(exact_erlang_b(2, Fraction(2 * a))), rel=1e-14)
    assert erlang_c(2, 2 * a) == pytest.approx((2 * a) ** 2 / (2 + 2 * a), rel=1e-13)
    assert erlang_c(2, 1.0) == pytest.approx(1 / 3, rel=1e-15)


# --------------------------------------------------------------------------------------------
# 50-digit accuracy over a grid up to servers = 1e6
# --------------------------------------------------------------------------------------------

GRID_SERVERS = [1, 2, 5, 17, 100, 1_000, 10_000, 100_000, 1_000_000]
GRID_RATIOS = [0.01, 0.5, 0.9, 0.99, 0.999, 1.0, 1.001, 1.01, 1.1, 1.5, 2.0, 10.0, 1000.0]
GRID_TINY = [1e-300, 1e-10]
GRID = [(c, float(c) * r) for c in GRID_SERVERS for r in GRID_RATIOS] + [
    (c, a) for c in GRID_SERVERS for a in GRID_TINY
]


@pytest.mark.parametrize(("c", "a"), [(1, 0.3), (2, 1.7), (5, 4.0), (17, 16.5), (17, 40.0), (100, 95.0)])
def test_mpmath_reference_matches_exact_sum(c: int, a: float) -> None:
    # Guards the reference itself: incomplete-gamma form == definition.
    with mp.workdps(REF_DPS):
        exact = exact_erlang_b(c, Fraction(a))
        ref = mp.exp(mp_log_erlang_b(c, a))
        assert abs(ref / (mp.mpf(exact.numerator) / exact.denominator) - 1) < mp.mpf("1e-40")


@pytest.mark.parametrize(("c", "a"), GRID, ids=[f"c={c:g}-a={a:.6g}" for c, a in GRID])
def test_erlang_b_and_c_match_50_digit_reference(c: int, a: float) -> None:
    log_b_ref = mp_log_erlang_b(c, a)
    log_c_ref = mp_log_erlang_c(c, a)
    for fn, log_fn, log_ref in ((erlang_b, log_erlang_b, log_b_ref), (erlang_c, log_erlang_c, log_c_ref)):
        got = fn(c, a)
        assert isinstance(got, float)
        if log_ref > math.log(UNDERFLOW):
            with mp.workdps(REF_DPS):
                ref = mp.exp(log_ref)
            assert _rel(got, ref) <= REL_TOL, (fn.__name__, c, a, got, float(ref))
        else:
            # The value is below 1e-300: it may underflow, its logarithm must not.
            assert 0.0 <= got < 1.01 * UNDERFLOW, (fn.__name__, c, a, got)
            got_log = log_fn(c, a)
            assert math.isfinite(got_log)
            assert _rel(got_log, log_ref) <= REL_TOL, (log_fn.__name__, c, a, got_log, float(log_ref))


@pytest.mark.parametrize(
    ("c", "a"),
    [(1, 1e-310), (1, 5e-324), (2, 1e-310), (17, 1e-305), (1_000_000, 1e-302), (1_000_000, 1e-303)],
)
def test_log_stays_finite_for_loads_near_underflow(c: int, a: float) -> None:
    # erlang_b's docstring: the result underflows to 0 only below ~1e-308 and log_erlang_b stays
    # finite there. Tiny positive loads (subnormal, or a < c / DBL_MAX) must not give log B = -inf.
    log_b_ref = mp_log_erlang_b(c, a)
    log_c_ref = mp_log_erlang_c(c, a)
    got_b = log_erlang_b(c, a)
    got_c = log_erlang_c(c, a)
    assert _rel(got_b, log_b_ref) <= REL_TOL, ("log_erlang_b", c, a, got_b, float(log_b_ref))
    assert _rel(got_c, log_c_ref) <= REL_TOL, ("log_erlang_c", c, a, got_c, float(log_c_ref))


# --------------------------------------------------------------------------------------------
# Vectorisation
# --------------------------------------------------------------------------------------------


def test_million_pairs_vectorised() -> None:
    rng = np.random.default_rng(20_240_601)
    n = 1_000_000
    servers = np.floor(10.0 ** rng.uniform(0.0, 6.0, n))
    load = servers * 10.0 ** rng.uniform(-3.0, 3.0, n)
    load[:1000] = 0.0
    b = erlang_b(servers, load)
    c = erlang_c(servers, load)
    for out in (b, c):
        assert isinstance(out, np.ndarray)
        assert out.shape == (n,)
        assert out.dtype == np.float64
        assert np.isfinite(out).all()
        assert ((out >= 0.0) & (out <= 1.0)).all()
    assert (c >= b).all()
    assert (c[load >= servers] == 1.0).all()
    sample = rng.choice(n, size=300, replace=False)
    sample[0] = 0  # a zero load
    scalar_b = np.array([erlang_b(int(servers[i]), float(load[i])) for i in sample])
    scalar_c = np.array([erlang_c(int(servers[i]), float(load[i])) for i in sample])
    np.testing.assert_allclose(b[sample], scalar_b, rtol=1e-14, atol=0.0)
    np.testing.assert_allclose(c[sample], scalar_c, rtol=1e-14, atol=0.0)


def test_broadcasting_shapes() -> None:
    servers = np.array([[1], [10], [1000]])
    load = np.array([0.5, 9.0, 950.0, 2000.0])
    b = erlang_b(servers, load)
    c = erlang_c(servers, load.tolist())
    assert b.shape == c.shape == (3, 4)
    for i, s in enumerate(servers[:, 0]):
        for j, a in enumerate(load):
            assert b[i, j] == pytest.approx(erlang_b(int(s), float(a)), rel=1e-15)
            assert c[i, j] == pytest.approx(erlang_c(int(s), float(a)), rel=1e-15)


# --------------------------------------------------------------------------------------------
# Edges and invalid input
# --------------------------------------------------------------------------------------------

EDGE_SERVERS = [1, 2, 17, 1000, 1_000_000]


@pytest.mark.parametrize("c", EDGE_SERVERS)
def test_zero_load(c: int) -> None:
    assert erlang_b(c, 0.0) == 0.0
    assert erlang_c(c, 0.0) == 0.0
    assert erlang_b(c, 0) == 0.0
    np.testing.assert_array_equal(erlang_b([c, c], [0.0, 0.0]), [0.0, 0.0])


@pytest.mark.parametrize("c", EDGE_SERVERS)
def test_unstable_load_gives_exactly_one(c: int) -> None:
    loads = [float(c), float(np.nextafter(float(c), np.inf)), 1.5 * c, 2.0 * c, 1e300, math.inf]
    for a in loads:
        assert erlang_c(c, a) == 1.0, a
        assert log_erlang_c(c, a) == 0.0, a
    np.testing.assert_array_equal(erlang_c(np.full(len(loads), c), loads), 1.0)
    # Just below saturation C is still < 1.
    assert erlang_c(c, float(np.nextafter(float(c), 0.0))) < 1.0


@pytest.mark.parametrize("c", EDGE_SERVERS)
def test_infinite_load_blocks_everything(c: int) -> None:
    assert erlang_b(c, math.inf) == 1.0
    assert erlang_b(c, np.inf) == 1.0
    np.testing.assert_array_equal(erlang_b(np.array([c, c]), np.array([math.inf, math.inf])), 1.0)


@pytest.mark.parametrize("fn", [erlang_b, erlang_c])
@pytest.mark.parametrize(
    ("servers", "load", "name", "shown"),
    [
        (0, 1.0, "servers", "0.0"),
        (2.5, 1.0, "servers", "2.5"),
        (math.nan, 1.0, "servers", "nan"),
        (-3, 1.0, "servers", "-3.0"),
        (math.inf, 1.0, "servers", "inf"),
        ([1, 2, 2.5], 1.0, "servers", "2.5"),
        (5, -1.0, "offered_load", "-1.0"),
        (5, math.nan, "offered_load", "nan"),
        (5, -math.inf, "offered_load", "-inf"),
        (5, [1.0, math.nan], "offered_load", "nan"),
    ],
)
def test_invalid_input_names_the_parameter(
    fn: Callable[..., Any], servers: object, load: object, name: str, shown: str
) -> None:
    with pytest.raises(ValueError, match=name) as info:
        fn(servers, load)
    message = str(info.value)
    other = "offered_load" if name == "servers" else "servers"
    assert other not in message
    assert shown in message


# --------------------------------------------------------------------------------------------
# Properties
# --------------------------------------------------------------------------------------------

servers_st = st.integers(min_value=1, max_value=1_000_000)
log_ratio_st = st.floats(min_value=-3.0, max_value=3.0)  # load = servers * 10**log_ratio


@settings(max_examples=150, deadline=None)
@given(c=servers_st, log_ratio=log_ratio_st)
def test_b_decreases_with_servers(c: int, log_ratio: float) -> None:
    a = c * 10.0**log_ratio
    b_c = erlang_b(c, a)
    b_next = erlang_b(c + 1, a)
    assert b_next <= b_c
    if b_c > UNDERFLOW:
        assert b_next < b_c


@settings(max_examples=150, deadline=None)
@given(c=servers_st, log_ratio=log_ratio_st, step=st.floats(min_value=1e-6, max_value=10.0))
def test_b_increases_with_load(c: int, log_ratio: float, step: float) -> None:
    a = c * 10.0**log_ratio
    b_lo = erlang_b(c, a)
    b_hi = erlang_b(c, a * (1.0 + step))
    assert b_lo <= b_hi
    if b_hi > UNDERFLOW:
        assert b_lo < b_hi


@settings(max_examples=150, deadline=None)
@given(c=servers_st, log_ratio=log_ratio_st)
def test_c_at_least_b(c: int, log_ratio: float) -> None:
    a = c * 10.0**log_ratio
    b = erlang_b(c, a)
    cw = erlang_c(c, a)
    assert 0.0 <= b <= cw <= 1.0
    if 0.0 < a < c and b > UNDERFLOW:
        # C = B / (1 - rho (1 - B)) > B strictly below saturation.
        assert cw > b


def _check_recursion(c: int, a: float) -> None:
    """B(c, a) = a B(c-1, a) / (c + a B(c-1, a)), relative 1e-11 (in the log if B underflows)."""
    b_prev = erlang_b(c - 1, a)
    if b_prev > 1e-290:
        rhs = a * b_prev / (c + a * b_prev)
        assert erlang_b(c, a) == pytest.approx(rhs, rel=1e-11, abs=0.0)
    else:
        log_prev = log_erlang_b(c - 1, a)
        log_rhs = math.log(a) + log_prev - math.log(c + a * math.exp(log_prev))
        assert log_erlang_b(c, a) == pytest.approx(log_rhs, rel=1e-12, abs=0.0)


@settings(max_examples=150, deadline=None)
@given(c=st.integers(min_value=2, max_value=1_000_000), log_ratio=log_ratio_st)
def test_b_obeys_recursion_in_servers(c: int, log_ratio: float) -> None:
    _check_recursion(c, c * 10.0**log_ratio)


# Regression: just below the old far-overload switch (a ~ c + 29.5 sqrt(c)) SciPy's gammaincc was
# only ~1e-11 accurate; the kernel now switches to the overload series at 8 standard deviations.
def test_recursion_worst_case_found_by_sweep() -> None:
    _check_recursion(4696, 6717.287890915573)


@settings(max_examples=100, deadline=None)
@given(
    c=servers_st,
    load=st.floats(min_value=0.0, max_value=1e7),
    wrap=st.sampled_from(["python", "numpy", "0-d"]),
)
def test_scalar_inputs_return_python_float(c: int, load: float, wrap: str) -> None:
    if wrap == "python":
        args: tuple[Any, Any] = (c, load)
    elif wrap == "numpy":
        args = (np.int64(c), np.float64(load))
    else:
        args = (np.array(c), np.array(load))
    for fn in (erlang_b, erlang_c):
        out = fn(*args)
        assert type(out) is float
        assert 0.0 <= out <= 1.0
        # A length-1 array stays an array.
        assert isinstance(fn([c], [load]), np.ndarray)
