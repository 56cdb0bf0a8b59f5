"""Tests of capplan.units: durations, sizes, percentages and Kubernetes quantities."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

import capplan
from capplan import UnitError
from capplan.units import (
    parse_bound,
    parse_duration,
    parse_percent,
    parse_quantity,
    parse_size,
    percentile_quantile,
)

Parser = Callable[[Any], float]

PARSERS: dict[str, Parser] = {
    "duration": parse_duration,
    "size": parse_size,
    "percent": parse_percent,
    "quantity": parse_quantity,
}

# Non-negative finite floats small enough that multiplying by 3600 (hours) or 2**30 (Gi) stays finite.
finite_nonneg = st.floats(min_value=0.0, max_value=1e290, allow_nan=False, allow_infinity=False)


def close(a: float, b: float) -> bool:
    return math.isclose(a, b, rel_tol=1e-12, abs_tol=1e-300)


# ---------------------------------------------------------------------------------------------
# Public API


@pytest.mark.parametrize(
    "name",
    [
        "parse_duration",
        "parse_size",
        "parse_percent",
        "parse_bound",
        "parse_quantity",
        "UnitError",
        "SLAError",
        "load_sla",
        "SLA",
    ],
)
def test_top_level_exports(name: str) -> None:
    assert name in capplan.__all__
    assert hasattr(capplan, name)


def test_top_level_parsers_are_the_units_functions() -> None:
    assert capplan.parse_duration is parse_duration
    assert capplan.parse_size is parse_size
    assert capplan.parse_percent is parse_percent
    assert capplan.parse_bound is parse_bound
    assert capplan.parse_quantity is parse_quantity
    assert capplan.parse_duration("50ms") == 0.05


def test_unit_error_is_a_value_error() -> None:
    assert issubclass(capplan.UnitError, ValueError)
    assert issubclass(capplan.UnitError, capplan.CapplanError)


# ---------------------------------------------------------------------------------------------
# Durations


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("50ms", 0.05),
        ("5s", 5.0),
        ("2m", 120.0),  # m is minutes (Go / Prometheus), not milli
        ("10min", 600.0),
        ("1h", 3600.0),
        ("1h30m", 5400.0),
        ("1h 30m", 5400.0),
        ("2h45m30s", 2 * 3600 + 45 * 60 + 30),
        ("300us", 300e-6),
        ("300µs", 300e-6),
        ("250ns", 250e-9),
        ("1.5s", 1.5),
        (".5s", 0.5),
        ("5 s", 5.0),
        ("  5s  ", 5.0),
        ("1d", 86400.0),
        ("1w", 7 * 86400.0),
        ("2sec", 2.0),
        ("+5s", 5.0),
        ("1e3ms", 1.0),
    ],
)
def test_parse_duration_documented_forms(text: str, seconds: float) -> None:
    result = parse_duration(text)
    assert isinstance(result, float)
    assert result == pytest.approx(seconds, rel=1e-12)


def test_parse_duration_m_is_minutes_and_ms_is_milliseconds() -> None:
    assert parse_duration("2m") == 120.0
    assert parse_duration("2ms") == pytest.approx(0.002)
    assert parse_duration("2min") == parse_duration("2m")


@pytest.mark.parametrize(("value", "seconds"), [(5, 5.0), (0, 0.0), (2.5, 2.5), (0.05, 0.05)])
def test_parse_duration_numbers_are_seconds(value: float, seconds: float) -> None:
    result = parse_duration(value)
    assert isinstance(result, float)
    assert result == seconds


def test_parse_duration_negative_is_returned_as_given() -> None:
    assert parse_duration("-5s") == -5.0
    assert parse_duration("-1h30m") == -5400.0


# Arabic-Indic and Devanagari digits: Python's float() reads them, a YAML or config file must not.
_NON_ASCII = ["\u0661\u0662\u0663ms", "\u0967\u0968ms"]


@pytest.mark.parametrize(
    "text", ["5", "70", "5mss", "1.5.5s", "5 parsecs", "1h30", "s5", "+", "-", "1e400s", *_NON_ASCII]
)
def test_parse_duration_rejects(text: str) -> None:
    with pytest.raises(UnitError) as info:
        parse_duration(text)
    assert repr(text) in str(info.value)
    assert "duration" in str(info.value)


@pytest.mark.parametrize("value", [math.nan, math.inf, -math.inf])
def test_parse_duration_rejects_non_finite_numbers(value: float) -> None:
    with pytest.raises(UnitError, match="finite"):
        parse_duration(value)


# ---------------------------------------------------------------------------------------------
# Sizes


@pytest.mark.parametrize(
    ("text", "nbytes"),
    [
        ("300KB", 300 * 1024),  # Redis: KB is 1024
        ("300kb", 300 * 1024),
        ("2gb", 2 * 1024**3),
        ("2GB", 2 * 1024**3),
        ("256MB", 256 * 1024**2),
        ("1tb", 1024**4),
        ("512Mi", 512 * 2**20),
        ("512MiB", 512 * 2**20),
        ("1GiB", 2**30),
        ("1Gi", 2**30),
        ("4KiB", 4096),
        ("100k", 100_000),  # Redis: bare k is 1000
        ("1m", 1_000_000),
        ("3g", 3_000_000_000),
        ("1024", 1024),
        ("1024B", 1024),
        ("1.5KB", 1536),
        ("1e3", 1000),
        ("10 MB", 10 * 1024**2),
    ],
)
def test_parse_size_redis_convention(text: str, nbytes: int) -> None:
    result = parse_size(text)
    assert isinstance(result, float)
    assert result == nbytes


def test_parse_size_default_convention_is_redis() -> None:
    assert parse_size("300KB") == parse_size("300KB", convention="redis") == 307200


@pytest.mark.parametrize(
    ("text", "nbytes"),
    [
        ("300KB", 300_000),
        ("2GB", 2_000_000_000),
        ("256MB", 256_000_000),
        ("100k", 100_000),
        ("512Mi", 512 * 2**20),  # IEC units stay binary
        ("1GiB", 2**30),
        ("7", 7),
    ],
)
def test_parse_size_si_convention(text: str, nbytes: int) -> None:
    assert parse_size(text, convention="si") == nbytes


def test_parse_size_numbers_are_bytes() -> None:
    assert parse_size(4096) == 4096.0
    assert isinstance(parse_size(4096), float)


@pytest.mark.parametrize("text", ["-5KB", "5 bytes", "5kbb", "5Xi", "KB", "5e", "1e400KB", "\u0661\u0662KB"])
def test_parse_size_rejects(text: str) -> None:
    with pytest.raises(UnitError) as info:
        parse_size(text)
    assert repr(text) in str(info.value)


def test_parse_size_rejects_negative_numbers() -> None:
    with pytest.raises(UnitError):
        parse_size(-5)


def test_parse_size_rejects_unknown_convention() -> None:
    convention: Any = "iec"
    with pytest.raises(ValueError, match="convention"):
        parse_size("1KB", convention=convention)


# ---------------------------------------------------------------------------------------------
# Percentages and bounds


@pytest.mark.parametrize(
    ("text", "fraction"),
    [
        ("70%", 0.7),
        ("100%", 1.0),
        ("0%", 0.0),
        ("99.99%", 0.9999),
        ("<0.1%", 0.001),
        ("< 0.1 %", 0.001),
        (">=99.9%", 0.999),
        ("≤5%", 0.05),
    ],
)
def test_parse_percent(text: str, fraction: float) -> None:
    assert parse_percent(text) == pytest.approx(fraction, rel=1e-12)


@pytest.mark.parametrize(("value", "fraction"), [(0.7, 0.7), (0, 0.0), (1, 1.0)])
def test_parse_percent_numbers_are_fractions(value: float, fraction: float) -> None:
    assert parse_percent(value) == fraction


@pytest.mark.parametrize("value", [1.5, -0.1, math.nan])
def test_parse_percent_rejects_numbers_outside_unit_interval(value: float) -> None:
    with pytest.raises(UnitError) as info:
        parse_percent(value)
    assert repr(value) in str(info.value)


@pytest.mark.parametrize(
    ("text", "op", "fraction"),
    [
        ("<0.1%", "<", 0.001),
        ("<=5%", "<=", 0.05),
        (">99%", ">", 0.99),
        (">=99.9%", ">=", 0.999),
        ("≤5%", "<=", 0.05),
        ("≥95%", ">=", 0.95),
        ("70%", "", 0.7),
    ],
)
def test_parse_bound_keeps_the_operator(text: str, op: str, fraction: float) -> None:
    got_op, got = parse_bound(text)
    assert got_op == op
    assert got == pytest.approx(fraction, rel=1e-12)


@pytest.mark.parametrize("text", ["70", "<0.1", "%", "<%", "70%%", "seventy%", "=70%"])
def test_percent_requires_a_number_and_percent_sign(text: str) -> None:
    for parser in (parse_percent, parse_bound):
        with pytest.raises(UnitError) as info:
            parser(text)
        assert repr(text) in str(info.value)


# ---------------------------------------------------------------------------------------------
# Kubernetes quantities


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("200m", 0.2),
        ("1500m", 1.5),
        ("500Mi", 500 * 2**20),
        ("1Gi", 2**30),
        ("1Ki", 1024),
        ("1k", 1000),
        ("1M", 1e6),
        ("2G", 2e9),
        ("1e3", 1000),
        ("2", 2),
        ("0.5", 0.5),
        ("100u", 1e-4),
    ],
)
def test_parse_quantity(text: str, value: float) -> None:
    result = parse_quantity(text)
    assert isinstance(result, float)
    assert result == pytest.approx(value, rel=1e-12)


def test_parse_quantity_suffixes_are_case_sensitive() -> None:
    assert parse_quantity("1m") == pytest.approx(1e-3)
    assert parse_quantity("1M") == 1e6
    with pytest.raises(UnitError, match="'1K'"):
        parse_quantity("1K")


def test_parse_quantity_numbers_pass_through() -> None:
    assert parse_quantity(3) == 3.0
    assert parse_quantity(0.25) == 0.25


# ---------------------------------------------------------------------------------------------
# Bad input common to every parser

BAD_INPUTS: list[Any] = ["500x", "", "   ", "ms", "--5s", "2 parsecs", None, True, False, [5], b"5s"]


@pytest.mark.parametrize("bad", BAD_INPUTS, ids=repr)
@pytest.mark.parametrize("kind", list(PARSERS))
def test_bad_input_raises_unit_error_naming_the_text(kind: str, bad: Any) -> None:
    with pytest.raises(ValueError) as info:
        PARSERS[kind](bad)
    assert isinstance(info.value, UnitError)
    shown = "''" if isinstance(bad, str) and not bad.strip() else repr(bad)
    assert shown in str(info.value)


def test_duration_needs_a_unit_and_percent_needs_a_sign() -> None:
    with pytest.raises(UnitError, match="'5' is not a duration"):
        parse_duration("5")
    with pytest.raises(UnitError, match="'70' is not a percentage"):
        parse_percent("70")


@pytest.mark.parametrize("kind", list(PARSERS))
def test_huge_integer_raises_unit_error(kind: str) -> None:
    with pytest.raises(UnitError):
        PARSERS[kind](10**400)


# ---------------------------------------------------------------------------------------------
# Properties


@pytest.mark.parametrize(
    ("unit", "factor"), [("ms", 1e-3), ("s", 1.0), ("m", 60.0), ("min", 60.0), ("h", 3600.0)]
)
@given(x=finite_nonneg)
def test_duration_round_trip(unit: str, factor: float, x: float) -> None:
    expected = x / 1000 if unit == "ms" else x * factor
    assert close(parse_duration(f"{x}{unit}"), expected)


@given(
    h=st.integers(min_value=0, max_value=10_000),
    m=st.integers(min_value=0, max_value=59),
    s=st.integers(min_value=0, max_value=59),
)
def test_compound_duration_adds_up(h: int, m: int, s: int) -> None:
    assert parse_duration(f"{h}h{m}m{s}s") == h * 3600 + m * 60 + s


@given(x=finite_nonneg)
def test_duration_number_is_identity(x: float) -> None:
    assert parse_duration(x) == x


@pytest.mark.parametrize(
    ("unit", "factor"),
    [("Ki", 2**10), ("KiB", 2**10), ("Mi", 2**20), ("MiB", 2**20), ("Gi", 2**30), ("B", 1), ("", 1)],
)
@given(x=finite_nonneg)
def test_size_round_trip(unit: str, factor: int, x: float) -> None:
    assert parse_size(f"{x}{unit}") == x * factor
    assert parse_size(f"{x}{unit}", convention="si") == x * factor


@given(n=st.integers(min_value=0, max_value=10**9))
def test_size_kb_conventions(n: int) -> None:
    assert parse_size(f"{n}KB") == n * 1024
    assert parse_size(f"{n}KB", convention="si") == n * 1000
    assert parse_size(f"{n}k") == n * 1000


@given(x=finite_nonneg)
def test_percent_round_trip(x: float) -> None:
    assert close(parse_percent(f"{x}%"), x / 100)
    assert parse_bound(f"<{x}%") == ("<", parse_percent(f"{x}%"))


@given(x=st.floats(min_value=0.0, max_value=1.0))
def test_percent_fraction_is_identity(x: float) -> None:
    assert parse_percent(x) == x


@given(n=st.integers(min_value=0, max_value=10**9))
def test_quantity_milli_round_trip(n: int) -> None:
    assert close(parse_quantity(f"{n}m"), n / 1000)
    assert parse_quantity(f"{n}Mi") == n * 2**20
    assert parse_quantity(f"{n}k") == n * 1000


@pytest.mark.parametrize("percent", [50, 66, 90, 95, 99, 99.9, 99.99, 99.999])
def test_percentile_quantile_is_the_decimal_quantile(percent: float) -> None:
    # 99.9 / 100 == 0.9990000000000001 in binary floating point; the key must be float("0.999").
    assert percentile_quantile(percent) == float(f"{percent / 100:.10f}")


@pytest.mark.parametrize("percent", [0, 100, 99.99999999999999, 100.5, -1, math.nan, math.inf])
def test_percentile_quantile_rejects_quantiles_outside_the_open_unit_interval(percent: float) -> None:
    with pytest.raises(UnitError, match="percentile"):
        percentile_quantile(percent)


@pytest.mark.parametrize(
    ("parse", "text"),
    [(parse_percent, "\u0667\u0660%"), (parse_quantity, "\u0662\u0660\u0660m"), (parse_quantity, "\u0967Gi")],
)
def test_non_ascii_digits_are_not_numbers(parse: Callable[[Any], float], text: str) -> None:
    """float() reads Arabic-Indic and Devanagari digits; a unit string with them is an error."""
    with pytest.raises(UnitError, match=repr(text)):
        parse(text)


def test_an_error_quoting_a_huge_value_keeps_its_start_end_and_length() -> None:
    """Errors quoting pasted blobs were thousands of characters long (fuzzing: 4,102 for a CSV header
    of brackets); every capplan error keeps 4,000 characters of the start, 800 of the end."""
    message = f"data.csv: column 'x': {'[' * 10_000} is not a number"
    text = str(UnitError(message))
    assert len(text) < 5000
    assert text.startswith("data.csv: column 'x': [[[") and text.endswith("[[[ is not a number")
    assert f"({len(message)} characters)" in text
