"""The HPA v2 decision against documented Kubernetes behaviour.

Sources, named in each test:
* [docs] kubernetes.io, "Horizontal Pod Autoscaling" -- "Algorithm details" and "Configurable
  scaling behavior" (scaling policies, stabilization window, default behavior, examples).
* [rc-test] kubernetes/kubernetes pkg/controller/podautoscaler/replica_calculator_test.go -- the
  named test cases (pod CPU levels in milli-cores of a 1-core request, i.e. 300 -> 30%).
* [horizontal.go] kubernetes/kubernetes pkg/controller/podautoscaler/horizontal.go.
"""

from __future__ import annotations

import itertools
import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from capplan.autoscale import (
    HPA,
    Behavior,
    HPAController,
    MetricSpec,
    ScalingPolicy,
    ScalingRules,
    load_hpa,
    metric_replicas,
    object_replicas,
)
from capplan.autoscale.manifest import DEFAULT_SCALE_DOWN, DEFAULT_SCALE_UP

CPU = (MetricSpec("Resource", "cpu", "Utilization", 50.0),)


def _run(hpa: HPA, current: int, proposals: list[int | None], syncs: int, period: float = 15.0) -> list[int]:
    """Replicas after each sync when every sync proposes ``proposals``."""
    ctl = HPAController(hpa)
    out = []
    for k in range(syncs):
        current = ctl.sync(k * period, current, proposals)
        out.append(current)
    return out


# ---------------------------------------------------------------------------------------------
# The replica calculator


def test_docs_ratio_examples() -> None:
    # [docs] Algorithm details: "if the current metric value is 200m, and the desired value is
    # 100m, the number of replicas will be doubled ... If the current value is instead 50m,
    # you'll halve the number of replicas"; "skips any scaling action if the ratio is
    # sufficiently close to 1.0 (within a globally-configurable tolerance, 0.1 by default)".
    assert metric_replicas(4, [0.2] * 4, 0.1) == 8
    assert metric_replicas(4, [0.05] * 4, 0.1) == 2
    assert metric_replicas(4, [0.109] * 4, 0.1) == 4  # ratio 1.09: within tolerance
    assert metric_replicas(4, [0.111] * 4, 0.1) == 5  # ratio 1.11: ceil(4.44)
    assert metric_replicas(4, [0.091] * 4, 0.1) == 4  # ratio 0.91
    assert metric_replicas(4, [0.089] * 4, 0.1) == 4  # ratio 0.89 -> ceil(3.56) = 4 still


@pytest.mark.parametrize(
    ("name", "current", "levels", "unready", "target", "expected"),
    [
        ("TestReplicaCalcScaleUp", 3, [30, 50, 70], 0, 30, 5),
        ("TestReplicaCalcScaleUpUnreadyLessScale", 3, [50, 70], 1, 30, 4),
        ("TestReplicaCalcScaleDown", 5, [10, 30, 50, 25, 25], 0, 50, 3),
        ("TestReplicaCalcScaleDownIgnoresUnreadyPods", 5, [10, 30, 50], 2, 50, 2),
        ("TestReplicaCalcMissingMetrics", 4, [40, 9.5, None, None], 0, 100, 3),
        ("TestReplicaCalcMissingMetricsNoChangeEq", 2, [100, None], 0, 100, 2),
        ("TestReplicaCalcMissingMetricsNoChangeGt", 2, [190, None], 0, 100, 2),
        ("TestReplicaCalcMissingMetricsNoChangeLt", 2, [60, None], 0, 100, 2),
        ("TestReplicaCalcMissingMetricsUnreadyNoChange", 3, [45, None], 1, 50, 3),
        ("TestReplicaCalcMissingMetricsUnreadyScaleUp", 3, [200, None], 1, 50, 4),
        ("TestReplicaCalcMissingMetricsUnreadyScaleDown", 4, [10, 10, None], 1, 50, 3),
    ],
)
def test_resource_cases_of_the_kubernetes_tests(
    name: str, current: int, levels: list[float | None], unready: int, target: float, expected: int
) -> None:
    # [rc-test] each named case; [docs] "If there were any missing metrics, the control plane
    # recomputes the average more conservatively, assuming those pods were consuming 100% of the
    # desired value in case of a scale down, and 0% in case of a scale up ... not-yet-ready pods
    # ... as using 0% of the desired metric".
    assert metric_replicas(current, levels, target, unready=unready, utilization=True) == expected, name


