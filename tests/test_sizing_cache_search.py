"""The search behind size_cache (capplan.sizing._cache_search): the same answers, to the last bit,
as evaluating the chain at every step of the plain geometric search (the values below were
recorded with that search, revision f6e7774), in a handful of catalog passes.

Checked: the recorded answers; the threshold brackets against the plain search written out here;
the bounds the search decides by (the binned tier's, the chords', the failing times') against the
chain evaluated directly; the capacity as the fewest whole objects meeting both targets (one fewer
misses one, evaluated from scratch); and the infeasible case's message.
"""

from __future__ import annotations

import math
import warnings
from typing import Any

import numpy as np
import pytest

from capplan import caches
from capplan.caches.che import workload
from capplan.caches.tiers import CacheTier, as_latency, evaluate_chain
from capplan.distributions import lognormal
from capplan.errors import InfeasibleError
from capplan.sizing._cache_search import TierSearch, statistic
from capplan.sizing.caches import size_cache

N = 20_000
ZIPF = {a: caches.zipf_popularity(N, a) for a in (0.6, 0.9, 1.2)}
SIZES = 256.0 + (np.arange(N) * 7919 % 8192)  # deterministic, 256 B to 8 kB
SHUFFLED = ZIPF[0.9][np.arange(N) * 7727 % N]  # a fixed permutation (7727 is prime to N)


def _cases() -> dict[str, dict[str, Any]]:
    """Each Zipf alpha with the hit ratio, the mean latency or a quantile binding, and in bytes."""
    out: dict[str, dict[str, Any]] = {}
    for a, p in ZIPF.items():
        common = {"popularity": p, "request_rate": 2000.0, "backend_latency": 0.02}
        out[f"zipf {a}, hit ratio"] = {**common, "target_hit_ratio": 0.9, "response_budget": 0.005}
        out[f"zipf {a}, mean latency"] = {
            **common,
            "backend_latency": 0.2,
            "target_hit_ratio": 0.5,
            "response_budget": 0.01,
        }
        out[f"zipf {a}, bytes"] = {**common, "sizes": SIZES, "target_hit_ratio": 0.9}
        out[f"zipf {a}, p95"] = {
            **common,
            "backend_latency": lognormal(0.02, 1.0),
            "hit_latency": lognormal(0.001, 1.0),
            "target_hit_ratio": 0.5,
            "response_budget": 0.03,
            "latency_quantile": 0.95,
        }
    return out | _other_cases()


def _other_cases() -> dict[str, dict[str, Any]]:
    """A shuffled catalog, two-tier chains (either tier sized), TTLs, FIFO and RANDOM."""
    out: dict[str, dict[str, Any]] = {}
    out["shuffled zipf 0.9"] = {
        "popularity": SHUFFLED,
        "request_rate": 3000.0,
        "backend_latency": 0.02,
        "target_hit_ratio": 0.85,
    }
    out["two tiers, L2 sized"] = {
        "popularity": ZIPF[0.9],
        "request_rate": 5000.0,
        "backend_latency": lognormal(0.02, 1.0),
        "tiers": [CacheTier("L1", 300, 0.0001, copies=4), CacheTier("L2", None, 0.001, ttl=3600.0)],
        "target_hit_ratio": 0.9,
    }
    out["two tiers, L1 sized, p80"] = {
        "popularity": ZIPF[0.9],
        "request_rate": 5000.0,
        "backend_latency": 0.02,
        "size_tier": "L1",
        "tiers": [CacheTier("L1", 0, 0.0001, copies=2), CacheTier("L2", 2000, 0.002)],
        "target_hit_ratio": 0.7,
        "response_budget": 0.01,
        "latency_quantile": 0.8,
    }
    out["two tiers in bytes"] = {
        "popularity": ZIPF[0.9],
        "request_rate": 5000.0,
        "backend_latency": lognormal(0.02, 1.0),
        "sizes": 4096.0,
        "tiers": [
            CacheTier("L1", 200 * 4096, 0.0001, copies=4),
            CacheTier("L2", None, lognormal(0.001, 1.0), ttl=3600.0),
        ],
    }
    one_tier = {"request_rate": 2000.0, "backend_latency": 0.02}
    out["fifo with a ttl"] = {
        **one_tier,
        "popularity": ZIPF[0.6],
        "target_hit_ratio": 0.7,
        "tiers": [CacheTier("c", 0, 0.001, ttl=600.0, policy="fifo")],
    }
    out["lru with a ttl from insertion"] = {
        **one_tier,
        "popularity": ZIPF[0.9],
        "target_hit_ratio": 0.8,
        "tiers": [CacheTier("c", 0, 0.001, ttl=300.0)],
    }
    out["random"] = {
        "popularity": ZIPF[1.2],
        "request_rate": 800.0,
        "backend_latency": 0.05,
        "target_hit_ratio": 0.9,
        "tiers": [CacheTier("c", 0, 0.001, policy="random")],
    }
    return out


CASES = _cases()

