"""capplan.plan: the capacity plan from an SLA and evidence, its reports and atomic writing."""

from __future__ import annotations

import json
import math
import os
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats

import capplan as cp
from capplan import autoscale as au
from capplan import caches
from capplan.dbconfig import load_pgbouncer, load_postgresql_conf
from capplan.errors import ParameterError
from capplan.fitting import compare_service_times
from capplan.measurements import read_bucket_csv
from capplan.plan import (
    CapacityPlan,
    ServiceEvidence,
    best_fit,
    plan,
    render_html,
    render_markdown,
    write_report,
)
from capplan.plan import render as render_module
from capplan.sizing import check_database_pools, size_pool, size_replicas
from capplan.sizing.caches import size_cache

DATA = Path(__file__).resolve().parents[1] / "data"
SLA = cp.load_sla(DATA / "performance-sla.yaml", DATA / "performance-budget.yaml")
CRITICAL = "critical_operations"
STANDARD = "standard_operations"
MIX = {CRITICAL: 0.3, STANDARD: 0.7}
TIMES = {CRITICAL: 0.040, STANDARD: 0.080}


@pytest.fixture(scope="module")
def two_class_plan() -> CapacityPlan:
    return plan(
        SLA,
        service_time=TIMES,
        mix=MIX,
        workers=8,
        query_time=0.005,
        pgbouncer=load_pgbouncer(DATA / "pgbouncer.ini"),
        postgres=load_postgresql_conf(DATA / "postgresql.conf"),
        pgbouncer_instances=3,
        price_per_replica_hour=0.5,
    )


def test_replicas_are_the_sizing_functions_answer(two_class_plan: CapacityPlan) -> None:
    peak = SLA.rates("api_gateway")["peak"]
    for op_class, share in MIX.items():
        direct = size_replicas(
            peak * share,
            SLA.latency_targets_for("api_endpoints", op_class),
            workers=8,
            service_time=TIMES[op_class],
            max_utilization=SLA.utilization_target("cpu"),
            redundancy=1,
            zones=3,
        )
        assert two_class_plan.replicas[op_class].replicas == direct.replicas
        rec = two_class_plan.to_frame().query("component == 'replicas' and item == @op_class").iloc[0]
        assert rec["value"] == direct.replicas
        assert rec["binding"] == direct.binding
    total = sum(s.replicas for s in two_class_plan.replicas.values())
    assert two_class_plan.total_replicas == total
    assert two_class_plan.monthly_cost == pytest.approx(total * 0.5 * 730.5)


def test_pool_and_database_use_the_sla_database_rates(two_class_plan: CapacityPlan) -> None:
    total = two_class_plan.total_replicas
    assert total is not None
    # The SLA's throughput_targets.database: 5000 reads/s + 1000 writes/s.
    expected_pool = size_pool((5000 + 1000) / total, 0.005, budget=0.010, threads=8)
    assert two_class_plan.pool is not None
    assert two_class_plan.pool.pool_size == expected_pool.pool_size
    expected_db = check_database_pools(
        load_pgbouncer(DATA / "pgbouncer.ini"),
        load_postgresql_conf(DATA / "postgresql.conf"),
        replicas=total,
        pool_per_replica=expected_pool.pool_size,
        read_qps=5000,
        write_qps=1000,
        query_time=0.005,
        pgbouncer_instances=3,
    )
    assert two_class_plan.database is not None
    assert two_class_plan.database.max_safe_replicas == expected_db.max_safe_replicas
    assert two_class_plan.database.ok == expected_db.ok


def test_predictions_cover_every_target_and_scenario(two_class_plan: CapacityPlan) -> None:
    frame = two_class_plan.predictions()
    for op_class in MIX:
        targets = SLA.latency_targets_for("api_endpoints", op_class)
        rows = frame[frame["class"] == op_class]
        # all up, N+1, one of three zones lost: every target in each
        assert len(rows) == 3 * len(targets)
        assert set(rows["quantile"]) == set(targets)
    assert bool(frame["met"].all())
    assert two_class_plan.ok
    assert two_class_plan.misses() == []


def test_an_unmeetable_target_is_reported_not_raised() -> None:
    # Exponential service with mean 0.3 s: its own p99 is 0.3 ln(100) = 1.38 s > the 0.5 s target.
    result = plan(SLA, service_time={CRITICAL: 0.3})
    assert not result.ok
    assert result.total_replicas is None
    assert CRITICAL in result.infeasible
    assert any("no replica count" in m for m in result.misses())
    assert result.to_frame().iloc[0]["value"] is None