@pytest.mark.parametrize(
    ("name", "current", "values", "unready", "target", "expected"),
    [
        ("TestReplicaCalcScaleUpCMUnreadyLessScale", 3, [50, 10], 1, 15, 4),
        ("TestReplicaCalcScaleUpCMUnreadyNoScaleWouldScaleDown", 3, [15], 2, 15, 3),
        ("TestReplicaCalcScaleDownCM", 5, [12] * 5, 0, 20, 3),
        ("TestReplicaCalcToleranceCM", 3, [20, 21, 21], 0, 20, 3),
    ],
)
def test_pods_metric_cases_of_the_kubernetes_tests(
    name: str, current: int, values: list[float], unready: int, target: float, expected: int
) -> None:
    # [rc-test] custom-metric ("qps") cases: values are per-pod averages, target AverageValue.
    assert metric_replicas(current, values, target, unready=unready) == expected, name


def test_object_metric_cases() -> None:
    # [rc-test] TestReplicaCalcScaleUpCMObject (20 qps vs 15, 3 pods -> 4),
    # TestReplicaCalcScaleDownCMObject (12 vs 20, 5 pods -> 3), TestReplicaCalcToleranceCMObject.
    assert object_replicas(3, 20.0, 15.0) == 4
    assert object_replicas(5, 12.0, 20.0) == 3
    assert object_replicas(3, 20.666, 20.0) == 3
    # [docs] AverageValue for Object/External: the value is divided by the number of pods:
    # replicas = ceil(value / averageValue) unless within tolerance.
    assert object_replicas(4, 100.0, 10.0, average=True) == 10
    assert object_replicas(10, 104.0, 10.0, average=True) == 10


def test_no_ready_pod_reports_the_metric() -> None:
    # [rc-test] "did not receive metrics for any ready pods" -> the metric is invalid.
    assert metric_replicas(3, [None, None], 50.0, unready=1, utilization=True) is None


# ---------------------------------------------------------------------------------------------
# Behavior: policies and stabilization


def test_docs_scale_down_policy_walkthrough() -> None:
    # [docs] Scaling policies: Pods 4 / 60 s and Percent 10 / 60 s, selectPolicy Max. "if there
    # are 80 replicas and the target has to be scaled down to 10 replicas then during the first
    # step 8 replicas will be reduced. In the next iteration when the number of replicas is 72,
    # 10% of the pods is 7.2 but the number is rounded up to 8 ... When the number of replicas
    # falls below 40 the first policy (Pods) is applied and 4 replicas will be reduced at a time."
    rules = ScalingRules(0, "Max", (ScalingPolicy("Pods", 4, 60), ScalingPolicy("Percent", 10, 60)))
    hpa = HPA("docs", 1, 100, CPU, Behavior(scale_down=rules))
    per_minute = _run(hpa, 80, [10], syncs=4 * 12)[::4]
    assert per_minute[:3] == [72, 64, 57]
    drops = [a - b for a, b in zip([80, *per_minute], per_minute, strict=False)]
    assert drops[:2] == [8, 8]
    below_40 = [
        d for before, d in zip([80, *per_minute], drops, strict=False) if before <= 40 and before - 4 >= 10
    ]
    assert below_40 and all(d == 4 for d in below_40)


def test_docs_limit_scale_down_to_10_percent_per_minute() -> None:
    # [docs] "To limit the rate at which pods are removed by the HPA to 10% per minute":
    # scaleDown policies [Percent 10, periodSeconds 60].
    hpa = HPA(
        "x", 1, 200, CPU, Behavior(scale_down=ScalingRules(0, "Max", (ScalingPolicy("Percent", 10, 60),)))
    )
    out = _run(hpa, 100, [1], syncs=12)
    assert out == [90] * 4 + [81] * 4 + [72] * 4  # int(90 * 0.9) = 81, int(81 * 0.9) = 72


def test_docs_at_most_5_pods_per_minute_with_min() -> None:
    # [docs] "To ensure that no more than 5 Pods are removed per minute, you can add a second
    # scale-down policy with a fixed size of 5, and set selectPolicy to minimum."
    rules = ScalingRules(0, "Min", (ScalingPolicy("Percent", 10, 60), ScalingPolicy("Pods", 5, 60)))
    hpa = HPA("x", 1, 200, CPU, Behavior(scale_down=rules))
    out = _run(hpa, 100, [1], syncs=8)
    assert out == [95] * 4 + [90] * 4


