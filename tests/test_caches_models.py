"""Cache models: Zipf popularity and fitting, Che/FIFO/RANDOM/TTL hit ratios, the inverse.

References: Zipf probabilities by exact fractions; the Che fixed point for a two-object catalog
solved with mpmath at 30 digits (Che, Tung, Wang, IEEE JSAC 20(7), 2002, §II); TTL hit
probabilities for one Poisson object from Jung, Berger, Balakrishnan, INFOCOM 2003, §3.  The
approximations are checked against the exact cache simulator (``simulate_cache``) on Zipf traces.
"""

from __future__ import annotations

import math
import warnings

import mpmath
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from capplan import caches
from capplan.caches import _zipf_sums
from capplan.errors import InfeasibleError, ParameterError

N_OBJ = 10_000


@pytest.fixture(scope="module")
def zipf_traces() -> dict[float, np.ndarray]:
    return {a: caches.zipf_trace(600_000, N_OBJ, a, rng=11)[0] for a in (0.6, 0.9, 1.2)}


def test_zipf_popularity_exact_fractions() -> None:
    # H(3, 1) = 11/6, so p = (6/11, 3/11, 2/11)
    np.testing.assert_allclose(caches.zipf_popularity(3, 1.0), [6 / 11, 3 / 11, 2 / 11], rtol=1e-15)
    p = caches.zipf_popularity(1000, 0.7)
    assert math.isclose(p.sum(), 1.0, rel_tol=1e-12)
    assert math.isclose(p[0] / p[1], 2**0.7, rel_tol=1e-12)


@pytest.mark.parametrize("alpha", [0.0, -0.5, float("nan")])
def test_zipf_rejects_bad_alpha(alpha: float) -> None:
    with pytest.raises(ParameterError, match="alpha"):
        caches.zipf_popularity(10, alpha)


@pytest.mark.parametrize("alpha", [0.7, 1.0, 1.3])
def test_fit_zipf_recovers_alpha(alpha: float) -> None:
    keys, _ = caches.zipf_trace(300_000, 5000, alpha, rng=3)
    fit = caches.fit_zipf(keys)
    assert abs(fit.alpha_ - alpha) < 0.02
    assert abs(fit.catalog_size_ - 5000) / 5000 < 0.05


def test_fit_zipf_estimates_unseen_catalog() -> None:
    # 100k requests over 50k objects at alpha 0.8 see only ~30k of them
    keys, _ = caches.zipf_trace(100_000, 50_000, 0.8, rng=5)
    fit = caches.fit_zipf(keys)
    assert fit.observed_objects < 35_000
    assert abs(fit.catalog_size_ - 50_000) / 50_000 < 0.15
    assert abs(fit.alpha_ - 0.8) < 0.05
    assert caches.fit_zipf(counts=np.bincount(keys)).alpha_ == pytest.approx(fit.alpha_, rel=1e-9)


def test_fit_zipf_bad_input() -> None:
    with pytest.raises(ParameterError, match="empty"):
        caches.fit_zipf(np.array([], dtype=np.int64))
    with pytest.raises(ParameterError, match="two distinct"):
        caches.fit_zipf(np.zeros(10, dtype=np.int64))
    with pytest.raises(ParameterError, match="exactly one"):
        caches.fit_zipf()


def test_che_two_objects_against_mpmath() -> None:
    p = [0.75, 0.25]
    mpmath.mp.dps = 30
    t = mpmath.findroot(lambda x: (1 - mpmath.e ** (-0.75 * x)) + (1 - mpmath.e ** (-0.25 * x)) - 1, 2)
    hit = sum(pi * (1 - mpmath.e ** (-pi * t)) for pi in (mpmath.mpf("0.75"), mpmath.mpf("0.25")))
    r = caches.che_hit_ratio(p, 1.0)
    assert r.characteristic_time == pytest.approx(float(t), rel=1e-9)
    assert r.hit_ratio == pytest.approx(float(hit), rel=1e-9)
    assert r.occupancy == pytest.approx(1.0, rel=1e-9)
    assert "approximation" in r.method


@pytest.mark.parametrize("alpha", [0.6, 0.9, 1.2])
@pytest.mark.parametrize("size", [50, 500, 3000])
def test_che_matches_simulated_lru(zipf_traces: dict[float, np.ndarray], alpha: float, size: int) -> None:
    sim = caches.simulate_cache(zipf_traces[alpha], size, warmup=100_000)
    model = caches.che_hit_ratio(caches.zipf_popularity(N_OBJ, alpha), size)
    assert abs(model.hit_ratio - sim.hit_ratio) <= 0.01


