"""Input schemas (capplan.schema): bundled and seed files validate; misspelt keys, out-of-range
numbers and wrong types give one line per problem naming the file, the key path and a suggestion
or the valid range; the JSON Schema that ``capplan schema`` prints is the committed one and
accepts the bundled files."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from capplan.autoscale import ManifestError, load_hpa
from capplan.cli import main
from capplan.errors import ParameterError, SLAError
from capplan.plan.inputs import PlanInputError, load_plan_inputs
from capplan.plan.overload_settings import load_overload
from capplan.schema import KINDS, json_schema, model
from capplan.schema.validation import MAX_PROBLEMS, validate
from capplan.sla import load_sla

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "data"
SCHEMAS = ROOT / "schemas"
#: The seed document, in a ``shared`` folder beside the checkout (or beside a folder of checkouts).
SEED = next(
    (
        seed
        for folder in ROOT.parents
        if (seed := folder / "shared" / "seeds" / "000_f2c9295a8072a7dc.txt").exists()
    ),
    ROOT.parent / "shared" / "seeds" / "000_f2c9295a8072a7dc.txt",
)
BUNDLED = {
    "sla": ["performance-sla.yaml", "performance-budget.yaml"],
    "plan": ["capacity-plan.yaml", "capacity-plan-small.yaml", "capacity-plan-prometheus.yaml"],
    "hpa": ["hpa.yaml"],
    "overload": ["overload.yaml"],
}
SLA_FILES = [str(DATA / f) for f in BUNDLED["sla"]]


def _bundled() -> list[tuple[str, str]]:
    return [(kind, name) for kind, names in BUNDLED.items() for name in names]


def _seed_block(header: str) -> str:
    """A ```yaml block of the seed document, from its ``# name.yaml`` line to the fence."""
    if not SEED.exists():
        pytest.skip("the seed document is not next to the project")
    lines = SEED.read_text(encoding="utf-8").split("\n")
    start = lines.index(header)
    return "\n".join(lines[start : lines.index("```", start)])


# ---------------------------------------------------------------------------------------------
# Valid files


@pytest.mark.parametrize(("kind", "name"), _bundled())
def test_bundled_files_validate(kind: str, name: str) -> None:
    doc = yaml.safe_load((DATA / name).read_text(encoding="utf-8"))
    validate(model(kind), doc, label=name, error=ParameterError)


@pytest.mark.parametrize(("kind", "name"), _bundled())
def test_bundled_files_name_their_schema(kind: str, name: str) -> None:
    first = (DATA / name).read_text(encoding="utf-8").split("\n", 1)[0]
    assert first == f"# yaml-language-server: $schema=../schemas/{kind}.schema.json"


@pytest.mark.parametrize(
    ("kind", "header"),
    [
        ("sla", "# performance-sla.yaml"),
        ("sla", "# performance-budget.yaml"),
        ("hpa", "# predictive-autoscaling.yaml"),
    ],
)
def test_seed_blocks_validate(kind: str, header: str) -> None:
    doc = yaml.safe_load(_seed_block(header))
    parsed = validate(model(kind), doc, label=header, error=ParameterError)
    assert parsed.model_dump(exclude_none=True)  # not an empty document


def test_models_convert_units_to_si() -> None:
    # The plan's units as the loaders read them: 40ms, 720h, 120Mi are 0.04 s, 2.592e6 s, 125829120 B.
    doc = yaml.safe_load((DATA / "capacity-plan.yaml").read_text(encoding="utf-8"))
    plan = validate(model("plan"), doc, label="plan", error=ParameterError).capacity_plan  # type: ignore[attr-defined]
    assert plan.evidence["critical_operations"].service_time == pytest.approx(0.040)
    assert plan.replicas.mtbf == 720 * 3600.0
    assert plan.mix["critical_operations"] == pytest.approx(0.20)
    text = (
        "capacity_plan:\n  sla: x.yaml\n  evidence: {a: {service_time: 1}}\n  memory: {per_worker: 120Mi}\n"
    )
    small = validate(model("plan"), yaml.safe_load(text), label="t", error=ParameterError).capacity_plan  # type: ignore[attr-defined]
    assert small.memory.per_worker == 120 * 2**20
    assert small.evidence["a"].service_time == 1.0  # a bare number is seconds in the plan file