# capacities, binding, hit ratio, backend rate, latency: size_cache at f6e7774 (the plain search)
RECORDED: dict[str, tuple[tuple[float | None, ...], str, float, float, float]] = {
    "zipf 0.6, hit ratio": (
        (16414.0,),
        "hit ratio >= 0.9",
        0.9000301360804362,
        199.93972783912747,
        0.0029993972783912788,
    ),
    "zipf 0.6, mean latency": (
        (18290.0,),
        "mean latency <= 10 ms",
        0.9550042103520834,
        89.99157929583316,
        0.009999157929583318,
    ),
    "zipf 0.6, bytes": (
        (71376716.74784988,),
        "hit ratio >= 0.9",
        0.9000066947502865,
        199.98661049942706,
        0.00299986610499427,
    ),
    "zipf 0.6, p95": (
        (11746.0,),
        "p95 latency <= 30 ms",
        0.7425381678774493,
        514.9236642451015,
        0.02999938385943391,
    ),
    "zipf 0.9, hit ratio": (
        (12442.0,),
        "hit ratio >= 0.9",
        0.9000014627577854,
        199.99707448442928,
        0.002999970744844282,
    ),
    "zipf 0.9, mean latency": (
        (16108.0,),
        "mean latency <= 10 ms",
        0.955002662857391,
        89.99467428521801,
        0.009999467428521806,
    ),
    "zipf 0.9, bytes": (
        (54085324.83089387,),
        "hit ratio >= 0.9",
        0.9000150543130763,
        199.96989137384747,
        0.0029996989137384793,
    ),
    "zipf 0.9, p95": (
        (5580.0,),
        "p95 latency <= 30 ms",
        0.7425490918139463,
        514.9018163721073,
        0.029998660628191384,
    ),
    "zipf 1.2, hit ratio": (
        (2707.0,),
        "hit ratio >= 0.9",
        0.9000066536474549,
        199.9866927050903,
        0.0029998669270508947,
    ),
    "zipf 1.2, mean latency": (
        (7486.0,),
        "mean latency <= 10 ms",
        0.9550011541753968,
        89.99769164920649,
        0.009999769164920649,
    ),
    "zipf 1.2, bytes": (
        (11701836.274400176,),
        "hit ratio >= 0.9",
        0.9000029023429011,
        199.99419531419773,
        0.0029999419531419745,
    ),
    "zipf 1.2, p95": (
        (298.0,),
        "p95 latency <= 30 ms",
        0.7427532664402847,
        514.4934671194305,
        0.02998513848874422,
    ),
    "shuffled zipf 0.9": (
        (9767.0,),
        "hit ratio >= 0.85",
        0.850020497674608,
        449.9385069761762,
        0.00399959004650784,
    ),
    "two tiers, L2 sized": (
        (300, 12419.0),
        "hit ratio >= 0.9",
        0.9000117087014771,
        499.9414564926148,
        0.0027675128998961096,
    ),
    "two tiers, L1 sized, p80": (
        (6629.0, 2000),
        "p80 latency <= 10 ms",
        0.8000007122380743,
        999.996438809628,
        0.002100003546748793,
    ),
    "two tiers in bytes": (
        (819200, 64445433.48483344),
        "hit ratio >= 0.95",
        0.950004652006051,
        249.97673996974518,
        0.0018103736520550062,
    ),
    "fifo with a ttl": (
        (14170.0,),
        "mean latency <= 5 ms",
        0.8000008267371956,
        399.99834652560867,
        0.004999983465256082,
    ),
    "lru with a ttl from insertion": (
        (7619.0,),
        "hit ratio >= 0.8 and mean latency <= 5 ms",
        0.800002493347515,
        399.99501330497,
        0.004999950133049701,
    ),
    "random": (
        (5286.0,),
        "mean latency <= 5 ms",
        0.9200047302294798,
        63.99621581641608,
        0.004999763488526007,
    ),
}


def _size(kwargs: dict[str, Any]) -> Any:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", caches.CatalogFractionWarning)
        return size_cache(**kwargs)


def _search(kwargs: dict[str, Any]) -> TierSearch:
    """A fresh search as size_cache sets it up (targets given explicitly in every case)."""
    chain = list(kwargs.get("tiers") or [CacheTier("cache", 0.0, kwargs.get("hit_latency", 0.001))])
    names = [t.name for t in chain]
    k = names.index(kwargs.get("size_tier", names[-1]))
    load = workload(kwargs["popularity"], kwargs["request_rate"], kwargs.get("sizes"))
    backend = as_latency("backend_latency", kwargs["backend_latency"])
    target, budget = kwargs.get("target_hit_ratio", 0.95), kwargs.get("response_budget", 0.005)
    search = TierSearch(load, chain, backend, k, target, budget, kwargs.get("latency_quantile"))
    search.at_time(math.inf)
    return search


