"""Turning request keys into dense integer ids, and validating per-request sizes."""

from __future__ import annotations

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike, NDArray

from capplan._validate import as_float_array
from capplan.errors import ParameterError

__all__ = ["dense_ids", "trace_sizes"]


def dense_ids(keys: ArrayLike) -> tuple[NDArray[np.int64], int]:
    """Map keys to ``0..M-1`` (first-appearance order) and return ``(ids, M)``.

    Non-negative integer keys below ``4 * len(keys) + 1024`` are used as they are (no hashing).
    """
    arr = np.asarray(keys).ravel()
    if arr.size == 0:
        raise ParameterError("the trace is empty: keys must hold at least one request")
    if arr.dtype.kind in "iu":
        lo, hi = int(arr.min()), int(arr.max())
        if lo >= 0 and hi < 4 * arr.size + 1024:
            return np.ascontiguousarray(arr, dtype=np.int64), hi + 1
    codes, uniques = pd.factorize(arr)
    return np.ascontiguousarray(codes, dtype=np.int64), len(uniques)


def trace_sizes(sizes: ArrayLike | None, n: int) -> NDArray[np.float64]:
    """Per-request sizes (bytes, positive and finite) as float64, or an empty array for unit sizes."""
    if sizes is None:
        return np.empty(0)
    s = np.atleast_1d(as_float_array("sizes", sizes)).ravel()
    if s.size == 1 and n != 1:
        s = np.full(n, float(s[0]))
    if s.size != n:
        raise ParameterError(f"sizes must have one entry per request ({n}), got {s.size}")
    bad = (s <= 0) | ~np.isfinite(s)
    if bad.any():
        i = int(np.argmax(bad))
        raise ParameterError(f"sizes must be positive and finite, got {float(s[i])!r} at request {i}")
    return np.ascontiguousarray(s)
