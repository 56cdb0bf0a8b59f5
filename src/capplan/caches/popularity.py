"""Object popularity: the Zipf law, synthetic Zipf traces, and fitting Zipf to an access trace.

Under the independent reference model (IRM) every request picks object ``i`` with a fixed
probability ``p_i``; web and key-value workloads are well described by a truncated Zipf law
``p_i ∝ i^(-alpha)`` over a catalog of ``N`` objects ranked by popularity (Breslau, Cao, Fan,
Phillips, Shenker, "Web caching and Zipf-like distributions: evidence and implications",
INFOCOM 1999, §3).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike, NDArray

from capplan._numeric import newton_decreasing
from capplan._validate import FloatArray, as_float_array, integer_count, positive
from capplan.caches._zipf_sums import ZipfCatalogs
from capplan.errors import ParameterError

__all__ = ["ZipfFit", "as_popularity", "fit_zipf", "zipf_popularity", "zipf_trace"]

_ALPHA_LO = 1e-4
_ALPHA_HI = 20.0


def _alpha(alpha: float) -> float:
    a = float(positive("alpha", alpha))
    if a > _ALPHA_HI:
        raise ParameterError(f"alpha must be at most {_ALPHA_HI:g}, got {a!r}")
    return a


def zipf_popularity(catalog_size: int, alpha: float) -> FloatArray:
    """Request probabilities ``p_i = i^(-alpha) / H(N, alpha)`` for ranks ``i = 1..N``.

    ``H(N, alpha) = sum_{k=1}^N k^(-alpha)`` is the generalised harmonic number (Breslau et al.,
    INFOCOM 1999, §3).  Computed in log space, so any ``alpha > 0`` and ``N`` up to memory are safe.

    Parameters
    ----------
    catalog_size : int
        Number of distinct objects ``N >= 1``.
    alpha : float
        Skew, ``0 < alpha <= 20`` (web traces: 0.6-1.0; key-value caches often 0.9-1.2).

    Returns
    -------
    numpy.ndarray
        ``p`` of length ``N``, non-increasing, summing to 1.
    """
    n = int(integer_count("catalog_size", catalog_size))
    a = _alpha(alpha)
    logw = -a * np.log(np.arange(1, n + 1, dtype=np.float64))
    w = np.exp(logw - logw[0])
    return np.asarray(w / w.sum())


def as_popularity(popularity: ArrayLike, name: str = "popularity") -> FloatArray:
    """Validate request probabilities (or relative rates): finite, ``>= 0``, not all zero; normalised."""
    p = np.atleast_1d(as_float_array(name, popularity)).astype(np.float64)
    if p.ndim != 1 or p.size == 0:
        raise ParameterError(f"{name} must be a non-empty 1-d array of per-object rates")
    if (p < 0).any() or not np.isfinite(p).all():
        raise ParameterError(
            f"{name} must be finite and non-negative, got {float(p[(p < 0) | ~np.isfinite(p)][0])!r}"
        )
    total = float(p.sum())
    if total <= 0:
        raise ParameterError(f"{name} must not be all zero")
    return np.asarray(p / total)


def zipf_trace(
    requests: int,
    catalog_size: int,
    alpha: float,
    *,
    rng: np.random.Generator | int | None = None,
    rate: float | None = None,
) -> tuple[NDArray[np.int64], FloatArray | None]:
    """A synthetic IRM trace: ``requests`` keys drawn i.i.d. from :func:`zipf_popularity`.

    Keys are ranks ``0..N-1`` (0 the most popular).  With ``rate`` the requests form a Poisson
    process of that total rate and their arrival times (seconds) are returned too, else ``None``.
    """
    n_req = int(integer_count("requests", requests))
    p = zipf_popularity(catalog_size, alpha)
    gen = rng if isinstance(rng, np.random.Generator) else np.random.default_rng(rng)
    cdf = np.cumsum(p)
    cdf[-1] = 1.0
    keys = np.searchsorted(cdf, gen.random(n_req), side="right").astype(np.int64)
    times: FloatArray | None = None
    if rate is not None:
        lam = float(positive("rate", rate))
        times = np.cumsum(gen.exponential(1.0 / lam, n_req))
    return keys, times


@dataclass(frozen=True)
class ZipfFit:
    """Result of :func:`fit_zipf`; fitted attributes end in ``_``."""

    alpha_: float
    catalog_size_: int
    observed_objects: int
    requests: int
    method: str

    def popularity(self) -> FloatArray:
        """The fitted ``zipf_popularity(catalog_size_, alpha_)``."""
        return zipf_popularity(self.catalog_size_, self.alpha_)

    def __repr__(self) -> str:
        return (
            f"ZipfFit(alpha_={self.alpha_:.4f}, catalog_size_={self.catalog_size_}, "
            f"observed_objects={self.observed_objects}, requests={self.requests})"
        )


def _mle_alpha(counts: NDArray[np.integer[Any]], catalog: int) -> float:
    """Maximum-likelihood ``alpha`` of a rank-ordered count vector over a catalog of ``catalog``.

    The score (model mean of log rank minus the observed one) decreases in ``alpha``, with slope
    minus the model variance of log rank; its root is found by bracketed Newton steps
    (:func:`capplan._numeric.newton_decreasing`), each one pass over the catalog (SciPy's
    optimizers would cost the plan half a second of imports).
    """
    n = float(counts.sum())
    mean_log_rank = float((counts * np.log(np.arange(1, counts.size + 1))).sum()) / n
    logk = np.log(np.arange(1, catalog + 1, dtype=np.float64))
    logk2 = logk * logk

    def score(a: float) -> tuple[float, float]:  # d(logL)/d(alpha) / n and its slope
        w = np.exp(-a * logk)
        total = float(w.sum())
        mean = float(w @ logk) / total
        return mean - mean_log_rank, -(float(w @ logk2) / total - mean * mean)

    lo, hi = _ALPHA_LO, _ALPHA_HI
    if score(lo)[0] <= 0:
        return lo
    if score(hi)[0] >= 0:
        return hi
    return newton_decreasing(score, lo, hi, xtol=1e-12)


def _catalog(c: NDArray[np.integer[Any]], alpha: float, cap: int) -> int:
    """The catalog whose expected number of distinct keys in the trace's requests matches the
    number seen: the bisection of :func:`fit_zipf` (to 1/2000 of the count seen)."""
    n, d = int(c.sum()), int(c.size)
    catalogs = ZipfCatalogs(alpha, n, d, cap)
    if catalogs.expected_distinct(cap) <= d:
        return cap
    lo, hi = d, cap  # expected distinct at lo < d <= at hi
    while hi - lo > max(1, lo // 2000):
        mid = (lo + hi) // 2
        if catalogs.expected_distinct(mid) < d:
            lo = mid
        else:
            hi = mid
    return hi


def fit_zipf(
    keys: ArrayLike | None = None,
    *,
    counts: ArrayLike | None = None,
    estimate_catalog: bool = True,
    max_catalog_factor: float = 100.0,
) -> ZipfFit:
    """Fit a truncated Zipf law (``alpha`` and the catalog size) to an access trace.

    ``alpha`` is the maximum-likelihood estimate for ranked counts ``c_r`` (rank ``r`` by
    decreasing count) under ``p_r = r^(-alpha) / H(N, alpha)``: the root of
    ``sum_r c_r log r / n = sum_k k^(-alpha) log k / H(N, alpha)`` (Clauset, Shalizi, Newman,
    "Power-law distributions in empirical data", SIAM Review 51, 2009, §3, discrete case, here
    over a finite rank range).  The catalog size ``N`` is at least the number ``D`` of distinct keys
    seen; with ``estimate_catalog`` it is the ``N`` whose expected number of distinct keys in ``n``
    requests, ``sum_i 1 - (1 - p_i)^n``, equals ``D`` (objects never requested in the trace), and
    the two estimates are iterated three times.  Ranking by observed counts makes the estimate
    slightly biased when most objects are seen only a few times; the tests measure the error.

    Parameters
    ----------
    keys : array-like, optional
        The requested keys (any hashable dtype), one per request.
    counts : array-like, optional
        Alternatively the request count of each distinct object.
    estimate_catalog : bool
        Estimate unseen objects (else ``N = D``).
    max_catalog_factor : float
        Cap on ``N / D``.
    """
    if (keys is None) == (counts is None):
        raise ParameterError("fit_zipf needs exactly one of keys= or counts=")
    if keys is not None:
        arr = np.asarray(keys)
        if arr.size == 0:
            raise ParameterError("keys must not be empty (an empty trace has no popularity)")
        c = pd.Series(arr.ravel()).value_counts(sort=False).to_numpy(dtype=np.int64)
    else:
        assert counts is not None
        cf = np.atleast_1d(as_float_array("counts", counts))
        if cf.size == 0 or (cf < 0).any() or (cf != np.floor(cf)).any() or cf.sum() < 1:
            raise ParameterError("counts must be non-negative integers with at least one request")
        c = cf[cf > 0].astype(np.int64)
    c = np.sort(c)[::-1].astype(np.int64)
    n = int(c.sum())
    d = int(c.size)
    if d < 2:
        raise ParameterError(f"fit_zipf needs at least two distinct keys, got {d}")
    catalog = d
    alpha = _mle_alpha(c, catalog)
    if estimate_catalog:
        cap = max(d, int(d * float(positive("max_catalog_factor", max_catalog_factor))))
        for _ in range(3):
            catalog = _catalog(c, alpha, cap)
            alpha = _mle_alpha(c, catalog)
    method = "maximum likelihood on ranked counts" + (
        "; catalog from the expected number of distinct keys" if estimate_catalog else "; catalog = keys seen"
    )
    return ZipfFit(alpha_=alpha, catalog_size_=catalog, observed_objects=d, requests=n, method=method)