# ---------------------------------------------------------------------------------------------
# Misspelt keys: the path and a suggestion


def _hpa_error(text: str) -> str:
    with pytest.raises(ManifestError) as info:
        load_hpa(text)
    return str(info.value)


def test_hpa_misspelt_keys_name_path_and_suggestion(tmp_path: Path) -> None:
    text = (DATA / "hpa.yaml").read_text(encoding="utf-8")
    bad = tmp_path / "hpa.yaml"
    bad.write_text(
        text.replace("minReplicas: 3", "minReplica: 3").replace(
            "stabilizationWindowSeconds: 300", "stabilisationWindowSeconds: 300"
        ),
        encoding="utf-8",
    )
    lines = _hpa_error(str(bad)).split("\n")
    assert lines == [  # in the document's order
        f"{bad}: spec.minReplica: unknown key (did you mean minReplicas?)",
        f"{bad}: spec.behavior.scaleDown.stabilisationWindowSeconds: unknown key "
        "(did you mean stabilizationWindowSeconds?)",
    ]


def test_sla_misspelt_key() -> None:
    text = "performance_requirements:\n  resource_utilization:\n    cpu_utilization:\n"
    text += "      target: '70%'\n      warn_threshold: '80%'\n"
    with pytest.raises(SLAError) as info:
        load_sla(text)
    assert str(info.value) == (
        "<text>: performance_requirements.resource_utilization.cpu_utilization.warn_threshold: "
        "unknown key (did you mean warning_threshold?)"
    )


def _plan(tmp_path: Path, body: str) -> Path:
    path = tmp_path / "plan.yaml"
    path.write_text(f"capacity_plan:\n  sla: [{', '.join(SLA_FILES)}]\n{body}", encoding="utf-8")
    return path


def _plan_error(path: Path) -> str:
    with pytest.raises(PlanInputError) as info:
        load_plan_inputs(path)
    return str(info.value)


@pytest.mark.parametrize(
    ("body", "line"),
    [
        (
            "  workers_per_replca: 8\n",
            "capacity_plan.workers_per_replca: unknown key (did you mean workers_per_replica?)",
        ),
        ("  replicas: {zone: 3}\n", "capacity_plan.replicas.zone: unknown key (did you mean zones?)"),
        (
            "  service: {cores: 2, steps: {a: [{repeat: 2, steps: [{cpu: 1ms, scvv: 2}]}]}}\n",
            "capacity_plan.service.steps.a[0].steps[0].scvv: unknown key (did you mean scv?)",
        ),
        (
            "  overload: {timeout: 1s, retrys: 2}\n",
            "capacity_plan.overload.retrys: unknown key (did you mean retries?)",
        ),
        ("  evidence2: {}\n", "capacity_plan.evidence2: unknown key (did you mean evidence?)"),
    ],
)
def test_plan_misspelt_keys_name_path_and_suggestion(tmp_path: Path, body: str, line: str) -> None:
    evidence = "" if "evidence2" in body else "  evidence: {a: {service_time: 10ms}}\n"
    path = _plan(tmp_path, evidence + body)
    assert f"{path}: {line}" in _plan_error(path).split("\n")


def test_unknown_key_without_a_close_match_lists_the_keys() -> None:
    message = _hpa_error(
        "apiVersion: autoscaling/v2\nkind: HorizontalPodAutoscaler\n"
        "spec:\n  scaleTargetRef: {kind: Deployment, name: web}\n  maxReplicas: 4\n  zzz: 1\n"
    )
    assert "spec.zzz: unknown key; expected one of: scaleTargetRef, minReplicas, maxReplicas" in message


