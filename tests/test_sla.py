"""Tests of capplan.sla: loading the bundled SLA documents, the views, the look-ups and validation."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

import capplan
from capplan import SLA, SLAError, load_sla
from capplan.sla import AvailabilityTarget, LatencyTarget, ThroughputTarget, UtilizationThresholds

ROOT = Path(__file__).parents[1]
SLA_PATH = ROOT / "data" / "performance-sla.yaml"
BUDGET_PATH = ROOT / "data" / "performance-budget.yaml"

LATENCY_PATH = "performance_requirements.response_time_targets.api_endpoints.critical_operations"
UTIL_PATH = "performance_requirements.resource_utilization.cpu_utilization"
AVAIL_PATH = "performance_requirements.availability_targets"
RATE_PATH = "performance_requirements.throughput_targets.api_gateway"


def latency_doc(*lines: str) -> str:
    """A document with one operation class whose percentile lines are given."""
    head = (
        "performance_requirements:\n  response_time_targets:\n"
        "    api_endpoints:\n      critical_operations:\n"
    )
    return head + "".join(f"        {line}\n" for line in lines)


def utilization_doc(*lines: str) -> str:
    head = "performance_requirements:\n  resource_utilization:\n    cpu_utilization:\n"
    return head + "".join(f"      {line}\n" for line in lines)


def availability_doc(*lines: str) -> str:
    head = "performance_requirements:\n  availability_targets:\n"
    return head + "".join(f"    {line}\n" for line in lines)


def throughput_doc(*lines: str) -> str:
    head = "performance_requirements:\n  throughput_targets:\n    api_gateway:\n"
    return head + "".join(f"      {line}\n" for line in lines)


def budget_doc(*lines: str) -> str:
    head = "performance_budgets:\n  backend:\n    cache_performance:\n"
    return head + "".join(f"      {line}\n" for line in lines)


def sla_error(*sources: str | Path) -> str:
    """Load ``sources``, assert that it raises SLAError (a ValueError), and return the message."""
    with pytest.raises(ValueError) as info:
        load_sla(*sources)
    assert isinstance(info.value, SLAError)
    return str(info.value)


@pytest.fixture(scope="module")
def sla() -> SLA:
    return load_sla(SLA_PATH, BUDGET_PATH)


# ---------------------------------------------------------------------------------------------
# The bundled documents


def test_bundled_files_exist() -> None:
    assert SLA_PATH.is_file()
    assert BUDGET_PATH.is_file()


def test_sources_are_recorded(sla: SLA) -> None:
    assert sla.sources == (str(SLA_PATH), str(BUDGET_PATH))


def test_critical_operations_latency(sla: SLA) -> None:
    targets = sla.latency_targets_for("api_endpoints", "critical_operations")
    assert sorted(targets) == pytest.approx([0.5, 0.95, 0.99, 0.999])
    assert targets[0.5] == pytest.approx(0.050)
    assert targets[0.95] == pytest.approx(0.200)
    assert targets[0.99] == pytest.approx(0.500)
    top_quantile, top_target = max(targets.items())
    assert top_quantile == pytest.approx(0.999)
    assert top_target == pytest.approx(1.0)


def test_p99_9_quantile_is_exactly_0_999(sla: SLA) -> None:
    assert sla.latency_targets_for("api_endpoints", "critical_operations")[0.999] == 1.0


@pytest.mark.parametrize(
    ("group", "op_class", "expected"),
    [
        ("api_endpoints", "standard_operations", [0.100, 0.400, 1.000, 2.000]),
        ("api_endpoints", "batch_operations", [5.0, 15.0, 30.0]),
        ("database_queries", "simple_queries", [0.005, 0.020, 0.050]),
        ("database_queries", "complex_queries", [0.050, 0.200, 0.500]),
        ("database_queries", "analytical_queries", [1.0, 5.0, 15.0]),
    ],
)
def test_other_latency_targets(sla: SLA, group: str, op_class: str, expected: list[float]) -> None:
    targets = sla.latency_targets_for(group, op_class)
    assert [targets[q] for q in sorted(targets)] == pytest.approx(expected)


def test_operation_classes_in_document_order(sla: SLA) -> None:
    assert sla.operation_classes() == [
        ("api_endpoints", "critical_operations"),
        ("api_endpoints", "standard_operations"),
        ("api_endpoints", "batch_operations"),
        ("database_queries", "simple_queries"),
        ("database_queries", "complex_queries"),
        ("database_queries", "analytical_queries"),
    ]
    assert sla.operation_classes("database_queries") == [
        ("database_queries", "simple_queries"),
        ("database_queries", "complex_queries"),
        ("database_queries", "analytical_queries"),
    ]
    assert sla.operation_classes("nope") == []


def test_throughput_rates(sla: SLA) -> None:
    assert sla.rates("api_gateway") == {"peak": 10000.0, "sustained": 5000.0, "burst": 15000.0}
    assert sla.rates("message_queue") == {"messages": 50000.0}
    assert sla.rates("database") == {"read": 5000.0, "write": 1000.0}
    assert ThroughputTarget("api_gateway", "peak", 10000.0) in sla.throughput_targets


def test_throughput_limits_are_not_rates(sla: SLA) -> None:
    assert set(sla.throughput_limits) == {
        ("message_queue", "batch_size_optimal", 100.0),
        ("message_queue", "max_batch_size", 1000.0),
        ("database", "connection_pool_size", 100.0),
    }
    assert list(sla.limits.columns) == ["name", "key", "value"]


def test_utilization_thresholds(sla: SLA) -> None:
    by_resource = {u.resource: u for u in sla.utilization_thresholds}
    assert set(by_resource) == {"cpu", "memory", "network"}
    cpu = by_resource["cpu"]
    assert (cpu.target, cpu.warning, cpu.critical) == pytest.approx((0.7, 0.8, 0.9))
    memory = by_resource["memory"]
    assert (memory.target, memory.warning, memory.critical) == pytest.approx((0.75, 0.85, 0.95))
    network = by_resource["network"]
    assert (network.target, network.warning, network.critical) == pytest.approx((0.60, 0.75, 0.90))
    assert sla.utilization_target() == pytest.approx(0.7)
    assert sla.utilization_target("memory") == pytest.approx(0.75)


def test_availability_targets(sla: SLA) -> None:
    by_name = {a.name: a for a in sla.availability_targets}
    assert by_name["uptime"].value == pytest.approx(0.9999)
    assert by_name["uptime"].bound == "min"
    assert by_name["error_rate"].value == pytest.approx(0.001)
    assert by_name["error_rate"].bound == "max"
    assert by_name["timeout_rate"].value == pytest.approx(0.0001)
    assert by_name["timeout_rate"].bound == "max"


@pytest.mark.parametrize(
    ("category", "name", "expected"),
    [
        ("cache_performance", "hit_ratio", (0.95, "fraction", "min")),
        ("cache_performance", "eviction_rate", (0.01, "fraction", "max")),
        ("cache_performance", "response_time", (0.005, "s", "max")),
        ("database_performance", "connection_acquisition", (0.010, "s", "max")),
        ("database_performance", "query_execution_time", (0.050, "s", "max")),
        ("api_response_time", "data_processing", (0.5, "s", "max")),
        ("page_load_time", "first_contentful_paint", (1.5, "s", "max")),
        ("page_load_time", "first_input_delay", (0.1, "s", "max")),
        ("page_load_time", "cumulative_layout_shift", (0.1, "number", "max")),
        ("network_requests", "total_requests", (50.0, "count", "max")),
    ],
)
def test_budget_items(sla: SLA, category: str, name: str, expected: tuple[float, str, str]) -> None:
    value, unit, bound = expected
    assert sla.budget_value(category, name) == pytest.approx(value)
    (item,) = [b for b in sla.budgets if b.category == category and b.name == name]
    assert item.unit == unit
    assert item.bound == bound


def test_resource_sizes_are_bytes(sla: SLA) -> None:
    sizes = [b for b in sla.budgets if b.category == "resource_sizes"]
    assert [b.name for b in sizes] == ["javascript_bundle", "css_bundle", "images_total", "fonts_total"]
    assert all(b.unit == "bytes" and b.area == "frontend" for b in sizes)
    # 300KB > 100KB, whatever the kilobyte convention.
    assert sizes[0].value == 3 * sizes[1].value
    assert sizes[1].value in (100_000.0, 102_400.0)


# ---------------------------------------------------------------------------------------------
# DataFrame views


def test_latency_frame(sla: SLA) -> None:
    frame = sla.latency
    assert isinstance(frame, pd.DataFrame)
    assert list(frame.columns) == ["group", "class", "quantile", "target_s"]
    assert len(frame) == 20
    row = frame[(frame["class"] == "critical_operations") & (frame["quantile"] == 0.99)]
    assert row["target_s"].tolist() == [0.5]
    assert frame["quantile"].between(0, 1, inclusive="neither").all()
    assert (frame["target_s"] > 0).all()


def test_throughput_frame(sla: SLA) -> None:
    frame = sla.throughput
    assert list(frame.columns) == ["name", "kind", "per_second"]
    assert len(frame) == 6
    peak = frame[(frame["name"] == "api_gateway") & (frame["kind"] == "peak")]
    assert peak["per_second"].tolist() == [10000.0]
    burst = frame[(frame["name"] == "api_gateway") & (frame["kind"] == "burst")]
    assert burst["per_second"].tolist() == [15000.0]


def test_utilization_frame(sla: SLA) -> None:
    frame = sla.utilization
    assert list(frame.columns) == ["resource", "target", "warning", "critical"]
    assert frame["resource"].tolist() == ["cpu", "memory", "network"]
    cpu = frame.set_index("resource").loc["cpu"]
    assert [cpu["target"], cpu["warning"], cpu["critical"]] == pytest.approx([0.7, 0.8, 0.9])


def test_availability_frame(sla: SLA) -> None:
    frame = sla.availability
    assert list(frame.columns) == ["name", "value", "bound"]
    assert frame["name"].tolist() == ["uptime", "error_rate", "timeout_rate"]
    assert frame["bound"].tolist() == ["min", "max", "max"]
    assert frame["value"].tolist() == pytest.approx([0.9999, 0.001, 0.0001])


def test_budget_frame(sla: SLA) -> None:
    frame = sla.budget
    assert list(frame.columns) == ["area", "category", "name", "value", "unit", "bound"]
    assert len(frame) == 20
    assert set(frame["area"]) == {"frontend", "backend"}


def test_empty_views_keep_their_columns() -> None:
    empty = load_sla(budget_doc("hit_ratio: '90%'"))
    assert list(empty.latency.columns) == ["group", "class", "quantile", "target_s"]
    assert list(empty.throughput.columns) == ["name", "kind", "per_second"]
    assert list(empty.utilization.columns) == ["resource", "target", "warning", "critical"]
    assert list(empty.availability.columns) == ["name", "value", "bound"]
    assert len(empty.latency) == len(empty.throughput) == len(empty.availability) == 0


# ---------------------------------------------------------------------------------------------
# Look-up errors


def test_lookup_errors_name_what_is_missing(sla: SLA) -> None:
    with pytest.raises(KeyError, match=r"api_endpoints\.nope") as info:
        sla.latency_targets_for("api_endpoints", "nope")
    assert "critical_operations" in str(info.value)
    with pytest.raises(KeyError, match="'cache'") as info:
        sla.rates("cache")
    assert "api_gateway" in str(info.value)
    with pytest.raises(KeyError, match="'disk'") as info:
        sla.utilization_target("disk")
    assert "cpu" in str(info.value)
    with pytest.raises(KeyError, match=r"cache_performance\.miss_ratio"):
        sla.budget_value("cache_performance", "miss_ratio")


# ---------------------------------------------------------------------------------------------
# Rendering


def test_repr(sla: SLA) -> None:
    assert repr(sla) == (
        "SLA(20 latency targets, 6 throughput targets, 3 utilization thresholds, "
        "3 availability targets, 20 budget items)"
    )


def test_to_text(sla: SLA) -> None:
    text = sla.to_text()
    assert text.startswith(f"SLA from {SLA_PATH}, {BUDGET_PATH}")
    for title in (
        "Latency targets (seconds)",
        "Throughput targets (per second)",
        "Throughput limits",
        "Utilization thresholds (fraction)",
        "Availability targets (fraction)",
        "Budgets (SI units)",
    ):
        assert title in text
    for word in ("critical_operations", "api_gateway", "15000.0", "hit_ratio", "uptime"):
        assert word in text
    assert text == sla.to_text()


def test_to_text_omits_empty_sections() -> None:
    text = load_sla(availability_doc("uptime: '99.9%'")).to_text()
    assert text.startswith("SLA from <text>")
    assert "Availability targets (fraction)" in text
    assert "Latency targets" not in text
    assert "Budgets" not in text


def test_repr_html(sla: SLA) -> None:
    page = sla._repr_html_()
    assert page.startswith("<div>")
    assert page.endswith("</div>")
    assert page.count("<table") == 6
    assert "<h4>Latency targets (seconds)</h4>" in page
    assert "critical_operations" in page
    assert "0x" not in page


def test_repr_html_escapes_names() -> None:
    page = load_sla(availability_doc("'<script>uptime': '99.9%'")).to_text()
    assert "<script>uptime" in page
    html_page = load_sla(availability_doc("'<script>uptime': '99.9%'"))._repr_html_()
    assert "<script>" not in html_page
    assert "&lt;script&gt;uptime" in html_page


# ---------------------------------------------------------------------------------------------
# Valid documents


def test_minimal_document() -> None:
    sla = load_sla(latency_doc("p99: '250ms'"))
    assert sla.latency_targets == (LatencyTarget("api_endpoints", "critical_operations", 0.99, 0.25),)
    assert sla.throughput_targets == ()
    assert sla.budgets == ()
    assert sla.sources == ("<text>",)


def test_single_line_yaml_text() -> None:
    sla = load_sla('{"performance_requirements": {"availability_targets": {"uptime": "99.5%"}}}')
    (target,) = sla.availability_targets
    assert isinstance(target, AvailabilityTarget)
    assert (target.name, target.bound) == ("uptime", "min")
    assert target.value == pytest.approx(0.995)


def test_loading_twice_gives_equal_results() -> None:
    text = SLA_PATH.read_text(encoding="utf-8")
    first, second = load_sla(text), load_sla(text)
    assert first == second
    assert first is not second
    assert load_sla(SLA_PATH, BUDGET_PATH) == load_sla(SLA_PATH, BUDGET_PATH)


def test_text_path_and_str_path_agree() -> None:
    from_text = load_sla(SLA_PATH.read_text(encoding="utf-8"))
    from_path = load_sla(SLA_PATH)
    from_str = load_sla(str(SLA_PATH))
    assert from_path == from_str
    assert from_text.latency_targets == from_path.latency_targets
    assert from_text.throughput_targets == from_path.throughput_targets
    assert from_text.utilization_thresholds == from_path.utilization_thresholds
    assert from_text.availability_targets == from_path.availability_targets
    assert from_text.sources == ("<text>",)


def test_sources_combine_without_interaction() -> None:
    both = load_sla(SLA_PATH, BUDGET_PATH)
    assert both.latency_targets == load_sla(SLA_PATH).latency_targets
    assert both.budgets == load_sla(BUDGET_PATH).budgets


def test_percentiles_are_sorted_and_bounds_explicit() -> None:
    sla = load_sla(latency_doc("p99: '1s'", "p50: '100ms'", "p90: '500ms'"))
    assert [t.quantile for t in sla.latency_targets] == [0.5, 0.9, 0.99]
    assert [t.target_s for t in sla.latency_targets] == pytest.approx([0.1, 0.5, 1.0])
    limits = load_sla(availability_doc("success: '>=99%'", "uptime: '<5%'"))
    assert [(a.name, a.bound) for a in limits.availability_targets] == [("success", "min"), ("uptime", "max")]


def test_equal_percentile_targets_are_allowed() -> None:
    sla = load_sla(latency_doc("p95: '500ms'", "p99: '500ms'"))
    assert [t.target_s for t in sla.latency_targets] == [0.5, 0.5]


def test_utilization_without_alert_levels() -> None:
    sla = load_sla(utilization_doc("target: '65%'"))
    assert sla.utilization_thresholds == (UtilizationThresholds("cpu", 0.65, None, None),)


def test_throughput_quantities() -> None:
    sla = load_sla(throughput_doc("peak_rps: '10k'", "burst_capacity: 15000"))
    assert sla.rates("api_gateway") == {"peak": 10000.0, "burst": 15000.0}


def test_file_via_tmp_path(tmp_path: Path) -> None:
    path = tmp_path / "sla.yaml"
    path.write_text(latency_doc("p50: '20ms'", "p99: '80ms'"), encoding="utf-8")
    sla = load_sla(path)
    assert sla.sources == (str(path),)
    assert sla.latency_targets_for("api_endpoints", "critical_operations") == {
        0.5: pytest.approx(0.02),
        0.99: pytest.approx(0.08),
    }


# ---------------------------------------------------------------------------------------------
# Validation: values


def test_sla_error_is_a_value_error() -> None:
    assert issubclass(capplan.SLAError, ValueError)
    assert issubclass(capplan.SLAError, capplan.CapplanError)


def test_unparseable_duration() -> None:
    message = sla_error(latency_doc("p50: '50ms'", "p99: '500x'"))
    assert f"{LATENCY_PATH}.p99" in message
    assert "'500x' is not a duration" in message
    assert message.startswith("<text>: ")


def test_unparseable_duration_names_the_file(tmp_path: Path) -> None:
    path = tmp_path / "broken.yaml"
    path.write_text(latency_doc("p99: '500x'"), encoding="utf-8")
    message = sla_error(path)
    assert str(path) in message
    assert f"{LATENCY_PATH}.p99" in message
    assert "'500x' is not a duration" in message


@pytest.mark.parametrize("value", ["-5ms", "0ms", "0s", "-1h"])
def test_non_positive_latency_target(value: str) -> None:
    message = sla_error(latency_doc(f"p99: '{value}'"))
    assert f"{LATENCY_PATH}.p99" in message
    assert repr(value) in message
    assert "positive" in message


@pytest.mark.parametrize("value", ["500", "0.5", "0"])
def test_bare_number_latency_has_no_unit(value: str) -> None:
    message = sla_error(latency_doc(f"p99: {value}"))
    assert f"{LATENCY_PATH}.p99" in message
    assert f"{value} has no unit" in message


@pytest.mark.parametrize("value", ["null", "true", "[1, 2]", "'fast'"])
def test_latency_not_a_duration(value: str) -> None:
    message = sla_error(latency_doc(f"p99: {value}"))
    assert f"{LATENCY_PATH}.p99" in message
    assert "is not a duration" in message


def test_percentile_targets_must_not_decrease() -> None:
    message = sla_error(latency_doc("p50: '100ms'", "p95: '600ms'", "p99: '500ms'"))
    assert LATENCY_PATH in message
    assert "non-decreasing" in message
    assert "p95" in message
    assert "p99" in message
    assert "0.6" in message
    assert "0.5" in message


@pytest.mark.parametrize(
    "key",
    ["p100", "median", "p0", "P99", "p-5", "p99.9.9", "p", "p 99", "p99.99999999999999", "p100.0", "p1e400"],
)
def test_unknown_percentile_key(key: str) -> None:
    message = sla_error(latency_doc(f"{key}: '5ms'"))
    assert f"{LATENCY_PATH}.{key}" in message
    assert "percentile" in message


def test_percentile_key_that_rounds_to_quantile_1_names_the_key() -> None:
    # 99.99999999999999 / 100 is 0.9999999999999999, which the 12-digit key rounds to 1.0: the
    # maximum, not a percentile target.
    message = sla_error(latency_doc("p50: '5ms'", "p99.99999999999999: '100ms'"))
    assert f"{LATENCY_PATH}.p99.99999999999999" in message
    assert "quantile 1.0" in message


def test_integer_percentile_key() -> None:
    message = sla_error(latency_doc("50: '5ms'"))
    assert LATENCY_PATH in message
    assert "key 50" in message


def test_operation_class_without_targets() -> None:
    message = sla_error(latency_doc("{}"))
    assert LATENCY_PATH in message
    assert "no percentile targets" in message


def test_duplicate_quantile_keys() -> None:
    message = sla_error(latency_doc("p99.9: '1s'", "p99.90: '2s'"))
    assert LATENCY_PATH in message


def test_utilization_thresholds_out_of_order() -> None:
    message = sla_error(
        utilization_doc("target: '90%'", "warning_threshold: '80%'", "critical_threshold: '95%'")
    )
    assert UTIL_PATH in message
    assert "out of order" in message
    assert "warning_threshold (0.8) < target (0.9)" in message


def test_utilization_critical_below_warning() -> None:
    message = sla_error(
        utilization_doc("target: '70%'", "warning_threshold: '90%'", "critical_threshold: '80%'")
    )
    assert UTIL_PATH in message
    assert "critical_threshold (0.8) < warning_threshold (0.9)" in message


@pytest.mark.parametrize(
    ("line", "key", "needle"),
    [
        ("target: 70", "target", "70 has no unit"),
        ("target: '0%'", "target", "'0%' is outside the valid range (0, 1]"),
        ("target: '150%'", "target", "'150%' is outside 0%..100%"),
        ("target: '-5%'", "target", "'-5%' is outside 0%..100%"),
        ("target: 'high'", "target", "'high' is not a percentage"),
        ("ceiling: '95%'", "ceiling", "unknown key"),
    ],
)
def test_bad_utilization_value(line: str, key: str, needle: str) -> None:
    message = sla_error(utilization_doc(line))
    assert f"{UTIL_PATH}.{key}" in message
    assert needle in message


def test_utilization_missing_target() -> None:
    message = sla_error(utilization_doc("warning_threshold: '80%'"))
    assert UTIL_PATH in message
    assert f"{UTIL_PATH}.target: is required" in message


@pytest.mark.parametrize(
    ("line", "key", "needle"),
    [
        ("uptime: 99.99", "uptime", "99.99 has no unit"),
        ("uptime: '0%'", "uptime", "'0%' must be above 0%"),
        ("error_rate: '<200%'", "error_rate", "outside 0%..100%"),
        ("error_rate: 'low'", "error_rate", "'low' is not a percentage"),
    ],
)
def test_bad_availability_value(line: str, key: str, needle: str) -> None:
    message = sla_error(availability_doc(line))
    assert f"{AVAIL_PATH}.{key}" in message
    assert needle in message


@pytest.mark.parametrize(
    ("line", "needle"),
    [
        ("peak_rps: 0", "0 is outside the valid range (0, 1e+12]"),
        ("peak_rps: -10", "-10 is outside the valid range (0, 1e+12]"),
        ("peak_rps: 'lots'", "'lots' is not a number"),
        ("peak_rps: .nan", "nan is not a number"),
        ("peak_rps: true", "True is not a number"),
        ("peak_rps: [1]", "[1] is not a number"),
    ],
)
def test_bad_throughput_value(line: str, needle: str) -> None:
    message = sla_error(throughput_doc(line))
    assert f"{RATE_PATH}.peak_rps" in message
    assert needle in message


def test_huge_integer_throughput() -> None:
    message = sla_error(throughput_doc("peak_rps: " + "9" * 400))
    assert f"{RATE_PATH}.peak_rps" in message


@pytest.mark.parametrize(
    ("category", "line"),
    [
        ("database_performance", "connection_acquisition: 10"),
        ("database_performance", "query_execution_time: '10'"),
        ("cache_performance", "response_time: 0.005"),
        ("page_load_time", "first_contentful_paint: 1.5"),
    ],
)
def test_unitless_duration_budget_is_an_error_naming_it(category: str, line: str) -> None:
    # A bare 10 for connection_acquisition was taken as 10 seconds (1000x the seed's '10ms').
    name = line.split(":", maxsplit=1)[0]
    message = sla_error(f"performance_budgets:\n  backend:\n    {category}:\n      {line}\n")
    assert f"performance_budgets.backend.{category}.{name}" in message
    assert "has no unit" in message


def test_unitless_scores_and_counts_stay_numbers() -> None:
    doc = "performance_budgets:\n  frontend:\n    page_load_time:\n      cumulative_layout_shift: '0.1'\n"
    (item,) = load_sla(doc).budgets
    assert (item.value, item.unit) == (0.1, "number")


def test_huge_integer_budget() -> None:
    message = sla_error(budget_doc("connections: " + "9" * 400))
    assert "performance_budgets.backend.cache_performance.connections" in message


@pytest.mark.parametrize(
    ("line", "needle"),
    [
        ("response_time: '-5ms'", "'-5ms' must be a positive duration"),
        ("response_time: 'soon'", "'soon' is not a duration"),
        ("connections: 'soon'", "'soon' is not a duration, size, percentage or number"),
        ("connections: -1", "-1 is outside the valid range [0, 1e+15]"),
        ("response_time: '5KB'", "'5KB' is not a duration"),
        ("response_time: true", "True is not a budget value"),
        ("hit_ratio: 'abc%'", "'abc%' is not a percentage"),
        ("hit_ratio: '120%'", "outside 0%..100%"),
    ],
)
def test_bad_budget_value(line: str, needle: str) -> None:
    key = line.split(":", maxsplit=1)[0]
    message = sla_error(budget_doc(line))
    assert f"performance_budgets.backend.cache_performance.{key}" in message
    assert needle in message


@pytest.mark.parametrize(
    ("text", "path"),
    [
        ("performance_requirements:\n", "performance_requirements"),
        ("performance_requirements: 5\n", "performance_requirements"),
        ("performance_requirements:\n  response_time_targets: [1, 2]\n", "response_time_targets"),
        (
            "performance_requirements:\n  response_time_targets:\n    api: 'fast'\n",
            "response_time_targets.api",
        ),
        ("performance_budgets:\n  backend: 3\n", "performance_budgets.backend"),
    ],
)
def test_section_must_be_a_mapping(text: str, path: str) -> None:
    message = sla_error(text)
    assert path in message
    assert "must be a mapping" in message


def test_unknown_requirements_section() -> None:
    message = sla_error("performance_requirements:\n  latency_targets: {}\n")
    assert "performance_requirements.latency_targets" in message
    assert "latency_targets: unknown key" in message


# ---------------------------------------------------------------------------------------------
# Validation: documents and sources


def test_empty_file(tmp_path: Path) -> None:
    path = tmp_path / "empty.yaml"
    path.write_text("", encoding="utf-8")
    message = sla_error(path)
    assert str(path) in message
    assert "empty" in message


@pytest.mark.parametrize("text", ["\n", "# only a comment\n", "---\n"])
def test_empty_text(text: str) -> None:
    assert "empty" in sla_error(text)


def test_empty_string() -> None:
    assert "empty" in sla_error("")


def test_yaml_syntax_error_gives_the_line() -> None:
    text = "performance_requirements:\n  availability_targets:\n    uptime: '99%' : x\n"
    message = sla_error(text)
    assert "line 3" in message
    assert "YAML syntax error" in message


def test_yaml_syntax_error_in_file(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text("performance_requirements:\n  availability_targets:\n\tuptime: '99%'\n", encoding="utf-8")
    message = sla_error(path)
    assert str(path) in message
    assert "line 3" in message


def test_unsafe_yaml_tag_is_rejected() -> None:
    message = sla_error("!!python/object/apply:os.system ['true']\n")
    assert "YAML" in message


def test_list_instead_of_mapping(tmp_path: Path) -> None:
    path = tmp_path / "list.yaml"
    path.write_text("- performance_requirements\n- performance_budgets\n", encoding="utf-8")
    message = sla_error(path)
    assert str(path) in message
    assert "expected a mapping" in message
    assert "list" in message


def test_unknown_top_level_key() -> None:
    message = sla_error("performance_requirement:\n  availability_targets: {}\n")
    assert "performance_requirement" in message
    assert "performance_requirement: unknown key (did you mean performance_requirements?)" in message


def test_missing_file(tmp_path: Path) -> None:
    path = tmp_path / "missing.yaml"
    for source in (path, str(path)):
        message = sla_error(source)
        assert str(path) in message
        assert "not found" in message


def test_missing_file_with_colon_in_name() -> None:
    message = sla_error("configs/sla:v2.yaml")
    assert "configs/sla:v2.yaml" in message
    assert "not found" in message


def test_directory_is_not_a_file(tmp_path: Path) -> None:
    message = sla_error(tmp_path)
    assert str(tmp_path) in message
    assert "directory" in message


def test_not_utf8(tmp_path: Path) -> None:
    path = tmp_path / "latin1.yaml"
    path.write_bytes(b"performance_budgets:\n  x:\n    y:\n      caf\xe9: 1\n")
    message = sla_error(path)
    assert str(path) in message
    assert "UTF-8" in message


@pytest.mark.parametrize("source", [b"performance_budgets: {}", 42, None])
def test_source_of_wrong_type(source: object) -> None:
    with pytest.raises(SLAError, match=type(source).__name__):
        load_sla(source)  # type: ignore[arg-type]


def test_same_section_in_two_sources() -> None:
    message = sla_error(SLA_PATH, availability_doc("uptime: '99%'"))
    assert "performance_requirements" in message
    assert "already defined" in message
    assert str(SLA_PATH) in message


def test_same_file_twice() -> None:
    message = sla_error(BUDGET_PATH, BUDGET_PATH)
    assert "performance_budgets is already defined" in message
    assert str(BUDGET_PATH) in message


def test_long_single_line_yaml_text() -> None:
    targets = ", ".join(f'"service_{i}_uptime": "99.9%"' for i in range(20))
    text = '{"performance_requirements": {"availability_targets": {' + targets + "}}}"
    assert len(text) > 300
    assert "\n" not in text
    sla = load_sla(text)
    assert len(sla.availability_targets) == 20


def test_duplicate_operation_class_names_the_key_path_and_both_lines(tmp_path: Path) -> None:
    # YAML itself keeps the last of two equal keys; the earlier targets would be lost without a word.
    path = tmp_path / "dup.yaml"
    path.write_text(
        "performance_requirements:\n"
        "  response_time_targets:\n"
        "    api_endpoints:\n"
        "      critical_operations: {p99: 500ms}\n"
        "      standard_operations: {p99: 1s}\n"
        "      critical_operations: {p99: 200ms}\n",
        encoding="utf-8",
    )
    assert sla_error(path) == (
        f"{path}: line 6: performance_requirements.response_time_targets.api_endpoints: key "
        "'critical_operations' is given twice (lines 4 and 6); YAML would silently keep the last"
    )


def test_kubernetes_manifest_is_named_not_a_syntax_error() -> None:
    # data/pgbouncer-configmap.yaml: the ConfigMap and the Deployment of the PgBouncer block.
    path = Path(__file__).resolve().parents[1] / "data" / "pgbouncer-configmap.yaml"
    assert sla_error(path) == (
        f"{path}: a Kubernetes manifest of 2 YAML documents: kind: ConfigMap 'pgbouncer-config' (line 2); "
        "kind: Deployment 'pgbouncer' (line 43); expected an SLA file (one YAML mapping)"
    )
