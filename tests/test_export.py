"""``capplan export``: every file is read back by the tool that uses it, and the set is atomic.

* Kubernetes objects are validated against the API's OpenAPI definitions as JSON Schema, in the
  strict form that rejects unknown fields (package ``kubernetes-validate``), for the oldest and
  newest Kubernetes it ships (1.25, 1.37); the patches after merging into a minimal Deployment as
  a strategic merge does (containers merged by name).
* capplan's own readers read the files back: ``load_hpa``, ``load_pgbouncer``,
  ``load_postgresql_conf``, and ``check_database_pools`` passes at the most replicas.
* The error budget's burn rate is checked against the M/M/c response-time tail written out by
  hand (below), with Erlang C from mpmath.
* The k6 script is parsed by node (k6 itself is not installed: see ``test_export_loadtest.py``);
  the Locust shape is imported and ticked in a subprocess there too.
"""

from __future__ import annotations

import copy
import csv
import math
from pathlib import Path
from typing import Any

import mpmath
import pytest
import yaml

import capplan as cp
from capplan import autoscale as au
from capplan.cli import main
from capplan.dbconfig import load_pgbouncer, load_postgresql_conf
from capplan.demo.endpoints import LATENCY_BUCKETS
from capplan.export import ExportError, export_plan
from capplan.plan import PodMemory
from capplan.plan.inputs import PlanInputError, load_plan_inputs
from capplan.sizing import check_database_pools

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "data"
PLAN_FILE = DATA / "capacity-plan.yaml"
K8S_VERSIONS = ("1.25.0", "1.37.0")


def _docs(path: Path) -> list[dict[str, Any]]:
    return [d for d in yaml.safe_load_all(path.read_text()) if d is not None]


def test_files_and_result(bundled: cp.CapacityPlan, tmp_path: Path) -> None:
    result = bundled.export(tmp_path / "out", figures=False)
    assert sorted(result.files) == sorted(
        [
            "hpa.yaml",
            "deployment-resources.yaml",
            "service-deployment.yaml",
            "pgbouncer.ini",
            "postgresql.conf",
            "prometheus-rules.yaml",
            "prometheus-rules.test.yaml",
            "k6-thresholds.js",
            "locustfile.py",
            "error-budget.csv",
            "capacity-plan.md",
            "capacity-plan.html",
        ]
    )
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == sorted(result.files)
    for name in result.files:
        if name.endswith(".yaml"):  # plain YAML: no anchors or aliases for a reader to follow
            assert "&id0" not in (tmp_path / "out" / name).read_text(), name
    # the bundled plan misses on purpose (the seed HPA behind the spike): written, misses listed
    assert not result.ok and result.misses == tuple(bundled.misses())
    assert any("memory" in note and "no memory request" in note for note in result.notes)
    assert repr(result) == "ExportResult(12 files, 4 misses, 5 notes)"
    report = (tmp_path / "out" / "capacity-plan.md").read_text()
    assert "## Deployment files" in report and "- [hpa.yaml](hpa.yaml)" in report
    assert '<a href="prometheus-rules.yaml">' in (tmp_path / "out" / "capacity-plan.html").read_text()


# -- Kubernetes ---------------------------------------------------------------------------------
def test_hpa_reads_back_as_the_recommended_hpa(bundled: cp.CapacityPlan, exported: Path) -> None:
    assert bundled.autoscaling is not None
    assert au.load_hpa(exported / "hpa.yaml") == bundled.autoscaling.recommended_hpa()
    (doc,) = _docs(exported / "hpa.yaml")
    assert doc["spec"]["scaleTargetRef"] == {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "name": "critical-operations",
    }


def test_hpa_max_replicas_raised_to_the_planned_peak(bundled: cp.CapacityPlan, tmp_path: Path) -> None:
    inputs = load_plan_inputs(PLAN_FILE)
    low = au.with_settings(inputs.options["hpa"], max_replicas=10)
    plan = inputs.plan(hpa=low)
    plan.export(tmp_path / "out", figures=False, namespace="production")
    hpa = au.load_hpa(tmp_path / "out" / "hpa.yaml")
    assert hpa == low.replace(max_replicas=23)  # critical operations need 23 at the peak
    (doc,) = _docs(tmp_path / "out" / "hpa.yaml")
    assert doc["metadata"]["namespace"] == "production"


def _validate(doc: dict[str, Any]) -> None:
    import kubernetes_validate  # noqa: PLC0415 - a test-only dependency

    for version in K8S_VERSIONS:
        kubernetes_validate.validate(doc, version, strict=True)


