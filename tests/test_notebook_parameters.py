"""Every notebook has a papermill ``parameters`` cell; those for which a second input means something
run here on the second bundled plan file (``data/capacity-plan-small.yaml``: the sustained level,
another mix, 30 ms critical operations, 2-core pods, no cache and no autoscaling section), as a
user's own plan would be given with ``papermill NB out.ipynb -p plan_file my-plan.yaml``, with small
simulations."""

from __future__ import annotations

import json
import math
import re
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
SMALL = "data/capacity-plan-small.yaml"


def _run(tmp_path: Path, notebook: str, **parameters: Any) -> str:
    """Execute ``notebook`` with ``parameters`` (in the notebooks folder, as Jupyter would) and
    return the text of every output."""
    papermill = pytest.importorskip("papermill")
    out = tmp_path / notebook
    papermill.execute_notebook(
        str(ROOT / "notebooks" / notebook),
        str(out),
        parameters=parameters,
        cwd=str(ROOT / "notebooks"),
        kernel_name="python3",
        progress_bar=False,
    )
    texts = []
    for cell in json.loads(out.read_text())["cells"]:
        for output in cell.get("outputs", []):
            assert output["output_type"] != "error", output.get("evalue")
            texts.append("".join(output.get("text") or output.get("data", {}).get("text/plain", "")))
    return "\n".join(texts)


@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=lambda p: p.name[:2])
def test_every_notebook_starts_with_lowercase_parameters(notebook: Path) -> None:
    # the first code cell is papermill's, and every notebook that reads a plan calls it plan_file
    cells = [c for c in json.loads(notebook.read_text())["cells"] if c["cell_type"] == "code"]
    assert "parameters" in cells[0]["metadata"].get("tags", [])
    names = re.findall(r"^(\w+) = ", "".join(cells[0]["source"]), flags=re.MULTILINE)
    assert names and all(name == name.lower() for name in names), names
    if not notebook.name.startswith("02"):  # 02 reads no data: seeds and sizes only
        assert names[0] == "plan_file"


@pytest.fixture(scope="module")
def small_sizing() -> Any:
    from capplan.plan.inputs import load_plan_inputs  # noqa: PLC0415

    plan = load_plan_inputs(ROOT / SMALL).plan()
    assert plan.service is not None and plan.service.sizing is not None
    return plan


def test_notebook_00_plans_the_plan_it_is_given(
    tmp_path: Path, small_sizing: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    from capplan.cli import main  # noqa: PLC0415

    assert main(["plan", str(ROOT / SMALL)]) == 0
    reported = re.search(r"Replicas: (\d+) in all", capsys.readouterr().out)
    assert reported is not None
    text = _run(tmp_path, "00_capacity_plan.ipynb", plan_file=SMALL)
    # the replicas `capplan plan data/capacity-plan-small.yaml` reports, not the bundled plan's 297
    assert f"\n{reported.group(1)} replicas (the plan file gives no price per replica-hour)" in text
    assert "297 replicas" not in text
    assert "CapacityPlan(api_gateway sustained 5000/s, 3 classes" in text
    assert "critical_operations: 30 ms mean, SCV 1 (stated)" in text  # the plan's evidence
    assert "same plan as the plan file's: True" in text  # the step-by-step plan is the file's
    assert f"ServiceSizing({small_sizing.service.sizing.replicas} replicas x (2 cores," in text
    # the sections the file leaves out say so, and the rest of the journey runs on
    assert "the plan file has no cache section" in text
    assert "the plan file has no autoscaling section" in text
    assert "exit status: 0" in text  # capplan check on the plan file: it meets the SLA
    assert "promtool test rules: SUCCESS | exit status 0" in text


def test_notebook_01_sizes_the_class_of_the_plan_it_is_given(tmp_path: Path) -> None:
    text = _run(tmp_path, "01_queueing_and_the_sla.ipynb", plan_file=SMALL)
    # 5,000 requests/s sustained x 30 ms stated = 150 busy servers; the 70% CPU target binds, so
    # ceil(150 / 0.7) servers (the utilization bound of notebook 01's own decision, 400 / 0.7 -> 572)
    servers = math.ceil(5000 * 0.030 / 0.7)
    assert f"servers at peak: {servers}, binding: utilization" in text
    assert "servers at peak: 572" not in text


def test_notebook_03_sizes_the_plan_it_is_given(tmp_path: Path, small_sizing: Any) -> None:
    text = _run(tmp_path, "03_sizing_replicas.ipynb", plan_file=SMALL, seed=5, sim_customers=20_000)
    # the small plan's classes at 5,000 requests/s x its mix, on its own 2-core pods
    assert "2000.0" in text and "2750.0" in text and "250.0" in text
    # the fewest replicas is the plan's (the notebook's assumed memory only breaks ties of layouts)
    assert f"ServiceSizing({small_sizing.service.sizing.replicas} replicas x (2 cores," in text
    assert "x (4 cores," not in text  # nothing of the bundled plan's 4-core pods


def test_notebook_04_checks_the_pools_of_the_plan_it_is_given(tmp_path: Path) -> None:
    text = _run(tmp_path, "04_sizing_connection_pools.ipynb", plan_file=SMALL, seed=5, sim_customers=20_000)
    assert "x (2 cores," in text and "x (4 cores," not in text
    assert "of 2000" in text  # the small plan's two PgBouncer pods of max_client_conn 1000


def test_notebook_05_names_the_missing_cache_section(tmp_path: Path) -> None:
    papermill = pytest.importorskip("papermill")
    with pytest.raises(papermill.PapermillExecutionError, match="no cache section; set trace_file"):
        _run(tmp_path, "05_sizing_caches.ipynb", plan_file=SMALL)


def test_notebook_07_runs_the_pods_of_the_plan_it_is_given(tmp_path: Path) -> None:
    # the small plan has no autoscaling section: the HPA and the day come from the parameters, the
    # pods' service time from the plan's critical-operations evidence (30 ms on 4 workers)
    text = _run(
        tmp_path,
        "07_autoscaling.ipynb",
        plan_file=SMALL,
        hpa_file="data/hpa.yaml",
        traffic_file="data/traffic_day_spike.csv",
    )
    assert f"one pod: {4 / 0.030:g} requests/s at 100% busy" in text
    assert "one pod: 100 requests/s" not in text  # the bundled plan's 40 ms


def test_notebook_09_overloads_the_fleet_of_the_plan_it_is_given(tmp_path: Path, small_sizing: Any) -> None:
    text = _run(tmp_path, "09_overload_and_retries.ipynb", plan_file=SMALL)
    # the plan's critical operations: 40% of 5,000/s on its replicas of 4 workers at 30 ms each
    replicas = small_sizing.replicas["critical_operations"].replicas
    assert (
        f"{replicas} replicas of 4 workers; one replica: {2000 / replicas:.2f} requests/s at peak, "
        f"capacity {4 / 0.030:g}/s"
    ) in text


def test_notebook_10_forecasts_for_the_plan_it_is_given(tmp_path: Path, small_sizing: Any) -> None:
    from capplan.forecast import class_capacity  # noqa: PLC0415

    # the history is the small plan's forecast.history
    text = _run(tmp_path, "10_forecast_and_runway.ipynb", plan_file=SMALL, horizon="30d")
    capacity = class_capacity(small_sizing)
    lowest = float(capacity["capacity"].min())
    assert f"{lowest:,.0f} requests/s runs out on" in text  # the small plan's capacity
    assert "CapacityPlan(api_gateway sustained 5000/s" in text
