"""size_cache: the smallest tier capacity meeting the hit-ratio target and the latency budget, the
constraint that binds, and the database pool for the misses (checked against size_pool itself)."""

from __future__ import annotations

import warnings
from pathlib import Path

import pytest

import capplan as cp
from capplan import caches
from capplan.distributions import lognormal
from capplan.errors import InfeasibleError, ParameterError
from capplan.sizing import size_pool
from capplan.sizing.caches import size_cache

DATA = Path(__file__).resolve().parents[1] / "data"
P = caches.zipf_popularity(20_000, 1.0)


@pytest.fixture(scope="module")
def sla() -> cp.SLA:
    return cp.load_sla(DATA / "performance-sla.yaml", DATA / "performance-budget.yaml")


def test_hit_ratio_binds_with_sla_defaults(sla: cp.SLA) -> None:
    with pytest.warns(caches.CatalogFractionWarning, match="69%"):
        r = size_cache(P, 10_000.0, backend_latency=0.02, sla=sla, db_hold_time=0.005)
    assert r.target_hit_ratio == 0.95 and r.response_budget == 0.005  # cache_performance in the seed
    assert r.binding == "hit ratio >= 0.95"
    assert r.hit_ratio >= 0.95
    assert caches.che_hit_ratio(P, r.capacity - 1).hit_ratio < 0.95
    assert r.backend_rate == pytest.approx(10_000.0 * (1 - r.hit_ratio), rel=1e-9)
    assert r.pool is not None
    assert r.pool.pool_size == size_pool(r.backend_rate, 0.005, budget=0.010).pool_size
    assert "pool" in r.to_frame().index[-3]


def test_latency_budget_binds_when_the_backend_is_slow() -> None:
    with pytest.warns(caches.CatalogFractionWarning):
        r = size_cache(
            P, 1000.0, backend_latency=0.2, hit_latency=0.001, target_hit_ratio=0.5, response_budget=0.005
        )
    assert r.binding == "mean latency <= 5 ms"
    assert r.latency <= 0.005
    assert r.hit_ratio > 0.5
    # every request pays the 1 ms lookup, a miss another 200 ms: mean 1 ms + 0.2 s x miss ratio, by hand
    assert r.latency == pytest.approx(0.001 + 0.2 * (1 - r.hit_ratio), rel=1e-9)
    assert r.latency_p99 == pytest.approx(0.201, rel=1e-9)  # more than 1% of requests miss


@pytest.mark.filterwarnings("ignore::capplan.caches.CatalogFractionWarning")
def test_sizing_the_l2_behind_a_fixed_l1_in_bytes() -> None:
    tiers = [
        caches.CacheTier("L1", 200 * 4096, 0.0001, copies=4),
        caches.CacheTier("L2", None, lognormal(0.001, 1.0), ttl=3600.0),
    ]
    r = size_cache(P, 5000.0, backend_latency=lognormal(0.02, 1.0), tiers=tiers, sizes=4096.0)
    assert r.unit == "bytes" and r.sized_tier == "L2"
    assert r.hit_ratio == pytest.approx(0.95, abs=1e-3)
    assert r.capacities[0] == 200 * 4096
    alone = size_cache(P, 5000.0, backend_latency=0.02, tiers=[tiers[1]], sizes=4096.0)
    assert r.capacity < alone.capacity  # L1 takes some of the load off L2


def test_infeasible_and_bad_input() -> None:
    ttl_tier = [caches.CacheTier("L2", None, 0.001, ttl=0.01)]
    with pytest.raises(InfeasibleError, match="whole catalog"):
        size_cache(P, 10.0, backend_latency=0.02, tiers=ttl_tier)
    with pytest.raises(InfeasibleError, match="latency"):
        size_cache(P, 10.0, backend_latency=0.02, hit_latency=0.01, response_budget=0.005)
    for bad in (0.0, 1.0, 1.2):
        with pytest.raises(ParameterError, match="target_hit_ratio"):
            size_cache(P, 10.0, backend_latency=0.02, target_hit_ratio=bad)
    with pytest.raises(ParameterError, match="size_tier"):
        size_cache(P, 10.0, backend_latency=0.02, size_tier="L9")


@pytest.mark.parametrize(
    ("alpha", "target", "backend"),
    [(0.6, 0.8, 0.02), (0.9, 0.95, 0.02), (1.2, 0.99, 0.05), (0.8, 0.5, 0.03), (1.0, 0.3, 0.03)],
)
def test_capacity_is_the_fewest_whole_objects_meeting_both_targets(
    alpha: float, target: float, backend: float
) -> None:
    """The definition, checked with multi_tier at the answer and one object below it, whichever
    target binds (the last two cases are set by the 10 ms mean-latency budget)."""
    p = caches.zipf_popularity(30_000, alpha)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", caches.CatalogFractionWarning)
        r = size_cache(p, 1000.0, backend_latency=backend, target_hit_ratio=target, response_budget=0.010)
    for capacity, expected in ((r.capacity, True), (r.capacity - 1, False)):
        res = caches.multi_tier(p, 1000.0, [caches.CacheTier("cache", capacity, 0.001)], backend)
        meets = res.hit_ratio >= target - 1e-12 and res.latency_mean <= 0.010 * (1 + 1e-12)
        assert meets == expected, (capacity, res.hit_ratio, res.latency_mean, r.binding)
