"""The ``uncertainty:`` section of a plan file: which inputs are uncertain, and how.

::

    uncertainty:
      rate: {low: 4000, high: 6000}                 # requests/s; replaces the SLA level's rate
      mix: {critical_operations: {low: 30%, high: 50%, dist: uniform}}
      service_time:
        critical_operations: {median: 30ms, p90: 45ms}
        standard_operations: {mean: 4ms, sd: 1ms}
      scv: {batch_operations: {low: 0.5, high: 2}}
      draws: 4000                                   # Monte Carlo draws (default 4000)
      seed: 1                                       # of the generator (default 0)

Each value is a point (``5000``, ``30ms``) or a mapping (:mod:`capplan.uncertainty.quantities`):
``{low, high}`` a lognormal with those 5th and 95th percentiles (``dist: uniform`` for a uniform),
``{median, p90}`` the lognormal through both, ``{mean, sd}`` the lognormal with those moments.
Rates are requests/s, times durations (``40ms``), shares fractions or percentages, SCVs numbers.
An input left out keeps the plan's point value.  Every error names the file and the key path.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from capplan.errors import CapplanError, ParameterError
from capplan.uncertainty.quantities import (
    Point,
    Uncertain,
    Uniform,
    lognormal_from_moments,
    lognormal_through,
)
from capplan.units import parse_duration, parse_percent

__all__ = [
    "DEFAULT_DRAWS",
    "UncertainInputs",
    "UncertaintyInputError",
    "parse_uncertain",
    "parse_uncertainty",
]

DEFAULT_DRAWS = 4000
_MAX_DRAWS = 1_000_000
_SECTION_KEYS = ("rate", "mix", "service_time", "scv", "draws", "seed")
_FORMS = ("{low, high} (5th/95th percentiles; dist: lognormal or uniform)", "{median, p90}", "{mean, sd}")


class UncertaintyInputError(ParameterError):
    """An uncertain input is malformed; the message names the file and the key path."""


@dataclass(frozen=True)
class UncertainInputs:
    """The uncertain inputs of a plan (classes by name); what is left out stays a point."""

    rate: Uncertain | None = None
    mix: dict[str, Uncertain] = field(default_factory=dict)
    service_time: dict[str, Uncertain] = field(default_factory=dict)
    scv: dict[str, Uncertain] = field(default_factory=dict)
    draws: int = DEFAULT_DRAWS
    seed: int = 0

    def classes(self) -> set[str]:
        """Every class named by ``mix``, ``service_time`` or ``scv``."""
        return set(self.mix) | set(self.service_time) | set(self.scv)


def _number(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise ValueError(f"must be a number, got {value!r}")
    return float(value)


def _seconds(value: Any) -> float:
    return parse_duration(value) if isinstance(value, str) else _number(value)


def _share(value: Any) -> float:
    return parse_percent(value) if isinstance(value, str) else _number(value)


#: Per kind of input: how to read one number, and its valid range (low, high, low excluded).
_KINDS: dict[str, tuple[Callable[[Any], float], float, float, bool]] = {
    "rate": (_number, 0.0, 1e9, True),
    "service_time": (_seconds, 0.0, 3600.0, True),
    "mix": (_share, 0.0, 1.0, False),
    "scv": (_number, 0.0, 1e4, False),
}


def _value(kind: str, value: Any) -> float:
    parse, low, high, open_low = _KINDS[kind]
    number = parse(value)
    above = number > low if open_low else number >= low
    if not (above and number <= high):  # also NaN
        raise ValueError(f"{value!r} is outside the valid range {'(' if open_low else '['}{low:g}, {high:g}]")
    return number


def parse_uncertain(value: Any, kind: str) -> Uncertain:
    """One input (``kind`` one of rate, service_time, mix, scv): a point or a mapping (module doc).

    Raises ``ValueError`` (a capplan error for bad units) saying what is wrong, not where: the
    caller adds the key path.
    """
    if not isinstance(value, Mapping):
        return Point(_value(kind, value))
    keys = set(value)
    stated = ", ".join(f"{k}: {value[k]}" for k in value)
    if keys in ({"low", "high"}, {"low", "high", "dist"}):
        low, high = _value(kind, value["low"]), _value(kind, value["high"])
        dist = value.get("dist", "lognormal")
        if dist == "uniform":
            if high <= low:
                raise ValueError(f"high {high:g} must exceed low {low:g}")
            return Uniform(low, high)
        if dist != "lognormal":
            raise ValueError(f"dist must be lognormal or uniform, got {dist!r}")
        return lognormal_through(0.05, low, 0.95, high, stated=f"lognormal, p5-p95 {stated}")
    if keys == {"median", "p90"}:
        median, p90 = _value(kind, value["median"]), _value(kind, value["p90"])
        return lognormal_through(0.5, median, 0.9, p90, stated=f"lognormal, {stated}")
    if keys == {"mean", "sd"}:
        mean, sd = _value(kind, value["mean"]), _KINDS[kind][0](value["sd"])
        return lognormal_from_moments(mean, sd, stated=f"lognormal, {stated}")
    raise ValueError(f"give a number or one of {'; '.join(_FORMS)}; got keys {sorted(map(str, keys))}")


def parse_uncertainty(
    data: Any, *, label: str, path: str = "uncertainty", error: type[ParameterError] = UncertaintyInputError
) -> UncertainInputs:
    """The ``uncertainty:`` section ``data`` of the file ``label`` (``path`` is its key path).

    Raises ``error`` (default :class:`UncertaintyInputError`) as ``"{label}: {path}.{key}: ..."``.
    """

    def fail(where: str, message: str) -> ParameterError:
        return error(f"{label}: {path}{where}: {message}")

    if not isinstance(data, Mapping):
        raise fail("", f"must be a mapping, got {type(data).__name__}")
    unknown = sorted(map(str, set(data) - set(_SECTION_KEYS)))
    if unknown:
        raise fail("", f"unknown keys {unknown}; allowed: {', '.join(_SECTION_KEYS)}")

    def one(where: str, value: Any, kind: str) -> Uncertain:
        try:
            return parse_uncertain(value, kind)
        except (CapplanError, ValueError, TypeError) as exc:
            raise fail(where, str(exc)) from None

    def by_class(kind: str) -> dict[str, Uncertain]:
        entries = data.get(kind)
        if entries is None:
            return {}
        if not isinstance(entries, Mapping):
            raise fail(f".{kind}", f"must be a mapping of operation class to value, got {entries!r}")
        return {str(k): one(f".{kind}.{k}", v, kind) for k, v in entries.items()}

    rate = None if data.get("rate") is None else one(".rate", data["rate"], "rate")
    draws, seed = data.get("draws", DEFAULT_DRAWS), data.get("seed", 0)
    if isinstance(draws, bool) or not isinstance(draws, int) or not 1 <= draws <= _MAX_DRAWS:
        raise fail(".draws", f"must be a whole number in 1 .. {_MAX_DRAWS}, got {draws!r}")
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise fail(".seed", f"must be a whole number >= 0, got {seed!r}")
    return UncertainInputs(
        rate, by_class("mix"), by_class("service_time"), by_class("scv"), int(draws), int(seed)
    )
