"""Miss-ratio curves: exact stack distances against hand-worked traces and the LRU simulator,
SHARDS against the exact curve (Waldspurger et al., FAST 2015, report mean absolute errors below
0.01 at R = 0.01), byte-weighted curves, chunked input."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from capplan import caches
from capplan.errors import InfeasibleError, ParameterError

# "a b c a b c b a": stack distances -, -, -, 3, 3, 3, 2, 3 (Mattson et al. 1970, §2, by hand)
SMALL = np.array(list("abcabcba"), dtype=object)


def test_hand_worked_object_curve() -> None:
    mrc = caches.miss_ratio_curve(SMALL)
    assert list(mrc.columns) == ["cache_size", "miss_ratio"]
    assert mrc["cache_size"].tolist() == [1, 2, 3]
    np.testing.assert_allclose(mrc["miss_ratio"], [1.0, 7 / 8, 3 / 8], rtol=0, atol=1e-15)
    assert mrc.attrs["distinct_keys"] == 3
    assert mrc.attrs["requests"] == 8
    assert "exact" in mrc.attrs["method"]


def test_hand_worked_byte_curve() -> None:
    # sizes a=1, b=2, c=4 bytes: byte distances 7, 7, 7, 6, 7; 17 bytes requested in all
    size_of = {"a": 1.0, "b": 2.0, "c": 4.0}
    sizes = np.array([size_of[k] for k in SMALL])
    mrc = caches.miss_ratio_curve(SMALL, sizes=sizes, cache_sizes=[5, 6, 7])
    np.testing.assert_allclose(mrc["miss_ratio"], [1.0, 7 / 8, 3 / 8], atol=1e-15)
    np.testing.assert_allclose(mrc["byte_miss_ratio"], [1.0, 15 / 17, 7 / 17], atol=1e-15)


@pytest.fixture(scope="module")
def zipf_keys() -> np.ndarray:
    return caches.zipf_trace(400_000, 30_000, 0.9, rng=21)[0]


def test_exact_curve_equals_the_simulator(zipf_keys: np.ndarray) -> None:
    mrc = caches.miss_ratio_curve(zipf_keys)
    for size in (1, 2, 7, 100, 1234, 10_000, 25_000):
        sim = caches.simulate_cache(zipf_keys, size)
        assert mrc["miss_ratio"].iloc[size - 1] == 1 - sim.hits / sim.requests


def test_chunked_and_string_keys_give_the_same_curve(zipf_keys: np.ndarray) -> None:
    ref = caches.miss_ratio_curve(zipf_keys)
    chunked = caches.miss_ratio_curve(zipf_keys, chunk_size=10_007)  # forces compactions mid-chunk
    strings = caches.miss_ratio_curve(np.char.add("k", zipf_keys[:50_000].astype(str)))
    pd.testing.assert_frame_equal(chunked, ref)
    pd.testing.assert_frame_equal(strings, caches.miss_ratio_curve(zipf_keys[:50_000]))


def test_opaque_64_bit_keys_give_the_same_curve(zipf_keys: np.ndarray) -> None:
    # large and negative ids go through the hash table fused into the kernel (rehashes as it grows)
    opaque = zipf_keys * np.int64(-0x9E3779B97F4A7C1) + np.int64(1 << 61)
    assert opaque.min() < 0 < opaque.max()
    pd.testing.assert_frame_equal(caches.miss_ratio_curve(opaque), caches.miss_ratio_curve(zipf_keys))
    np.testing.assert_array_equal(
        caches.miss_ratio_curve(opaque.astype(str), chunk_size=50_000)["miss_ratio"],
        caches.miss_ratio_curve(zipf_keys)["miss_ratio"],
    )


def test_small_integer_ids_then_large_keys_in_later_chunks(zipf_keys: np.ndarray) -> None:
    # A first chunk of catalog ids 0..4999 puts the curve on direct indexing; later chunks bring
    # large and negative keys, which get ids above the direct range.  Same curve as string keys.
    mixed = np.where(
        zipf_keys < 5000, zipf_keys, zipf_keys * np.int64(-0x9E3779B97F4A7C1) + np.int64(1 << 61)
    )
    trace = np.concatenate([np.arange(5000, dtype=np.int64), mixed])
    direct = caches.miss_ratio_curve(trace, chunk_size=5000)
    strings = caches.miss_ratio_curve(trace.astype(str), chunk_size=5000)
    np.testing.assert_array_equal(direct["miss_ratio"], strings["miss_ratio"])
    assert direct.attrs["distinct_keys"] == strings.attrs["distinct_keys"] == len(np.unique(trace))


def test_byte_curve_equals_the_simulator(zipf_keys: np.ndarray) -> None:
    obj = np.random.default_rng(1).integers(64, 4096, 30_000).astype(float)
    sizes = obj[zipf_keys]
    grid = [1e4, 1e5, 1e6, 1e7]
    mrc = caches.miss_ratio_curve(zipf_keys, sizes=sizes, cache_sizes=grid, chunk_size=50_000)
    for i, cap in enumerate(grid):
        sim = caches.simulate_cache(zipf_keys, cap, sizes=sizes)
        assert mrc["miss_ratio"].iloc[i] == pytest.approx(1 - sim.hit_ratio, abs=1e-12)
        assert mrc["byte_miss_ratio"].iloc[i] == pytest.approx(1 - sim.byte_hit_ratio, abs=1e-12)


def test_shards_error_bound() -> None:
    keys = caches.zipf_trace(2_000_000, 200_000, 0.9, rng=7)[0]
    exact = caches.miss_ratio_curve(keys)
    grid = np.linspace(1, int(exact["cache_size"].max()), 500).astype(np.int64)
    ref = caches.miss_ratio_curve(keys, cache_sizes=grid)["miss_ratio"].to_numpy()
    for rate, bound in ((0.01, 0.01), (0.1, 0.005)):
        est = caches.miss_ratio_curve(keys, sample_rate=rate, cache_sizes=grid)
        assert np.abs(est["miss_ratio"].to_numpy() - ref).mean() <= bound, rate
        assert "SHARDS" in est.attrs["method"]


def test_byte_shards_close_to_the_exact_byte_curve(zipf_keys: np.ndarray) -> None:
    obj = np.random.default_rng(8).integers(64, 4096, 30_000).astype(float)
    sizes = obj[zipf_keys]
    grid = np.linspace(2e5, 6e7, 200)
    exact = caches.miss_ratio_curve(zipf_keys, sizes=sizes, cache_sizes=grid)
    est = caches.miss_ratio_curve(zipf_keys, 0.1, sizes=sizes, cache_sizes=grid)
    for col in ("miss_ratio", "byte_miss_ratio"):
        assert np.abs(est[col] - exact[col]).mean() <= 0.01, col


@settings(max_examples=40, deadline=None)
@given(st.lists(st.integers(0, 12), min_size=1, max_size=60), st.integers(1, 14))
def test_random_small_traces_match_the_simulator(trace: list[int], size: int) -> None:
    keys = np.array(trace, dtype=np.int64)
    mrc = caches.miss_ratio_curve(keys, cache_sizes=[size])
    sim = caches.simulate_cache(keys, size)
    assert mrc["miss_ratio"].iloc[0] == pytest.approx(1 - sim.hit_ratio, abs=1e-15)
    full = caches.miss_ratio_curve(keys)["miss_ratio"].to_numpy()
    assert np.all(np.diff(full) <= 0)


def test_size_from_a_curve() -> None:
    mrc = caches.miss_ratio_curve(SMALL)
    with pytest.warns(caches.CatalogFractionWarning, match="67%"):
        assert caches.cache_size_from_mrc(mrc, 0.1) == 2  # 1 hit in 8 at size 2
    with pytest.warns(caches.CatalogFractionWarning, match="100%"):
        assert caches.cache_size_from_mrc(mrc, 0.6) == 3  # 5 hits in 8 at size 3
    with pytest.raises(InfeasibleError, match="first requests"):
        caches.cache_size_from_mrc(mrc, 0.7)


def test_bad_trace_input() -> None:
    with pytest.raises(ParameterError, match="empty"):
        caches.miss_ratio_curve(np.array([], dtype=np.int64))
    with pytest.raises(ParameterError, match="sample_rate"):
        caches.miss_ratio_curve(SMALL, sample_rate=1.5)
    with pytest.raises(ParameterError, match="sample_rate"):
        caches.miss_ratio_curve(SMALL, sample_rate=0.0)
    with pytest.raises(ParameterError, match="sizes"):
        caches.miss_ratio_curve(SMALL, sizes=-np.ones(8))
    with pytest.raises(ParameterError, match="empty"):
        caches.simulate_cache([], 3)