def test_availability_raises_the_count_when_replicas_fail_often() -> None:
    mtbf, mttr = 2 * 3600.0, 3600.0  # each replica up 2/3 of the time
    result = plan(
        SLA, service_time={CRITICAL: 0.040}, mix={CRITICAL: 0.3}, replica_mtbf=mtbf, replica_mttr=mttr
    )
    sized = result.replicas[CRITICAL]
    avail = result.availability[CRITICAL]
    final = result.summary().iloc[0]["replicas"]
    assert final == max(sized.replicas, avail.replicas) > sized.replicas
    # k-out-of-n (Trivedi 2016, sec. 3.8): P(Binomial(N, A) >= k) >= 0.9999 at N, not at N - 1.
    a = mtbf / (mtbf + mttr)
    k = avail.required
    assert stats.binom.sf(k - 1, final, a) >= 0.9999
    assert stats.binom.sf(k - 1, final - 1, a) < 0.9999
    rec = result.to_frame().iloc[0]
    assert rec["value"] == final
    assert "uptime" in rec["binding"]


def test_json_is_strict_and_complete(two_class_plan: CapacityPlan) -> None:
    data = json.loads(two_class_plan.to_json())
    assert data["ok"] is True
    assert data["total_replicas"] == two_class_plan.total_replicas
    assert {r["item"] for r in data["recommendations"] if r["component"] == "replicas"} == set(MIX)
    assert len(data["predictions"]) == len(two_class_plan.predictions())
    assert "NaN" not in two_class_plan.to_json()


def test_markdown_and_html_reports(two_class_plan: CapacityPlan) -> None:
    markdown = render_markdown(two_class_plan)
    assert markdown.startswith("# Capacity plan: meets the SLA")
    for op_class in MIX:
        assert op_class in markdown
    page = render_html(two_class_plan)
    assert page.count("data:image/png;base64,") == len(MIX)
    assert 'src="http' not in page and "<script" not in page  # self-contained, no external fetches
    assert "figures" not in render_html(two_class_plan, figures=False)
    assert "data:image" not in render_html(two_class_plan, figures=False)
    assert repr(two_class_plan).startswith("CapacityPlan(api_gateway peak 10000/s, 2 classes,")


