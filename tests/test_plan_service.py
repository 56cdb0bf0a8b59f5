"""The plan's layered sizing (``service`` in the plan file, ``service=`` of ``capplan.plan``):
one deployment of every class sized on :mod:`capplan.layered`, read from the plan file with errors
naming the file and key path, and agreeing with the sizers it is built from."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

import capplan as cp
from capplan.layered import (
    Cpu,
    Hold,
    Memory,
    Pool,
    RequestClass,
    ServiceModel,
    Step,
    Wait,
    Workers,
    size_service,
)
from capplan.plan import PodMemory, ServiceCheck, ServiceLayers, render_markdown, stated
from capplan.plan.inputs import PlanInputError, load_plan_inputs

DATA = Path(__file__).resolve().parents[1] / "data"
EXAMPLE = DATA / "capacity-plan.yaml"
SLA_FILES = [str(DATA / "performance-sla.yaml"), str(DATA / "performance-budget.yaml")]
MIB = 2.0**20


@pytest.fixture(scope="module")
def sla() -> cp.SLA:
    return cp.load_sla(*SLA_FILES)


def test_plan_file_service_is_the_model_notebook_03_describes() -> None:
    """The bundled plan file's ``service`` section, read, is the replica spelled out step by step
    (12 ms CPU, a 5 ms query, a 15 ms downstream call of SCV 6, 8 ms CPU; 8 rows of 12.5 ms CPU and
    a query, then a 1.86 s export; the standard class one CPU step of its profile)."""
    inputs = load_plan_inputs(EXAMPLE)
    layers = inputs.options["service"]
    assert (layers.cores, layers.gil_free, layers.pool) == (4, 0.05, "db")
    rates = {"critical_operations": 2000.0, "standard_operations": 7500.0, "batch_operations": 500.0}
    standard = next(e for e in inputs.evidence if e.op_class == "standard_operations")
    expected = ServiceModel(
        [
            RequestClass(
                "critical_operations",
                2000.0,
                (Cpu(0.012), Hold("db", 0.005), Wait(0.015, scv=6.0, name="downstream"), Cpu(0.008)),
            ),
            RequestClass("standard_operations", 7500.0, (Cpu(standard.mean_s),)),
            RequestClass(
                "batch_operations", 500.0, (Cpu(0.0125), Hold("db", 0.005)) * 8 + (Wait(1.86, name="export"),)
            ),
        ],
        Workers(1, 1),
        cores=4,
        gil_free=0.05,
        pools={"db": Pool(1)},
    )
    assert layers.model(inputs.evidence, rates) == expected


def test_bundled_plan_sizes_one_deployment_as_size_service_does() -> None:
    inputs = load_plan_inputs(EXAMPLE)
    plan = inputs.plan()
    assert plan.service is not None and plan.service.sizing is not None and plan.sla is not None
    sized = plan.service.sizing
    rates = {c: share * plan.arrival_rate for c, share in plan.mix.items()}
    direct = size_service(
        inputs.options["service"].model(inputs.evidence, rates),
        {c: plan.sla.latency_targets_for("api_endpoints", c) for c in plan.mix},
        max_utilization={"cores": 0.7},
        spare=1,
        zones=3,
        max_connections=3000,  # the seed's max_client_conn 1000 x 3 PgBouncer pods
    )
    assert (sized.replicas, sized.layout) == (direct.replicas, direct.layout)
    assert sized.met and set(sized.binding) == set(plan.mix)
    recs = {r.item: r.value for r in plan.recommendations if r.component == "service (layered)"}
    assert recs["all classes"] == sized.replicas
    assert recs["threads per process"] == sized.layout.threads
    assert "Service as layers" in render_markdown(plan)
    data = json.loads(plan.to_json())["service"]
    assert (data["replicas"], data["threads"], data["binding"]) == (56, 8, sized.binding)


def test_one_cpu_class_agrees_with_the_per_class_sizing(sla: cp.SLA) -> None:
    """One class of exponential CPU work on 8 single-threaded processes and 8 cores: each replica
    is M/M/8 (Erlang C), so the layered deployment and the per-class deployment of 8 workers need
    the same replicas (Kleinrock, *Queueing Systems* vol. 1 (1975), sec. 3.5)."""
    layers = ServiceLayers(cores=8, processes=(8,), threads=(1,))
    plan = cp.plan(
        sla,
        stated({"critical_operations": 0.040}),
        mix={"critical_operations": 0.2},
        workers=8,
        service=layers,
    )
    assert plan.service is not None and plan.service.sizing is not None
    assert plan.service.sizing.replicas == plan.replicas["critical_operations"].replicas
    assert plan.service.sizing.layout.processes == 8


def test_memory_request_and_limit_come_with_the_plan_memory(sla: cp.SLA) -> None:
    layers = ServiceLayers(cores=2, processes=(2,), threads=(4,))
    memory = PodMemory(per_worker=30 * MIB, per_request=4 * MIB, base=100 * MIB)
    plan = cp.plan(
        sla,
        stated({"standard_operations": 0.010}),
        mix={"standard_operations": 0.01},
        memory=memory,
        service=layers,
    )
    assert plan.service is not None and plan.service.sizing is not None
    sized = plan.service.sizing
    assert sized.model.memory == Memory(30 * MIB, 4 * MIB, 100 * MIB)
    assert sized.memory_limit is not None and sized.memory_request is not None
    slots = 2 * 4
    assert sized.memory_limit == pytest.approx(100 * MIB + slots * (30 + 4) * MIB)  # every worker busy
    recs = {r.item: r.value for r in plan.recommendations if r.component == "service (layered)"}
    assert recs["memory limit"] == round(sized.memory_limit / MIB)
    assert recs["memory request"] == round(sized.memory_request / MIB)


def test_infeasible_service_is_a_miss_not_a_crash(sla: cp.SLA) -> None:
    """2 s of CPU cannot meet a 50 ms median however many replicas: the plan says so."""
    layers = ServiceLayers(cores=1, steps={"critical_operations": (Cpu(2.0),)}, processes=(1,), threads=(1,))
    plan = cp.plan(
        sla, stated({"critical_operations": 2.0}), mix={"critical_operations": 0.01}, service=layers
    )
    assert plan.service is not None and plan.service.sizing is None
    assert not plan.ok
    assert any(m.startswith("service (layered): ") for m in plan.misses())
    (rec,) = [r for r in plan.recommendations if r.component == "service (layered)"]
    assert rec.value is None and rec.binding


def _inputs(tmp_path: Path, service: str) -> Path:
    path = tmp_path / "plan.yaml"
    path.write_text(
        f"capacity_plan:\n  sla: [{', '.join(SLA_FILES)}]\n"
        "  evidence: {critical_operations: {service_time: 40ms}}\n"
        f"  service:\n{service}"
    )
    return path


@pytest.mark.parametrize(
    ("service", "message"),
    [
        ("    gil_free: 5%\n", "capacity_plan.service.cores: is required"),
        ("    cores: 0\n", "capacity_plan.service.cores: 0 is outside the valid range [1, 10000]"),
        (
            "    cores: 2\n    gil_free: 120%\n",
            "capacity_plan.service.gil_free: '120%' is outside the valid range [0, 1]",
        ),
        (
            "    cores: 2\n    threads: [4, 0]\n",
            "capacity_plan.service.threads[1]: 0 is outside the valid range [1, 100000]",
        ),
        ("    cores: 2\n    processes: 4\n", "capacity_plan.service.processes: must be a list"),
        ("    cores: 2\n    lock: 1\n", "capacity_plan.service.lock: unknown key"),
        (
            "    cores: 2\n    steps: {critical_operations: [{cpu: -3ms}]}\n",
            "service.steps.critical_operations[0].cpu: '-3ms' is outside the valid range (0, 3600] s",
        ),
        (
            "    cores: 2\n    steps: {critical_operations: [{cpu: 1ms, hold: db}]}\n",
            "steps.critical_operations[0]: give exactly one of cpu, hold, wait, repeat",
        ),
        (
            "    cores: 2\n    steps: {critical_operations: [{hold: db}]}\n",
            "steps.critical_operations[0].time: is required",
        ),
        (
            "    cores: 2\n    steps: {critical_operations: [{repeat: 0, steps: [{cpu: 1ms}]}]}\n",
            "steps.critical_operations[0].repeat: 0 is outside the valid range [1, 10000]",
        ),
        (
            "    cores: 2\n    steps:\n      critical_operations:\n"
            "        - {repeat: 2, steps: [{wait: x, time: 1ms, scv: -1}]}\n",
            "steps.critical_operations[0].steps[0].scv: -1 is outside the valid range [0, 10000]",
        ),
        (
            "    cores: 2\n    verify: 5000\n",
            "capacity_plan.service.verify: 5000 is outside the valid range [10000, 5e+06]",
        ),
        (
            "    cores: 2\n    verify: 150000.5\n",
            "capacity_plan.service.verify: must be a whole number, got 150000.5",
        ),
        (
            "    cores: 2\n    steps: {critical_operations: []}\n",
            "steps.critical_operations: must not be empty",
        ),
        (
            "    cores: 2\n    steps: {critical_operations: [{cpu: 10ms}, {wait: x, time: 20ms}]}\n",
            "capacity_plan.service: service.steps['critical_operations']: the steps take 30 ms in all",
        ),
    ],
)
def test_service_section_errors_name_file_and_key_path(tmp_path: Path, service: str, message: str) -> None:
    path = _inputs(tmp_path, service)
    with pytest.raises(PlanInputError, match=re.escape(message)) as info:
        load_plan_inputs(path)
    assert str(path) in str(info.value)


@pytest.mark.parametrize(
    ("steps", "message"),
    [
        ({"nope": (Cpu(0.01),)}, "service.steps: no traffic for classes ['nope']"),
        (
            {"critical_operations": (Cpu(0.01), Wait(0.02))},
            "service.steps['critical_operations']: the steps take 30 ms in all, but the evidence says 40 ms",
        ),
        (
            {"critical_operations": (Hold("cache", 0.04),)},
            "hold steps name pools ['cache']; the plan sizes one, 'db'",
        ),
    ],
)
def test_steps_that_do_not_fit_the_plan_name_the_problem(
    sla: cp.SLA, steps: dict[str, tuple[Step, ...]], message: str
) -> None:
    layers = ServiceLayers(cores=2, steps=steps)
    with pytest.raises(cp.ParameterError, match=re.escape(message)):
        cp.plan(sla, stated({"critical_operations": 0.04}), mix={"critical_operations": 0.2}, service=layers)


def test_verify_simulates_the_decision_in_its_worst_scenario() -> None:
    """The bundled file asks for ``verify: 400000``: every target of the scenario with the fewest
    replicas up is simulated on one replica of the chosen layout, and the figures are those of
    that replica's own simulation (seed 0), in the report, the JSON and the misses; it meets them
    all there, and one replica fewer breaks the 70% CPU target, so the fleet stays the solve's."""
    plan = load_plan_inputs(EXAMPLE).plan()
    assert plan.service is not None and plan.service.sizing is not None
    sized = plan.service.sizing
    assert sized.solve_replicas == sized.replicas == 56  # the simulation keeps the solve's fleet
    checked = sized.verification
    assert checked is not None
    scenario, up = min(sized.scenarios.items(), key=lambda kv: kv[1])
    assert (scenario, up) == ("one of 3 zones lost", 37)
    worst = sized.checks[sized.checks["scenario"] == scenario]
    assert list(zip(checked["class"], checked["target"], strict=True)) == list(
        zip(worst["class"], worst["target"], strict=True)
    )
    sim = sized.model.scaled(sized.replicas / up).simulate(400_000, seed=0).classes
    for row in checked.to_dict(orient="records"):
        column = f"response_{row['target']}"
        assert row["simulated_s"] == sim.loc[row["class"], column]
        assert row["ci_s"] == sim.loc[row["class"], f"{column}_ci"]
        assert row["met_in_simulation"] == (row["simulated_s"] - row["ci_s"] <= row["target_s"])
    assert checked["met_in_simulation"].all()
    assert not [m for m in plan.misses() if m.startswith("service (layered)")]
    assert "Service as layers: simulated with 37 replicas up (one of 3 zones lost)" in render_markdown(plan)
    data = json.loads(plan.to_json())["service"]["verification"]
    assert [r["simulated_s"] for r in data] == pytest.approx(list(checked["simulated_s"]), rel=1e-12)


