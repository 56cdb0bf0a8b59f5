"""Access traces: request keys (with optional object sizes and timestamps) read in bounded chunks.

Accepted inputs: a numpy array of keys; a CSV file (optionally gzip/bz2/xz/zstd-compressed, by
suffix) with a header naming the key, size and timestamp columns; a Parquet file (needs
``pyarrow``); a ``.npy`` array of keys; or plain text with one request per line,
``key [size [timestamp]]`` separated by whitespace.  Files are read ``chunk_size`` requests at a
time, so a trace of any length streams through :func:`capplan.caches.miss_ratio_curve` in bounded
memory.  Keys are strings unless ``key_dtype="int"``.  Sizes are bytes (positive), timestamps
seconds (finite, non-decreasing).  A bad value raises :class:`capplan.errors.ParameterError`
naming the file, the line (CSV and text; the row for Parquet and ``.npy``) and the column.
"""

from __future__ import annotations

import importlib
import lzma
import os
import zlib
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from capplan.errors import ParameterError

__all__ = ["TraceChunk", "count_keys", "iter_trace", "read_trace"]

_DEFAULT_CHUNK = 1 << 20
_CSV_SUFFIXES = (".csv", ".tsv")
_COMPRESSED = (".gz", ".bz2", ".xz", ".zst")
#: What reading a damaged file raises: bad text, a truncated or corrupt gzip/bz2/xz stream
#: (``EOFError``, ``zlib.error``, ``lzma.LZMAError``, ``OSError``), and ``ImportError`` for
#: ``.zst`` without the zstandard package.
_DECODE_ERRORS = (UnicodeDecodeError, EOFError, zlib.error, lzma.LZMAError, OSError, ImportError)


@dataclass(frozen=True)
class TraceChunk:
    """Consecutive requests of a trace; ``first_request`` is the 0-based index of the first one."""

    keys: NDArray[Any]
    sizes: NDArray[np.float64] | None
    timestamps: NDArray[np.float64] | None
    first_request: int = 0

    def __len__(self) -> int:
        return int(self.keys.size)

    def __repr__(self) -> str:
        extra = [name for name in ("sizes", "timestamps") if getattr(self, name) is not None]
        with_ = f", with {' and '.join(extra)}" if extra else ""
        return f"TraceChunk({len(self)} requests from #{self.first_request}{with_})"


def _format(path: Path, fmt: str | None) -> str:
    if fmt is not None:
        if fmt not in ("csv", "parquet", "text", "npy"):
            raise ParameterError(f"format must be 'csv', 'parquet', 'text' or 'npy', got {fmt!r}")
        return fmt
    suffixes = [s.lower() for s in path.suffixes]
    if suffixes and suffixes[-1] in _COMPRESSED:
        suffixes = suffixes[:-1]
    last = suffixes[-1] if suffixes else ""
    if last in _CSV_SUFFIXES:
        return "csv"
    if last in (".parquet", ".pq"):
        return "parquet"
    if last == ".npy":
        return "npy"
    return "text"


class _Checker:
    """Validates chunks in order (sizes positive, timestamps finite and non-decreasing)."""

    def __init__(self, label: str, line_of: Any, row_word: str) -> None:
        self.label = label
        self.line_of = line_of
        self.row_word = row_word
        self.last_time = -np.inf

    def where(self, row: int) -> str:
        return f"{self.label}: {self.row_word} {self.line_of(row)}"

    def keys(self, keys: NDArray[Any], first: int, column: str) -> NDArray[Any]:
        missing = pd.isna(keys)
        if missing.any():
            row = first + int(np.argmax(missing))
            raise ParameterError(f"{self.where(row)}: column {column!r}: missing key")
        return keys

    def numbers(self, values: Any, first: int, column: str, what: str) -> NDArray[np.float64]:
        try:
            arr = pd.to_numeric(pd.Series(values), errors="coerce").to_numpy(dtype=np.float64)
        except OverflowError:  # an integer beyond float range (pandas raises instead of coercing)
            arr = np.array([_float_or_nan(v) for v in np.asarray(values)], dtype=np.float64)
        bad = ~np.isfinite(arr)
        if what == "size":
            bad |= ~(arr > 0)
        if bad.any():
            i = int(np.argmax(bad))
            raise ParameterError(
                f"{self.where(first + i)}: column {column!r}: {what} must be "
                f"{'a positive number of bytes' if what == 'size' else 'a finite number of seconds'}, "
                f"got {str(np.asarray(values)[i])!r}"
            )
        if what == "timestamp" and arr.size:
            prev = np.concatenate([[self.last_time], arr[:-1]])
            back = arr < prev
            if back.any():
                i = int(np.argmax(back))
                raise ParameterError(
                    f"{self.where(first + i)}: column {column!r}: timestamps must not decrease "
                    f"({arr[i]!r} after {prev[i]!r})"
                )
            self.last_time = float(arr[-1])
        return arr