@pytest.mark.parametrize("policy", ["fifo", "random"])
@pytest.mark.parametrize("size", [100, 2000])
def test_fifo_random_match_simulation(zipf_traces: dict[float, np.ndarray], policy: str, size: int) -> None:
    sim = caches.simulate_cache(zipf_traces[0.9], size, policy=policy, warmup=100_000, rng=2)
    model = caches.che_hit_ratio(caches.zipf_popularity(N_OBJ, 0.9), size, policy=policy)
    assert abs(model.hit_ratio - sim.hit_ratio) <= 0.01
    # FIFO/RANDOM never beat LRU under IRM (Gelenbe 1973; Martina et al. 2014)
    assert model.hit_ratio < caches.che_hit_ratio(caches.zipf_popularity(N_OBJ, 0.9), size).hit_ratio


def test_byte_weighted_che_matches_simulation(zipf_traces: dict[float, np.ndarray]) -> None:
    obj_sizes = np.random.default_rng(4).integers(100, 10_000, N_OBJ).astype(float)
    keys = zipf_traces[0.9]
    sim = caches.simulate_cache(keys, 2e6, sizes=obj_sizes[keys], warmup=100_000)
    model = caches.che_hit_ratio(caches.zipf_popularity(N_OBJ, 0.9), 2e6, sizes=obj_sizes)
    assert abs(model.hit_ratio - sim.hit_ratio) <= 0.01
    assert abs(model.byte_hit_ratio - sim.byte_hit_ratio) <= 0.01


def test_ttl_one_object_closed_forms() -> None:
    # one object at lambda = 2/s, TTL 0.5 s: reset 1 - e^-1, from insertion 1/(1+1) (Jung et al. 2003)
    reset = caches.ttl_hit_ratio([1.0], 0.5, request_rate=2.0, reset_on_hit=True)
    insert = caches.ttl_hit_ratio([1.0], 0.5, request_rate=2.0)
    assert reset.hit_ratio == pytest.approx(1 - math.exp(-1), rel=1e-14)
    assert insert.hit_ratio == pytest.approx(0.5, rel=1e-14)
    assert "exact" in insert.method


@pytest.mark.parametrize("reset", [False, True])
def test_ttl_matches_simulation(reset: bool) -> None:
    keys, times = caches.zipf_trace(600_000, N_OBJ, 0.8, rng=9, rate=2000.0)
    assert times is not None
    p = caches.zipf_popularity(N_OBJ, 0.8)
    sim = caches.simulate_cache(keys, math.inf, timestamps=times, ttl=5.0, reset_on_hit=reset, warmup=50_000)
    model = caches.ttl_hit_ratio(p, 5.0, request_rate=2000.0, reset_on_hit=reset)
    assert abs(model.hit_ratio - sim.hit_ratio) <= 0.005
    for policy in ("lru", "fifo") if not reset else ("lru",):  # capacity and TTL together
        sim = caches.simulate_cache(
            keys, 1500, policy=policy, timestamps=times, ttl=2.0, reset_on_hit=reset, warmup=50_000
        )
        model = caches.ttl_hit_ratio(
            p, 2.0, request_rate=2000.0, reset_on_hit=reset, cache_size=1500, policy=policy
        )
        assert abs(model.hit_ratio - sim.hit_ratio) <= 0.01, policy


def test_che_sweep_broadcasts_and_is_monotone() -> None:
    p = caches.zipf_popularity(2000, 0.9)
    r = caches.che_hit_ratio(p, [0, 10, 100, 1000, 2000])
    assert r.hit_ratio.shape == (5,)
    assert r.hit_ratio[0] == 0.0
    assert r.hit_ratio[-1] == 1.0
    assert np.all(np.diff(r.hit_ratio) > 0)
    assert r.object_hit_probability is None


@settings(max_examples=25, deadline=None)
@given(
    alpha=st.floats(0.3, 1.5),
    c1=st.integers(1, 400),
    dc=st.integers(1, 400),
    policy=st.sampled_from(["lru", "fifo", "random"]),
)
def test_more_cache_never_lowers_the_hit_ratio(alpha: float, c1: int, dc: int, policy: str) -> None:
    p = caches.zipf_popularity(1000, alpha)
    small = caches.che_hit_ratio(p, c1, policy=policy).hit_ratio
    large = caches.che_hit_ratio(p, c1 + dc, policy=policy).hit_ratio
    assert large >= small - 1e-12