def _base_deployment(name: str, container: str) -> dict[str, Any]:
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name},
        "spec": {
            "replicas": 1,
            "selector": {"matchLabels": {"app": name}},
            "template": {
                "metadata": {"labels": {"app": name}},
                "spec": {"containers": [{"name": container, "image": "example/app:1"}]},
            },
        },
    }


def _merge(base: Any, patch: Any) -> Any:
    """Strategic merge as far as these patches go: maps merge, containers merge by name."""
    if isinstance(base, dict) and isinstance(patch, dict):
        out = dict(base)
        for key, value in patch.items():
            if key == "containers":
                by_name = {c["name"]: c for c in base.get(key, [])}
                for c in value:
                    by_name[c["name"]] = _merge(by_name.get(c["name"], {}), c)
                out[key] = list(by_name.values())
            else:
                out[key] = _merge(base.get(key), value) if key in base else value
        return out
    return copy.deepcopy(patch)


def test_kubernetes_objects_validate_against_the_openapi_schema(exported: Path) -> None:
    import kubernetes_validate  # noqa: PLC0415

    for doc in _docs(exported / "hpa.yaml"):
        _validate(doc)
    patches = _docs(exported / "deployment-resources.yaml")
    assert [p["metadata"]["name"] for p in patches] == [
        "critical-operations",
        "standard-operations",
        "batch-operations",
    ]
    for patch in patches:
        name = patch["metadata"]["name"]
        merged = _merge(_base_deployment(name, name), patch)
        _validate(merged)
        assert merged["spec"]["template"]["spec"]["containers"][0]["image"] == "example/app:1"
    (service,) = _docs(exported / "service-deployment.yaml")
    _validate(_merge(_base_deployment("api-gateway", "api-gateway"), service))
    # the check can fail: a misspelt field is rejected in strict mode
    bad = _merge(
        _base_deployment("x", "x"),
        {"spec": {"template": {"spec": {"containers": [{"name": "x", "resource": {}}]}}}},
    )
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(bad, K8S_VERSIONS[-1], strict=True)


def test_cpu_is_one_core_per_worker_and_replicas_fixed_without_an_hpa(exported: Path) -> None:
    patches = {p["metadata"]["name"]: p for p in _docs(exported / "deployment-resources.yaml")}
    for name, patch in patches.items():
        (container,) = patch["spec"]["template"]["spec"]["containers"]
        assert container["resources"] == {"requests": {"cpu": "8"}, "limits": {"cpu": "8"}}, name
    assert "replicas" not in patches["critical-operations"]["spec"]  # the HPA decides
    assert patches["standard-operations"]["spec"]["replicas"] == 5
    assert patches["batch-operations"]["spec"]["replicas"] == 269
    text = (exported / "deployment-resources.yaml").read_text()
    assert text.count("memory: NOT SET") == 3


def _small_plan_file(folder: Path, extra: str) -> Path:
    """Critical operations alone (2000/s, 40 ms, 8 workers, N+1, 3 zones), plus ``extra`` lines."""
    sla = f"[{DATA / 'performance-sla.yaml'}, {DATA / 'performance-budget.yaml'}]"
    text = (
        f"capacity_plan:\n  sla: {sla}\n  mix: {{critical_operations: 20%}}\n"
        "  evidence: {critical_operations: {service_time: 40ms}}\n" + extra
    )
    path = folder / "plan.yaml"
    path.write_text(text)
    return path


def test_memory_from_the_plan(tmp_path: Path) -> None:
    # memory: base 64 MiB + 120 MiB per worker + 2 MiB per request in flight.  Critical operations
    # at the peak with a zone lost: 15 replicas of 8 workers at 2000/s x 40 ms = 80 busy workers,
    # 5.333 per pod -> request 64 + 960 + 10.67 = 1034.67 MiB -> 1035Mi; limit with all 8 busy:
    # 64 + 8 x 122 = 1040 MiB.
    path = _small_plan_file(tmp_path, "  memory: {per_worker: 120Mi, per_request: 2Mi, base: 64Mi}\n")
    plan = load_plan_inputs(path).plan()
    assert plan.memory == PodMemory(120 * 2**20, 2 * 2**20, 64 * 2**20, source=f"stated in {path}")
    result = plan.export(tmp_path / "out", figures=False)
    assert not any(n.startswith("memory") for n in result.notes)
    (patch,) = _docs(tmp_path / "out" / "deployment-resources.yaml")
    resources = patch["spec"]["template"]["spec"]["containers"][0]["resources"]
    assert resources == {
        "requests": {"cpu": "8", "memory": "1035Mi"},
        "limits": {"cpu": "8", "memory": "1040Mi"},
    }
    _validate(_merge(_base_deployment("critical-operations", "critical-operations"), patch))


