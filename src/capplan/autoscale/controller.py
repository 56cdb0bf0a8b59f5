"""The HorizontalPodAutoscaler v2 decision, step for step as kube-controller-manager takes it.

On its first sync of an autoscaler the controller records the current replica count as a
recommendation (``recordInitialRecommendation``), so a fresh autoscaler holds its count through
the stabilization windows of that moment.  Each sync (every
``--horizontal-pod-autoscaler-sync-period``, 15 s) the controller

1. computes one replica proposal per metric (the *replica calculator*, ``replica_calculator.go``):
   ``desired = ceil(readyPods * currentValue / target)``, unchanged when the ratio is within the
   tolerance (0.1) of 1.  Pods without a metric count as 100% of their request (or the target) on a
   scale-down and 0 on a scale-up; not-yet-ready pods count as 0 on a scale-up and are otherwise
   left out; a result that would reverse the direction of the change keeps the current count;
2. takes the largest proposal (``computeReplicasForMetrics``); if some metrics are invalid and the
   others propose a scale-down, or all are invalid, it does not scale;
3. with ``behavior``: stabilizes (the result is clamped between the *lowest* recommendation in the
   scale-up window and the *highest* in the scale-down window, the current one included), then
   limits the rate: each policy allows ``Pods`` or ``Percent`` change relative to the replica count
   at the start of its ``periodSeconds`` (changes made inside the period are undone first), and
   ``selectPolicy`` takes the policy allowing the largest (Max) or smallest (Min) change, or none
   (Disabled); the result is kept within ``[minReplicas, maxReplicas]``;
4. without ``behavior`` (legacy): the highest recommendation of the last 300 s, then at most
   ``max(2 * current, 4)`` and within ``[minReplicas, maxReplicas]``.

Everything here is compiled with numba and shared by the simulator (:mod:`._kernel`) and the
:class:`HPAController` replay used in tests.  A record or event made exactly one window (period)
before *now* is outside it: the controller re-queues each HPA a full sync period after the previous
sync *finished*, so successive syncs are slightly more than 15 s apart and ``timestamp.After(now -
window)`` is false for it.

References: Kubernetes documentation, "Horizontal Pod Autoscaling" (algorithm details,
configurable scaling behavior); kubernetes/kubernetes ``pkg/controller/podautoscaler/horizontal.go``
(``recordInitialRecommendation``, ``stabilizeRecommendationWithBehaviors``,
``convertDesiredReplicasWithBehaviorRate``,
``calculateScaleUpLimitWithScalingRules``, ``normalizeDesiredReplicas``) and
``replica_calculator.go`` (``GetResourceReplicas``, ``calcPlainMetricReplicas``,
``GetObjectMetricReplicas``, ``GetObjectPerPodMetricReplicas``).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
from numba import njit
from numpy.typing import NDArray

from capplan.autoscale.manifest import HPA, ScalingRules
from capplan.errors import ParameterError

__all__ = [
    "DEFAULT_DOWNSCALE_STABILIZATION",
    "DEFAULT_TOLERANCE",
    "HPAController",
    "metric_replicas",
    "object_replicas",
]

DEFAULT_TOLERANCE = 0.1  # --horizontal-pod-autoscaler-tolerance
DEFAULT_DOWNSCALE_STABILIZATION = 300.0  # --horizontal-pod-autoscaler-downscale-stabilization
SELECT_MAX, SELECT_MIN, SELECT_DISABLED = 0, 1, 2
POLICY_PODS, POLICY_PERCENT = 0, 1
_SELECT_CODE = {"Max": SELECT_MAX, "Min": SELECT_MIN, "Disabled": SELECT_DISABLED}
_BIG = 2**31 - 1
_EPS = 1e-9

IntArray = NDArray[np.int64]
FloatArray = NDArray[np.float64]
# (legacy, up_window, down_window, up_select, up_policies, down_select, down_policies)
BehaviorArrays = tuple[bool, float, float, int, IntArray, int, IntArray]


# ---------------------------------------------------------------------------------------------
# Replica calculator


@njit(cache=True)
def plain_replicas(
    current: int,
    n_ready: int,
    total: float,
    n_missing: int,
    n_unready: int,
    target: float,
    tolerance: float,
    utilization: bool,
) -> int:  # pragma: no cover - compiled
    """One metric's proposal from the per-pod values (``-1`` when no ready pod reports it).

    ``total`` sums the ready pods' values: percent of request for ``utilization`` (resource
    Utilization targets), milli-units otherwise; ``target`` in the same units.  The mean is
    truncated to an integer as the controller's int64 arithmetic does.
    """
    if n_ready <= 0:
        return -1
    ratio = math.floor(total / n_ready + _EPS) / target
    rebalance = n_unready > 0 and ratio > 1.0
    if not rebalance and n_missing == 0:
        if abs(1.0 - ratio) <= tolerance:
            return current
        return math.ceil(ratio * n_ready)
    n = n_ready
    total2 = total
    if n_missing > 0:
        if ratio < 1.0:
            fallback = max(100.0, target) if utilization else target
            total2 += n_missing * fallback
            n += n_missing
        elif ratio > 1.0:
            n += n_missing
    if rebalance:
        n += n_unready
    new_ratio = math.floor(total2 / n + _EPS) / target
    if abs(1.0 - new_ratio) <= tolerance or (ratio < 1.0 < new_ratio) or (new_ratio < 1.0 < ratio):
        return current
    proposal = math.ceil(new_ratio * n)
    if (new_ratio < 1.0 and proposal > current) or (new_ratio > 1.0 and proposal < current):
        return current
    return proposal


@njit(cache=True)
def value_replicas(
    current: int, ready_now: int, value: float, target: float, tolerance: float
) -> int:  # pragma: no cover
    """Object/External metric with a ``Value`` target: ``ceil(ready * value / target)``."""
    ratio = value / target
    if current == 0:
        return math.ceil(ratio)
    if abs(1.0 - ratio) <= tolerance:
        return current
    return math.ceil(ratio * ready_now)


@njit(cache=True)
def average_value_replicas(
    status_replicas: int, value: float, target: float, tolerance: float
) -> int:  # pragma: no cover
    """Object/External metric with an ``AverageValue`` target: ``ceil(value / target)``."""
    ratio = value / (target * status_replicas)
    if abs(1.0 - ratio) > tolerance:
        return math.ceil(value / target)
    return status_replicas


# ---------------------------------------------------------------------------------------------
# Normalization: stabilization and rate limits


@njit(cache=True)
def _change_in_period(
    t_sync: FloatArray, events: IntArray, j: int, now: float, period: float
) -> int:  # pragma: no cover
    total = 0
    for i in range(j - 1, -1, -1):
        if t_sync[i] > now - period:
            total += events[i]
        else:
            break
    return total


@njit(cache=True)
def _recommendation_bounds(
    t_sync: FloatArray,
    rec: IntArray,
    rec_ok: NDArray[np.bool_],
    j: int,
    now: float,
    desired: int,
    up_window: float,
    down_window: float,
) -> tuple[int, int]:  # pragma: no cover
    """The lowest recommendation of the scale-up window and the highest of the scale-down window.

    Both include ``desired``, this sync's recommendation, which is then recorded at ``j``.
    """
    up = desired
    down = desired
    horizon = max(up_window, down_window)
    for i in range(j - 1, -1, -1):
        if not t_sync[i] > now - horizon:
            break
        if not rec_ok[i]:
            continue
        if t_sync[i] > now - up_window:
            up = min(up, rec[i])
        if t_sync[i] > now - down_window:
            down = max(down, rec[i])
    rec[j] = desired
    rec_ok[j] = True
    return up, down


@njit(cache=True)
def _limit(
    t_sync: FloatArray,
    up_ev: IntArray,
    down_ev: IntArray,
    j: int,
    now: float,
    current: int,
    select: int,
    policies: IntArray,
    scale_up: bool,
) -> int:  # pragma: no cover
    if select == SELECT_DISABLED:
        return current
    lowest_change = select == SELECT_MIN
    # scale up: Max keeps the largest proposal; scale down: Max keeps the smallest.
    take_min = lowest_change if scale_up else not lowest_change
    result = _BIG if take_min else -_BIG
    for p in range(policies.shape[0]):
        period = float(policies[p, 2])
        added = _change_in_period(t_sync, up_ev, j, now, period)
        deleted = _change_in_period(t_sync, down_ev, j, now, period)
        start = current - added + deleted
        if scale_up:
            if policies[p, 0] == POLICY_PODS:
                proposed = start + policies[p, 1]
            else:
                proposed = math.ceil(start * (1.0 + policies[p, 1] / 100.0))
        elif policies[p, 0] == POLICY_PODS:
            proposed = start - policies[p, 1]
        else:
            proposed = int(start * (1.0 - policies[p, 1] / 100.0))
        result = min(result, proposed) if take_min else max(result, proposed)
    return result


@njit(cache=True)
def hpa_sync(
    j: int,
    now: float,
    current: int,
    proposals: IntArray,
    min_replicas: int,
    max_replicas: int,
    behavior: BehaviorArrays,
    t_sync: FloatArray,
    rec: IntArray,
    rec_ok: NDArray[np.bool_],
    up_ev: IntArray,
    down_ev: IntArray,
) -> int:  # pragma: no cover
    """One reconcile: the new ``spec.replicas`` given the per-metric proposals (``-1`` = invalid).

    ``j`` counts the syncs from 0, ``now`` is the sync's time in seconds; ``behavior`` comes from
    :func:`behavior_arrays`.  For the legacy rules ``down_window`` is the controller's downscale
    stabilization window and ``up_window`` is 0.  The history arrays hold ``j + 2`` entries: the
    first sync records the current count as a recommendation at index 0 before it decides, as the
    controller's ``recordInitialRecommendation`` does, so a fresh autoscaler neither scales up within
    its scale-up window nor down within its scale-down window of its first sync; sync ``j`` is
    recorded at ``j + 1``.
    """
    legacy, up_window, down_window, up_select, up_policies, down_select, down_policies = behavior
    if j == 0:
        t_sync[0] = now
        rec[0] = current
        rec_ok[0] = True
        up_ev[0] = 0
        down_ev[0] = 0
    j += 1
    t_sync[j] = now
    rec_ok[j] = False
    up_ev[j] = 0
    down_ev[j] = 0
    if current > max_replicas:
        desired = max_replicas
    elif current < min_replicas:
        desired = min_replicas
    else:
        invalid = 0
        best = 0
        for p in proposals:
            if p < 0:
                invalid += 1
            elif p > best:
                best = p
        if invalid == proposals.shape[0] or (invalid > 0 and best < current):
            return current
        lowest, highest = _recommendation_bounds(t_sync, rec, rec_ok, j, now, best, up_window, down_window)
        if legacy:  # stabilizeRecommendation: the highest recommendation of the window
            top = min(max_replicas, max(2 * current, 4))
            desired = min(max(highest, min_replicas), top)
        else:  # stabilizeRecommendationWithBehaviors: current, clamped to [lowest, highest]
            desired = min(max(current, lowest), highest)
            if desired > current:
                limit = max(
                    _limit(t_sync, up_ev, down_ev, j, now, current, up_select, up_policies, True), current
                )
                desired = min(desired, max_replicas, limit)
            elif desired < current:
                limit = min(
                    _limit(t_sync, up_ev, down_ev, j, now, current, down_select, down_policies, False),
                    current,
                )
                desired = max(desired, min_replicas, limit)
    if desired != current and not legacy:
        if desired > current:
            up_ev[j] = desired - current
        else:
            down_ev[j] = current - desired
    return desired


# ---------------------------------------------------------------------------------------------
# Python-facing pieces


def policy_array(rules: ScalingRules) -> IntArray:
    """``(kind, value, periodSeconds)`` rows for the compiled limiter."""
    rows = [
        (POLICY_PODS if p.type == "Pods" else POLICY_PERCENT, p.value, p.period_seconds)
        for p in rules.policies
    ]
    return np.array(rows, dtype=np.int64).reshape(-1, 3)


def behavior_arrays(hpa: HPA, downscale_stabilization: float) -> BehaviorArrays:
    """``(legacy, up_window, down_window, up_select, up_policies, down_select, down_policies)``."""
    if hpa.behavior is None:
        empty = np.zeros((0, 3), dtype=np.int64)
        return True, 0.0, float(downscale_stabilization), SELECT_MAX, empty, SELECT_MAX, empty
    up, down = hpa.behavior.scale_up, hpa.behavior.scale_down
    up_w = float(up.stabilization_window_seconds or 0)
    down_w = (
        float(downscale_stabilization)
        if down.stabilization_window_seconds is None
        else float(down.stabilization_window_seconds)
    )
    return (
        False,
        up_w,
        down_w,
        _SELECT_CODE[up.select_policy],
        policy_array(up),
        _SELECT_CODE[down.select_policy],
        policy_array(down),
    )


class HPAController:
    """Replay the controller's normalization for given per-metric proposals, keeping its history.

    Parameters
    ----------
    hpa : HPA
        The autoscaler (min/max replicas and behavior are used here).
    downscale_stabilization : float
        The controller flag ``--horizontal-pod-autoscaler-downscale-stabilization`` (300 s).
    capacity : int
        Syncs that can be replayed.
    """

    def __init__(
        self,
        hpa: HPA,
        *,
        downscale_stabilization: float = DEFAULT_DOWNSCALE_STABILIZATION,
        capacity: int = 10_000,
    ) -> None:
        self.hpa = hpa
        self._beh = behavior_arrays(hpa, downscale_stabilization)
        self._capacity = capacity
        self._t = np.zeros(capacity + 1)  # + the initial recommendation (hpa_sync)
        self._rec = np.zeros(capacity + 1, dtype=np.int64)
        self._rec_ok = np.zeros(capacity + 1, dtype=np.bool_)
        self._up = np.zeros(capacity + 1, dtype=np.int64)
        self._down = np.zeros(capacity + 1, dtype=np.int64)
        self._j = 0
        self._last = -math.inf

    def sync(self, now: float, current: int, proposals: Sequence[int | None]) -> int:
        """The new replica count at time ``now`` (s) from ``current`` and each metric's proposal.

        ``None`` marks a metric that could not be computed.
        """
        if not now > self._last:
            raise ParameterError(
                f"now must increase from one sync to the next, got {now!r} after {self._last!r}"
            )
        if self._j >= self._capacity:
            raise ParameterError(f"more than capacity={self._capacity} syncs")
        props = np.array([-1 if p is None else int(p) for p in proposals], dtype=np.int64)
        out = hpa_sync(
            self._j,
            float(now),
            int(current),
            props,
            self.hpa.min_replicas,
            self.hpa.max_replicas,
            self._beh,
            self._t,
            self._rec,
            self._rec_ok,
            self._up,
            self._down,
        )
        self._j += 1
        self._last = float(now)
        return int(out)


def _milli(value: float) -> float:
    """A quantity's milli-value as the metrics APIs report it (an integer)."""
    return float(round(value * 1000.0))