@settings(max_examples=25, deadline=None)
@given(t1=st.floats(0.01, 100.0), factor=st.floats(1.0, 10.0), reset=st.booleans())
def test_longer_ttl_never_lowers_the_hit_ratio(t1: float, factor: float, reset: bool) -> None:
    p = caches.zipf_popularity(500, 0.9)
    a = caches.ttl_hit_ratio(p, t1, request_rate=10.0, reset_on_hit=reset).hit_ratio
    b = caches.ttl_hit_ratio(p, t1 * factor, request_rate=10.0, reset_on_hit=reset).hit_ratio
    assert b >= a - 1e-12
    # resetting on a hit keeps objects longer than expiring from insertion
    assert caches.ttl_hit_ratio(p, t1, request_rate=10.0, reset_on_hit=True).hit_ratio >= (
        caches.ttl_hit_ratio(p, t1, request_rate=10.0).hit_ratio - 1e-12
    )


def test_inverse_is_the_smallest_size() -> None:
    p = caches.zipf_popularity(20_000, 0.9)
    est = caches.cache_size_for_hit_ratio(p, 0.8)
    assert caches.che_hit_ratio(p, est.cache_size).hit_ratio >= 0.8
    assert caches.che_hit_ratio(p, est.cache_size - 1).hit_ratio < 0.8
    obj = np.linspace(100, 5000, 20_000)
    best = caches.cache_size_for_hit_ratio(p, 0.5, sizes=obj, byte_weighted=True)
    assert caches.che_hit_ratio(p, best.cache_size, sizes=obj).byte_hit_ratio == pytest.approx(0.5, abs=1e-9)


def test_inverse_warns_when_most_of_the_catalog_is_needed() -> None:
    p = caches.zipf_popularity(20_000, 0.6)
    with pytest.warns(caches.CatalogFractionWarning, match="of the catalog"):
        est = caches.cache_size_for_hit_ratio(p, 0.95)
    assert est.catalog_fraction > 0.5
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        caches.cache_size_for_hit_ratio(caches.zipf_popularity(20_000, 1.2), 0.8)


@pytest.mark.parametrize("target", [0.0, 1.0, 1.5, -0.1])
def test_inverse_rejects_targets_outside_the_unit_interval(target: float) -> None:
    with pytest.raises(ParameterError, match="target"):
        caches.cache_size_for_hit_ratio(caches.zipf_popularity(100, 1.0), target)


def test_inverse_infeasible_when_ttl_caps_the_hit_ratio() -> None:
    p = caches.zipf_popularity(1000, 0.8)
    with pytest.raises(InfeasibleError, match="TTL"):
        caches.cache_size_for_hit_ratio(p, 0.99, request_rate=1.0, ttl=1.0)


def test_bad_model_input() -> None:
    p = caches.zipf_popularity(10, 1.0)
    with pytest.raises(ParameterError, match="sizes"):
        caches.che_hit_ratio(p, 5, sizes=-np.ones(10))
    with pytest.raises(ParameterError, match="cache_size"):
        caches.che_hit_ratio(p, -1)
    with pytest.raises(ParameterError, match="popularity"):
        caches.che_hit_ratio([], 1)
    with pytest.raises(ParameterError, match="policy"):
        caches.che_hit_ratio(p, 1, policy="lfu")
    with pytest.raises(ParameterError, match="reset_on_hit"):
        caches.ttl_hit_ratio(p, 1.0, request_rate=1.0, cache_size=3, policy="fifo", reset_on_hit=True)
    with pytest.raises(ParameterError, match="ttl"):
        caches.ttl_hit_ratio(p, 0.0, request_rate=1.0)


@pytest.mark.parametrize(("alpha", "requests"), [(0.6, 50_000), (0.915, 400_000), (1.0, 3_000), (1.4, 10**6)])
def test_expected_distinct_keys_matches_the_direct_sum(alpha: float, requests: int) -> None:
    """The head-plus-Euler-Maclaurin-tail D(N) of fit_zipf's catalog search against the direct
    sum of 1 - (1 - p_i)^n over the whole catalog (the definition), from a few thousand objects
    to two million."""
    catalogs = _zipf_sums.ZipfCatalogs(alpha, requests, smallest=2_000, largest=2_000_000)
    for catalog in (2_000, 5_000, catalogs.head + 1, 123_457, 2_000_000):
        p = caches.zipf_popularity(catalog, alpha)
        direct = float(-np.expm1(requests * np.log1p(-p)).sum())
        assert catalogs.expected_distinct(catalog) == pytest.approx(direct, rel=1e-12, abs=1e-9)


def test_power_sums_match_the_direct_sum() -> None:
    s = np.array([0.3, 0.915, 1.0, 1.0 + 1e-10, 2.5, 7.0])
    got = _zipf_sums.power_sums(s, 1001, 250_000)
    i = np.arange(1001, 250_001, dtype=np.float64)
    want = [float(np.sum(i**-x)) for x in s]
    np.testing.assert_allclose(got, want, rtol=1e-12)