def _columns(
    available: list[str], label: str, key: str, size: str | None, time: str | None, explicit: set[str]
) -> tuple[str, str | None, str | None]:
    if key not in available:
        raise ParameterError(f"{label}: no key column {key!r} (columns: {', '.join(map(str, available))})")
    out: list[str | None] = []
    for name, value in (("size_column", size), ("time_column", time)):
        present = value is not None and value in available
        if value is not None and not present and name in explicit:
            raise ParameterError(f"{label}: no {name.split('_')[0]} column {value!r}")
        out.append(value if present else None)
    return key, out[0], out[1]


def iter_trace(
    source: str | os.PathLike[str] | NDArray[Any],
    *,
    format: str | None = None,
    key_column: str = "key",
    size_column: str | None = "size",
    time_column: str | None = "timestamp",
    key_dtype: str = "str",
    chunk_size: int = _DEFAULT_CHUNK,
) -> Iterator[TraceChunk]:
    """Yield a trace in chunks of at most ``chunk_size`` requests.

    Parameters
    ----------
    source : path or numpy array
        A trace file, or an array of keys (one chunk per ``chunk_size`` keys).
    format : {"csv", "parquet", "text", "npy"}, optional
        Default: from the suffix (``.csv``/``.tsv`` with optional compression suffix, ``.parquet``,
        ``.npy``; anything else is plain text).
    key_column, size_column, time_column : str
        Column names for CSV and Parquet.  The size and time columns are used when present; naming a
        column that is absent (other than the defaults) is an error.  ``None`` ignores the column.
    key_dtype : {"str", "int"}
        Read keys as strings (safe for any key) or as 64-bit integers (faster).
    chunk_size : int
        Requests per chunk.
    """
    if not isinstance(chunk_size, (int, np.integer)) or chunk_size < 1:
        raise ParameterError(f"chunk_size must be an integer >= 1, got {chunk_size!r}")
    if key_dtype not in ("str", "int"):
        raise ParameterError(f"key_dtype must be 'str' or 'int', got {key_dtype!r}")
    if isinstance(source, np.ndarray):
        yield from _array_chunks(source, "keys", int(chunk_size))
        return
    if not isinstance(source, (str, os.PathLike)):
        raise ParameterError(
            f"iter_trace expects a path or a numpy array of keys, got {type(source).__name__}"
        )
    path = Path(source)
    if not path.is_file():
        raise ParameterError(f"{path}: trace file not found" if not path.exists() else f"{path}: not a file")
    explicit = {
        n
        for n, v in (("size_column", size_column), ("time_column", time_column))
        if v not in ("size", "timestamp", None)
    }
    kind = _format(path, format)
    reader = {"csv": _csv_chunks, "text": _text_chunks, "parquet": _parquet_chunks, "npy": _npy_chunks}[kind]
    produced = 0
    for chunk in reader(path, key_column, size_column, time_column, explicit, key_dtype, int(chunk_size)):
        produced += len(chunk)
        yield chunk
    if produced == 0:
        raise ParameterError(f"{path}: the trace is empty (no requests)")


