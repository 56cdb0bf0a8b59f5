"""Traffic shapes: validation, the seed's k6 stages, CSV traces, resampling conserves requests."""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from capplan import ParameterError
from capplan.autoscale import Traffic, add_spike, constant, diurnal, from_csv, k6_stages

DATA = Path(__file__).resolve().parents[1] / "data"


def test_negative_or_nan_rates_are_rejected() -> None:
    with pytest.raises(ParameterError, match=r"rate\[2\] \(t=30 s\) must be a finite non-negative"):
        Traffic(np.array([1.0, 2.0, -1.0]), 15.0)
    with pytest.raises(ParameterError, match=r"rate\[0\]"):
        Traffic(np.array([np.nan]), 15.0)
    with pytest.raises(ParameterError, match="step"):
        Traffic(np.array([1.0]), 0.0)
    with pytest.raises(ParameterError, match="peak must be >= base"):
        diurnal(100, 50)


def test_csv_errors_name_the_row(tmp_path: Path) -> None:
    p = tmp_path / "t.csv"
    p.write_text("time_s,arrival_rate\n0,5\n15,-2\n30,4\n")
    with pytest.raises(ParameterError, match=r"t\.csv: row 3: arrival_rate must be non-negative"):
        from_csv(p)
    p.write_text("time_s,arrival_rate\n0,5\n15,x\n")
    with pytest.raises(ParameterError, match=r"row 3: arrival_rate is not a finite number"):
        from_csv(p)
    p.write_text("time_s,arrival_rate\n0,5\n15,2\n10,2\n")
    with pytest.raises(ParameterError, match=r"row 4: time_s must increase"):
        from_csv(p)
    p.write_text("t,rate\n0,5\n")
    with pytest.raises(ParameterError, match="no column 'time_s'"):
        from_csv(p)


def test_seed_k6_stages() -> None:
    # Source: the seed's k6 options.stages (data/k6_stages.csv): 2m->100, 5m@100, 2m->200, 5m@200,
    # 2m->300, 5m@300, 2m->0: 23 minutes, linear ramps between targets (k6 ramping VUs).
    stages = pd.read_csv(DATA / "k6_stages.csv")
    tr = k6_stages(zip(stages.duration_s, stages.target_vus, strict=True), rate_per_vu=1.0, step=15.0)
    assert tr.duration == 23 * 60
    assert tr.peak == pytest.approx(300.0)
    assert tr.rate[0] == pytest.approx(100 * 7.5 / 120)  # midpoint of the first 15 s of the ramp
    assert tr.rate_at(np.array([5 * 60.0]))[0] == pytest.approx(100.0)
    # the integral is the area under the VU curve: ramps count half
    area = 100 * 60 + 100 * 300 + 150 * 120 + 200 * 300 + 250 * 120 + 300 * 300 + 150 * 120
    assert tr.rate.sum() * tr.step == pytest.approx(area)
    same = k6_stages([{"duration": "2m", "target": 100}, {"duration": "5m", "target": 100}])
    assert same.rate[:10] == pytest.approx(tr.rate[:10])


def test_diurnal_and_spike() -> None:
    day = diurnal(300, 1500, peak_hour=14.0)
    assert day.duration == 86400 and day.rate.size == 5760
    assert day.peak == pytest.approx(1500, rel=1e-4)
    assert float(day.rate.min()) == pytest.approx(300, rel=1e-4)
    assert int(np.argmax(day.rate)) * day.step == pytest.approx(14 * 3600, abs=15)
    spiked = add_spike(day, "13h", "10m", 1000.0, rise="1m", fall="1m")
    extra = (spiked.rate - day.rate).sum() * day.step
    assert extra == pytest.approx(1000.0 * (600 + 60), rel=1e-6)  # full 10 min plus two half ramps
    assert "spike" in repr(spiked)


def test_bundled_trace_reads_back() -> None:
    tr = from_csv(DATA / "traffic_day_spike.csv")
    assert tr.step == 15.0 and tr.rate.size == 5760
    assert tr.peak > 2500  # the 13:00 spike on top of ~1450/s


@settings(max_examples=30, deadline=None)
@given(
    st.lists(st.floats(min_value=0, max_value=1e4, allow_nan=False), min_size=7, max_size=50),
    st.sampled_from([5.0, 15.0, 60.0]),
)
def test_resampling_conserves_requests(rates: list[float], step: float) -> None:
    # property: resampling a piecewise-constant trace onto another grid keeps the number of
    # requests over the whole grid (time-average of each new interval).
    df = pd.DataFrame({"time_s": np.arange(len(rates)) * 10.0, "arrival_rate": rates})
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "trace.csv"
        df.to_csv(path, index=False)
        tr = from_csv(path, step=step)
    covered = tr.rate.size * step
    total = np.interp(
        covered, np.arange(len(rates) + 1) * 10.0, np.concatenate(([0.0], np.cumsum(rates) * 10.0))
    )
    assert tr.rate.sum() * step == pytest.approx(total, rel=1e-9, abs=1e-6)


def test_constant() -> None:
    tr = constant(50.0, 3600)
    assert tr.rate.size == 240 and tr.mean == 50.0
    assert repr(tr) == "Traffic('constant 50/s', 240 steps of 15 s, mean 50/s, peak 50/s)"
