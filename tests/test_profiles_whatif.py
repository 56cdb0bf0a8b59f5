"""Per-request demand and what-if speedups, checked against arithmetic and a real experiment.

References: Amdahl's law as stated by Hennessy & Patterson, *Computer Architecture: A
Quantitative Approach*, 5th ed., §1.9 (worked example: a 10x faster computation that was 40%
of the time gives an overall speedup 1/(0.6 + 0.4/10) = 1.5625); the service-demand law
D = B/C (Denning & Buzen 1978). The experiment slows one function of the demo workload and
measures the real change.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from capplan.demo import workload
from capplan.errors import ParameterError
from capplan.profiles import Frame, Profile, amdahl_time, load_profile, record, what_if
from capplan.queueing import MMc
from capplan.sizing import size_replicas

SCRIPT = str(Path(workload.__file__).resolve())


def _profile(stacks: dict[tuple[str, ...], float]) -> Profile:
    entries = [("all", [Frame(n, "app.py", 1) for n in st], sec, sec * 100) for st, sec in stacks.items()]
    return Profile.from_samples(entries, tool="test", source="mem", sampling_interval=0.01)


# main -> handler -> {db (40%), render (30%) -> escape (10% of total)}, startup 20% outside handler
TOY = _profile(
    {
        ("main", "startup"): 2.0,
        ("main", "handler", "db"): 4.0,
        ("main", "handler", "render"): 2.0,
        ("main", "handler", "render", "escape"): 1.0,
        ("main", "handler"): 1.0,
    }
)


def test_amdahl_textbook_example() -> None:
    # Hennessy & Patterson §1.9: fraction 0.4 enhanced 10x -> overall speedup 1.5625
    assert 1.0 / amdahl_time(1.0, 0.4, 10.0) == pytest.approx(1.5625)
    np.testing.assert_allclose(amdahl_time(2.0, [0.0, 1.0], [3.0, 4.0]), [2.0, 0.5])
    with pytest.raises(ParameterError, match="fraction"):
        amdahl_time(1.0, 1.5, 2.0)
    with pytest.raises(ParameterError, match="speedup"):
        amdahl_time(1.0, 0.5, 0.0)


def test_demand_is_time_over_requests() -> None:
    d = TOY.demand(100)
    assert d.service_time == pytest.approx(10.0 / 100)
    scoped = TOY.demand(100, within="handler")
    assert scoped.service_time == pytest.approx(8.0 / 100)
    t = scoped.table.set_index("function")
    assert t["self_s_per_request"].sum() == pytest.approx(scoped.service_time)
    assert t.loc["render", "inclusive_s_per_request"] == pytest.approx(0.03)
    # Poisson counting error of 800 samples
    assert scoped.service_time_se == pytest.approx(0.08 / np.sqrt(800))
    measured = TOY.demand(100, within="handler", cpu_s=4.0)
    assert measured.service_time == pytest.approx(0.04) and measured.cpu_source == "measured"
    assert measured.table.set_index("function").loc["db", "self_s_per_request"] == pytest.approx(0.02)
    m = scoped.queue_model(5.0, servers=2)
    assert isinstance(m, MMc) and float(m.utilization) == pytest.approx(5.0 * 0.08 / 2)
    with pytest.raises(ParameterError, match="requests"):
        TOY.demand(0)
    assert repr(scoped).startswith("RequestDemand(requests=100, service_time=80 ms")


def test_what_if_is_amdahl_on_inclusive_shares() -> None:
    # handler scope: 8 s; render inclusive 3 s (37.5%) made 3x faster -> 8 * (0.625 + 0.375/3)
    w = TOY.what_if({"render": 3.0}, requests=100, within="handler")
    assert w.service_time_after == pytest.approx(float(amdahl_time(0.08, 3 / 8, 3.0)))
    row = w.targets.iloc[0]
    assert row["inclusive_share"] == pytest.approx(3 / 8)
    assert row["inclusive_share_after"] == pytest.approx(1.0 / (5.0 + 1.0))
    assert row["saved_s_per_request"] == pytest.approx(0.08 - w.service_time_after)
    # two disjoint targets: S (1 - f1 - f2 + f1/s1 + f2/s2)
    both = TOY.what_if({"app:db": 2.0, "render": 0.5}, requests=100, within="handler")
    assert both.service_time_after == pytest.approx(0.08 * (1 - 0.5 - 0.375 + 0.5 / 2 + 0.375 / 0.5))
    # nested targets: the innermost wins inside it
    nested = TOY.what_if({"render": 2.0, "escape": 4.0}, requests=100, within="handler")
    assert nested.service_time_after == pytest.approx((5.0 + 2.0 / 2 + 1.0 / 4) / 100)
    same = TOY.what_if({"db": 1.0}, requests=100)
    assert same.service_time_after == pytest.approx(same.service_time_before) and same.speedup == 1.0


@settings(max_examples=40, deadline=None)
@given(st.floats(0.1, 20.0), st.floats(0.1, 20.0))
def test_what_if_is_monotone_in_the_speedup(a: float, b: float) -> None:
    lo, hi = sorted((a, b))
    slow = TOY.what_if({"db": lo}, requests=10).service_time_after
    fast = TOY.what_if({"db": hi}, requests=10).service_time_after
    assert fast <= slow + 1e-12
    # never below the part that is not sped up (Amdahl's bound)
    assert fast >= 0.6 - 1e-12


def test_what_if_sizes_replicas_through_the_sizing_model() -> None:
    targets = {0.95: 0.25}
    w = TOY.what_if(
        {"db": 4.0}, requests=100, within="handler", arrival_rate=60.0, targets=targets, max_utilization=0.7
    )
    direct = size_replicas(60.0, targets, service_time=0.08, max_utilization=0.7)
    assert w.replicas_before == direct.replicas
    assert w.replicas_after == size_replicas(60.0, targets, service_time=0.05, max_utilization=0.7).replicas
    assert w.replicas_after is not None and w.replicas_before is not None
    assert w.replicas_after < w.replicas_before
    assert w.throughput_per_core_after == pytest.approx(0.7 / 0.05)
    frame = w.to_frame().set_index("metric")
    assert frame.loc["replicas", "before"] == direct.replicas
    assert "speedup 1.600" in repr(w)


def test_what_if_rejects_bad_input() -> None:
    with pytest.raises(ParameterError, match=r"speedups\['nothing'\]: no function"):
        TOY.what_if({"nothing": 2.0}, requests=10)
    with pytest.raises(ParameterError, match=r"speedups\['db'\]"):
        TOY.what_if({"db": -1.0}, requests=10)
    with pytest.raises(ParameterError, match="non-empty mapping"):
        what_if(TOY, {}, requests=10)
    with pytest.raises(ParameterError, match="both arrival_rate and targets"):
        TOY.what_if({"db": 2.0}, requests=10, arrival_rate=5.0)


def test_what_if_predicts_a_measured_slowdown(tmp_path: Path) -> None:
    """Slow ``render`` (a leaf: inclusive = self) 3x; the profile predicts the new demand.

    Prediction: Amdahl on render's inclusive share from a real py-spy recording (1000 requests
    at 400 samples/s: ~900 samples, share standard error ~0.015, i.e. ~2% on the ratio).
    Measurement: the demo's CPU time per request, slowed against as-is, median of 21
    alternating batch pairs on the thread CPU clock. Tolerance 10% relative: repeated
    runs of this measurement on the shared 2-core machine (4 workers) spread by up to ±8%
    around the prediction. Predicting "no change" would miss by ~50%.
    """
    profile = record(
        [sys.executable, SCRIPT, "--requests", "1000"], rate=400.0, out=tmp_path / "p.json", quiet=True
    )
    factor = 3.0
    w = profile.what_if({"workload:render": 1 / factor}, requests=1000, within="handle_request")
    predicted = 1 / w.speedup
    measured = workload.measured_slowdown("render", factor)
    assert abs(measured / predicted - 1) < 0.10, (predicted, measured)
    assert abs(measured - 1) > 0.25  # the experiment can tell the change from no change
    share = float(w.targets["inclusive_share"].iloc[0])
    assert 0.15 < share < 0.4


def test_bundled_slowed_profile_shows_the_predicted_share_shift() -> None:
    """Shares are immune to machine load: slowing render 2x moves its share from f to 2f/(1+f)
    (``inclusive_share_after`` of the what-if), whatever the machine's load did to the totals."""
    data = Path(__file__).resolve().parents[1] / "data" / "profiles"
    base = load_profile(data / "demo_pyspy.speedscope.json").filter(within="handle_request")
    slow = load_profile(data / "demo_pyspy_render_x2.speedscope.json").filter(within="handle_request")
    f = float(base.functions().set_index("function").loc["render", "inclusive_share"])  # type: ignore[arg-type]
    w = base.what_if({"render": 0.5}, requests=2000)
    assert float(w.targets["inclusive_share_after"].iloc[0]) == pytest.approx(2 * f / (1 + f))
    t = slow.functions().set_index("function")
    got = float(t.loc["render", "inclusive_share"])  # type: ignore[arg-type]
    se = float(t.loc["render", "inclusive_share_se"])  # type: ignore[arg-type]
    assert abs(got - 2 * f / (1 + f)) < 4 * se + 0.03


@settings(max_examples=40, deadline=None)
@given(
    st.lists(st.floats(0.01, 5.0), min_size=4, max_size=4),
    st.sampled_from(["db", "render", "escape", "startup"]),
    st.floats(0.2, 10.0),
)
def test_single_target_is_exactly_amdahl(weights: list[float], target: str, speedup: float) -> None:
    p = _profile(
        {
            ("main", "startup"): weights[0],
            ("main", "handler", "db"): weights[1],
            ("main", "handler", "render"): weights[2],
            ("main", "handler", "render", "escape"): weights[3],
        }
    )
    w = p.what_if({target: speedup}, requests=7)
    f = float(w.targets["inclusive_share"].iloc[0])
    assert w.service_time_after == pytest.approx(float(amdahl_time(w.service_time_before, f, speedup)))