def test_memory_in_the_plan_file_is_checked(tmp_path: Path) -> None:
    with pytest.raises(PlanInputError, match=r"capacity_plan\.memory\.per_worker: is required"):
        load_plan_inputs(_small_plan_file(tmp_path, "  memory: {per_request: 2Mi}\n"))
    with pytest.raises(PlanInputError, match=r"capacity_plan\.memory\.per_worker: .*lots"):
        load_plan_inputs(_small_plan_file(tmp_path, "  memory: {per_worker: lots}\n"))
    unknown = r"capacity_plan\.memory\.limit: unknown key; expected one of: per_worker, per_request, base"
    with pytest.raises(PlanInputError, match=unknown):
        load_plan_inputs(_small_plan_file(tmp_path, "  memory: {per_worker: 1Gi, limit: 2Gi}\n"))


# -- PgBouncer and PostgreSQL ---------------------------------------------------------------------
def test_pool_configs_read_back_and_hold_at_the_most_replicas(
    bundled: cp.CapacityPlan, exported: Path
) -> None:
    pgb = load_pgbouncer(exported / "pgbouncer.ini")
    pg = load_postgresql_conf(exported / "postgresql.conf")
    given = load_pgbouncer(DATA / "pgbouncer.ini")
    assert pgb.databases.keys() == given.databases.keys() and pgb.pool_mode == given.pool_mode
    assert (pgb.max_client_conn, pgb.default_pool_size) == (1000, 50)  # the seed's were enough
    assert pg.max_connections == 200
    most = 50 + 5 + 269  # the HPA's maxReplicas for critical operations, the fixed counts for the others
    assert bundled.pool is not None
    check = check_database_pools(
        pgb, pg, replicas=most, pool_per_replica=bundled.pool.pool_size, read_qps=5000, write_qps=1000,
        query_time=0.005, pgbouncer_instances=3,
    )  # fmt: skip
    assert check.ok, check.to_frame()


def test_pool_limits_raised_where_the_plan_needs_them(tmp_path: Path) -> None:
    # One PgBouncer allowing 100 clients and PostgreSQL allowing 50 connections: at 324 replicas
    # x 2 connections the export raises max_client_conn to 648; the PgBouncer opens min(50 + 10,
    # 100) = 60 server connections to each host, so max_connections becomes 60 + 3 reserved.
    pgb_text = (DATA / "pgbouncer.ini").read_text().replace("max_client_conn = 1000", "max_client_conn = 100")
    pg_text = (DATA / "postgresql.conf").read_text().replace("max_connections = 200", "max_connections = 50")
    (tmp_path / "pgbouncer.ini").write_text(pgb_text)
    (tmp_path / "postgresql.conf").write_text(pg_text)
    inputs = load_plan_inputs(PLAN_FILE)
    plan = inputs.plan(
        pgbouncer=load_pgbouncer(tmp_path / "pgbouncer.ini"),
        postgres=load_postgresql_conf(tmp_path / "postgresql.conf"),
        pgbouncer_instances=1,
    )
    assert any(m.startswith("database:") for m in plan.misses())
    plan.export(tmp_path / "out", figures=False)
    pgb = load_pgbouncer(tmp_path / "out" / "pgbouncer.ini")
    pg = load_postgresql_conf(tmp_path / "out" / "postgresql.conf")
    assert pgb.max_client_conn == 648
    assert pg.max_connections == 63  # 60 server connections + 3 superuser slots
    check = check_database_pools(
        pgb, pg, replicas=324, pool_per_replica=2, read_qps=5000, write_qps=1000, query_time=0.005
    )
    assert check.ok, check.to_frame()


# -- error budget ---------------------------------------------------------------------------------
def _mmc_response_tail(lam: float, mu: float, c: int, t: float) -> float:
    """P(R > t) of M/M/c, R = W + S: W = 0 with probability 1 - C, else Exp(theta), theta = c mu -
    lam (C = Erlang C); S ~ Exp(mu) independent.  P(W + S > t | W ~ Exp(theta)) = e^{-theta t} +
    theta e^{-mu t} (1 - e^{-(theta - mu) t}) / (theta - mu) (convolution, theta != mu)."""
    a = mpmath.mpf(lam) / mu
    b = mpmath.mpf(1)
    for k in range(1, c + 1):  # Erlang B by its recursion, then C
        b = a * b / (k + a * b)
    erlang_c = c * b / (c - a * (1 - b))
    theta = c * mu - lam
    s = mpmath.exp(-mu * t)
    waited = mpmath.exp(-theta * t) + theta * s * (1 - mpmath.exp(-(theta - mu) * t)) / (theta - mu)
    return float((1 - erlang_c) * s + erlang_c * waited)


