"""Trace files: CSV (plain and gzip), plain text, Parquet and .npy, read in chunks; errors name the
file, the line and the column; the miss-ratio curve of a file equals that of the same keys."""

from __future__ import annotations

import gzip
import lzma
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from capplan import caches
from capplan.errors import ParameterError
from capplan.measurements.traces import count_keys, iter_trace, read_trace

KEYS = ["u1", "u2", "u1", "u3", "u2", "u1"]
SIZES = [100, 200, 100, 50, 200, 100]
TIMES = [0.0, 0.5, 1.0, 1.0, 2.5, 4.0]


def _csv_text() -> str:
    rows = "\n".join(f"{k},{s},{t}" for k, s, t in zip(KEYS, SIZES, TIMES, strict=True))
    return "key,size,timestamp\n" + rows + "\n"


def test_csv_with_sizes_and_times(tmp_path: Path) -> None:
    path = tmp_path / "t.csv"
    path.write_text(_csv_text())
    tr = read_trace(path)
    assert tr.keys.tolist() == KEYS
    assert tr.sizes is not None and tr.sizes.tolist() == SIZES
    assert tr.timestamps is not None and tr.timestamps.tolist() == TIMES
    chunks = list(iter_trace(path, chunk_size=4))
    assert [len(c) for c in chunks] == [4, 2]
    assert chunks[1].first_request == 4


def test_gzip_csv_and_numeric_keys(tmp_path: Path) -> None:
    path = tmp_path / "t.csv.gz"
    with gzip.open(path, "wt") as fh:
        fh.write("key\n7\n8\n7\n")
    assert read_trace(path).keys.tolist() == ["7", "8", "7"]
    assert read_trace(path, key_dtype="int").keys.tolist() == [7, 8, 7]
    assert read_trace(path).sizes is None


def test_plain_text(tmp_path: Path) -> None:
    path = tmp_path / "t.txt"
    path.write_text("".join(f"{k} {s}\n" for k, s in zip(KEYS, SIZES, strict=True)))
    tr = read_trace(path)
    assert tr.keys.tolist() == KEYS and tr.sizes is not None and tr.sizes.tolist() == SIZES
    assert tr.timestamps is None


def test_parquet(tmp_path: Path) -> None:
    pytest.importorskip("pyarrow")
    path = tmp_path / "t.parquet"
    pd.DataFrame({"key": KEYS, "size": SIZES, "timestamp": TIMES}).to_parquet(path)
    tr = read_trace(path, chunk_size=5)
    assert tr.keys.tolist() == KEYS and tr.sizes is not None and tr.sizes.tolist() == SIZES


def test_npy_and_array(tmp_path: Path) -> None:
    path = tmp_path / "t.npy"
    np.save(path, np.array([3, 1, 3, 2], dtype=np.int64))
    assert read_trace(path).keys.tolist() == [3, 1, 3, 2]
    assert [len(c) for c in iter_trace(np.arange(10), chunk_size=4)] == [4, 4, 2]


def test_curve_from_a_file_equals_the_curve_from_keys(tmp_path: Path) -> None:
    keys = caches.zipf_trace(20_000, 2000, 0.9, rng=2)[0]
    path = tmp_path / "z.csv"
    pd.DataFrame({"key": keys}).to_csv(path, index=False)
    from_file = caches.miss_ratio_curve(path, chunk_size=3000)
    pd.testing.assert_frame_equal(from_file, caches.miss_ratio_curve(keys))
    sizes = (keys % 7 + 1) * 100.0
    pd.DataFrame({"key": keys, "size": sizes}).to_csv(path, index=False)
    grid = [1e3, 1e4, 1e5]
    pd.testing.assert_frame_equal(
        caches.miss_ratio_curve(path, cache_sizes=grid, key_dtype="int"),
        caches.miss_ratio_curve(keys, sizes=sizes, cache_sizes=grid),
    )


