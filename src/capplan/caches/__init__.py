"""Cache models: popularity, hit ratios (LRU/FIFO/RANDOM/TTL), miss-ratio curves, multi-tier latency.

Models are pure functions of per-object request rates and sizes; :func:`miss_ratio_curve` reads a
trace (array, or a file through :mod:`capplan.measurements.traces`) in one pass.
"""

from capplan.caches.che import HitRatio, che_hit_ratio, fifo_hit_ratio, random_hit_ratio
from capplan.caches.inverse import (
    CacheSize,
    CatalogFractionWarning,
    cache_size_for_hit_ratio,
    cache_size_from_mrc,
)
from capplan.caches.lru_sim import SimulatedCache, simulate_cache
from capplan.caches.mrc import miss_ratio_curve
from capplan.caches.popularity import ZipfFit, fit_zipf, zipf_popularity, zipf_trace
from capplan.caches.tiers import CacheTier, MultiTierResult, multi_tier
from capplan.caches.ttl import ttl_hit_ratio

__all__ = [
    "CacheSize",
    "CacheTier",
    "CatalogFractionWarning",
    "HitRatio",
    "MultiTierResult",
    "SimulatedCache",
    "ZipfFit",
    "cache_size_for_hit_ratio",
    "cache_size_from_mrc",
    "che_hit_ratio",
    "fifo_hit_ratio",
    "fit_zipf",
    "miss_ratio_curve",
    "multi_tier",
    "random_hit_ratio",
    "simulate_cache",
    "ttl_hit_ratio",
    "zipf_popularity",
    "zipf_trace",
]