def test_error_budget(exported: Path) -> None:
    with (exported / "error-budget.csv").open() as handle:
        rows = {(r["op_class"], r["slo"]): r for r in csv.DictReader(handle)}
    avail = rows[("critical_operations", "availability")]
    assert float(avail["budget_minutes_30d"]) == pytest.approx(4.32)  # 0.01% of 30 days
    assert float(avail["budget_requests_30d"]) == pytest.approx(1e-4 * 2000 * 30 * 86400)
    assert avail["basis"].startswith("k-out-of-n")
    p95 = rows[("critical_operations", "latency-p95")]
    assert float(p95["budget_minutes_30d"]) == pytest.approx(2160)
    # 23 replicas share 2000/s; each is M/M/8 with mu = 25/s (40 ms)
    tail = _mmc_response_tail(2000 / 23, 25.0, 8, 0.2)
    assert float(p95["predicted_bad_fraction"]) == pytest.approx(tail, rel=1e-5)
    assert float(p95["burn_rate"]) == pytest.approx(tail / 0.05, rel=1e-5)
    worst = _mmc_response_tail(2000 / 15, 25.0, 8, 0.2)  # a zone lost: 15 up
    assert float(p95["burn_rate_worst_case"]) == pytest.approx(worst / 0.05, rel=1e-5)
    assert 0 < float(p95["burn_rate"]) < float(p95["burn_rate_worst_case"]) <= 1  # the plan meets p95
    err = rows[("critical_operations", "error-rate")]
    assert err["burn_rate"] == "" and err["basis"] == "not modelled by the plan"


# -- Prometheus names ----------------------------------------------------------------------------
def test_rules_follow_the_histograms_buckets(bundled: cp.CapacityPlan, tmp_path: Path) -> None:
    # The demo service's buckets: 200 ms is a bound, 400 ms is not (watched at 300 ms, stricter),
    # 1 s is a whole number (matches "1" from Go clients and "1.0" from the Python client).
    result = bundled.export(
        tmp_path / "out",
        figures=False,
        buckets=LATENCY_BUCKETS,
        requests_metric="demo_requests_total",
        duration_metric="demo_request_duration_seconds",
        deployments={"standard_operations": "demo"},
    )
    rules = (tmp_path / "out" / "prometheus-rules.yaml").read_text()
    assert 'demo_request_duration_seconds_bucket{job="demo",le="0.3"}' in rules
    assert 'demo_request_duration_seconds_bucket{job="critical-operations",le="0.2"}' in rules
    assert 'le=~"1|1.0"' in rules
    assert any("latency-p95: no bucket at 0.4 s; watched at le=0.3" in n for n in result.notes)
    assert any("batch_operations latency-p50: no bucket at 5 s; watched at le=1" in n for n in result.notes)


# -- writing the set ------------------------------------------------------------------------------
def test_existing_directory_needs_force(bundled: cp.CapacityPlan, tmp_path: Path) -> None:
    out = tmp_path / "out"
    out.mkdir()
    (out / "stale.txt").write_text("old")
    with pytest.raises(ExportError, match="already exists"):
        bundled.export(out, figures=False)
    assert [p.name for p in out.iterdir()] == ["stale.txt"]
    bundled.export(out, figures=False, force=True)
    assert not (out / "stale.txt").exists() and (out / "hpa.yaml").exists()
    assert [p.name for p in tmp_path.iterdir()] == ["out"]  # no temporary directory left
    (tmp_path / "file").write_text("x")
    with pytest.raises(ExportError, match="not a directory"):
        bundled.export(tmp_path / "file", figures=False, force=True)


