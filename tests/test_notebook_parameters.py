"""The notebooks with a papermill ``parameters`` cell run on other inputs: the second bundled plan
file (``data/capacity-plan-small.yaml``: the sustained level, another mix, 2-core pods), as a
user's own plan would be given with ``papermill NB out.ipynb -p PLAN_FILE my-plan.yaml``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[1]
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


@pytest.fixture(scope="module")
def small_sizing() -> Any:
    from capplan.plan.inputs import load_plan_inputs  # noqa: PLC0415

    plan = load_plan_inputs(ROOT / SMALL).plan()
    assert plan.service is not None and plan.service.sizing is not None
    return plan


def test_notebook_03_sizes_the_plan_it_is_given(tmp_path: Path, small_sizing: Any) -> None:
    text = _run(tmp_path, "03_sizing_replicas.ipynb", PLAN_FILE=SMALL, SEED=5, SIM_CUSTOMERS=20_000)
    # the small plan's classes at 5,000 requests/s x its mix, on its own 2-core pods
    assert "2000.0" in text and "2750.0" in text and "250.0" in text
    # the fewest replicas is the plan's (the notebook's assumed memory only breaks ties of layouts)
    assert f"ServiceSizing({small_sizing.service.sizing.replicas} replicas x (2 cores," in text
    assert "x (4 cores," not in text  # nothing of the bundled plan's 4-core pods


def test_notebook_04_checks_the_pools_of_the_plan_it_is_given(tmp_path: Path) -> None:
    text = _run(tmp_path, "04_sizing_connection_pools.ipynb", PLAN_FILE=SMALL, SEED=5, SIM_CUSTOMERS=20_000)
    assert "x (2 cores," in text and "x (4 cores," not in text
    assert "of 2000" in text  # the small plan's two PgBouncer pods of max_client_conn 1000


def test_notebook_10_forecasts_for_the_plan_it_is_given(tmp_path: Path, small_sizing: Any) -> None:
    from capplan.forecast import class_capacity  # noqa: PLC0415

    text = _run(tmp_path, "10_forecast_and_runway.ipynb", plan_file=SMALL, horizon="30d")
    capacity = class_capacity(small_sizing)
    lowest = float(capacity["capacity"].min())
    assert f"{lowest:,.0f} requests/s runs out on" in text  # the small plan's capacity
    assert "CapacityPlan(api_gateway sustained 5000/s" in text
