"""wrk and wrk2 console output.

* ``data/loadtest/demo_wrk.txt``: real ``wrk 4.1.0 -t2 -c8 -d10s --latency`` output against the
  demo service (``data/README.md``);
* ``tests/data/wrk_404.txt`` and ``tests/data/wrk_timeout.txt``: real wrk 4.1.0 output of runs
  against a path the demo answers 404 (``Non-2xx or 3xx responses``) and against a demo whose
  requests outlast ``--timeout 1s`` (``Socket errors``, an empty latency histogram, ``-nan%``);
* ``tests/data/wrk2_spectrum.txt``: wrk2 README output with the "Detailed Percentile spectrum".

Expected values are the numbers printed in those files, in wrk's units (``src/units.c``: times
``us``/``ms``/``s``/``m`` for minutes; sizes 1024-based ``KB``/``MB``; rates 1000-based ``k``).
A live test runs the wrk binary when it is installed.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from capplan.demo.http_service import make_server, serving
from capplan.measurements import MeasurementError, read_wrk

DATA = Path(__file__).parent / "data"
DEMO = Path(__file__).parents[1] / "data" / "loadtest" / "demo_wrk.txt"


def test_demo_run() -> None:
    run = read_wrk(DEMO)
    assert run.url == "http://127.0.0.1:18917/work?id=1"
    assert (run.threads, run.connections, run.requests) == (2, 8, 2570)
    assert run.duration_s == 10.0
    assert run.bytes_read == pytest.approx(409.69 * 1024)
    assert run.throughput == 256.91
    assert run.transfer_rate == pytest.approx(40.95 * 1024)
    assert run.percentiles == pytest.approx({0.5: 22.94e-3, 0.75: 38.91e-3, 0.9: 67.92e-3, 0.99: 128.88e-3})
    assert run.latency == pytest.approx({"mean": 34.09e-3, "stdev": 24.15e-3, "max": 170.70e-3})
    assert run.errors == {}
    assert run.spectrum is None


def test_errors_microseconds_and_bytes() -> None:
    not_found = read_wrk(DATA / "wrk_404.txt")
    assert not_found.errors == {"non_2xx": 45290}
    assert not_found.percentiles[0.5] == pytest.approx(195e-6)
    assert not_found.bytes_read == pytest.approx(7.34 * 1024**2)
    timeout = read_wrk(DATA / "wrk_timeout.txt")
    assert timeout.errors == {"connect": 0, "read": 0, "write": 0, "timeout": 12}
    assert timeout.transfer_rate == 481.53
    assert timeout.latency["max"] == 0.0


def test_wrk2_distribution_and_spectrum() -> None:
    run = read_wrk(DATA / "wrk2_spectrum.txt")
    assert run.percentiles[0.99999] == pytest.approx(9.92e-3)
    assert run.percentiles[1.0] == pytest.approx(9.92e-3)
    assert len(run.percentiles) == 8
    assert run.spectrum is not None and len(run.spectrum) == 11
    assert run.spectrum["count"].iloc[-1] == run.requests == 59974


def test_minutes_and_kilo_units() -> None:
    text = DEMO.read_text().replace("in 10.00s", "in 1.50m").replace("256.91", "1.05k")
    run = read_wrk(text)
    assert run.duration_s == 90.0  # wrk's 'm' is minutes
    assert run.throughput == 1050.0


@pytest.mark.parametrize(
    ("old", "new", "needle"),
    [
        ("22.94ms", "122.94ms", "line 8: percentiles and latencies must increase"),
        ("22.94ms", "-22.94ms", "line 7: latency '-22.94ms' is not a non-negative time"),
        ("22.94ms", "٢٢ms", "line 7: '٢٢ms' is not a number"),
        ("22.94ms", "22.94parsecs", "line 7: '22.94parsecs' is not a number"),
        ("2570 requests", "99999999999999999999 requests", "line 11: '99999999999999999999' is not a count"),
        ("Requests/sec:    256.91", "Requests/sec:    1e400", "line 12: '1e400' is not a number"),
        ("Requests/sec:    256.91", "Requests/sec:    -nan", "Requests/sec must be non-negative"),
        ("Transfer/sec:     40.95KB", "", "not wrk output"),
    ],
)
def test_malformed_output_names_file_and_line(tmp_path: Path, old: str, new: str, needle: str) -> None:
    text = DEMO.read_text()
    assert old in text
    path = tmp_path / "wrk.txt"
    path.write_text(text.replace(old, new, 1))
    with pytest.raises(MeasurementError) as info:
        read_wrk(path)
    assert str(path) in str(info.value)
    assert needle in str(info.value)


def test_live_wrk_against_the_demo(tmp_path: Path) -> None:
    wrk = shutil.which("wrk")
    if wrk is None:
        pytest.skip("wrk is not installed (apt-get install wrk)")
    with serving(make_server(0, io_wait=0.002)) as server:
        url = f"http://127.0.0.1:{server.port}/work?id=1"
        out = subprocess.run(
            [wrk, "-t1", "-c2", "-d1s", "--latency", url],
            capture_output=True,
            text=True,
            timeout=60,
            check=True,
        )
    path = tmp_path / "wrk.txt"
    path.write_text(out.stdout)
    run = read_wrk(path)
    assert run.url == url
    assert run.requests > 0
    # wrk prints Requests/sec as completed requests over the run's length, both rounded
    assert run.throughput == pytest.approx(run.requests / run.duration_s, rel=0.02)
    assert list(run.percentiles) == [0.5, 0.75, 0.9, 0.99]
    assert run.percentiles[0.5] >= 0.002  # every request waits io_wait