def test_a_failed_write_leaves_no_half_written_set(
    bundled: cp.CapacityPlan, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    old = tmp_path / "out"
    export_plan(bundled, old, figures=False)
    before = {p.name: p.read_text() for p in old.iterdir()}
    written: list[str] = []
    real = Path.write_text

    def failing(self: Path, text: str, *args: Any, **kwargs: Any) -> int:
        if len(written) == 3:
            raise OSError(28, "No space left on device")
        written.append(self.name)
        return real(self, text, *args, **kwargs)

    monkeypatch.setattr(Path, "write_text", failing)
    with pytest.raises(OSError, match="No space"):
        export_plan(bundled, tmp_path / "new", figures=False)
    with pytest.raises(OSError, match="No space"):
        written.clear()
        export_plan(bundled, old, figures=False, force=True)
    monkeypatch.undo()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]  # nothing new, no temporaries
    assert {p.name: p.read_text() for p in old.iterdir()} == before  # the old set untouched


# -- the command line -----------------------------------------------------------------------------
def test_cli_exit_status(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "deploy"
    assert main(["export", str(PLAN_FILE), "--out", str(out), "--no-figures"]) == 1
    printed = capsys.readouterr().out
    assert "MISSES (4):" in printed and "autoscaling: p95 <= 0.2 s missed" in printed
    assert "note: memory: the plan states no memory" in printed
    assert (out / "hpa.yaml").exists()
    assert main(["export", str(PLAN_FILE), "--out", str(out), "--no-figures"]) == 2
    assert "already exists" in capsys.readouterr().err
    args = ["export", str(PLAN_FILE), "--out", str(out), "--no-figures", "--force", "--allow-misses"]
    assert main(args) == 0
    # the tuned HPA of notebook 00 (CPU target 40%) meets the SLA
    tuned = tmp_path / "hpa-tuned.yaml"
    tuned.write_text(
        (DATA / "hpa.yaml").read_text().replace("averageUtilization: 70", "averageUtilization: 40")
    )
    assert (
        main(["export", str(PLAN_FILE), "--out", str(tmp_path / "ok"), "--no-figures", "--hpa", str(tuned)])
        == 0
    )
    assert "meets the SLA" in capsys.readouterr().out
    assert (
        main(
            [
                "export",
                str(PLAN_FILE),
                "--out",
                str(tmp_path / "x"),
                "--deployment",
                "critical_operations=Bad_Name",
            ]
        )
        == 2
    )
    assert "DNS-1123" in capsys.readouterr().err


def test_service_deployment_is_the_layered_decision(bundled: cp.CapacityPlan, exported: Path) -> None:
    """The one deployment of every class: replicas, cores and the worker layout as the plan's
    layered sizing chose them (56 x 8 processes x 8 threads, one connection per process)."""
    assert bundled.service is not None and bundled.service.sizing is not None
    sized = bundled.service.sizing
    (patch,) = _docs(exported / "service-deployment.yaml")
    assert patch["metadata"]["name"] == "api-gateway"  # the throughput target's name
    assert patch["spec"]["replicas"] == sized.replicas == 56
    (container,) = patch["spec"]["template"]["spec"]["containers"]
    cores = str(sized.layout.cores)
    assert container["resources"] == {"requests": {"cpu": cores}, "limits": {"cpu": cores}}
    env = {e["name"]: e["value"] for e in container["env"]}
    assert env == {
        "WEB_CONCURRENCY": str(sized.layout.processes),
        "GUNICORN_CMD_ARGS": f"--workers {sized.layout.processes} --threads {sized.layout.threads}",
        "DB_POOL_SIZE": str(sized.layout.pool_size),
    }
    text = (exported / "service-deployment.yaml").read_text()
    assert "memory: NOT SET" in text and f"{sized.connections} of 3000" in text


def test_service_deployment_memory_from_the_plan_memory(tmp_path: Path) -> None:
    memory = PodMemory(per_worker=30 * 2**20, per_request=4 * 2**20, base=200 * 2**20)
    plan = load_plan_inputs(PLAN_FILE).plan(memory=memory, hpa=None, traffic=None, cache=None)
    assert plan.service is not None and plan.service.sizing is not None
    sized = plan.service.sizing
    assert sized.memory_request is not None and sized.memory_limit is not None
    plan.export(tmp_path / "out", figures=False)
    (patch,) = _docs(tmp_path / "out" / "service-deployment.yaml")
    (container,) = patch["spec"]["template"]["spec"]["containers"]
    mib = 2**20
    assert container["resources"]["requests"]["memory"] == f"{math.ceil(sized.memory_request / mib - 1e-9)}Mi"
    assert container["resources"]["limits"]["memory"] == f"{math.ceil(sized.memory_limit / mib - 1e-9)}Mi"
    # 8 x 8 workers all busy: 200 MiB + 64 x (30 + 4) MiB
    assert container["resources"]["limits"]["memory"] == f"{200 + 64 * 34}Mi"