def test_docs_disable_scale_down() -> None:
    # [docs] "selectPolicy: Disabled" under scaleDown: "the replica count of the target is never
    # scaled down".
    hpa = HPA("x", 1, 200, CPU, Behavior(scale_down=ScalingRules(0, "Disabled", DEFAULT_SCALE_DOWN.policies)))
    assert _run(hpa, 30, [3], syncs=40) == [30] * 40


def test_docs_default_behavior_scale_up() -> None:
    # [docs] Default behavior: "There are 2 policies where 4 pods or a 100% of the currently
    # running replicas may at most be added every 15 seconds till the HPA reaches its steady
    # state." (and no scale-up stabilization).
    hpa = HPA("x", 1, 100, CPU, Behavior())
    assert _run(hpa, 1, [100], syncs=6) == [5, 10, 20, 40, 80, 100]


def test_docs_default_behavior_scale_down_waits_300_s() -> None:
    # [docs] Default behavior: "For scaling down the stabilization window is 300 seconds" and the
    # Percent 100 / 15 s policy lets all surplus pods go at once; [docs] Stabilization window: "the
    # algorithm ... uses the highest value from the specified interval".  High recommendations
    # stop at t = 135 s (last one at 120 s); the window lets go at 120 + 300 = 420 s.
    hpa = HPA("x", 2, 100, CPU, Behavior(scale_up=DEFAULT_SCALE_UP, scale_down=DEFAULT_SCALE_DOWN))
    ctl = HPAController(hpa)
    current = 20
    times = [k * 15.0 for k in range(40)]
    history = []
    for t in times:
        current = ctl.sync(t, current, [20 if t <= 120 else 2])
        history.append(current)
    assert all(r == 20 for t, r in zip(times, history, strict=True) if t < 420)
    assert history[times.index(420.0)] == 2


def test_seed_scale_up_stabilization_of_60_s() -> None:
    # [horizontal.go] stabilizeRecommendationWithBehaviors: a scale-up goes no higher than the
    # lowest recommendation of the scale-up window (60 s in the seed).  Recommendations at 45, 30
    # and 15 s ago are inside it; the one 60 s ago is not.
    hpa = load_hpa("data/hpa.yaml")
    ctl = HPAController(hpa)
    current = 3
    out = []
    for k in range(8):
        current = ctl.sync(15.0 * k, current, [3 if k < 2 else 10])
        out.append(current)
    # the first 10 is proposed at k=2 (t=30); the window holds a 3 until t=30+45=75 (k=5); then
    # the rate limit binds: max(100% of 3, 5 pods) -> 8, and 15 s later 10.
    assert out == [3, 3, 3, 3, 3, 8, 10, 10]


def test_seed_scale_down_is_at_most_2_pods_per_minute() -> None:
    # [docs] selectPolicy Min picks "the policy which allows the lowest amount of change"; the
    # seed's scaleDown (10% / 60 s, 2 pods / 60 s, Min) therefore removes at most 2 pods per
    # minute, and only once its 300 s stabilization window holds no higher recommendation.
    hpa = load_hpa("data/hpa.yaml")
    ctl = HPAController(hpa)
    current = 50
    out = []
    for k in range(80):
        current = ctl.sync(15.0 * k, current, [50 if k < 10 else 3])
        out.append(current)
    # the last 50 is recommended at t=135 s (k=9): it leaves the window at t=435 s (k=29)
    assert out[:29] == [50] * 29
    assert out[29] == 48
    per_minute = out[29::4]
    assert all(a - b == 2 for a, b in itertools.pairwise(per_minute))


def test_percent_scale_up_uses_the_controllers_float_arithmetic() -> None:
    # [horizontal.go] calculateScaleUpLimitWithScalingRules: proposed =
    # int32(math.Ceil(float64(periodStartReplicas) * (1 + float64(policy.Value)/100))); in
    # float64 50 * 1.1 = 55.00000000000001, so a 10% policy adds 6 pods to 50, not 5.
    assert 50 * (1 + 10 / 100) > 55
    rules = ScalingRules(0, "Max", (ScalingPolicy("Percent", 10, 15),))
    hpa = HPA("x", 1, 100, CPU, Behavior(scale_up=rules))
    assert _run(hpa, 50, [90], syncs=1) == [math.ceil(50 * (1 + 10 / 100))] == [56]
    assert _run(hpa, 10, [90], syncs=1) == [11]


