"""The strict number and JSON parsing every reader of users' files goes through.

The cases are Python's own permissive conversions (language reference, "Floating-point literals"
and ``float()``: underscores and any Unicode decimal digit are accepted; ``int`` has a 4,300-digit
limit since 3.11; ``json.loads`` raises ``RecursionError`` on deep nesting) and what the readers
must do instead.
"""

from __future__ import annotations

import math

import pytest

from capplan._strict import MAX_COUNT, ascii_count, ascii_float, finite_json_number, load_json
from capplan.errors import ParameterError


@pytest.mark.parametrize(
    ("text", "value"),
    [("1", 1.0), (" -1.5e3 ", -1500.0), (".5", 0.5), ("5.", 5.0), ("+Inf", math.inf), ("-inf", -math.inf)],
)
def test_ascii_float_reads_decimal_numbers(text: str, value: float) -> None:
    assert ascii_float(text) == value


@pytest.mark.parametrize("text", ["١٢٣", "²", "1_000", "0x1A", "1 000", "", "e5", "1e", "--1", "infinite"])
def test_ascii_float_refuses_what_python_would_stretch_to(text: str) -> None:
    assert ascii_float(text) is None


def test_ascii_float_specials_and_overflow() -> None:
    assert math.isnan(ascii_float("NaN") or 0.0)
    assert ascii_float("NaN", specials=False) is None
    assert ascii_float("1e400") == math.inf  # out of range: a value the caller rejects, no exception


def test_ascii_count() -> None:
    assert ascii_count("42") == 42
    assert ascii_count(str(MAX_COUNT)) == MAX_COUNT
    for text in (str(MAX_COUNT + 1), "99999999999999999999999", "9" * 5000, "١٢٣", "²", "-1", "1.0", "1e3"):
        assert ascii_count(text) is None


def test_load_json_numbers_and_failures() -> None:
    doc = load_json('{"a": 123, "b": ' + "9" * 5000 + ', "c": 1e400}', "f.json", ParameterError)
    assert doc["a"] == 123 and isinstance(doc["a"], int)
    assert doc["b"] == math.inf and doc["c"] == math.inf  # past float range: inf, not an exception
    with pytest.raises(ParameterError, match=r"f\.json: line 2 column 1: not valid JSON"):
        load_json('{"a":\n', "f.json", ParameterError)
    with pytest.raises(ParameterError, match=r"f\.json: line 6 column 2: not valid JSON"):
        load_json("{", "f.json", ParameterError, first_line=6)  # line 6 of a JSON-lines file
    with pytest.raises(ParameterError, match=r"f\.json: JSON nested too deeply"):
        load_json("[" * 100_000 + "]" * 100_000, "f.json", ParameterError)


def test_finite_json_number() -> None:
    assert finite_json_number(3, "k", ParameterError) == 3.0
    assert finite_json_number(10**400 // 10**390, "k", ParameterError) == 1e10
    for bad in (True, "1", None, [1], math.nan, math.inf, 10**400):
        with pytest.raises(ParameterError, match="k: expected a"):
            finite_json_number(bad, "k", ParameterError)
    with pytest.raises(ParameterError, match="k: must be non-negative, got -1"):
        finite_json_number(-1, "k", ParameterError, nonnegative=True)
