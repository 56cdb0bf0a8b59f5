"""Write ``data/traffic-history.csv``: a year of hourly request counts at the API gateway.

Synthetic, deterministic (seed 20261205).  One row per hour from 2025-12-01 00:00 UTC to
2026-11-30 23:00 UTC (8,760 rows): ``timestamp`` (ISO 8601, UTC) and ``requests`` (requests served
in the hour starting then).  The mean rate in an hour is built in log space, so every effect is a
factor:

* trend: growth of 40% a year (exponential), reaching a weekday 14:00 rate of 9,300 requests/s on
  the last day;
* daily cycle: busiest at 14:00, quietest near 04:00 at about 30% of the peak (two harmonics);
* weekly cycle: Saturday and Sunday at 70%, Friday at 95% of a Monday-Thursday;
* holidays (whole day): 24 Dec 75%, 25 Dec 55%, 26 Dec 70%, 31 Dec 80%, 1 Jan 55%, Good Friday and
  Easter Monday 2026 80%;
* events (spikes): product launches on 17 Mar 09-17h (x1.7), 9 Jun 09-15h (x1.5) and 15 Sep
  10-16h (x1.9), a marketing e-mail on 6 Oct 08-10h (x1.6), Black Friday 27 Nov all day (x1.35);
* noise: a day-level factor (log-sd 0.025) times an hourly AR(1) factor (phi 0.6, log-sd 0.03), and
  Poisson counting on top.

Run from the repository root: ``.venv/bin/python scripts/make_traffic_history.py``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "data" / "traffic-history.csv"
SEED = 20261205

START = "2025-12-01 00:00"
HOURS = 365 * 24
GROWTH_PER_YEAR = 0.40
FINAL_PEAK_RATE = 9300.0  # requests/s, weekday 14:00, last day, before noise
WEEKDAY_FACTOR = {4: 0.95, 5: 0.70, 6: 0.70}  # Monday = 0
HOLIDAYS = {
    "2025-12-24": 0.75,
    "2025-12-25": 0.55,
    "2025-12-26": 0.70,
    "2025-12-31": 0.80,
    "2026-01-01": 0.55,
    "2026-04-03": 0.80,
    "2026-04-06": 0.80,
}
# (day, first hour, last hour inclusive, factor)
EVENTS = [
    ("2026-03-17", 9, 17, 1.7),
    ("2026-06-09", 9, 15, 1.5),
    ("2026-09-15", 10, 16, 1.9),
    ("2026-10-06", 8, 10, 1.6),
    ("2026-11-27", 0, 23, 1.35),
]


def daily_shape(hour: np.ndarray) -> np.ndarray:
    """Log factor of the hour of day: 0 at the busiest hour (14:00), about log(0.3) near 04:00."""
    angle = 2 * np.pi * (hour - 14.0) / 24.0
    raw = 0.62 * np.cos(angle) + 0.12 * np.cos(2 * angle + 0.9)
    grid = np.arange(24.0)
    grid_angle = 2 * np.pi * (grid - 14.0) / 24.0
    top = np.max(0.62 * np.cos(grid_angle) + 0.12 * np.cos(2 * grid_angle + 0.9))
    return np.asarray(raw - top)


def log_rate(index: pd.DatetimeIndex, rng: np.random.Generator) -> np.ndarray:
    """Log of the mean rate (requests/s) in each hour of ``index``."""
    years = (index - index[-1].normalize()).total_seconds().to_numpy() / (365.0 * 86400.0)
    level = np.log(FINAL_PEAK_RATE) + np.log1p(GROWTH_PER_YEAR) * years
    out = level + daily_shape(index.hour.to_numpy().astype(float))
    weekday = np.array([WEEKDAY_FACTOR.get(d, 1.0) for d in index.day_of_week])
    out += np.log(weekday)
    days = index.normalize()
    for day, factor in HOLIDAYS.items():
        out[days == pd.Timestamp(day, tz="UTC")] += np.log(factor)
    for day, first, last, factor in EVENTS:
        hit = (days == pd.Timestamp(day, tz="UTC")) & (index.hour >= first) & (index.hour <= last)
        out[hit] += np.log(factor)
    day_codes = (days - days[0]).days.to_numpy()
    out += rng.normal(0.0, 0.025, size=day_codes.max() + 1)[day_codes]
    phi, sd = 0.6, 0.03
    shocks = rng.normal(0.0, sd * np.sqrt(1 - phi**2), size=index.size)
    ar = np.empty(index.size)
    ar[0] = rng.normal(0.0, sd)
    for i in range(1, index.size):
        ar[i] = phi * ar[i - 1] + shocks[i]
    return np.asarray(out + ar)


def main() -> None:
    rng = np.random.default_rng(SEED)
    index = pd.date_range(START, periods=HOURS, freq="h", tz="UTC")
    rate = np.exp(log_rate(index, rng))
    counts = rng.poisson(rate * 3600.0)
    frame = pd.DataFrame({"timestamp": index.strftime("%Y-%m-%dT%H:%M:%SZ"), "requests": counts})
    frame.to_csv(OUT, index=False)


if __name__ == "__main__":
    main()
