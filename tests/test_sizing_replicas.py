"""size_replicas and replicas_for_availability: minimal, verified by simulation, honest when impossible."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats

from capplan import InfeasibleError, ParameterError
from capplan.distributions import gamma, lognormal
from capplan.queueing import GGc
from capplan.sim import simulate_queue
from capplan.sizing import replica_capacity, replicas_for_availability, size_replicas
from capplan.sizing._service import service_distribution

SEED_TARGETS = {0.5: 0.05, 0.95: 0.2, 0.99: 0.5, 0.999: 1.0}  # critical_operations


@pytest.mark.parametrize(
    ("rate", "workers", "service", "target", "expected"),
    [
        # Targets set between the model's p99 at N and at N - 1 (each >= 10% apart), so the
        # simulator's ~1% confidence intervals can tell the two sizes apart.
        (400.0, 4, gamma(0.05, 1.0), 0.3324, 7),
        (300.0, 2, gamma(0.05, 0.5), 0.8663, 9),
        (200.0, 4, lognormal(0.05, 1.0), 0.3351, 4),
    ],
)
def test_simulation_confirms_n_meets_and_n_minus_1_misses(
    rate: float, workers: int, service: object, target: float, expected: int
) -> None:
    r = size_replicas(rate, {0.99: target}, workers=workers, service=service)
    assert r.replicas == expected
    assert r.binding.startswith("p99 <= ")
    for n, should_meet in ((expected, True), (expected - 1, False)):
        # Random balancing: each replica is its own queue fed rate / n.
        sim = simulate_queue(rate / n, service, workers, 1_500_000, seed=100 + n, keep="stats")
        p99 = sim.summary(confidence=0.99).loc["response_p99"]
        if should_meet:
            assert p99["ci_high"] <= target, (n, p99.to_dict())
        else:
            assert p99["ci_low"] > target, (n, p99.to_dict())


def test_seed_sla_at_peak_with_redundancy_and_zones() -> None:
    # 10,000/s at 40 ms mean is 400 Erlangs; on 8-worker replicas the 70% CPU target needs
    # ceil(400 / (8 * 0.7)) = 72 replicas up.  Losing one of three zones removes ceil(N/3), so
    # N - ceil(N/3) >= 72 first at N = 108 (N+1 needs only 73).  Headroom: the rate 72 replicas
    # carry at 70%, 72 * 8 * 0.7 / 0.040 = 10,080/s, over 10,000/s.
    r = size_replicas(
        10_000, SEED_TARGETS, workers=8, service_time=0.040, max_utilization=0.7, redundancy=1, zones=3
    )
    assert r.replicas == 108
    assert r.binding == "utilization <= 70% (one of 3 zones lost)"
    frame = r.to_frame()
    assert set(frame["scenario"]) == {"all replicas up", "N+1: 1 down", "one of 3 zones lost"}
    assert (frame["predicted_s"] <= frame["target_s"]).all()
    assert r.headroom == pytest.approx(72 * 8 * 0.7 / 0.040 / 10_000, rel=1e-6)


def test_jsq_needs_no_more_replicas_than_random() -> None:
    random = size_replicas(300.0, {0.99: 0.3}, workers=2, service_time=0.05)
    jsq = size_replicas(300.0, {0.99: 0.3}, workers=2, service_time=0.05, balancing="jsq")
    assert jsq.replicas <= random.replicas
    assert "JSQ" in jsq.balancing


def test_samples_are_accepted_as_the_service_time() -> None:
    samples = stats.lognorm(0.8, scale=0.03).rvs(size=5_000, random_state=1)
    r = size_replicas(200.0, {0.99: 0.4}, workers=4, service=samples)
    empirical = service_distribution(samples)
    assert GGc(200.0 / r.replicas, None, 4, service=empirical).response_quantile(0.99) <= 0.4
    assert GGc(200.0 / (r.replicas - 1), None, 4, service=empirical).response_quantile(0.99) > 0.4


def test_impossible_target_explains_the_floor() -> None:
    # Exponential service of mean 50 ms has p95 = 50 ms * ln 20 = 150 ms: a 100 ms p95 is impossible.
    with pytest.raises(InfeasibleError, match=r"p95 of the service time alone is 0\.1498 s"):
        size_replicas(100.0, {0.95: 0.1}, service_time=0.05)


@pytest.mark.parametrize(
    ("kwargs", "name"),
    [
        ({"workers": 0}, "workers"),
        ({"zones": 1}, "zones"),
        ({"balancing": "ring"}, "balancing"),
        ({"max_utilization": 2.0}, "max_utilization"),
        ({"service": [0.1]}, "service"),
        ({"service_time": None}, "service_time"),
    ],
)
def test_bad_input(kwargs: dict[str, object], name: str) -> None:
    args: dict[str, object] = {"service_time": 0.05}
    args.update(kwargs)
    with pytest.raises(ParameterError, match=name):
        size_replicas(10.0, {0.99: 1.0}, **args)  # type: ignore[arg-type]


def test_availability_k_out_of_n() -> None:
    # A = 720 h / (720 h + 1 h); P(at least 3 of N up) >= 99.99% first at N = 4:
    # P(3 of 3) = A^3 = 0.99584 < 0.9999; P(>= 3 of 4) = A^4 + 4 A^3 (1 - A) = 0.999988.
    r = replicas_for_availability(0.9999, mtbf=720 * 3600, mttr=3600, required=3)
    a = 720 / 721
    assert r.replicas == 4
    assert r.availability == pytest.approx(a**4 + 4 * a**3 * (1 - a), rel=1e-12)
    assert r.downtime_per_year_s == pytest.approx((1 - r.availability) * 365.25 * 86400)
    assert replicas_for_availability(0.99, mtbf=100.0, mttr=0.0).replicas == 1
    assert math.isclose(r.replica_availability, a)


def test_more_load_never_fewer_replicas() -> None:
    # The case that used to shrink: 2 replicas at 1.05/s, 1 at 1.10/s (service 1 s, SCV 4, two
    # workers, p99 <= 13.1 s), because the old G/G/c p99 fell as utilization rose.
    rates = [0.9 + 0.01 * i for i in range(31)]
    counts = [
        size_replicas(rate, {0.99: 13.1}, workers=2, service_time=1.0, service_scv=4.0).replicas
        for rate in rates
    ]
    assert counts == sorted(counts), list(zip(rates, counts, strict=True))
    assert counts[20] >= 2  # rate 1.10/s


def test_verify_simulates_the_recommendation() -> None:
    r = size_replicas(
        400.0, {0.95: 0.1, 0.99: 0.3}, workers=4, service_time=0.02, service_scv=4.0, verify=True, seed=5
    )
    assert r.verification is not None
    table = r.verification.table
    assert list(table["quantile"]) == [0.95, 0.99]
    assert (table["ci_low_s"] <= table["simulated_s"]).all() and (
        table["simulated_s"] <= table["ci_high_s"]
    ).all()
    # The model is exact for these phase-type fits: the simulation agrees within its interval
    # (plus 2% for the stationary-start bias of a finite run) and meets the targets.
    low, high, predicted = (
        table[col].to_numpy(dtype=float) for col in ("ci_low_s", "ci_high_s", "predicted_s")
    )
    assert (low * 0.98 <= predicted).all() and (predicted <= high * 1.02).all()
    assert r.verification.ok
    assert r.method == "PH/PH/c matrix-geometric (exact for the phase-type fits)"


def test_replica_capacity_where_the_utilization_cap_binds() -> None:
    # Loose latency targets: the 70% cap binds. 10 replicas with N+1 and 3 zones keep
    # min(10 - 1, 10 - ceil(10/3)) = 6 up, each with 4 workers of 30 ms: 6 * 4 * 0.7 / 0.030 = 560/s.
    kwargs = {"workers": 4, "service_time": 0.030, "max_utilization": 0.7, "redundancy": 1, "zones": 3}
    assert replica_capacity(10, {0.99: 5.0}, **kwargs) == pytest.approx(560.0, rel=1e-4)  # type: ignore[arg-type]
    assert replica_capacity(1, {0.99: 5.0}, **kwargs) == 0.0  # type: ignore[arg-type]  # N+1 leaves none up


@settings(max_examples=15, deadline=None)
@given(
    rate=st.floats(5.0, 5000.0),
    workers=st.integers(1, 16),
    scv=st.sampled_from([0.5, 1.0, 2.0]),
    redundancy=st.integers(0, 2),
)
def test_replica_capacity_inverts_size_replicas(
    rate: float, workers: int, scv: float, redundancy: int
) -> None:
    # The sized fleet carries its headroom (the same search, from another start), and the carried
    # rate sits at the boundary of size_replicas: just below it the same count suffices, just
    # above it does not.
    kwargs = {"workers": workers, "service_time": 0.02, "service_scv": scv, "max_utilization": 0.8}
    kwargs["redundancy"] = redundancy
    sized = size_replicas(rate, SEED_TARGETS, **kwargs)  # type: ignore[arg-type]
    carried = replica_capacity(sized.replicas, SEED_TARGETS, **kwargs)  # type: ignore[arg-type]
    assert carried == pytest.approx(sized.headroom * rate, rel=2e-4)  # both searches resolve 1e-4
    assert carried >= rate
    assert size_replicas(carried * (1 - 2e-4), SEED_TARGETS, **kwargs).replicas <= sized.replicas  # type: ignore[arg-type]
    assert size_replicas(carried * (1 + 2e-3), SEED_TARGETS, **kwargs).replicas > sized.replicas  # type: ignore[arg-type]


# Heavy-tailed service (waits on a grid): the answers of the previous implementation, which solved
# every candidate and every load of the capacity search; the frontier search must not change them.
# (rate, extra arguments) -> (replicas, binding, headroom, predicted p50/p95/p99/p99.9 all up,
# p99.9 with a zone lost)
HEAVY_TAILED: dict[str, tuple[float, dict[str, object], int, str, float, list[float], float]] = {
    "lomax": (
        2000.0,
        {},
        24,
        "p99.9 <= 1 s (one of 3 zones lost)",
        1.032281494140625,
        [0.0194129874906, 0.139587759214, 0.319932947674, 0.896027642554],
        0.977276656132,
    ),
    "lomax, arrival SCV 2": (
        2000.0,
        {"arrival_scv": 2.0},
        24,
        "p99.9 <= 1 s (one of 3 zones lost)",
        1.02783203125,
        [0.019421750119, 0.139614304879, 0.31998334498, 0.896217725519],
        0.980199294196,
    ),
    "lognormal": (
        2000.0,
        {},
        23,
        "utilization <= 70% (one of 3 zones lost)",
        1.0500000000000003,
        [0.0182303965601, 0.145000205516, 0.343010047342, 0.902631692805],
        0.917407552099,
    ),
    "lognormal, 600/s": (
        600.0,
        {},
        8,
        "utilization <= 70% (one of 3 zones lost)",
        1.166666666666667,
        [0.0180245430592, 0.144459622561, 0.342504077473, 0.902186033153],
        0.908817154426,
    ),
}


def _heavy(name: str) -> object:
    return stats.lomax(2.5, scale=0.06) if name.startswith("lomax") else lognormal(0.04, 4.0)


@pytest.mark.parametrize("name", sorted(HEAVY_TAILED))
def test_heavy_tailed_sizing_matches_previous_implementation(name: str) -> None:
    rate, extra, replicas, binding, headroom, predicted, zone_p999 = HEAVY_TAILED[name]
    r = size_replicas(
        rate,
        SEED_TARGETS,
        service=_heavy(name),
        workers=8,
        max_utilization=0.7,
        redundancy=1,
        zones=3,
        **extra,  # type: ignore[arg-type]
    )
    assert (r.replicas, r.binding) == (replicas, binding)
    assert r.headroom == headroom
    assert [r.predicted[q] for q in sorted(SEED_TARGETS)] == pytest.approx(predicted, rel=1e-8)
    assert r.scenarios["one of 3 zones lost"]["p0.999"] == pytest.approx(zone_p999, rel=1e-8)


def test_heavy_tailed_replica_capacity_matches_previous_implementation() -> None:
    carried = replica_capacity(
        24,
        SEED_TARGETS,
        service=stats.lomax(2.5, scale=0.06),
        workers=8,
        max_utilization=0.7,
        redundancy=1,
        zones=3,
    )
    assert carried == 2064.5214845504784


def test_heavy_tailed_reason_is_the_first_target_missed() -> None:
    # Gridded waits go through the frontier's solves; the reason must still be the lowest quantile
    # that misses its target, as with closed forms.
    from capplan.sizing.replicas import _Replicas  # noqa: PLC0415 - the internal being checked

    dist = stats.lomax(2.5, scale=0.06)
    fleet = _Replicas(8, None, 1.0, dist, 1.0, "random")
    goals = {0.5: 0.04, 0.9: 0.1, 0.99: 0.35, 0.999: 0.95}  # 12 up miss all four, 16 up p90 and p99.9
    rates, up = np.array([2000.0, 2000.0, 2000.0]), np.array([12.0, 16.0, 40.0])
    reasons = fleet.why_not(rates, up, goals, 0.95)
    for rate, n, reason in zip(rates, up, reasons, strict=True):
        cdf = np.atleast_1d(GGc(rate / n, None, 8, service=dist).response_cdf(np.array(list(goals.values()))))
        missed = [q for q, c in zip(goals, cdf, strict=True) if c < q]
        expected = f"p{missed[0] * 100:g} <= {goals[missed[0]]:g} s" if missed else ""
        assert reason == expected
    assert list(reasons) == ["p50 <= 0.04 s", "p90 <= 0.1 s", ""]
    assert list(fleet.passes(rates, up, goals, 0.95)) == [r == "" for r in reasons]
