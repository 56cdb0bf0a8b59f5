"""Write ``data/access_trace.csv.gz``: a synthetic, reproducible cache access trace.

Run from the project root::

    .venv/bin/python scripts/make_access_trace.py

What it is: 400,000 reads of a product catalog of 200,000 objects (keys ``product:<id>``), drawn
independently from a Zipf(0.9) popularity (the independent reference model; Breslau et al.,
INFOCOM 1999) with the popularity ranks shuffled over the product ids, arriving as a Poisson
process of 400 reads per second (about 17 minutes).  Each object has one fixed size in bytes,
log-normal with median 2 KiB and log-standard deviation 1, clipped to [128 B, 256 KiB].  Columns:
``timestamp`` (seconds from the start, microsecond resolution), ``key``, ``size``.  The seed is
fixed and the gzip header carries no time stamp, so the file is identical on every run.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from capplan.caches import zipf_trace

SEED = 20251128
REQUESTS = 400_000
CATALOG = 200_000
ALPHA = 0.9
RATE = 400.0
OUT = Path(__file__).resolve().parents[1] / "data" / "access_trace.csv.gz"


def main() -> None:
    rng = np.random.default_rng(SEED)
    ranks, times = zipf_trace(REQUESTS, CATALOG, ALPHA, rng=rng, rate=RATE)
    assert times is not None
    product_of_rank = rng.permutation(CATALOG) + 100_000
    size_of_rank = np.clip(np.round(2048 * np.exp(rng.normal(0.0, 1.0, CATALOG))), 128, 256 * 1024)
    frame = pd.DataFrame(
        {
            "timestamp": np.round(times, 6),
            "key": pd.Series(product_of_rank[ranks]).map("product:{}".format),
            "size": size_of_rank[ranks].astype(np.int64),
        }
    )
    frame.to_csv(OUT, index=False, float_format="%.6f", compression={"method": "gzip", "mtime": 0})
    print(f"wrote {OUT} ({OUT.stat().st_size / 1e6:.2f} MB, {len(frame):,} requests)")


if __name__ == "__main__":
    main()