def _two_on_one_core(
    sla: cp.SLA, steps: tuple[tuple[Step, ...], tuple[Step, ...]], **service: Any
) -> cp.CapacityPlan:
    """The ``under_predicted`` fixture's service planned at the SLA's peak, 27% critical."""
    critical, standard = steps
    layers = ServiceLayers(
        cores=1,
        gil_free=0.3,
        processes=(2,),
        threads=(1,),
        steps={"critical_operations": critical, "standard_operations": standard},
        **service,
    )
    return cp.plan(
        sla,
        stated({"critical_operations": 0.035, "standard_operations": 0.002}),
        mix={"critical_operations": 0.27, "standard_operations": 0.73},
        service=layers,
    )


def test_the_plan_adds_the_replicas_the_simulation_needs(
    sla: cp.SLA, under_predicted: tuple[tuple[Step, ...], tuple[Step, ...]]
) -> None:
    """With ``verify`` the plan's fleet is the smallest the simulation meets (the solve's own is
    kept as ``solve_replicas``), and the recommendation says what one replica fewer misses."""
    solved = _two_on_one_core(sla, under_predicted)
    verified = _two_on_one_core(sla, under_predicted, verify=100_000)
    assert solved.service is not None and solved.service.sizing is not None
    assert verified.service is not None and verified.service.sizing is not None
    alone, sized = solved.service.sizing, verified.service.sizing
    assert sized.solve_replicas == alone.replicas < sized.replicas and sized.layout == alone.layout
    assert sized.verification is not None and sized.verification["met_in_simulation"].all()
    assert not [m for m in verified.misses() if m.startswith("service (layered)")]
    (rec,) = [
        r for r in verified.recommendations if r.item == "all classes" and r.component == "service (layered)"
    ]
    assert rec.value == sized.replicas and rec.binding.startswith("in simulation, critical_operations p95")


