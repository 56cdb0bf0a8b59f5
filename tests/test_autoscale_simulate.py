"""simulate(): the HPA, AWS policies and schedules against traffic; totals; search; plots.

Sources: kubernetes.io "Horizontal Pod Autoscaling" ([docs]) for the controller's timing
(15 s sync, stabilization windows, policies); AWS Application Auto Scaling documentation,
"Target tracking scaling policies" ([aws]: scale out after 3 one-minute datapoints above the
target, scale in after 15 below 90% of it).
"""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import numpy as np
import pytest
from matplotlib.axes import Axes

from capplan import ParameterError
from capplan.autoscale import (
    HPA,
    MetricSpec,
    Schedule,
    StepAdjustment,
    StepScaling,
    TargetTracking,
    Traffic,
    Workload,
    constant,
    diurnal,
    fixed_fleet,
    load_hpa,
    plot_frontier,
    plot_timeline,
    predictive_schedule,
    search_hpa,
    simulate,
    with_settings,
)
from capplan.autoscale.search import pareto_mask
from capplan.sizing import size_replicas

SEED_HPA = load_hpa("data/hpa.yaml")
FAST = Workload(0.02, workers=4)  # 200 requests/s per pod when busy
T_STEP = 1800.0


def _step_traffic(before: float = 300.0, after: float = 1200.0, hours: float = 2.0) -> Traffic:
    t = np.arange(0, hours * 3600, 15.0)
    return Traffic(np.where(t < T_STEP, before, after), 15.0, name="step")


def _first_change(series: np.ndarray, times: np.ndarray, after: float) -> float:
    base = series[times < after][-1]
    moved = (series != base) & (times >= after)
    return float(times[np.argmax(moved)])


def test_seed_hpa_first_scale_up_timing() -> None:
    # [docs] sync every 15 s; the seed's scale-up stabilization window (60 s) keeps the lowest
    # recommendation of the window.  The CPU sample is 15 s old: the step at 1800 s is seen at
    # the sync of 1830 s; the window then needs 45 s more: the first scale-up is at 1875 s.
    res = simulate(_step_traffic(), SEED_HPA, FAST)
    tl = res.timeline
    times = tl["time_s"].to_numpy()
    assert tl["replicas_desired"].iloc[0] == 3
    assert (tl["replicas_desired"][times < T_STEP] == 3).all()
    assert _first_change(tl["replicas_desired"].to_numpy(), times, T_STEP) == 1875.0


def test_new_pods_serve_after_startup_and_readiness() -> None:
    res = simulate(_step_traffic(), SEED_HPA, FAST, pod_startup=30.0, readiness_delay=15.0)
    tl = res.timeline
    desired, ready = tl["replicas_desired"].to_numpy(), tl["replicas_ready"].to_numpy()
    k = int(np.argmax(desired > 3))
    assert ready[k] == 3 and ready[k + 2] == 3  # pending 30 s, then not ready 15 s
    assert ready[k + 3] == desired[k]
    assert (ready <= desired).all()
    assert res.replica_hours == pytest.approx(desired.sum() * 15 / 3600)


def test_metric_lag_delays_the_reaction_by_exactly_the_lag() -> None:
    # the p95 pods metric alone (the seed's response_time_95th_percentile, target 200m)
    latency_only = SEED_HPA.replace(
        metrics=(MetricSpec("Pods", "response_time_95th_percentile", "AverageValue", 0.2),)
    )
    slow = Workload(0.04, workers=4)  # 100/s per pod; p95 0.12 s at low load, far above 0.2 s at rho 0.93
    first = []
    for lag in (30.0, 90.0):
        tl = simulate(
            _step_traffic(60.0, 280.0), latency_only, slow, metric_lag=lag, initial_replicas=3
        ).timeline
        first.append(_first_change(tl["replicas_desired"].to_numpy(), tl["time_s"].to_numpy(), T_STEP))
    assert first[1] - first[0] == pytest.approx(60.0)