def read_trace(source: str | os.PathLike[str] | NDArray[Any], **kwargs: Any) -> TraceChunk:
    """The whole trace as one :class:`TraceChunk` (for traces that fit in memory)."""
    chunks = list(iter_trace(source, **kwargs))
    if not chunks:
        raise ParameterError("the trace is empty (no requests)")
    sizes = (
        None if chunks[0].sizes is None else np.concatenate([c.sizes for c in chunks if c.sizes is not None])
    )
    times = (
        None
        if chunks[0].timestamps is None
        else np.concatenate([c.timestamps for c in chunks if c.timestamps is not None])
    )
    return TraceChunk(np.concatenate([c.keys for c in chunks]), sizes, times, 0)


def count_keys(
    source: str | os.PathLike[str] | NDArray[Any], *, chunk_size: int = 1 << 16, **kwargs: Any
) -> NDArray[np.int64]:
    """Requests per distinct key of a trace (in no particular order), read ``chunk_size`` requests
    at a time: the popularity a fit needs (``fit_zipf(counts=...)``) without holding every request.

    Only the key column is read (and checked) unless ``size_column`` or ``time_column`` is named:
    the counts do not use them, and parsing them was a third of the time.
    """
    kwargs = {"size_column": None, "time_column": None} | kwargs
    counts: Counter[Any] = Counter()
    for chunk in iter_trace(source, chunk_size=chunk_size, **kwargs):
        counts.update(chunk.keys.tolist())
    if not counts:
        raise ParameterError("the trace is empty (no requests)")
    return np.fromiter(counts.values(), dtype=np.int64, count=len(counts))


def _array_chunks(arr: NDArray[Any], label: str, chunk: int) -> Iterator[TraceChunk]:
    keys = np.asarray(arr).ravel()
    if keys.size == 0:
        raise ParameterError(f"{label}: the trace is empty (no requests)")
    check = _Checker(label, lambda r: r, "request")
    for start in range(0, keys.size, chunk):
        part = keys[start : start + chunk]
        if part.dtype.kind in "fOUS":
            check.keys(part, start, "key")
        yield TraceChunk(part, None, None, start)


def _to_int_keys(values: Any, check: _Checker, first: int, column: str) -> NDArray[np.int64]:
    arr = pd.to_numeric(pd.Series(values), errors="coerce").to_numpy(dtype=np.float64)
    bad = ~np.isfinite(arr) | (arr != np.floor(arr))
    if bad.any():
        i = int(np.argmax(bad))
        raise ParameterError(
            f"{check.where(first + i)}: column {column!r}: key_dtype='int' but got "
            f"{str(np.asarray(values)[i])!r}"
        )
    return (
        np.asarray(values).astype(np.int64) if np.asarray(values).dtype.kind in "iu" else arr.astype(np.int64)
    )


def _frame_chunk(
    frame: pd.DataFrame,
    first: int,
    check: _Checker,
    key: str,
    size: str | None,
    time: str | None,
    key_dtype: str,
) -> TraceChunk:
    raw = frame[key].to_numpy()
    keys = _to_int_keys(raw, check, first, key) if key_dtype == "int" else check.keys(raw, first, key)
    if key_dtype == "str":
        keys = keys.astype(str).astype(object) if keys.dtype.kind != "O" else keys
    sizes = None if size is None else check.numbers(frame[size].to_numpy(), first, size, "size")
    times = None if time is None else check.numbers(frame[time].to_numpy(), first, time, "timestamp")
    return TraceChunk(keys, sizes, times, first)


def _csv_chunks(
    path: Path, key: str, size: str | None, time: str | None, explicit: set[str], key_dtype: str, chunk: int
) -> Iterator[TraceChunk]:
    sep = "\t" if ".tsv" in [s.lower() for s in path.suffixes] else ","
    try:
        header = list(pd.read_csv(path, sep=sep, nrows=0).columns)
    except (pd.errors.EmptyDataError, *_DECODE_ERRORS) as exc:
        raise ParameterError(f"{path}: cannot read a CSV header ({exc})") from None
    key, size, time = _columns(header, str(path), key, size, time, explicit)
    cols = [c for c in (key, size, time) if c is not None]
    check = _Checker(str(path), lambda r: r + 2, "line")
    first = 0
    try:
        for frame in pd.read_csv(
            path,
            sep=sep,
            usecols=cols,
            dtype={key: object},  # Python strings: pandas' Arrow strings keep their memory pool's pages
            chunksize=chunk,
            keep_default_na=False,
            na_values={key: [""]},
        ):
            yield _frame_chunk(frame, first, check, key, size, time, key_dtype)
            first += len(frame)
    except (pd.errors.ParserError, *_DECODE_ERRORS) as exc:
        raise ParameterError(f"{path}: malformed CSV after line {first + 1} ({exc})") from None


