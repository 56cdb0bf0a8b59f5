"""LRU miss-ratio curves from request traces: exact Mattson stack distances, and SHARDS sampling.

A single pass gives the miss ratio of an LRU cache of *every* size: LRU is a stack algorithm, so a
request hits in a cache of ``C`` objects iff its stack distance (one plus the number of distinct
keys requested since the key's previous request) is at most ``C`` (Mattson, Gecsei, Slutz,
Traiger, "Evaluation techniques for storage hierarchies", IBM Systems Journal 9(2), 1970, §2).
Distances are counted with a Fenwick tree over time positions (Bennett, Kruskal, "LRU stack
processing", IBM J. Res. Dev. 19(4), 1975, use a similar tree), ``O(log M)`` per request for ``M``
distinct keys: a bitset of the positions holding each key's latest request, with the tree over
its 64-bit words, compacted when the window fills (the bitset stays near ``M / 4`` bytes and the
tree in cache).  Small non-negative integer keys (catalog ids) index the last-access table
directly; other integer keys are looked up in a hash table inside the same compiled loop; other
keys are first mapped to dense integers (``pandas.factorize``).  With object sizes the distance is
in bytes (own size plus the sizes of the distinct keys since), exact for an LRU cache that keeps
the most recently used objects that fit.

SHARDS (Waldspurger, Park, Garthwaite, Ahmad, "Efficient MRC construction with SHARDS", FAST
2015, §3) keeps only requests whose key hashes below a threshold (rate ``R``), computes their
stack distances exactly and scales them by ``1/R``; SHARDS_adj (§3.3) adds the difference between
the expected (``R N``) and sampled numbers of requests to the first histogram bucket.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike, NDArray

from capplan._validate import FloatArray, nonnegative, positive
from capplan.caches import _stack_kernel as stk
from capplan.caches._keys import trace_sizes
from capplan.errors import ParameterError

__all__ = ["miss_ratio_curve"]

_HASH_SPACE = 1 << 24
_DEFAULT_CHUNK = 1 << 22
#: Integer keys below this are used as their own ids (a last-access table of up to 16 MiB).
_DIRECT_LIMIT = 1 << 21


class _KeyMap:
    """Stable dense ids for keys arriving in chunks (first-appearance order)."""

    def __init__(self) -> None:
        self._index: pd.Index[Any] | None = None
        self.size = 0

    def ids(self, keys: NDArray[Any]) -> NDArray[np.int64]:
        codes, uniques = pd.factorize(keys)
        if self._index is None:
            self._index = pd.Index(uniques)
            self.size = len(uniques)
            return np.asarray(codes, dtype=np.int64)
        pos = self._index.get_indexer(pd.Index(uniques)).astype(np.int64)
        new = pos < 0
        n_new = int(new.sum())
        if n_new:
            pos[new] = self.size + np.arange(n_new)
            self._index = self._index.append(pd.Index(np.asarray(uniques)[new]))
            self.size += n_new
        return np.ascontiguousarray(pos[codes])


class _DirectKeyMap:
    """Small non-negative integer keys are their own ids (no hashing); others get dense ids above.

    Catalog ids like ``0 .. N-1`` are the common case: indexing the last-access table by the key
    itself skips the hash-table probe per request (about 1.5x faster).  Keys outside
    ``[0, limit)`` that turn up in later chunks are mapped by a :class:`_KeyMap` to ``limit + i``.
    """

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._rest = _KeyMap()
        self.size = 0

    @staticmethod
    def fits(keys: NDArray[Any], limit: int) -> bool:
        """All keys are integers in ``[0, limit)``."""
        return keys.dtype.kind in "iu" and keys.size > 0 and int(keys.min()) >= 0 and int(keys.max()) < limit

    def ids(self, keys: NDArray[Any]) -> NDArray[np.int64]:
        if self.fits(keys, self.limit):
            self.size = max(self.size, int(keys.max()) + 1)
            return np.ascontiguousarray(keys, dtype=np.int64)
        inside = (keys >= 0) & (keys < self.limit) if keys.dtype.kind in "iu" else np.zeros(keys.size, bool)
        ids = np.empty(keys.size, dtype=np.int64)
        ids[inside] = keys[inside]
        ids[~inside] = self.limit + self._rest.ids(keys[~inside])
        self.size = max(self.size, self.limit + self._rest.size)
        return ids


class _StackDistances:
    """Stateful stack-distance histogram fed with chunks of dense ids (and sizes in byte mode)."""

    def __init__(self, grid: FloatArray | None, scale: float) -> None:
        self.bytes_mode = grid is not None
        self.grid = np.empty(0) if grid is None else grid
        self.scale = scale
        self.last = np.empty(0, dtype=np.int64)
        self.cur = np.empty(0)
        self.hist = np.zeros(2, dtype=np.int64)
        self.hist_n = np.zeros(self.grid.size + 1)
        self.hist_b = np.zeros(self.grid.size + 1)
        self.cold = np.zeros(2)
        self.live_bytes = np.zeros(1)
        self.state = np.array([0, 0, 0], dtype=np.int64)
        self.key_at = np.empty(0, dtype=np.int64)
        self.words = np.zeros(1, dtype=np.uint64)
        self.fen = np.zeros(1, dtype=np.int32)
        self.bit_f = np.zeros(1)
        self.requests = 0
        self.bytes = 0.0

    def _grow(self, n_keys: int) -> None:
        old = self.last.size
        if n_keys <= old:
            return
        new = max(n_keys, 2 * old)
        self.last = np.concatenate([self.last, np.full(new - old, -1, dtype=np.int64)])
        self.cur = np.concatenate([self.cur, np.zeros(new - old)])
        if not self.bytes_mode:
            self.hist = np.concatenate([self.hist, np.zeros(new - old, dtype=np.int64)])
        if self.state[2] == 0:
            self._rebuild(max(1024, 2 * new))

    def _rebuild(self, cap: int) -> None:
        used = int(self.state[0])
        new_key_at = np.empty(cap, dtype=np.int64)
        new_bit = np.zeros(cap + 1 if self.bytes_mode else 1)
        live = stk.compact(self.last, self.key_at, new_key_at, self.cur, new_bit, used, self.bytes_mode)
        self.key_at = new_key_at
        if self.bytes_mode:
            self.bit_f = new_bit
        else:
            n_words = (cap + 63) // 64
            self.words = np.zeros(n_words, dtype=np.uint64)
            self.fen = np.zeros(n_words + 1, dtype=np.int32)
            stk.fill_bitset(self.words, self.fen, live)
        self.state[:] = (live, live, cap)

    def add(self, ids: NDArray[np.int64], n_keys: int, sizes: FloatArray | None) -> None:
        self._grow(n_keys)
        self.requests += ids.size
        if sizes is not None:
            self.bytes += float(sizes.sum())
        i = 0
        while i < ids.size:
            if self.bytes_mode:
                assert sizes is not None
                done = stk.count_bytes(
                    ids[i:], sizes[i:], self.last, self.key_at, self.cur, self.bit_f, self.state,
                    self.live_bytes, self.grid, self.scale, self.hist_n, self.hist_b, self.cold,
                )  # fmt: skip
            else:
                done = stk.count_objects(
                    ids[i:], self.last, self.key_at, self.words, self.fen, self.state, self.hist
                )
            i += int(done)
            if i < ids.size:
                cap = int(self.state[2])
                live = int(self.state[1])
                self._rebuild(cap if live <= cap // 2 else 2 * cap)


class _HashedStackDistances:
    """Object-mode stack distances for raw 64-bit integer keys (hash table fused in the kernel)."""

    bytes_mode = False

    def __init__(self) -> None:
        self.table = np.full((1 << 12, 2), -2, dtype=np.int64)
        self.hist = np.zeros(1 << 11, dtype=np.int64)
        self.state = np.array([0, 0, 0, 0], dtype=np.int64)
        self.key_at = np.empty(0, dtype=np.int64)
        self.words = np.zeros(1, dtype=np.uint64)
        self.fen = np.zeros(1, dtype=np.int32)
        self.requests = 0
        self._window(1 << 12)

    @property
    def distinct(self) -> int:
        return int(self.state[3])

    def _window(self, cap: int) -> None:
        used = int(self.state[0])
        new_key_at = np.empty(cap, dtype=np.int64)
        live = stk.compact_hashed(self.table, self.key_at, new_key_at, used)
        self.key_at = new_key_at
        n_words = (cap + 63) // 64
        self.words = np.zeros(n_words, dtype=np.uint64)
        self.fen = np.zeros(n_words + 1, dtype=np.int32)
        stk.fill_bitset(self.words, self.fen, live)
        self.state[:3] = (live, live, cap)

    def add(self, keys: NDArray[np.int64]) -> None:
        self.requests += keys.size
        i = 0
        while i < keys.size:
            i += int(
                stk.count_hashed(
                    keys[i:], self.table, self.key_at, self.words, self.fen, self.state, self.hist
                )
            )
            if i == keys.size:
                break
            pos, live, cap, n_keys = (int(x) for x in self.state)
            if 2 * (n_keys + 1) > self.table.shape[0]:
                bigger = np.full((2 * self.table.shape[0], 2), -2, dtype=np.int64)
                stk.rehash(self.table, bigger, self.key_at, pos)
                self.table = bigger
            if n_keys + 2 >= self.hist.size:
                self.hist = np.concatenate([self.hist, np.zeros(self.hist.size, dtype=np.int64)])
            if pos == cap:
                self._window(cap if live <= cap // 2 else 2 * cap)


def _chunks(
    trace: Any, sizes: ArrayLike | None, chunk_size: int, read_kwargs: dict[str, Any]
) -> Iterator[tuple[NDArray[Any], FloatArray | None]]:
    if isinstance(trace, (str, os.PathLike)):
        from capplan.measurements.traces import iter_trace  # noqa: PLC0415 - input layer, on demand

        if sizes is not None:
            raise ParameterError("sizes= cannot be combined with a trace file (name its size column instead)")
        for chunk in iter_trace(trace, chunk_size=chunk_size, **read_kwargs):
            yield chunk.keys, chunk.sizes
        return
    if read_kwargs:
        raise ParameterError(f"reader options {sorted(read_kwargs)} apply to trace files only")
    if not isinstance(trace, (np.ndarray, pd.Series, list, tuple)) and isinstance(trace, Iterable):
        for item in trace:  # an iterator of TraceChunk-like objects
            yield np.asarray(item.keys), item.sizes
        return
    keys = np.asarray(trace).ravel()
    if keys.size == 0:
        raise ParameterError("the trace is empty: keys must hold at least one request")
    sz = trace_sizes(sizes, keys.size) if sizes is not None else None
    for start in range(0, keys.size, chunk_size):
        yield keys[start : start + chunk_size], None if sz is None else sz[start : start + chunk_size]


def _sample_mask(keys: NDArray[Any], threshold: int) -> NDArray[np.bool_]:
    thr = np.uint64(threshold)
    if keys.dtype.kind in "iu":
        return np.asarray(stk.spatial_sample(np.ascontiguousarray(keys, dtype=np.int64).view(np.uint64), thr))
    hashes = pd.util.hash_array(np.asarray(keys, dtype=object) if keys.dtype.kind not in "fb" else keys)
    return np.asarray(stk.hashed_sample(np.ascontiguousarray(hashes, dtype=np.uint64), thr))


def _byte_grid(cache_sizes: ArrayLike | None) -> FloatArray:
    if cache_sizes is None:
        return np.asarray(2.0 ** (np.arange(0, 50 * 16 + 1) / 16.0))
    g = np.unique(positive("cache_sizes", cache_sizes, allow_inf=False).ravel())
    return np.asarray(g, dtype=np.float64)


def miss_ratio_curve(
    trace: Any,
    sample_rate: float | None = None,
    *,
    sizes: ArrayLike | None = None,
    cache_sizes: ArrayLike | None = None,
    chunk_size: int = _DEFAULT_CHUNK,
    **read_kwargs: Any,
) -> pd.DataFrame:
    """LRU miss ratio as a function of cache size, from one pass over a request trace.

    Parameters
    ----------
    trace : array-like, path, or iterable of chunks
        The requested keys in order (any hashable dtype), a trace file (CSV, Parquet, plain text or
        ``.npy``; read in bounded-memory chunks by :func:`capplan.measurements.traces.iter_trace`,
        to which ``read_kwargs`` go), or an iterable of objects with ``keys`` and ``sizes``.
    sample_rate : float, optional
        ``None`` (or 1): exact stack distances.  ``0 < R < 1``: SHARDS_adj with spatial sampling at
        rate ``R`` (Waldspurger et al., FAST 2015, §3); about ``R`` times the work, memory for ``R``
        of the keys.
    sizes : array-like, optional
        Bytes per request (object size); then cache sizes are in bytes and ``byte_miss_ratio``
        (missed bytes / requested bytes) is reported beside ``miss_ratio``.
    cache_sizes : array-like, optional
        Evaluate at these cache sizes only (objects, or bytes with sizes).  Byte curves are exact at
        each point of their grid (default: 16 points per doubling from 1 byte).
    chunk_size : int
        Requests handled per chunk (bounds the working memory).

    Returns
    -------
    pandas.DataFrame
        ``cache_size`` and ``miss_ratio`` (plus ``byte_miss_ratio`` with sizes); cold (first)
        requests are misses at every size.  ``attrs`` holds ``method``, ``requests``,
        ``distinct_keys`` (sampled keys with SHARDS) and ``sample_rate``.
    """
    chunk = int(positive("chunk_size", chunk_size))
    if sample_rate is None or float(sample_rate) == 1.0:
        rate, threshold = 1.0, _HASH_SPACE
    else:
        r = float(positive("sample_rate", sample_rate))
        if r > 1.0:
            raise ParameterError(f"sample_rate must lie in (0, 1], got {r!r}")
        threshold = max(1, round(r * _HASH_SPACE))
        rate = threshold / _HASH_SPACE
    exact = threshold == _HASH_SPACE
    engine: _StackDistances | None = None
    hashed: _HashedStackDistances | None = None
    keymap: _KeyMap | _DirectKeyMap = _KeyMap()
    total_requests = 0
    total_bytes = 0.0
    sampled_bytes = 0.0
    for chunk_keys, chunk_sizes in _chunks(trace, sizes, chunk, read_kwargs):
        keys, sz = chunk_keys, chunk_sizes
        first = engine is None and hashed is None
        if first:
            if exact and _DirectKeyMap.fits(keys, _DIRECT_LIMIT):  # sampled keys are sparse: hash them
                keymap = _DirectKeyMap(_DIRECT_LIMIT)
            elif sz is None and keys.dtype.kind in "iu":
                hashed = _HashedStackDistances()
            if hashed is None:
                engine = _StackDistances(None if sz is None else _byte_grid(cache_sizes), 1.0 / rate)
        bytes_mode = engine is not None and engine.bytes_mode
        if (sz is None) == bytes_mode:
            raise ParameterError("every chunk of the trace must have sizes, or none")
        if hashed is not None and keys.dtype.kind not in "iu":
            raise ParameterError("every chunk of the trace must have integer keys, or none")
        total_requests += keys.size
        if sz is not None:
            total_bytes += float(sz.sum())
        if not exact:
            mask = _sample_mask(keys, threshold)
            keys = keys[mask]
            sz = None if sz is None else np.ascontiguousarray(sz[mask])
            if keys.size == 0:
                continue
        if hashed is not None:
            hashed.add(np.ascontiguousarray(keys, dtype=np.int64))
            continue
        assert engine is not None
        ids = keymap.ids(keys)
        n_keys = keymap.size
        if sz is not None:
            sampled_bytes += float(sz.sum())
        engine.add(ids, n_keys, sz)
    if total_requests == 0 or (engine is None and hashed is None):
        raise ParameterError("the trace is empty: keys must hold at least one request")
    expected = total_requests * rate
    method = (
        "exact LRU stack distances (Mattson et al. 1970)"
        if exact
        else f"SHARDS_adj, spatial sampling at R={rate:.6g} (Waldspurger et al. 2015)"
    )
    if hashed is not None:
        frame = _object_frame(hashed.hist, hashed.requests, expected, rate, exact, cache_sizes)
        frame.attrs.update(
            method=method, requests=total_requests, distinct_keys=hashed.distinct, sample_rate=rate
        )
        return frame
    assert engine is not None
    distinct = int((engine.last >= 0).sum())
    if engine.bytes_mode:
        frame = _byte_frame(engine, expected, total_bytes * rate, sampled_bytes, exact, cache_sizes)
    else:
        frame = _object_frame(engine.hist, engine.requests, expected, rate, exact, cache_sizes)
    frame.attrs.update(method=method, requests=total_requests, distinct_keys=distinct, sample_rate=rate)
    return frame


def _object_frame(
    counts: NDArray[np.int64],
    sampled: int,
    expected: float,
    rate: float,
    exact: bool,
    cache_sizes: ArrayLike | None,
) -> pd.DataFrame:
    hist = counts.astype(np.float64)
    top = int(np.flatnonzero(hist).max()) if hist[1:].any() else 1
    hits = hist[1 : top + 1].copy()
    if not exact and hits.size:
        hits[0] += expected - sampled  # SHARDS_adj (§3.3)
    cum = np.concatenate([[0.0], np.cumsum(hits)])
    if cache_sizes is not None:
        c = nonnegative("cache_sizes", cache_sizes).ravel()
        idx = np.clip(np.floor(c * rate + 1e-9).astype(np.int64), 0, top)
        sizes_out = c
    else:
        idx = np.arange(1, top + 1)
        sizes_out = np.round(idx / rate)
    miss = np.clip(1.0 - cum[idx] / expected, 0.0, 1.0)
    out_sizes: NDArray[Any] = sizes_out if cache_sizes is not None else sizes_out.astype(np.int64)
    return pd.DataFrame({"cache_size": out_sizes, "miss_ratio": miss})


def _byte_frame(
    engine: _StackDistances,
    expected: float,
    expected_bytes: float,
    sampled_bytes: float,
    exact: bool,
    cache_sizes: ArrayLike | None,
) -> pd.DataFrame:
    grid = engine.grid
    hn = engine.hist_n[: grid.size].copy()
    hb = engine.hist_b[: grid.size].copy()
    if not exact and hn.any():
        first = int(np.flatnonzero(hn)[0])
        hn[first] += expected - engine.requests
        hb[first] += expected_bytes - sampled_bytes
    miss = np.clip(1.0 - np.cumsum(hn) / expected, 0.0, 1.0)
    bmiss = np.clip(1.0 - np.cumsum(hb) / expected_bytes, 0.0, 1.0)
    keep = np.ones(grid.size, dtype=bool)
    if cache_sizes is None and hn.any():
        nz = np.flatnonzero(hn)
        keep[: max(nz[0] - 1, 0)] = False
        keep[nz[-1] + 1 :] = False
    return pd.DataFrame({"cache_size": grid[keep], "miss_ratio": miss[keep], "byte_miss_ratio": bmiss[keep]})