def test_seed_scale_down_is_slow() -> None:
    # [docs] scale-down stabilization (300 s: the highest recommendation of the window) and the
    # seed's policies (Min of 10% and 2 pods per 60 s): after the load drops, no pod goes for
    # 300 s after the last high recommendation, then at most 2 per minute.
    t = np.arange(0, 3 * 3600, 15.0)
    tr = Traffic(np.where((t >= 1800) & (t < 3600), 4000.0, 300.0), 15.0)
    tl = simulate(tr, SEED_HPA, FAST).timeline
    desired = tl["replicas_desired"].to_numpy()
    times = tl["time_s"].to_numpy()
    level = int(desired[times == 3600 - 15][0])
    assert level > 20
    assert (desired[(times >= 3600) & (times < 3600 + 300)] == level).all()
    after = desired[times >= 3600]
    for i in range(len(after) - 4):
        assert after[i] - after[i + 4] <= 2  # any 60 s
    assert desired[-1] < level


def test_target_tracking_waits_for_three_datapoints() -> None:
    # [aws] the scale-out alarm needs 3 consecutive 1-minute datapoints above the target; with a
    # 60 s metric lag the step at 1800 s is in the datapoint of [1800, 1860) evaluated at 1920 s,
    # and the third one at 2040 s.
    pol = TargetTracking(0.7, min_capacity=3, max_capacity=50)
    tl = simulate(_step_traffic(), pol, FAST).timeline
    times = tl["time_s"].to_numpy()
    assert _first_change(tl["replicas_desired"].to_numpy(), times, T_STEP) == 2040.0
    assert tl["replicas_desired"].iloc[-1] == int(np.ceil(1200 / (200 * 0.7)))


def test_step_scaling_adds_by_the_step_that_matches() -> None:
    pol = StepScaling(
        0.7,
        [StepAdjustment(0, 20, 1), StepAdjustment(20, 1000, 4)],
        0.3,
        [StepAdjustment(-1000, 0, -1)],
        min_capacity=3,
        max_capacity=50,
        cooldown=120.0,
    )
    tl = simulate(_step_traffic(), pol, FAST).timeline
    d = tl["replicas_desired"].to_numpy()
    jumps = np.diff(d)
    assert jumps.max() == 4  # CPU pinned at 100%: 30+ points over the 70% threshold
    assert d.max() >= 7
    with pytest.raises(ParameterError, match="low_threshold must be below high_threshold"):
        StepScaling(0.5, [StepAdjustment(0, 1, 1)], 0.6, [StepAdjustment(-1, 0, -1)])


def test_schedule_and_fixed_fleet_cost() -> None:
    tr = diurnal(300, 1500, days=0.5)
    targets = {0.95: 0.2, 0.99: 0.5}
    fleet = fixed_fleet(tr, FAST, targets, max_utilization=0.7, price_per_replica_hour=0.25)
    sizing = size_replicas(tr.peak, targets, workers=4, service_time=0.02, max_utilization=0.7)
    assert fleet.replicas == sizing.replicas
    assert fleet.result.replica_hours == pytest.approx(sizing.replicas * 12.0)
    assert fleet.result.cost == pytest.approx(0.25 * sizing.replicas * 12.0)
    assert fleet.result.sla_violation_minutes == {"p95 <= 0.2 s": 0.0, "p99 <= 0.5 s": 0.0}
    sched = Schedule(np.where(np.arange(tr.rate.size) < 100, 4, 9))
    tl = simulate(tr, sched, FAST).timeline
    assert (tl["replicas_desired"].to_numpy() == sched.replicas).all()


def test_search_finds_a_frontier_cheaper_than_the_fixed_fleet() -> None:
    tr = diurnal(300, 1500, days=0.5)
    grid: dict[str, list[float]] = {"cpu_target": [0.5, 0.7], "scale_down_window": [60, 300]}
    found = search_hpa(SEED_HPA, tr, FAST, grid, sla={0.99: 0.5}, price_per_replica_hour=1.0)
    table = found.table
    assert len(table) == 4 and set(grid) <= set(table.columns)
    front = found.frontier
    assert front[found.cost_column].is_monotonic_increasing
    # no frontier point is dominated by any row
    for _, row in front.iterrows():
        better = (table["cost"] <= row["cost"]) & (table["sla_minutes"] <= row["sla_minutes"])
        strictly = (table["cost"] < row["cost"]) | (table["sla_minutes"] < row["sla_minutes"])
        assert not (better & strictly).any()
    fleet = fixed_fleet(tr, FAST, {0.99: 0.5}, max_utilization=0.7, price_per_replica_hour=1.0)
    assert found.best(max_sla_minutes=0.0)["cost"] < fleet.result.cost
    assert pareto_mask(np.array([1.0, 2.0, 2.0]), np.array([5.0, 1.0, 3.0])).tolist() == [True, True, False]


