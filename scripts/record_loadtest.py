"""Record the bundled load test: Locust against the demo HTTP service at several user counts.

What it does
------------
1. Starts ``python -m capplan.demo.http_service --port P --io-wait W`` (the demo workload behind a
   real HTTP server; each request waits ``W`` seconds on a simulated downstream call, then does
   its CPU work, which the interpreter lock serialises).
2. Runs Locust headless (``scripts/locustfile_demo.py``): closed-loop users with no think time,
   stepping through the user counts, ``--stage-seconds`` each, writing
   ``data/loadtest/demo_stats.csv`` and ``data/loadtest/demo_stats_history.csv`` (Locust's own
   ``--csv`` format; the failures/exceptions files are removed when empty of data rows).
3. Meanwhile scrapes the service's ``/metrics`` once a second and writes, per stage, the increase
   of the latency histogram's cumulative bucket counts over the stage's measured window (after
   ``--warmup`` seconds) to ``data/loadtest/latency_buckets.csv`` (columns ``users, le, count``).

Run (Locust is needed only here; install it into the project's environment first)::

    .venv/bin/pip install -r scripts/requirements-record.txt
    .venv/bin/python scripts/record_loadtest.py            # about 5 minutes with the defaults

The numbers depend on the machine and on what else runs on it; the bundled files are one such
recording, so the notebook that reads them is reproducible while a re-recording is not identical.
"""

from __future__ import annotations

import argparse
import csv
import os
import shutil
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

from prometheus_client.parser import text_string_to_metric_families

ROOT = Path(__file__).resolve().parent.parent
BUCKET_METRIC = "demo_request_duration_seconds"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _scrape(url: str) -> dict[str, float]:
    with urllib.request.urlopen(url, timeout=5) as reply:
        text = reply.read().decode()
    out: dict[str, float] = {}
    for family in text_string_to_metric_families(text):
        if family.name != BUCKET_METRIC:
            continue
        for sample in family.samples:
            if sample.name == f"{BUCKET_METRIC}_bucket":
                out[sample.labels["le"]] = float(sample.value)
    return out


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--users", default="1,2,4,6,8,12,16,24,32,48,64", help="comma-separated user counts")
    parser.add_argument("--stage-seconds", type=float, default=25.0, help="seconds per user count")
    parser.add_argument("--warmup", type=float, default=5.0, help="seconds of each stage not measured")
    parser.add_argument("--io-wait", type=float, default=0.01, help="service's simulated downstream wait (s)")
    parser.add_argument("--out", type=Path, default=ROOT / "data" / "loadtest", help="output directory")
    args = parser.parse_args()
    locust = shutil.which("locust", path=str(Path(sys.executable).parent)) or shutil.which("locust")
    if locust is None:
        print("locust not found: .venv/bin/pip install -r scripts/requirements-record.txt", file=sys.stderr)
        return 2
    users = [int(u) for u in args.users.split(",")]
    args.out.mkdir(parents=True, exist_ok=True)
    port = _free_port()
    service = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "capplan.demo.http_service",
            "--port",
            str(port),
            "--io-wait",
            str(args.io_wait),
        ],
        stdout=subprocess.DEVNULL,
    )
    metrics_url = f"http://127.0.0.1:{port}/metrics"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                _scrape(metrics_url)
                break
            except OSError:
                if service.poll() is not None or time.monotonic() > deadline:
                    print("the demo service did not start within 60 s", file=sys.stderr)
                    return 1
                time.sleep(0.2)
        scrapes: list[tuple[float, dict[str, float]]] = []
        stop = threading.Event()

        def scraper() -> None:
            while not stop.is_set():
                try:
                    scrapes.append((time.monotonic(), _scrape(metrics_url)))
                except OSError as exc:  # a missed scrape only shortens the measured window
                    print(f"scrape failed: {exc}", file=sys.stderr)
                stop.wait(1.0)

        env = dict(
            os.environ, CAPPLAN_USERS=",".join(map(str, users)), CAPPLAN_STAGE_SECONDS=str(args.stage_seconds)
        )
        prefix = args.out / "demo"
        thread = threading.Thread(target=scraper, daemon=True)
        thread.start()
        start = time.monotonic()
        subprocess.run(
            [
                locust,
                "-f",
                str(ROOT / "scripts" / "locustfile_demo.py"),
                "--headless",
                "--host",
                f"http://127.0.0.1:{port}",
                "--csv",
                str(prefix),
                "--only-summary",
                "--loglevel",
                "WARNING",
            ],
            env=env,
            check=True,
        )
        stop.set()
        thread.join()
    finally:
        service.terminate()
        service.wait(timeout=10)
    rows = []
    for i, n in enumerate(users):
        t0 = start + i * args.stage_seconds + args.warmup
        t1 = start + (i + 1) * args.stage_seconds
        inside = [s for t, s in scrapes if t0 <= t <= t1]
        if len(inside) < 2:
            continue
        first, last = inside[0], inside[-1]
        for le, count in last.items():
            rows.append((n, le, count - first.get(le, 0.0)))
    with (args.out / "latency_buckets.csv").open("w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["users", "le", "count"])
        writer.writerows(rows)
    for extra in ("demo_failures.csv", "demo_exceptions.csv"):
        path = args.out / extra
        if path.exists() and len(path.read_text().strip().splitlines()) <= 1:
            path.unlink()
    print(f"wrote {prefix}_stats.csv, {prefix}_stats_history.csv and {args.out / 'latency_buckets.csv'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
