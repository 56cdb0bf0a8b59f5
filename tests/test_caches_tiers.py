"""Multi-tier caches: L2 fed by L1's miss stream (checked against chained simulated caches) and the
end-to-end latency mixture (hand-worked with fixed latencies; Monte Carlo for lognormal tiers)."""

from __future__ import annotations

import numpy as np
import pytest

from capplan import caches
from capplan.distributions import lognormal
from capplan.errors import ParameterError

N_OBJ = 20_000


@pytest.fixture(scope="module")
def trace() -> np.ndarray:
    return caches.zipf_trace(1_000_000, N_OBJ, 0.9, rng=31)[0]


def test_l2_sees_the_l1_miss_stream(trace: np.ndarray) -> None:
    warm = 200_000
    l1 = caches.simulate_cache(trace, 300, record=True)
    assert l1.hit_mask is not None
    missed = trace[~l1.hit_mask]
    l2 = caches.simulate_cache(missed, 3000, warmup=int((~l1.hit_mask[:warm]).sum()))
    model = caches.multi_tier(
        caches.zipf_popularity(N_OBJ, 0.9),
        1000.0,
        [caches.CacheTier("L1", 300, 0.0001), caches.CacheTier("L2", 3000, 0.001)],
        0.02,
    )
    sim_l1 = l1.hit_mask[warm:].mean()
    assert abs(model.served[0] - sim_l1) <= 0.01
    assert abs(model.local_hit_ratio[1] - l2.hit_ratio) <= 0.01
    # the naive independent-tiers answer is far off: L2's best objects are already in L1
    independent = caches.che_hit_ratio(caches.zipf_popularity(N_OBJ, 0.9), 3000).hit_ratio
    assert independent - l2.hit_ratio > 0.1
    assert model.backend_rate == pytest.approx(1000.0 * (1 - sum(model.served)), rel=1e-12)


def test_per_replica_copies(trace: np.ndarray) -> None:
    # two in-process caches, requests spread at random over the replicas
    owner = np.random.default_rng(3).integers(0, 2, trace.size)
    hits = sum(caches.simulate_cache(trace[owner == r], 500, warmup=100_000).hits for r in (0, 1))
    counted = sum(int((owner == r).sum()) - 100_000 for r in (0, 1))
    model = caches.multi_tier(
        caches.zipf_popularity(N_OBJ, 0.9), 1.0, [caches.CacheTier("L1", 500, 0.0, copies=2)], 0.01
    )
    assert abs(model.served[0] - hits / counted) <= 0.01
    # without TTLs only the request order matters, so one cache per replica hits as often as one cache
    single = caches.che_hit_ratio(caches.zipf_popularity(N_OBJ, 0.9), 500).hit_ratio
    assert model.served[0] == pytest.approx(single, rel=1e-9)
    # with a TTL each copy sees half the rate, so fewer requests fall within an object's lifetime
    p = caches.zipf_popularity(N_OBJ, 0.9)
    one, two = (
        caches.multi_tier(p, 100.0, [caches.CacheTier("L1", 500, 0.0, ttl=10.0, copies=c)], 0.01).served[0]
        for c in (1, 2)
    )
    assert two < one


def test_fixed_latency_mixture_by_hand() -> None:
    p = caches.zipf_popularity(5000, 1.0)
    res = caches.multi_tier(
        p, 100.0, [caches.CacheTier("L1", 100, 0.0001), caches.CacheTier("L2", 1000, 0.001)], 0.02
    )
    w1, w2 = res.served
    wb = res.backend_share
    assert w1 + w2 + wb == pytest.approx(1.0, abs=1e-12)
    assert res.latency_mean == pytest.approx(w1 * 0.0001 + w2 * 0.0011 + wb * 0.0211, rel=1e-12)
    assert res.latency_quantile(w1 / 2) == pytest.approx(0.0001, rel=1e-9)
    assert res.latency_quantile(w1 + w2 / 2) == pytest.approx(0.0011, rel=1e-9)
    assert res.latency_quantile(1 - wb / 2) == pytest.approx(0.0211, rel=1e-9)
    assert res.to_frame().loc["backend", "served_share"] == pytest.approx(wb)


def test_lognormal_mixture_quantiles_against_monte_carlo() -> None:
    p = caches.zipf_popularity(5000, 0.9)
    l1, l2, db = lognormal(0.0002, 1.0), lognormal(0.001, 2.0), lognormal(0.02, 1.0)
    res = caches.multi_tier(p, 100.0, [caches.CacheTier("L1", 200, l1), caches.CacheTier("L2", 1500, l2)], db)
    rng = np.random.default_rng(5)
    n = 400_000
    which = rng.choice(3, size=n, p=[*res.served, res.backend_share])
    samples = np.where(
        which == 0,
        l1.rvs(n, random_state=rng),
        np.where(
            which == 1,
            0.0002 + l2.rvs(n, random_state=rng),
            0.0012 + db.rvs(n, random_state=rng),
        ),
    )
    for q in (0.5, 0.95, 0.99):
        assert res.latency_quantile(q) == pytest.approx(np.quantile(samples, q), rel=0.03)
    assert float(res.latency_cdf(res.latency_quantile(0.99))) == pytest.approx(0.99, abs=1e-9)
    assert res.latency_mean == pytest.approx(samples.mean(), rel=0.02)


def test_ttl_only_tier_and_bad_tiers() -> None:
    p = caches.zipf_popularity(1000, 0.8)
    cdn = caches.CacheTier("CDN", None, 0.01, ttl=60.0)
    res = caches.multi_tier(p, 50.0, [cdn], 0.1)
    assert res.hit_ratio == pytest.approx(
        caches.ttl_hit_ratio(p, 60.0, request_rate=50.0).hit_ratio, rel=1e-12
    )
    with pytest.raises(ParameterError, match="capacity"):
        caches.CacheTier("L1", -5, 0.001)
    with pytest.raises(ParameterError, match="latency"):
        caches.CacheTier("L1", 5, "fast")
    with pytest.raises(ParameterError, match="tiers"):
        caches.multi_tier(p, 1.0, [], 0.1)