def test_overload_file_misspelt_key(tmp_path: Path) -> None:
    path = tmp_path / "overload.yaml"
    path.write_text("overload:\n  timeout: 1s\n  circuit_breaker: {windw: 10}\n", encoding="utf-8")
    with pytest.raises(ParameterError) as info:
        load_overload(path)
    assert str(info.value) == f"{path}: overload.circuit_breaker.windw: unknown key (did you mean window?)"


def test_problems_are_listed_one_per_line_up_to_the_limit(tmp_path: Path) -> None:
    keys = "".join(f"  extra_{i}: 1\n" for i in range(MAX_PROBLEMS + 5))
    path = _plan(tmp_path, "  evidence: {a: {service_time: 10ms}}\n" + keys)
    lines = _plan_error(path).split("\n")
    assert len(lines) == MAX_PROBLEMS + 1
    assert all(line.startswith(f"{path}: capacity_plan.extra_") for line in lines[:-1])
    assert lines[-1] == f"{path}: ... and 5 more problems"


# ---------------------------------------------------------------------------------------------
# Out-of-range numbers: the field and its range


@pytest.mark.parametrize(
    ("patch", "line"),
    [
        (
            "      periodSeconds: 15\n",
            "spec.behavior.scaleUp.policies[0].periodSeconds: 1801 is outside the valid range [1, 1800]",
        ),
        ("  maxReplicas: 50\n", "spec.maxReplicas: 1000000 is outside the valid range [1, 100000]"),
        (
            "        averageUtilization: 70\n",
            "spec.metrics[0].resource.target.averageUtilization: 0 is outside the valid range [1, 10000]",
        ),
    ],
)
def test_hpa_out_of_range_names_field_and_range(patch: str, line: str) -> None:
    text = (DATA / "hpa.yaml").read_text(encoding="utf-8")
    assert patch in text
    value = line.split(": ")[1].split(" ", maxsplit=1)[0]
    message = _hpa_error(text.replace(patch, patch.split(":", maxsplit=1)[0] + f": {value}\n", 1))
    assert message == f"<HPA manifest text>: {line}"


def test_sla_out_of_range_latency_names_field_and_range() -> None:
    text = "performance_requirements:\n  response_time_targets:\n    api:\n      read:\n        p99: 30d\n"
    with pytest.raises(SLAError) as info:
        load_sla(text)
    assert str(info.value) == (
        "<text>: performance_requirements.response_time_targets.api.read.p99: "
        "'30d' is outside the valid range (0, 604800] s"
    )


@pytest.mark.parametrize(
    ("body", "line"),
    [
        (
            "  workers_per_replica: 0\n",
            "capacity_plan.workers_per_replica: 0 is outside the valid range [1, 100000]",
        ),
        (
            "  price_per_replica_hour: -1\n",
            "capacity_plan.price_per_replica_hour: -1 is outside the valid range [0, 1e+06]",
        ),
        (
            "  memory: {per_worker: 2Ti}\n",
            "capacity_plan.memory.per_worker: '2Ti' is outside the valid range [0, 1.09951e+12] bytes",
        ),
    ],
)
def test_plan_out_of_range_names_field_and_range(tmp_path: Path, body: str, line: str) -> None:
    path = _plan(tmp_path, "  evidence: {a: {service_time: 10ms}}\n" + body)
    assert _plan_error(path) == f"{path}: {line}"


# ---------------------------------------------------------------------------------------------
# Wrong types


