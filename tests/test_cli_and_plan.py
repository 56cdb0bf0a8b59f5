"""The command line and the sizing table on the bundled example."""

from __future__ import annotations

import json
from pathlib import Path

import matplotlib
import pytest

from capplan import load_sla
from capplan.cli import main
from capplan.plan import server_sizing_table
from capplan.plots import plot_response_vs_utilization

matplotlib.use("Agg")

ROOT = Path(__file__).resolve().parents[1]
SLA_FILES = [str(ROOT / "data" / "performance-sla.yaml"), str(ROOT / "data" / "performance-budget.yaml")]


def test_servers_prints_sla_and_table(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["servers", *SLA_FILES, "--service-time", "40ms"]) == 0
    out = capsys.readouterr().out
    assert "Latency targets (seconds)" in out
    assert "critical_operations" in out
    # 10,000/s x 40 ms = 400 Erlangs at <= 70% CPU -> 572 servers.
    assert " 572 " in out


def test_servers_json_per_class_service_times(capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["servers", *SLA_FILES, "--format", "json", "--service-time"]
    argv += ["critical_operations=40ms", "standard_operations=80ms", "batch_operations=2s"]
    assert main(argv) == 0
    rows = json.loads(capsys.readouterr().out)
    assert len(rows) == 9
    batch_peak = next(r for r in rows if r["class"] == "batch_operations" and r["load"] == "peak")
    assert batch_peak["servers"] == 28572  # 20,000 Erlangs / 0.7, rounded up


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["servers", "missing.yaml", "--service-time", "1s"], "missing.yaml: file not found"),
        (["servers", SLA_FILES[0], "--service-time", "2x"], "'2x' is not a duration"),
        (["servers", SLA_FILES[0], "--service-time", "critical_operations=40ms"], "standard_operations"),
        (
            ["servers", SLA_FILES[0], "--service-time", "1s", "--throughput", "nope"],
            "no throughput targets named",
        ),
        (
            [
                "plan",
                str(ROOT / "data" / "pgbouncer-configmap.yaml"),
                "--service-time",
                "critical_operations=1s",
            ],
            "pgbouncer-configmap.yaml: a Kubernetes manifest of 2 YAML documents: kind: ConfigMap",
        ),
        (
            ["servers", str(ROOT / "data" / "pgbouncer.ini"), "--service-time", "1s"],
            "pgbouncer.ini: line 2, column 1: YAML syntax error: did not find expected <document start>",
        ),
    ],
)
def test_bad_input_exits_2_with_one_clear_line(
    argv: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("capplan: error: ")
    assert message in err
    assert "Traceback" not in err


def test_sla_subcommand(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["sla", *SLA_FILES]) == 0
    assert "hit_ratio" in capsys.readouterr().out


def test_sizing_table_columns_and_infeasible_rows() -> None:
    sla = load_sla(*SLA_FILES)
    table = server_sizing_table(sla, 0.080)  # p95 of Exp(80 ms) = 240 ms > 200 ms critical target
    critical = table[table["class"] == "critical_operations"]
    assert critical["servers"].isna().all()
    assert critical["binding"].str.startswith("infeasible").all()
    standard = table[table["class"] == "standard_operations"]
    assert standard["servers"].notna().all()
    assert {"p99_s", "target_p99_s", "utilization", "method"} <= set(table.columns)
    assert (standard["p99_s"] <= standard["target_p99_s"]).all()


def test_plot_is_labelled() -> None:
    ax = plot_response_vs_utilization(0.04, 8, targets={0.99: 0.5}, max_utilization=0.7)
    assert "utilization" in ax.get_xlabel()
    assert "(ms)" in ax.get_ylabel()
    legend = ax.get_legend()
    assert legend is not None
    labels = [t.get_text() for t in legend.get_texts()]
    assert labels == ["p50", "p95", "p99", "p99 target", "utilization cap 70%"]
