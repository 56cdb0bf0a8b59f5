"""Compiled Mattson stack distances with a Fenwick tree over time positions.

Each key's most recent access holds a mark at its time position; the LRU stack distance of a
request is one plus the number of marks after the key's previous access (the distinct keys used
since).  Positions are compacted when the window fills, so the tree stays about twice the number
of distinct keys however long the trace.  Byte mode weighs each mark with the object's size.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numba import njit
from numpy.typing import NDArray

_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_MIX1 = np.uint64(0xBF58476D1CE4E5B9)
_MIX2 = np.uint64(0x94D049BB133111EB)


@njit(cache=True, inline="always")
def _popcount(x: np.uint64) -> np.int64:  # pragma: no cover - compiled
    x = x - ((x >> np.uint64(1)) & np.uint64(0x5555555555555555))
    x = (x & np.uint64(0x3333333333333333)) + ((x >> np.uint64(2)) & np.uint64(0x3333333333333333))
    x = (x + (x >> np.uint64(4))) & np.uint64(0x0F0F0F0F0F0F0F0F)
    return np.int64((x * np.uint64(0x0101010101010101)) >> np.uint64(56))


@njit(cache=True, inline="always")
def _fenwick_add(tree: NDArray[Any], i: int, delta: Any, size: int) -> None:  # pragma: no cover - compiled
    """Add ``delta`` at 1-based index ``i`` of a Fenwick tree over ``tree[1..size]``."""
    while i <= size:
        tree[i] += delta
        i += i & -i


@njit(cache=True, inline="always")
def _fenwick_prefix(tree: NDArray[Any], i: int, total: Any) -> Any:  # pragma: no cover - compiled
    """``total`` plus the sum of ``tree``'s entries ``1..i`` (1-based)."""
    while i > 0:
        total += tree[i]
        i -= i & -i
    return total


@njit(cache=True, inline="always")
def _fenwick_build(tree: NDArray[Any]) -> None:  # pragma: no cover - compiled
    """Turn per-index values in ``tree[1..]`` into a Fenwick tree in place (linear time)."""
    size = tree.size - 1
    for j in range(1, size + 1):
        up = j + (j & -j)
        if up <= size:
            tree[up] += tree[j]


@njit(cache=True, inline="always")
def _marks_through(words: NDArray[np.uint64], fen: NDArray[np.int32], p: int) -> int:  # pragma: no cover
    """Live marks at positions ``0..p`` (popcount within ``p``'s word, the tree for the words before)."""
    b = p >> 6
    off = np.uint64(p & 63)
    one = np.uint64(1)
    through: int = _fenwick_prefix(fen, b, _popcount(words[b] & ((one << off) | ((one << off) - one))))
    return through


@njit(cache=True, inline="always")
def _mark(words: NDArray[np.uint64], fen: NDArray[np.int32], p: int) -> None:  # pragma: no cover
    """Set the mark at position ``p`` (which is clear) and count it in the tree."""
    words[p >> 6] |= np.uint64(1) << np.uint64(p & 63)
    _fenwick_add(fen, (p >> 6) + 1, 1, fen.size - 1)


@njit(cache=True, inline="always")
def _unmark(words: NDArray[np.uint64], fen: NDArray[np.int32], p: int) -> None:  # pragma: no cover
    """Clear the mark at position ``p`` (which is set) and uncount it in the tree."""
    words[p >> 6] &= ~(np.uint64(1) << np.uint64(p & 63))
    _fenwick_add(fen, (p >> 6) + 1, -1, fen.size - 1)


@njit(cache=True)
def count_objects(
    ids: NDArray[np.int64],
    last: NDArray[np.int64],
    key_at: NDArray[np.int64],
    words: NDArray[np.uint64],
    fen: NDArray[np.int32],
    state: NDArray[np.int64],
    hist: NDArray[np.int64],
) -> int:  # pragma: no cover - compiled
    """Add the stack distances of ``ids`` to ``hist`` (``hist[0]``: cold misses).

    Marks live in a bitset (``words``, 64 positions each) with a Fenwick tree ``fen`` over the
    per-word counts, small enough to stay in cache.  ``state = [next_pos, live, cap]``.  Stops when
    the position window is full and returns how many requests were processed; the caller compacts
    and calls again with the rest.
    """
    pos = state[0]
    live = state[1]
    cap = state[2]
    n = ids.size
    i = 0
    while i < n:
        if pos == cap:
            break
        k = ids[i]
        p = last[k]
        if p >= 0:
            hist[live - _marks_through(words, fen, p) + 1] += 1
            _unmark(words, fen, p)
            live -= 1
        else:
            hist[0] += 1
        _mark(words, fen, pos)
        live += 1
        last[k] = pos
        key_at[pos] = k
        pos += 1
        i += 1
    state[0] = pos
    state[1] = live
    return i