def test_wrong_types_name_field_and_value(tmp_path: Path) -> None:
    manifest = (DATA / "hpa.yaml").read_text(encoding="utf-8").replace("minReplicas: 3", "minReplicas: '3'")
    assert "spec.minReplicas: must be an integer, got '3'" in _hpa_error(manifest)
    path = tmp_path / "plan.yaml"
    path.write_text("capacity_plan:\n  sla: 5\n  evidence: {a: {service_time: 10ms}}\n", encoding="utf-8")
    assert _plan_error(path) == f"{path}: capacity_plan.sla: must be a string or a list, got 5"
    path.write_text(
        f"capacity_plan:\n  sla: {SLA_FILES[0]}\n  evidence: {{a: {{service_time: 10ms}}}}\n  service: [1]\n",
        encoding="utf-8",
    )
    assert _plan_error(path) == f"{path}: capacity_plan.service: must be a mapping, got [1]"
    with pytest.raises(SLAError, match=r"cpu_utilization\.target: 70 has no unit"):
        load_sla("performance_requirements:\n  resource_utilization:\n    cpu_utilization: {target: 70}\n")


def test_evidence_needs_exactly_one_kind(tmp_path: Path) -> None:
    path = _plan(tmp_path, "  evidence: {a: {scv: 1}}\n")
    assert _plan_error(path) == (
        f"{path}: capacity_plan.evidence.a: give exactly one of service_time, profile, latency_csv, loadtest"
    )


# ---------------------------------------------------------------------------------------------
# JSON Schema and the command


@pytest.mark.parametrize("kind", list(KINDS))
def test_committed_schema_is_the_commands_output(kind: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["schema", kind]) == 0
    printed = capsys.readouterr().out
    assert json.loads(printed)["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert printed == (SCHEMAS / f"{kind}.schema.json").read_text(encoding="utf-8"), (
        f"regenerate with: capplan schema {kind} --out schemas/{kind}.schema.json"
    )


def test_schema_out_writes_the_file(tmp_path: Path) -> None:
    out = tmp_path / "hpa.schema.json"
    assert main(["schema", "hpa", "--out", str(out)]) == 0
    assert out.read_text(encoding="utf-8") == json_schema("hpa")
    assert main(["schema", "hpa", "--out", str(tmp_path / "missing" / "x.json")]) == 2


def _numbers(node: Any, path: str = "") -> list[tuple[str, dict[str, Any]]]:
    """Every sub-schema of type number or integer, with where it is."""
    found = []
    if isinstance(node, dict):
        if node.get("type") in ("number", "integer"):
            found.append((path, node))
        for key, value in node.items():
            found += _numbers(value, f"{path}/{key}")
    elif isinstance(node, list):
        for i, value in enumerate(node):
            found += _numbers(value, f"{path}/{i}")
    return found


@pytest.mark.parametrize("kind", list(KINDS))
def test_every_number_has_a_stated_range(kind: str) -> None:
    numbers = _numbers(json.loads(json_schema(kind)))
    assert numbers
    for where, node in numbers:
        assert "maximum" in node and ("minimum" in node or "exclusiveMinimum" in node), where


def test_json_schema_validates_the_bundled_files() -> None:
    jsonschema = pytest.importorskip("jsonschema")
    for kind, name in _bundled():
        validator = jsonschema.Draft202012Validator(json.loads(json_schema(kind)))
        doc = yaml.safe_load((DATA / name).read_text(encoding="utf-8"))
        assert list(validator.iter_errors(doc)) == [], name
        doc_misspelt = {**doc, "spce": {}}
        assert [e.validator for e in validator.iter_errors(doc_misspelt)] == ["additionalProperties"], name


def test_json_schema_flags_a_unitless_latency() -> None:
    jsonschema = pytest.importorskip("jsonschema")
    validator = jsonschema.Draft202012Validator(json.loads(json_schema("sla")))

    def doc(p99: object) -> dict[str, Any]:
        return {"performance_requirements": {"response_time_targets": {"api": {"read": {"p99": p99}}}}}

    assert [e.validator for e in validator.iter_errors(doc(500))] == ["type"]
    assert [e.validator for e in validator.iter_errors(doc("500"))] == ["pattern"]
    assert list(validator.iter_errors(doc("500ms"))) == []


def test_pydantic_loads_only_when_a_file_is_read() -> None:
    code = (
        "import sys, capplan, capplan.cli, capplan.sla, capplan.autoscale.manifest; "
        "print('pydantic' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
