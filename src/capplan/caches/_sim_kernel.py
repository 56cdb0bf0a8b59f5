"""Compiled one-size cache simulator: LRU, FIFO or RANDOM eviction, byte capacity, TTLs."""

from __future__ import annotations

import numpy as np
from numba import njit
from numpy.typing import NDArray

LRU, FIFO, RANDOM = 0, 1, 2


@njit(cache=True)
def simulate(
    ids: NDArray[np.int64],
    sizes: NDArray[np.float64],
    times: NDArray[np.float64],
    n_keys: int,
    capacity: float,
    policy: int,
    ttl: float,
    reset_on_hit: bool,
    warmup: int,
    rng: np.random.Generator,
    hit_mask: NDArray[np.bool_],
) -> tuple[int, int, float, float]:  # pragma: no cover - compiled
    """Replay ``ids``; return (hits, counted requests, hit bytes, counted bytes) after ``warmup``.

    LRU/FIFO keep a doubly linked list (head = most recent use/insertion); RANDOM keeps a slot
    array.  ``sizes``/``times`` may be empty (unit sizes; no TTL).  A TTL is checked when an object
    is requested (an expired object is a miss and is fetched again) and, for LRU with reset and
    FIFO, expired objects are also dropped from the tail as time passes (they are the oldest).
    ``hit_mask``, unless empty, receives every request's outcome.
    """
    nxt = np.full(n_keys + 1, -1, dtype=np.int64)
    prv = np.full(n_keys + 1, -1, dtype=np.int64)
    head = n_keys  # sentinel
    nxt[head] = head
    prv[head] = head
    cached = np.zeros(n_keys, dtype=np.bool_)
    stored = np.zeros(n_keys)
    expire = np.zeros(n_keys)
    slots = np.empty(n_keys, dtype=np.int64)
    slot_of = np.full(n_keys, -1, dtype=np.int64)
    n_slots = 0
    used = 0.0
    has_sizes = sizes.size > 0
    has_times = times.size > 0
    hits = 0
    counted = 0
    hit_bytes = 0.0
    counted_bytes = 0.0
    for t in range(ids.size):
        k = ids[t]
        s = sizes[t] if has_sizes else 1.0
        now = times[t] if has_times else 0.0
        # eager expiry from the tail where the tail is the oldest deadline
        if has_times and policy != RANDOM and (policy == FIFO or reset_on_hit):
            while prv[head] != head and expire[prv[head]] <= now:
                v = prv[head]
                nxt[prv[v]] = head
                prv[head] = prv[v]
                cached[v] = False
                used -= stored[v]
        hit = False
        if cached[k]:
            if has_times and expire[k] <= now:
                # expired: drop it, then treat as a miss below
                if policy == RANDOM:
                    j = slot_of[k]
                    n_slots -= 1
                    slots[j] = slots[n_slots]
                    slot_of[slots[j]] = j
                    slot_of[k] = -1
                else:
                    nxt[prv[k]] = nxt[k]
                    prv[nxt[k]] = prv[k]
                cached[k] = False
                used -= stored[k]
            else:
                hit = True
                if has_times and reset_on_hit:
                    expire[k] = now + ttl
                if policy == LRU:
                    nxt[prv[k]] = nxt[k]
                    prv[nxt[k]] = prv[k]
                    nxt[k] = nxt[head]
                    prv[k] = head
                    prv[nxt[head]] = k
                    nxt[head] = k
        if hit_mask.size > 0:
            hit_mask[t] = hit
        if t >= warmup:
            counted += 1
            counted_bytes += s
            if hit:
                hits += 1
                hit_bytes += s
        if hit or s > capacity:
            continue
        while used + s > capacity:
            if policy == RANDOM:
                j = rng.integers(0, n_slots)
                v = slots[j]
                n_slots -= 1
                slots[j] = slots[n_slots]
                slot_of[slots[j]] = j
                slot_of[v] = -1
            else:
                v = prv[head]
                nxt[prv[v]] = head
                prv[head] = prv[v]
            cached[v] = False
            used -= stored[v]
        cached[k] = True
        stored[k] = s
        used += s
        if has_times:
            expire[k] = now + ttl
        if policy == RANDOM:
            slots[n_slots] = k
            slot_of[k] = n_slots
            n_slots += 1
        else:
            nxt[k] = nxt[head]
            prv[k] = head
            prv[nxt[head]] = k
            nxt[head] = k
    return hits, counted, hit_bytes, counted_bytes