def _text_chunks(
    path: Path, key: str, size: str | None, time: str | None, explicit: set[str], key_dtype: str, chunk: int
) -> Iterator[TraceChunk]:
    del explicit
    names = ["key", "size", "timestamp"]
    check = _Checker(str(path), lambda r: r + 1, "line")
    first = 0
    width: int | None = None
    try:
        for frame in pd.read_csv(
            path,
            sep=r"\s+",
            header=None,
            names=names,
            dtype={"key": str},
            chunksize=chunk,
            skip_blank_lines=False,
        ):
            counts = frame.notna().sum(axis=1).to_numpy()
            if width is None:
                width = int(counts[0]) if counts.size else 1
            bad = counts != width
            if bad.any():
                i = int(np.argmax(bad))
                raise ParameterError(
                    f"{path}: line {first + i + 1}: expected {width} field(s) like the first line "
                    f"(key [size [timestamp]]), got {int(counts[i])}"
                )
            use_size = "size" if width >= 2 and size is not None else None
            use_time = "timestamp" if width >= 3 and time is not None else None
            yield _frame_chunk(frame, first, check, "key", use_size, use_time, key_dtype)
            first += len(frame)
    except pd.errors.EmptyDataError:
        return
    except (pd.errors.ParserError, *_DECODE_ERRORS) as exc:
        raise ParameterError(f"{path}: malformed text trace after line {first + 1} ({exc})") from None


def _parquet_chunks(
    path: Path, key: str, size: str | None, time: str | None, explicit: set[str], key_dtype: str, chunk: int
) -> Iterator[TraceChunk]:
    try:
        pq = importlib.import_module("pyarrow.parquet")
    except ImportError:
        raise ParameterError(
            f"{path}: reading Parquet needs the pyarrow package (pip install pyarrow)"
        ) from None
    try:
        handle = pq.ParquetFile(path)
    except Exception as exc:  # pyarrow raises its own ArrowInvalid/OSError types
        raise ParameterError(f"{path}: not a readable Parquet file ({exc})") from None
    key, size, time = _columns(list(handle.schema_arrow.names), str(path), key, size, time, explicit)
    cols = [c for c in (key, size, time) if c is not None]
    check = _Checker(str(path), lambda r: r, "row")
    first = 0
    for batch in handle.iter_batches(batch_size=chunk, columns=cols):
        frame = batch.to_pandas()
        yield _frame_chunk(frame, first, check, key, size, time, key_dtype)
        first += len(frame)


def _npy_chunks(
    path: Path, key: str, size: str | None, time: str | None, explicit: set[str], key_dtype: str, chunk: int
) -> Iterator[TraceChunk]:
    del key, size, time, explicit, key_dtype
    try:
        arr = np.load(path, mmap_mode="r", allow_pickle=False)
    except (ValueError, OSError) as exc:
        raise ParameterError(f"{path}: not a readable .npy array of keys ({exc})") from None
    if arr.ndim != 1:
        raise ParameterError(f"{path}: a .npy trace must be a 1-d array of keys, got shape {arr.shape}")
    for part in _array_chunks(arr, str(path), chunk):
        yield TraceChunk(np.array(part.keys), None, None, part.first_request)


def _float_or_nan(value: Any) -> float:
    """``float(value)`` (inf beyond its range), NaN where it is not a number."""
    try:
        return float(value)
    except (TypeError, ValueError):
        return float("nan")
    except OverflowError:
        return float("inf")