def test_legacy_rules_without_behavior() -> None:
    # [horizontal.go] normalizeDesiredReplicas / calculateScaleUpLimit: without behavior, scale
    # up to at most max(2 * current, 4) per sync (scaleUpLimitFactor 2, scaleUpLimitMinimum 4),
    # and scale down to the highest recommendation of the last 300 s
    # (--horizontal-pod-autoscaler-downscale-stabilization).
    hpa = HPA("x", 1, 100, CPU)
    assert _run(hpa, 1, [100], syncs=6) == [4, 8, 16, 32, 64, 100]
    ctl = HPAController(hpa)
    current = 10
    out = []
    for k in range(25):
        current = ctl.sync(15.0 * k, current, [10 if k == 0 else 1])
        out.append(current)
    assert out[19] == 10 and out[20] == 1  # the 10 recorded at t=0 leaves the window at t=300


def test_min_max_and_invalid_metrics() -> None:
    # [horizontal.go] reconcileAutoscaler: current > maxReplicas -> maxReplicas, current <
    # minReplicas -> minReplicas, whatever the metrics; computeReplicasForMetrics: if all metrics
    # are invalid, or some are and the valid ones propose a scale-down, do not scale.
    hpa = load_hpa("data/hpa.yaml")
    assert HPAController(hpa).sync(0.0, 80, [None]) == 50
    assert HPAController(hpa).sync(0.0, 1, [None]) == 3
    assert HPAController(hpa).sync(0.0, 10, [None, None, None, None]) == 10
    assert HPAController(hpa).sync(0.0, 10, [4, None, 4, 4]) == 10
    # a fresh controller records the current 10 as a recommendation first
    # (recordInitialRecommendation), so the seed's 60 s scale-up window holds it at 10
    assert HPAController(hpa).sync(0.0, 10, [20, None, 4, 4]) == 10
    ctl = HPAController(hpa)
    assert [ctl.sync(15.0 * k, 10, [20, None, 4, 4]) for k in range(6)] == [10] * 4 + [20] * 2


def test_a_fresh_autoscaler_records_the_current_count_first() -> None:
    # [horizontal.go] reconcileAutoscaler calls recordInitialRecommendation(currentReplicas) before
    # it computes anything, and stabilizeRecommendationWithBehaviors then clamps to the lowest
    # recommendation of the scale-up window and the highest of the scale-down window, that first
    # one included: from 20 with 40 proposed, the seed (scale-up window 60 s) waits until the
    # record of t = 0 leaves the window at t = 60 s; from 80 with 10 proposed, the default 300 s
    # scale-down window holds 80 until t = 300 s.
    seed = load_hpa("data/hpa.yaml")
    up = HPAController(seed)
    assert [up.sync(15.0 * k, 20, [40]) for k in range(6)] == [20] * 4 + [40] * 2
    hpa = HPA("x", 1, 100, CPU, Behavior(scale_up=DEFAULT_SCALE_UP, scale_down=DEFAULT_SCALE_DOWN))
    down = HPAController(hpa)
    assert [down.sync(15.0 * k, 80, [10]) for k in range(22)] == [80] * 20 + [10] * 2
    legacy = HPAController(HPA("x", 1, 100, CPU))  # no behavior: the 300 s downscale window too
    assert [legacy.sync(15.0 * k, 80, [10]) for k in range(22)] == [80] * 20 + [10] * 2


@settings(max_examples=40, deadline=None)
@given(st.lists(st.integers(min_value=1, max_value=80), min_size=5, max_size=60), st.integers(3, 50))
def test_seed_hpa_properties(proposals: list[int], start: int) -> None:
    # [docs] minReplicas/maxReplicas always hold, and the seed's scale-down policies (Min of 10%
    # and 2 pods per 60 s) never remove more than 2 pods in any 60 s.
    hpa = load_hpa("data/hpa.yaml")
    ctl = HPAController(hpa)
    current = start
    out = []
    for k, p in enumerate(proposals):
        current = ctl.sync(15.0 * k, current, [p])
        out.append(current)
    assert all(3 <= r <= 50 for r in out)
    for i in range(len(out)):
        window = [start, *out][i : i + 5]  # counts at 5 syncs spanning 60 s
        assert window[0] - min(window) <= 2