def test_with_settings() -> None:
    h = with_settings(SEED_HPA, cpu_target=0.6, min_replicas=5, scale_down_window=60, scale_down_pods=4)
    assert h.metrics[0].target == 60.0 and h.min_replicas == 5
    assert h.behavior is not None
    assert h.behavior.scale_down.stabilization_window_seconds == 60
    assert [p.value for p in h.behavior.scale_down.policies if p.type == "Pods"] == [4]
    with pytest.raises(ParameterError, match="unknown HPA setting"):
        with_settings(SEED_HPA, speed=2)


def test_bad_input_names_the_parameter() -> None:
    tr = constant(100.0, 600)
    with pytest.raises(ParameterError, match="sync_period=20 s must be a whole number"):
        simulate(tr, SEED_HPA, FAST, sync_period=20.0)
    custom = HPA("x", 1, 5, (MetricSpec("Pods", "widgets", "AverageValue", 3.0),))
    with pytest.raises(ParameterError, match="cannot tell what metric 'widgets' measures"):
        simulate(tr, custom, FAST)
    with pytest.raises(ParameterError, match="per pod"):
        simulate(tr, HPA("x", 1, 5, (MetricSpec("External", "q", "Value", 3.0),)), FAST, signals={"q": "cpu"})
    # error_rate as a constant input instead of the dropped fraction
    res = simulate(tr, SEED_HPA, FAST, signals={"error_rate": 0.5})
    assert res.timeline["replicas_desired"].iloc[-1] == 3


def test_week_at_15_s_and_plots() -> None:
    week = diurnal(300, 1500, days=7)
    res = simulate(week, SEED_HPA, FAST, sla={0.99: 0.5}, price_per_replica_hour=0.1)
    assert len(res.timeline) == 7 * 5760
    assert res.cost == pytest.approx(0.1 * res.replica_hours)
    assert repr(res).startswith("AutoscaleResult(HPA performance-based-hpa: replica_hours=")
    ax = plot_timeline(res, quantile=0.99, hours=(0, 24))
    assert isinstance(ax, Axes) and ax.get_ylabel() == "replicas" and ax.get_xlabel() == "time (hours)"
    found = search_hpa(
        SEED_HPA, diurnal(300, 1500, days=0.25), FAST, {"cpu_target": [0.6, 0.7]}, sla={0.99: 0.5}
    )
    ax2 = plot_frontier(found)
    assert "SLA minutes" in ax2.get_xlabel()


def test_predictive_floor_raises_min_replicas_ahead_of_the_load() -> None:
    # A floor from a (here perfect) forecast with 5 min lead: the pods for the step at 1800 s are
    # asked for from 1800 - 300 - 900 s (lead + window) on, so they serve when it comes.
    tr = _step_traffic()
    floor = predictive_schedule(
        tr, 0.7 * FAST.capacity, lead=300.0, window=900.0, min_replicas=3, max_replicas=60
    )
    need = int(np.ceil(1200 / (0.7 * FAST.capacity)))
    times = tr.times
    assert (floor.replicas[(times >= T_STEP - 1200) & (times < T_STEP)] == need).all()
    tl = simulate(tr, SEED_HPA, FAST, floor=floor, sla={0.99: 0.5}).timeline
    ready_at_step = int(tl["replicas_ready"][tl["time_s"] == T_STEP].iloc[0])
    assert ready_at_step >= need
    assert (tl["replicas_desired"] <= SEED_HPA.max_replicas).all()  # a floor never lifts maxReplicas
    assert (tl["dropped"] == 0).all()


def test_external_requests_per_replica_metric() -> None:
    # [docs] External metric with an AverageValue target: the controller divides the metric by
    # the number of pods, i.e. replicas = ceil(value / averageValue) (here 700/s at 70 per pod).
    per_pod = HPA("rps", 1, 40, (MetricSpec("External", "requests_per_second", "AverageValue", 70.0),))
    tl = simulate(constant(700.0, 1800), per_pod, FAST, initial_replicas=2).timeline
    assert tl["replicas_desired"].iloc[-1] == 10
    total = HPA("q", 1, 40, (MetricSpec("Object", "queue_backlog", "Value", 100.0),))
    tl2 = simulate(constant(100.0, 900), total, FAST, initial_replicas=2).timeline
    assert (tl2["backlog"] == 0).all() and tl2["replicas_desired"].iloc[-1] == 1  # empty queue: scale in