@pytest.mark.parametrize(
    ("text", "match"),
    [
        ("key,size\na,10\nb,-5\n", r"line 3: column 'size': size must be a positive"),
        ("key,size\na,10\nb,big\n", r"line 3: column 'size'"),
        ("key,timestamp\na,2\nb,1\n", r"line 3: column 'timestamp': timestamps must not decrease"),
        ("id,size\na,1\n", r"no key column 'key'"),
        ("key\na\n\n", None),
        ("key\n", r"empty"),
    ],
)
def test_csv_errors_name_file_line_and_column(tmp_path: Path, text: str, match: str | None) -> None:
    path = tmp_path / "bad.csv"
    path.write_text(text)
    if match is None:  # a blank last line is not a request
        assert read_trace(path).keys.tolist() == ["a"]
        return
    with pytest.raises(ParameterError, match=match) as err:
        read_trace(path)
    assert "bad.csv" in str(err.value)


def test_other_errors(tmp_path: Path) -> None:
    with pytest.raises(ParameterError, match="not found"):
        read_trace(tmp_path / "missing.csv")
    path = tmp_path / "t.txt"
    path.write_text("a 1\nb\n")
    with pytest.raises(ParameterError, match="line 2: expected 2 field"):
        read_trace(path)
    path.write_text("a -1\n")
    with pytest.raises(ParameterError, match="line 1: column 'size'"):
        read_trace(path)
    csv = tmp_path / "k.csv"
    csv.write_text("key\nx\n")
    with pytest.raises(ParameterError, match="key_dtype='int'"):
        read_trace(csv, key_dtype="int")
    with pytest.raises(ParameterError, match="no size column 'bytes'"):
        read_trace(csv, size_column="bytes")
    empty = tmp_path / "empty.txt"
    empty.write_text("")
    with pytest.raises(ParameterError, match="empty"):
        caches.miss_ratio_curve(empty)


def test_count_keys_matches_the_keys_of_the_whole_trace(tmp_path: Path) -> None:
    keys = np.array(["b", "a", "c", "a", "b", "a"] * 50, dtype=object)
    path = tmp_path / "t.csv"
    pd.DataFrame({"key": keys}).to_csv(path, index=False)
    counts = count_keys(path, chunk_size=7)  # chunks that split the repeats
    assert sorted(counts.tolist()) == [50, 100, 150]
    assert caches.fit_zipf(counts=counts).alpha_ == caches.fit_zipf(read_trace(path).keys).alpha_


def _damaged(data: bytes, how: str) -> bytes:
    if how == "truncated":
        return data[: len(data) // 3]
    if how == "late byte":  # past the header: the chunked read meets it
        i = 2 * len(data) // 3
        return data[:i] + bytes([data[i] ^ 0xFF]) + data[i + 1 :]
    return b"key\nabc\n"  # plain text under a compressed name


@pytest.mark.parametrize("how", ["truncated", "late byte", "not compressed"])
@pytest.mark.parametrize("suffix", [".csv.gz", ".csv.xz", ".txt.gz"])
def test_damaged_compressed_trace_names_the_file(tmp_path: Path, suffix: str, how: str) -> None:
    # a zlib/gzip stream cut short raises EOFError, a corrupt one zlib.error, xz LZMAError:
    # each must come back as the reader's error naming the file
    keys = "".join(f"k{i % 97} {i % 13 + 1}\n" for i in range(20_000))
    text = ("key,size\n" + keys.replace(" ", ",")) if ".csv" in suffix else keys
    raw = gzip.compress(text.encode()) if suffix.endswith(".gz") else lzma.compress(text.encode())
    path = tmp_path / f"trace{suffix}"
    path.write_bytes(_damaged(raw, how))
    with pytest.raises(ParameterError) as info:
        count_keys(path, chunk_size=1000)
    assert str(path) in str(info.value)


def test_a_size_beyond_float_range_is_an_error_naming_the_line(tmp_path: Path) -> None:
    """pandas' to_numeric raises OverflowError on an integer beyond float range instead of coercing
    it (found by tests/test_fuzz_readers.py); the reader says which line holds it."""
    path = tmp_path / "huge.txt"
    path.write_text("a 10\nb " + "9" * 400 + "\n")
    with pytest.raises(ParameterError, match=r"huge.txt: line 2: column 'size': size must be a positive"):
        read_trace(path)