def _plain_threshold(search: TierSearch) -> tuple[float, float]:
    """The plain search: the chain evaluated at every step (no bounds, no pinning)."""

    def fails(t: float) -> bool:
        res = evaluate_chain(search.load, search.chain, search.backend, times={search.k: t}, memo={})
        return bool(search.failing(res))

    def occ(t: float) -> float:
        chain = evaluate_chain(search.load, search.chain, search.backend, times={search.k: t}, memo={})
        return chain.occupancy[search.k] if t > 0 else 0.0

    lo, hi = 0.0, 1.0 / float(search.load.rates.max())
    while fails(hi):
        lo, hi = hi, 4.0 * hi
    step = 0.0 if search.load.has_sizes else 1.0
    while occ(hi) - occ(lo) > max(step, 1e-4 * occ(hi)):
        mid = math.sqrt(lo * hi) if lo > 0 else hi / 4.0
        lo, hi = (mid, hi) if fails(mid) else (lo, mid)
    return lo, hi


@pytest.mark.parametrize("name", list(CASES))
def test_answers_are_those_of_the_plain_search_to_the_bit(name: str) -> None:
    r = _size(CASES[name])
    capacities, binding, hit_ratio, backend_rate, latency = RECORDED[name]
    assert r.capacities == capacities
    assert r.binding == binding
    assert (r.hit_ratio, r.backend_rate, r.latency) == (hit_ratio, backend_rate, latency)


@pytest.mark.parametrize(
    "name", ["zipf 0.6, hit ratio", "zipf 1.2, bytes", "shuffled zipf 0.9", "two tiers, L1 sized, p80"]
)
def test_threshold_brackets_are_the_plain_searchs(name: str) -> None:
    search = _search(CASES[name])
    lo, hi, lo_occ, hi_res = search.threshold()
    assert (lo, hi) == _plain_threshold(_search(CASES[name]))
    assert lo_occ == search.at_time(lo).occupancy[search.k] and hi_res is search.at_time(hi)


@pytest.mark.parametrize("name", ["zipf 0.9, hit ratio", "zipf 0.6, bytes", "two tiers, L2 sized", "random"])
def test_bounds_hold_the_chain_evaluated_directly(name: str) -> None:
    search = _search(CASES[name])
    search.threshold()  # pinned, with a few times evaluated
    assert search.binned is not None
    for t in np.geomspace(search.met / 300.0, search.met * 300.0, 97):
        res = evaluate_chain(search.load, search.chain, search.backend, times={search.k: t}, memo={})
        occ = res.occupancy[search.k]
        low, high = search.occupancy_bounds(float(t))
        assert low <= occ <= high
        assert search.fails_at(float(t)) == bool(search.failing(res))
        # the search's own evaluation is the chain's, to the bit
        assert search.at_time(float(t)).hit_ratio == res.hit_ratio
        assert statistic(search.at_time(float(t)), search.quantile) == statistic(res, search.quantile)


def test_a_handful_of_passes_on_a_large_catalog() -> None:
    """The benchmark's shape (200,000 objects): the plain search evaluates the chain ~25 times."""
    kwargs = {"popularity": caches.zipf_popularity(200_000, 0.85), "request_rate": 5000.0}
    kwargs |= {"backend_latency": 0.02, "target_hit_ratio": 0.95, "response_budget": 0.005}
    search = _search(kwargs)
    lo, hi, _, _ = search.threshold()
    assert (lo, hi) == _plain_threshold(_search(kwargs))
    assert len(search._by_time) <= 9  # 0 and inf, two pinning steps, the last brackets' ends


@pytest.mark.parametrize(
    "name",
    [
        "zipf 0.6, hit ratio",
        "zipf 0.9, mean latency",
        "zipf 1.2, hit ratio",
        "zipf 0.9, p95",
        "two tiers, L2 sized",
        "two tiers, L1 sized, p80",
        "shuffled zipf 0.9",
    ],
)
def test_capacity_is_the_fewest_whole_objects_meeting_the_targets(name: str) -> None:
    kwargs = CASES[name]
    r = _size(kwargs)
    chain = list(kwargs.get("tiers") or [CacheTier("cache", 0.0, kwargs.get("hit_latency", 0.001))])
    k = r.tiers.index(r.sized_tier)
    q = kwargs.get("latency_quantile")

    def meets(capacity: float) -> bool:
        tiers = [t.with_capacity(capacity) if i == k else t for i, t in enumerate(chain)]
        res = caches.multi_tier(
            kwargs["popularity"], kwargs["request_rate"], tiers, kwargs["backend_latency"]
        )
        hit_ratio_met = res.hit_ratio >= r.target_hit_ratio - 1e-12
        return bool(hit_ratio_met and statistic(res, q) <= r.response_budget * (1 + 1e-12))

    assert r.capacity == math.floor(r.capacity)
    assert meets(r.capacity)
    assert not meets(r.capacity - 1)


def test_infeasible_still_raises_the_same_message() -> None:
    kwargs = {"popularity": ZIPF[0.9], "request_rate": 2000.0, "backend_latency": 0.02}
    with pytest.raises(InfeasibleError) as err:
        _size({**kwargs, "target_hit_ratio": 0.9, "tiers": [CacheTier("c", 0, 0.001, ttl=1.0)]})
    assert str(err.value) == (
        "c holding the whole catalog (20000 objects) still misses hit ratio >= 0.9 and mean latency "
        "<= 5 ms: hit ratio 0.446089, latency 12.08 ms (TTLs, tier latencies or the backend set this floor)"
    )