@njit(cache=True)
def fill_bitset(words: NDArray[np.uint64], fen: NDArray[np.int32], live: int) -> None:  # pragma: no cover
    """Marks at positions ``0..live-1`` exactly (after a compaction)."""
    words[:] = np.uint64(0)
    full = live >> 6
    for b in range(full):
        words[b] = ~np.uint64(0)
    rest = live & 63
    if rest:
        words[full] = (np.uint64(1) << np.uint64(rest)) - np.uint64(1)
    fen[:] = 0
    for b in range(fen.size - 1):
        fen[b + 1] = np.int32(_popcount(words[b]))
    _fenwick_build(fen)


@njit(cache=True)
def count_bytes(
    ids: NDArray[np.int64],
    sizes: NDArray[np.float64],
    last: NDArray[np.int64],
    key_at: NDArray[np.int64],
    cur: NDArray[np.float64],
    bit: NDArray[np.float64],
    state: NDArray[np.int64],
    live_bytes: NDArray[np.float64],
    grid: NDArray[np.float64],
    scale: float,
    hist_n: NDArray[np.float64],
    hist_b: NDArray[np.float64],
    cold: NDArray[np.float64],
) -> int:  # pragma: no cover - compiled
    """Byte-weighted stack distances (own size plus the sizes of distinct keys used since).

    A request with distance ``d`` (times ``scale``) hits in every cache of ``grid[j] >= d``:
    it is counted in bin ``j`` = first such grid index (``len(grid)``: misses everywhere), in
    ``hist_n`` (requests) and ``hist_b`` (its bytes).  ``cold = [requests, bytes]`` of first accesses.
    """
    pos = state[0]
    live = state[1]
    cap = state[2]
    total = live_bytes[0]
    n = ids.size
    i = 0
    while i < n:
        if pos == cap:
            break
        k = ids[i]
        sz = sizes[i]
        p = last[k]
        if p >= 0:
            d = (total - _fenwick_prefix(bit, p + 1, 0.0) + sz) * scale
            b = np.searchsorted(grid, d)
            hist_n[b] += 1.0
            hist_b[b] += sz
            w = cur[k]
            _fenwick_add(bit, p + 1, -w, cap)
            total -= w
            live -= 1
        else:
            cold[0] += 1.0
            cold[1] += sz
        _fenwick_add(bit, pos + 1, sz, cap)
        total += sz
        cur[k] = sz
        live += 1
        last[k] = pos
        key_at[pos] = k
        pos += 1
        i += 1
    state[0] = pos
    state[1] = live
    live_bytes[0] = total
    return i


@njit(cache=True)
def compact(
    last: NDArray[np.int64],
    key_at: NDArray[np.int64],
    new_key_at: NDArray[np.int64],
    cur: NDArray[np.float64],
    new_bit: NDArray[np.float64],
    used: int,
    weighted: bool,
) -> int:  # pragma: no cover - compiled
    """Renumber the live marks ``0..live-1`` in time order and return ``live``.

    With ``weighted`` also fill ``new_bit``, a Fenwick tree of each mark's weight ``cur[key]``
    (linear-time build).
    """
    live = 0
    for q in range(used):
        k = key_at[q]
        if last[k] == q:
            last[k] = live
            new_key_at[live] = k
            if weighted:
                new_bit[live + 1] = cur[k]
            live += 1
    if weighted:
        _fenwick_build(new_bit)
    return live