@pytest.mark.parametrize("limit", ["max_replicas", "max_connections"])
def test_a_target_still_missed_in_simulation_is_a_miss_of_the_plan(
    sla: cp.SLA, under_predicted: tuple[tuple[Step, ...], tuple[Step, ...]], limit: str
) -> None:
    """Where the fleet cannot grow enough (one replica more than the solve's: by ``max_replicas``,
    or by the connections of the chosen layout), the simulated misses are the plan's, each with
    both figures and the limit that stopped it."""
    plan = _two_on_one_core(sla, under_predicted)
    assert plan.service is not None and plan.service.sizing is not None
    alone = plan.service.sizing
    per, pool = alone.connections // alone.replicas, alone.layout.pool_size
    assert pool is not None
    capped = size_service(
        alone.model.scaled(alone.replicas),  # the fleet's rates on the chosen layout
        {"critical_operations": sla.latency_targets_for("api_endpoints", "critical_operations")},
        zones=3,
        processes=(2,),
        threads=(1,),
        pool_sizes=(pool,),
        max_connections=(alone.replicas + 1) * per if limit == "max_connections" else None,
        max_replicas=alone.replicas + 1 if limit == "max_replicas" else 10_000,
        verify_customers=100_000,
        meet_in_simulation=True,
    )
    assert capped.replicas == alone.replicas + 1
    checked = capped.verification
    assert checked is not None
    missed = checked[~checked["met_in_simulation"]]
    assert len(missed) == 1
    (message,) = ServiceCheck(capped).misses()
    row = missed.iloc[0]
    assert message.startswith(
        f"service (layered): simulated critical_operations p95 {row['simulated_s'] * 1e3:.4g} "
    )
    assert f"the solve predicted {row['predicted_s'] * 1e3:.4g} ms" in message
    assert f"more replicas than {capped.replicas} are needed, " in message
    if limit == "max_replicas":
        assert message.endswith("the most the search allows (max_replicas)")
    else:
        assert message.endswith(
            f"the limit of {(alone.replicas + 1) * per} connections allows ({per} per replica)"
        )


def test_verify_takes_a_count_of_requests() -> None:
    with pytest.raises(cp.ParameterError, match=re.escape("verify: requests to simulate, an integer in")):
        ServiceLayers(cores=2, verify=100)
    with pytest.raises(cp.ParameterError, match="got True"):
        ServiceLayers(cores=2, verify=True)
    assert ServiceLayers(cores=2, verify=10_000).verify == 10_000