def test_write_report_is_atomic(
    tmp_path: Path, two_class_plan: CapacityPlan, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = tmp_path / "plan.html"
    write_report(two_class_plan, target)
    first = target.read_text()
    assert first.startswith("<!DOCTYPE html>")
    umask = os.umask(0)
    os.umask(umask)
    assert target.stat().st_mode & 0o777 == 0o666 & ~umask  # as open() would create it

    def broken(*args: object, **kwargs: object) -> str:
        raise RuntimeError("renderer failed")

    monkeypatch.setattr(render_module, "render_html", broken)
    with pytest.raises(RuntimeError, match="renderer failed"):
        write_report(two_class_plan, target)
    assert target.read_text() == first
    assert sorted(p.name for p in tmp_path.iterdir()) == ["plan.html"]  # no temporary left behind

    write_report(two_class_plan, tmp_path / "plan.json")
    assert json.loads((tmp_path / "plan.json").read_text())["ok"] is True
    with pytest.raises(ParameterError, match=r"\.html, \.md or \.json"):
        write_report(two_class_plan, tmp_path / "plan.pdf")


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({}, "needs a service time"),
        (
            {"service_time": {"nonexistent_class": 0.01}},
            "no latency targets for api_endpoints.nonexistent_class",
        ),
        ({"service_time": TIMES, "mix": {CRITICAL: 0.5}}, "no share given"),
        ({"service_time": TIMES, "mix": {CRITICAL: 0.6, STANDARD: 0.6}}, "add up to 1.2"),
        ({"service_time": TIMES, "mix": {**MIX, "x": 0.0}}, "no service-time evidence"),
        ({"service_time": TIMES, "load": "nightly"}, "levels peak, sustained, burst"),
        ({"service_time": TIMES, "replica_mtbf": 3600.0}, "give both or neither"),
        ({"service_time": {CRITICAL: -1.0}}, "mean_s"),
        ({"service_time": TIMES, "traffic": au.constant(100.0, 3600.0)}, "give the hpa"),
        ({"service_time": TIMES, "pgbouncer": load_pgbouncer(DATA / "pgbouncer.ini")}, "give both"),
        (
            {
                "service_time": TIMES,
                "pgbouncer": load_pgbouncer(DATA / "pgbouncer.ini"),
                "postgres": load_postgresql_conf(DATA / "postgresql.conf"),
            },
            "query_time: needed",
        ),
        ({"service_time": TIMES, "price_per_replica_hour": -1.0}, "price_per_replica_hour"),
    ],
)
def test_bad_input_is_named(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(ParameterError, match=message):
        plan(SLA, **kwargs)  # type: ignore[arg-type]


def test_duplicate_evidence_is_refused() -> None:
    with pytest.raises(ParameterError, match="two service times"):
        plan(SLA, ServiceEvidence(CRITICAL, 0.04), service_time={CRITICAL: 0.05})


@settings(max_examples=5, deadline=None)
@given(st.floats(0.05, 0.45), st.floats(1.05, 2.0))
def test_more_traffic_never_needs_fewer_replicas(share: float, factor: float) -> None:
    small = plan(SLA, service_time={CRITICAL: 0.04}, mix={CRITICAL: share})
    large = plan(SLA, service_time={CRITICAL: 0.04}, mix={CRITICAL: min(1.0, share * factor)})
    assert small.total_replicas is not None and large.total_replicas is not None
    assert large.total_replicas >= small.total_replicas
    assert math.isfinite(large.replicas[CRITICAL].headroom)


@pytest.fixture(scope="module")
def autoscaled_plan() -> CapacityPlan:
    peak = au.diurnal(200.0, 1200.0, step=15.0)
    return plan(
        SLA,
        service_time={CRITICAL: 0.040},
        mix={CRITICAL: 0.12},
        hpa=au.load_hpa(DATA / "hpa.yaml"),
        traffic=peak,
        price_per_replica_hour=0.25,
    )


def test_autoscaling_part_matches_a_direct_simulation(autoscaled_plan: CapacityPlan) -> None:
    check = autoscaled_plan.autoscaling
    assert check is not None and check.result is not None and check.fixed_result is not None
    targets = SLA.latency_targets_for("api_endpoints", CRITICAL)
    direct = au.simulate(
        au.diurnal(200.0, 1200.0, step=15.0),
        au.load_hpa(DATA / "hpa.yaml"),
        au.Workload(service_time=0.040, workers=8),
        sla=targets,
        price_per_replica_hour=0.25,
    )
    assert check.result.totals() == direct.totals()
    rows = autoscaled_plan.to_frame().query("component == 'autoscaling'")
    assert rows.iloc[0]["value"] == 50  # the manifest's maxReplicas covers the planned peak
    assert rows.iloc[1]["value"] == direct.totals()["replica_hours"]
    assert json.loads(autoscaled_plan.to_json())["autoscaling"]["max_replicas"] == 50
    assert "Autoscaling over the traffic" in render_markdown(autoscaled_plan)
    assert render_html(autoscaled_plan).count("data:image/png;base64,") == 2  # class curve + timeline


def test_hpa_max_replicas_below_the_planned_peak_is_a_miss() -> None:
    result = plan(
        SLA, service_time={CRITICAL: 0.040}, mix={CRITICAL: 1.0}, hpa=au.load_hpa(DATA / "hpa.yaml")
    )
    planned = result.replicas[CRITICAL].replicas
    assert planned > 50
    assert any(f"maxReplicas 50 < {planned}" in m for m in result.misses())
    rec = result.to_frame().query("component == 'autoscaling'").iloc[0]
    assert rec["value"] == planned


def test_cache_part_reports_tiers_and_misses() -> None:
    with pytest.warns(caches.CatalogFractionWarning):
        sized = size_cache(caches.zipf_popularity(20_000, 0.9), 1000.0, backend_latency=0.02, sla=SLA)
    result = plan(SLA, service_time={CRITICAL: 0.040}, mix={CRITICAL: 0.1}, cache=sized)
    rows = result.to_frame().query("component == 'cache'")
    assert rows.iloc[0]["value"] == pytest.approx(sized.capacity)
    assert rows.iloc[1]["value"] == pytest.approx(sized.backend_rate)
    assert result.ok
    assert "## Cache" in render_markdown(result)


def test_best_fit_evidence_from_prometheus_buckets() -> None:
    buckets = read_bucket_csv(DATA / "loadtest" / "latency_buckets.csv").query("users == 1")
    le = buckets["le"].to_numpy()
    counts = buckets["count"].to_numpy()
    evidence = best_fit(CRITICAL, le=le, counts=counts, source="Prometheus histogram")
    table, fits = compare_service_times(le=le, counts=counts, families=("gamma", "lognormal"))
    assert evidence.mean_s == fits[table["family"].iloc[0]].mean_  # the lowest-AIC family
    assert evidence.source.startswith("Prometheus histogram: ")
    # Bucket counts bound the mean of the data: every observation lies within its bucket's edges.
    finite = np.isfinite(le)
    per_bucket = np.diff(np.concatenate([[0.0], counts[finite]]))
    edges = np.concatenate([[0.0], le[finite]])
    n = per_bucket.sum()
    lower, upper = (per_bucket * edges[:-1]).sum() / n, (per_bucket * edges[1:]).sum() / n
    assert lower <= evidence.mean_s <= upper
    result = plan(SLA, evidence, mix={CRITICAL: 0.1}, redundancy=0, zones=None)
    assert result.ok and result.evidence[0].distribution is not None
