"""size_servers: minimal, verified, and honest about infeasible targets."""

from __future__ import annotations

import math

import pytest

from capplan import ParameterError
from capplan.queueing import GGc, MMc
from capplan.sizing import size_servers

TARGETS = {0.5: 0.05, 0.95: 0.2, 0.99: 0.5, 0.999: 1.0}  # the seed's critical_operations


@pytest.mark.parametrize(
    ("lam", "service", "targets", "cap"),
    [
        (10_000.0, 0.040, TARGETS, 0.7),
        (50.0, 0.040, {0.95: 0.13}, 1.0),  # p95 of the service alone is 0.120 s: latency binds
        (20.0, 0.060, {0.99: 0.3}, 1.0),
        (5.0, 0.100, {0.5: 0.1}, 0.9),
    ],
)
def test_result_is_minimal_and_meets_every_target(
    lam: float, service: float, targets: dict[float, float], cap: float
) -> None:
    r = size_servers(lam, 1 / service, targets, max_utilization=cap)
    assert r.servers is not None
    at = MMc(lam, 1 / service, r.servers)
    below = MMc(lam, 1 / service, r.servers - 1)
    assert at.utilization <= cap
    for q, t in targets.items():
        assert at.response_quantile(q) <= t
        assert r.predicted[q] == pytest.approx(at.response_quantile(q))
    fails_below = (
        below.utilization > cap
        or below.utilization >= 1
        or any(below.response_quantile(q) > t for q, t in targets.items())
    )
    assert fails_below


def test_utilization_binds_at_scale() -> None:
    # 10,000/s at 40 ms is 400 Erlangs; 70% needs ceil(400/0.7) = 572 servers, where waits are tiny.
    r = size_servers(10_000, 25.0, TARGETS, max_utilization=0.7)
    assert r.servers == 572
    assert r.binding == "utilization <= 70%"
    assert r.method == "exact"


def test_latency_binds_when_service_time_is_close_to_target() -> None:
    r = size_servers(50.0, 25.0, {0.95: 0.13})
    assert r.binding == "p95 <= 0.13 s"


def test_infeasible_when_service_time_alone_misses_the_target() -> None:
    # Exponential service with mean 80 ms has p50 = 80 ms * ln 2 = 55.5 ms > 50 ms and
    # p95 = 80 ms * ln 20 = 240 ms > 200 ms; p99 = 368 ms and p99.9 = 553 ms are within target.
    r = size_servers(100.0, 12.5, TARGETS)
    assert not r.feasible
    assert r.servers is None
    assert r.binding == (
        "infeasible: the service time alone misses "
        "p50 0.05545 s >= target 0.05 s; p95 0.2397 s >= target 0.2 s"
    )
    assert math.isnan(r.utilization)


def test_variable_service_uses_the_ggc_model() -> None:
    r = size_servers(50.0, 25.0, {0.99: 0.6}, service_scv=4.0)
    assert r.method == "PH/PH/c matrix-geometric (exact for the phase-type fits)"
    assert r.servers is not None
    assert GGc(50.0, 25.0, r.servers, 1.0, 4.0).response_quantile(0.99) <= 0.6
    assert GGc(50.0, 25.0, r.servers - 1, 1.0, 4.0).response_quantile(0.99) > 0.6


@pytest.mark.parametrize(
    ("kwargs", "name"),
    [
        ({"arrival_rate": -1.0}, "arrival_rate"),
        ({"service_rate": 0.0}, "service_rate"),
        ({"max_utilization": 1.5}, "max_utilization"),
        ({"targets": {1.2: 0.5}}, "quantile"),
        ({"targets": {0.99: -0.5}}, "target"),
    ],
)
def test_invalid_input(kwargs: dict[str, object], name: str) -> None:
    args: dict[str, object] = {"arrival_rate": 10.0, "service_rate": 25.0, "targets": {0.99: 0.5}}
    args.update(kwargs)
    with pytest.raises(ParameterError, match=name):
        size_servers(**args)  # type: ignore[arg-type]