@njit(cache=True)
def spatial_sample(keys: NDArray[np.uint64], threshold: np.uint64) -> NDArray[np.bool_]:  # pragma: no cover
    """SHARDS spatial filter: keep a key iff ``splitmix64(key) mod 2^24 < threshold``."""
    out = np.empty(keys.size, dtype=np.bool_)
    for i in range(keys.size):
        z = keys[i] + _GOLDEN
        z = (z ^ (z >> np.uint64(30))) * _MIX1
        z = (z ^ (z >> np.uint64(27))) * _MIX2
        z = z ^ (z >> np.uint64(31))
        out[i] = (z & np.uint64(0xFFFFFF)) < threshold
    return out


@njit(cache=True)
def hashed_sample(hashes: NDArray[np.uint64], threshold: np.uint64) -> NDArray[np.bool_]:  # pragma: no cover
    """SHARDS filter on precomputed 64-bit key hashes."""
    out = np.empty(hashes.size, dtype=np.bool_)
    for i in range(hashes.size):
        out[i] = (hashes[i] & np.uint64(0xFFFFFF)) < threshold
    return out


_EMPTY = -2


@njit(cache=True, inline="always")
def _slot_hash(key: np.int64, shift: np.uint64) -> np.int64:  # pragma: no cover - compiled
    return np.int64((np.uint64(key) * _GOLDEN) >> shift)


@njit(cache=True)
def count_hashed(
    keys: NDArray[np.int64],
    table: NDArray[np.int64],
    key_at: NDArray[np.int64],
    words: NDArray[np.uint64],
    fen: NDArray[np.int32],
    state: NDArray[np.int64],
    hist: NDArray[np.int64],
) -> int:  # pragma: no cover - compiled
    """:func:`count_objects` for raw 64-bit keys, with the key-to-slot map fused in.

    ``table[s] = (key, last position)`` is an open-addressing hash table (linear probing,
    ``last = -2`` marks an empty slot); ``key_at[pos]`` holds slots.  ``state = [next_pos, live,
    cap, n_keys]``.  Stops (returning the number processed) when the window is full, the table
    is half full, or the histogram has no room for a new distance.
    """
    pos = state[0]
    live = state[1]
    cap = state[2]
    n_keys = state[3]
    size = table.shape[0]
    mask = size - 1
    shift = np.uint64(64 - int(np.log2(size)))
    n = keys.size
    i = 0
    while i < n:
        if pos == cap or 2 * (n_keys + 1) > size or n_keys + 2 >= hist.size:
            break
        k = keys[i]
        h = _slot_hash(k, shift)
        while table[h, 1] != _EMPTY and table[h, 0] != k:
            h = (h + 1) & mask
        p = table[h, 1]
        if p >= 0:
            hist[live - _marks_through(words, fen, p) + 1] += 1
            _unmark(words, fen, p)
            live -= 1
        else:
            table[h, 0] = k
            n_keys += 1
            hist[0] += 1
        _mark(words, fen, pos)
        live += 1
        table[h, 1] = pos
        key_at[pos] = h
        pos += 1
        i += 1
    state[0] = pos
    state[1] = live
    state[3] = n_keys
    return i


@njit(cache=True)
def compact_hashed(
    table: NDArray[np.int64], key_at: NDArray[np.int64], new_key_at: NDArray[np.int64], used: int
) -> int:  # pragma: no cover - compiled
    """Renumber the live marks ``0..live-1`` (slots whose last position is their position)."""
    live = 0
    for q in range(used):
        h = key_at[q]
        if table[h, 1] == q:
            table[h, 1] = live
            new_key_at[live] = h
            live += 1
    return live


@njit(cache=True)
def rehash(
    table: NDArray[np.int64], new_table: NDArray[np.int64], key_at: NDArray[np.int64], used: int
) -> None:  # pragma: no cover - compiled
    """Move every key into ``new_table`` (empty, larger) and renumber the slots in ``key_at``."""
    size = new_table.shape[0]
    mask = size - 1
    shift = np.uint64(64 - int(np.log2(size)))
    moved = np.full(table.shape[0], -1, dtype=np.int64)
    for s in range(table.shape[0]):
        if table[s, 1] == _EMPTY:
            continue
        k = table[s, 0]
        h = _slot_hash(k, shift)
        while new_table[h, 1] != _EMPTY:
            h = (h + 1) & mask
        new_table[h, 0] = k
        new_table[h, 1] = table[s, 1]
        moved[s] = h
    for q in range(used):
        key_at[q] = moved[key_at[q]]
