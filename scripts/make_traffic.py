"""Write the bundled traffic traces used by notebook 07 and the autoscaling tests.

* ``data/traffic_day_spike.csv`` -- one day at 15 s resolution: a diurnal cycle between 300 and
  1500 requests/s (busiest at 14:00), a spike of +1500 requests/s at 13:00 (1 min ramp up, 10 min
  at full height, 1 min ramp down), and 5% multiplicative lognormal noise (seed 20261128).
* ``data/k6_stages.csv`` -- the k6 ``stages`` of the seed document's load test
  (``shared/seeds/000_f2c9295a8072a7dc.txt``, "K6 Performance Testing", ``options.stages``):
  duration in seconds and target virtual users.

Run from the repository root: ``.venv/bin/python scripts/make_traffic.py``.  The output is
deterministic.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from capplan.autoscale import add_spike, diurnal

ROOT = Path(__file__).resolve().parents[1]
SEED = 20261128

# The seed's k6 options.stages, verbatim: ('2m', 100), ('5m', 100), ('2m', 200), ('5m', 200),
# ('2m', 300), ('5m', 300), ('2m', 0).
K6_STAGES = [("2m", 100), ("5m", 100), ("2m", 200), ("5m", 200), ("2m", 300), ("5m", 300), ("2m", 0)]


def main() -> None:
    day = add_spike(
        diurnal(300.0, 1500.0, peak_hour=14.0, step=15.0), "13h", "10m", 1500.0, rise=60.0, fall=60.0
    )
    rng = np.random.default_rng(SEED)
    noise = rng.lognormal(mean=-0.5 * 0.05**2, sigma=0.05, size=day.rate.size)
    df = pd.DataFrame({"time_s": day.times, "arrival_rate": np.round(day.rate * noise, 1)})
    df.to_csv(ROOT / "data" / "traffic_day_spike.csv", index=False)
    stages = pd.DataFrame(
        {
            "duration_s": [int(d[:-1]) * 60 for d, _ in K6_STAGES],
            "target_vus": [t for _, t in K6_STAGES],
        }
    )
    stages.to_csv(ROOT / "data" / "k6_stages.csv", index=False)


if __name__ == "__main__":
    main()