def metric_replicas(
    current: int,
    values: Sequence[float | None],
    target: float,
    *,
    unready: int = 0,
    utilization: bool = False,
    tolerance: float = DEFAULT_TOLERANCE,
) -> int | None:
    """The replica calculator for Resource and Pods metrics, from each ready pod's value.

    Parameters
    ----------
    current : int
        ``spec.replicas`` now.
    values : sequence of float or None
        One value per pod that is ready (None = the pod has no metric yet).  For
        ``utilization=True`` the value is the pod's usage in percent of its request and
        ``target`` is ``averageUtilization``; otherwise values and target are in SI units
        (``averageValue``; 0.2 for ``"200m"``).
    unready : int
        Pods not yet ready (or, for CPU, still initializing): left out, or 0 on a scale-up.
    tolerance : float
        ``--horizontal-pod-autoscaler-tolerance``.

    Returns
    -------
    int or None
        The proposal, or None when no ready pod reports the metric (the controller's error).
    """
    have = [float(v) for v in values if v is not None]
    missing = sum(v is None for v in values)
    if utilization:
        total, tgt = sum(have), float(target)
    else:
        total, tgt = sum(_milli(v) for v in have), _milli(target)
    out = plain_replicas(
        int(current), len(have), total, missing, int(unready), tgt, float(tolerance), utilization
    )
    return None if out < 0 else int(out)


def object_replicas(
    current: int,
    value: float,
    target: float,
    *,
    average: bool = False,
    ready: int | None = None,
    tolerance: float = DEFAULT_TOLERANCE,
) -> int:
    """The replica calculator for Object and External metrics (SI units; ``average`` = AverageValue).

    ``ready`` is the number of Running and Ready pods (default ``current``); ``Value`` targets
    scale it, ``AverageValue`` targets give ``ceil(value / target)`` outright.
    """
    v, t = _milli(value), _milli(target)
    if average:
        return int(average_value_replicas(int(current), v, t, float(tolerance)))
    return int(value_replicas(int(current), int(current if ready is None else ready), v, t, float(tolerance)))
