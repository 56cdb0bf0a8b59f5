"""Parameter checks shared by the models; each raises :class:`ParameterError` naming the value."""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from capplan.errors import ParameterError

FloatArray = NDArray[np.float64]

__all__ = [
    "FloatArray",
    "as_float_array",
    "integer_count",
    "nonnegative",
    "positive",
    "probability",
    "scalar_or_array",
    "utilization_cap",
]


def _describe(values: FloatArray, bad: NDArray[np.bool_]) -> str:
    first = values[bad].flat[0] if values.ndim else values
    return repr(float(first))


def as_float_array(name: str, value: ArrayLike) -> FloatArray:
    """Convert ``value`` to a float64 array; reject NaN and non-numeric input."""
    try:
        arr = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise ParameterError(f"{name} must be numeric, got {value!r}") from exc
    nan = np.isnan(arr)
    if nan.any():
        raise ParameterError(f"{name} must not be NaN, got {_describe(arr, nan)}")
    return arr


def positive(name: str, value: ArrayLike, *, allow_inf: bool = False) -> FloatArray:
    """``value > 0`` (finite unless ``allow_inf``)."""
    arr = as_float_array(name, value)
    bad = ~(arr > 0) | (~np.isfinite(arr) if not allow_inf else np.zeros_like(arr, dtype=bool))
    if bad.any():
        raise ParameterError(f"{name} must be positive and finite, got {_describe(arr, bad)}")
    return arr


def nonnegative(name: str, value: ArrayLike, *, allow_inf: bool = False) -> FloatArray:
    """``value >= 0`` (finite unless ``allow_inf``)."""
    arr = as_float_array(name, value)
    bad = arr < 0
    if not allow_inf:
        bad = bad | ~np.isfinite(arr)
    if bad.any():
        raise ParameterError(f"{name} must be non-negative, got {_describe(arr, bad)}")
    return arr


def integer_count(name: str, value: ArrayLike) -> FloatArray:
    """An integer count ``>= 1`` (returned as float64 for broadcasting)."""
    arr = as_float_array(name, value)
    bad = ~np.isfinite(arr) | (arr < 1) | (arr != np.floor(arr))
    if bad.any():
        raise ParameterError(f"{name} must be an integer >= 1, got {_describe(arr, bad)}")
    return arr


def probability(name: str, value: ArrayLike) -> FloatArray:
    """A probability strictly inside (0, 1), e.g. a quantile level."""
    arr = as_float_array(name, value)
    bad = ~((arr > 0) & (arr < 1))
    if bad.any():
        raise ParameterError(f"{name} must lie in the open interval (0, 1), got {_describe(arr, bad)}")
    return arr


def utilization_cap(name: str, value: ArrayLike) -> float:
    """A utilization cap in (0, 1], e.g. an SLA's CPU target of 0.7."""
    cap = float(positive(name, value))
    if cap > 1.0:
        raise ParameterError(f"{name} must be in (0, 1], got {cap!r}")
    return cap


def scalar_or_array(result: FloatArray) -> Any:
    """Return a Python float for 0-d results, the array otherwise."""
    return float(result) if result.ndim == 0 else result
