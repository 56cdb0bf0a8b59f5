"""capplan.uncertainty: uncertain inputs, Monte Carlo replicas, the tornado, the plan file and CLI."""

from __future__ import annotations

import json
import math
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from scipy import stats

from capplan.cli import main
from capplan.errors import CapplanError, InfeasibleError, ParameterError
from capplan.plan.inputs import PlanInputError, load_plan_inputs
from capplan.sizing import size_pool, size_replicas
from capplan.uncertainty import (
    ClassInputs,
    ClassModel,
    Lognormal,
    Point,
    UncertainInputs,
    UncertainSizing,
    UncertaintyInputError,
    Uniform,
    lognormal_from_moments,
    lognormal_through,
    parse_uncertain,
    parse_uncertainty,
    plan_under_uncertainty,
    replicas_required,
    size_under_uncertainty,
)
from capplan.uncertainty.quantities import Uncertain

DATA = Path(__file__).resolve().parents[1] / "data"
SMALL = str(DATA / "capacity-plan-small.yaml")
SLA_FILES = [str(DATA / "performance-sla.yaml"), str(DATA / "performance-budget.yaml")]
#: The standard normal's 95th and 90th percentiles (Abramowitz & Stegun, Table 26.5).
Z95, Z90 = 1.6448536269514722, 1.2815515655446004
TARGETS = {0.95: 0.12, 0.99: 0.4}


# -- the inputs -------------------------------------------------------------------------------------


@pytest.mark.parametrize(("low", "high"), [(8000.0, 12000.0), (0.02, 0.09), (0.5, 0.5001)])
def test_interval_is_the_lognormal_with_those_5th_and_95th_percentiles(low: float, high: float) -> None:
    fit = lognormal_through(0.05, low, 0.95, high)
    assert fit.sigma == pytest.approx(math.log(high / low) / (2 * Z95), rel=1e-12)
    assert fit.mu == pytest.approx(math.log(low * high) / 2, rel=1e-12)
    ref = stats.lognorm(s=fit.sigma, scale=math.exp(fit.mu))  # scipy's own quantile function
    assert ref.ppf(0.05) == pytest.approx(low, rel=1e-12)
    assert ref.ppf(0.95) == pytest.approx(high, rel=1e-12)
    for p in (0.01, 0.3, 0.5, 0.99):
        assert fit.quantile(p) == pytest.approx(ref.ppf(p), rel=1e-12)


def test_median_p90_and_moments_match_scipy_lognorm() -> None:
    fit = lognormal_through(0.5, 0.040, 0.9, 0.060)
    assert fit.sigma == pytest.approx(math.log(1.5) / Z90, rel=1e-12)
    ref = stats.lognorm(s=fit.sigma, scale=math.exp(fit.mu))
    assert (ref.ppf(0.5), ref.ppf(0.9)) == pytest.approx((0.040, 0.060), rel=1e-12)
    by_moments = lognormal_from_moments(0.004, 0.001)
    ref = stats.lognorm(s=by_moments.sigma, scale=math.exp(by_moments.mu))
    assert (ref.mean(), ref.std()) == pytest.approx((0.004, 0.001), rel=1e-12)


def test_draws_follow_the_stated_distribution_and_the_seed() -> None:
    fit = lognormal_through(0.05, 8000.0, 0.95, 12000.0)
    draws = fit.draw(np.random.default_rng(3), 200_000)
    # 200,000 draws: the empirical 5th/95th percentiles are within 0.5% of the stated ones
    assert np.quantile(draws, [0.05, 0.95]) == pytest.approx([8000.0, 12000.0], rel=5e-3)
    again = fit.draw(np.random.default_rng(3), 200_000)
    assert np.array_equal(draws, again)
    flat = Uniform(1.0, 3.0).draw(np.random.default_rng(3), 200_000)
    assert flat.min() >= 1.0 and flat.max() <= 3.0 and flat.mean() == pytest.approx(2.0, rel=5e-3)
    assert np.all(Point(5.0).draw(np.random.default_rng(0), 4) == 5.0)


@pytest.mark.parametrize(
    ("value", "kind", "expected"),
    [
        (5000, "rate", Point(5000.0)),
        ("40ms", "service_time", Point(0.04)),
        ({"low": "20%", "high": "40%", "dist": "uniform"}, "mix", Uniform(0.2, 0.4)),
    ],
)
def test_parse_points_and_uniform_with_units(value: object, kind: str, expected: object) -> None:
    assert parse_uncertain(value, kind) == expected


def test_parse_quantiles_with_units() -> None:
    fit = parse_uncertain({"median": "40ms", "p90": "60ms"}, "service_time")
    assert isinstance(fit, Lognormal)
    assert (fit.quantile(0.5), fit.quantile(0.9)) == pytest.approx((0.040, 0.060), rel=1e-12)
    fit = parse_uncertain({"mean": "4ms", "sd": "1ms"}, "service_time")
    assert isinstance(fit, Lognormal) and fit == lognormal_from_moments(0.004, 0.001, stated=fit.stated)


@pytest.mark.parametrize(
    ("section", "where", "message"),
    [
        ({"rate": {"low": 5000}}, "uncertainty.rate:", "got keys ['low']"),
        ({"rate": {"low": 6000, "high": 5000}}, "uncertainty.rate:", "must exceed"),
        ({"rate": {"low": 1, "high": 2, "dist": "normal"}}, "uncertainty.rate:", "lognormal or uniform"),
        ({"rate": -3}, "uncertainty.rate:", "outside the valid range"),
        ({"service_time": {"a": {"median": "40xs", "p90": "60ms"}}}, "uncertainty.service_time.a:", "40xs"),
        ({"service_time": {"a": {"median": "60ms", "p90": "40ms"}}}, "uncertainty.service_time.a:", "exceed"),
        ({"mix": {"a": {"low": "20%", "high": "140%"}}}, "uncertainty.mix.a:", "[0, 1]"),
        ({"scv": {"a": {"mean": 1, "sd": 0}}}, "uncertainty.scv.a:", "sd must be"),
        ({"mix": [1, 2]}, "uncertainty.mix:", "must be a mapping"),
        ({"draws": 0}, "uncertainty.draws:", "whole number"),
        ({"seed": 1.5}, "uncertainty.seed:", "whole number"),
        ({"rates": 1}, "uncertainty:", "unknown keys ['rates']"),
    ],
)
def test_section_errors_name_the_file_and_key_path(section: object, where: str, message: str) -> None:
    with pytest.raises(UncertaintyInputError, match=re.escape(message)) as info:
        parse_uncertainty(section, label="plan.yaml")
    assert str(info.value).startswith(f"plan.yaml: {where}")
    assert isinstance(info.value, CapplanError) and isinstance(info.value, ValueError)


# -- propagation against the scalar sizer -----------------------------------------------------------


def _scalar(rate: float, time: float, scv: float, model: ClassModel) -> float:
    try:
        return size_replicas(
            rate,
            model.targets,
            workers=model.workers,
            service_time=time,
            service_scv=scv,
            max_utilization=model.max_utilization,
            redundancy=model.redundancy,
            zones=model.zones,
            balancing=model.balancing,
        ).replicas
    except InfeasibleError:
        return math.inf


@pytest.mark.parametrize(
    ("model", "scv"),
    [
        (ClassModel(TARGETS, 8, 0.7, redundancy=1, zones=3), 1.0),
        (ClassModel(TARGETS, 4, 1.0), 1.0),
        (ClassModel(TARGETS, 4, 0.7, redundancy=2, balancing="jsq"), 1.0),
        (ClassModel(TARGETS, 4, 0.7, redundancy=1, zones=3), 2.5),
        (ClassModel(TARGETS, 2, 0.8, zones=2), 0.6),
    ],
)
def test_every_element_equals_size_replicas(model: ClassModel, scv: float) -> None:
    rng = np.random.default_rng(11)
    rates = rng.uniform(50.0, 3000.0, 8)
    times = rng.uniform(0.005, 0.03, 8)
    got = replicas_required(model, rates, times, np.full(8, scv))
    expected = [_scalar(r, t, scv, model) for r, t in zip(rates, times, strict=True)]
    assert got.tolist() == expected
    assert np.isfinite(got).sum() >= 4  # most elements are feasible: the comparison is not all inf


def test_point_inputs_reproduce_the_plan_exactly() -> None:
    inputs = load_plan_inputs(SMALL)
    plan = inputs.plan()
    result = plan_under_uncertainty(plan, UncertainInputs(draws=50), options=inputs.options)
    counts = {r.item: r.value for r in plan.recommendations if r.component == "replicas"}
    assert set(counts) == set(plan.replicas) == set(result.draws.columns) - {"total"}
    for name, count in counts.items():  # latency, failures and k-out-of-n availability, as the plan
        assert np.all(result.draws[name] == count)
        assert result.replicas()[name] == count == result.at_medians[name]
    assert result.total == plan.total_replicas
    assert plan.pool is not None and result.pool_per_replica == plan.pool.pool_size
    assert result.sensitivity.empty


def test_a_point_class_equals_size_replicas_at_its_share() -> None:
    model = ClassModel(TARGETS, 4, 0.7, redundancy=1, zones=3)
    classes = {"a": ClassInputs(model, Point(0.4), Point(0.03), Point(1.0))}
    result = size_under_uncertainty(Point(5000.0), classes, draws=100, rng=0)
    assert result.replicas(0.99)["a"] == _scalar(2000.0, 0.03, 1.0, model)


# -- the Monte Carlo ------------------------------------------------------------------------------


def _one_class(
    rate: Uncertain, time: Uncertain | None = None, draws: int = 2000, seed: int = 5
) -> UncertainSizing:
    model = ClassModel(TARGETS, 4, 0.7, redundancy=1, zones=3)
    service = time if time is not None else Point(0.03)
    classes = {"a": ClassInputs(model, Point(1.0), service, Point(1.0))}
    return size_under_uncertainty(rate, classes, draws=draws, rng=seed)


def test_same_seed_same_draws_other_seed_other_draws() -> None:
    rate = lognormal_through(0.05, 800.0, 0.95, 1200.0)
    first, again, other = (_one_class(rate, seed=s) for s in (5, 5, 6))
    assert first.draws.equals(again.draws)
    assert not first.draws.equals(other.draws)
    rng = np.random.default_rng(5)
    model = ClassModel(TARGETS, 4, 0.7, redundancy=1, zones=3)
    classes = {"a": ClassInputs(model, Point(1.0), Point(0.03), Point(1.0))}
    from_generator = size_under_uncertainty(rate, classes, draws=2000, rng=rng)
    assert from_generator.draws.equals(first.draws)


def test_replicas_rise_with_confidence_and_with_the_rates_upper_bound() -> None:
    result = _one_class(lognormal_through(0.05, 800.0, 0.95, 1200.0))
    levels = [0.05, 0.25, 0.5, 0.75, 0.9, 0.95, 0.99]
    totals = [result.replicas(c)["total"] for c in levels]
    assert totals == sorted(totals) and totals[-1] > totals[0]
    highs = [1000.0, 1200.0, 1500.0, 2000.0, 3000.0]
    at_90 = [_one_class(lognormal_through(0.05, 800.0, 0.95, h)).total for h in highs]
    assert at_90 == sorted(at_90) and at_90[-1] > at_90[0]


@pytest.mark.parametrize(
    ("rate", "time", "first"),
    [
        ({"low": 500, "high": 3000}, {"median": "30ms", "p90": "30.3ms"}, "rate"),
        ({"low": 990, "high": 1010}, {"median": "20ms", "p90": "45ms"}, "service_time.a"),
    ],
)
def test_tornado_ranks_the_dominating_input_first(rate: object, time: object, first: str) -> None:
    result = _one_class(parse_uncertain(rate, "rate"), parse_uncertain(time, "service_time"), draws=200)
    table = result.sensitivity
    assert list(table["input"]) == [first, *({"rate", "service_time.a"} - {first})]
    assert table["swing"].iloc[0] > table["swing"].iloc[1]
    assert (table["replicas_at_high"] >= table["replicas_at_low"]).all()


def test_frame_html_and_labelled_tornado_plot() -> None:
    result = _one_class(
        lognormal_through(0.05, 800.0, 0.95, 1500.0), lognormal_through(0.5, 0.03, 0.9, 0.035), draws=300
    )
    frame = result.to_frame()
    assert list(frame.index) == ["a", "total"]
    assert frame.loc["total", "at_p90"] == result.total
    assert "<table" in result._repr_html_()
    ax = result.plot_tornado()
    assert [t.get_text() for t in ax.get_yticklabels()] == list(result.sensitivity["input"][::-1])
    assert ax.get_xlabel() == "total replicas needed" and ax.get_title()


def test_bad_arguments_are_parameter_errors() -> None:
    with pytest.raises(ParameterError, match="confidence"):
        _one_class(Point(1000.0)).replicas(1.5)
    with pytest.raises(ParameterError, match="draws"):
        _one_class(Point(1000.0), draws=0)


# -- the plan file and the CLI --------------------------------------------------------------------


def _file(tmp_path: Path, section: str) -> Path:
    path = tmp_path / "plan.yaml"
    path.write_text(
        f"capacity_plan:\n  sla: [{', '.join(SLA_FILES)}]\n"
        "  evidence: {critical_operations: {service_time: 30ms}}\n" + section
    )
    return path


def test_plan_file_errors_name_the_file_and_key(tmp_path: Path) -> None:
    path = _file(tmp_path, "  uncertainty: {service_time: {critical_operations: {median: 40ms}}}\n")
    with pytest.raises(PlanInputError, match=re.escape("median")) as info:
        load_plan_inputs(path)
    assert str(info.value).startswith(f"{path}: capacity_plan.uncertainty.service_time.critical_operations: ")


def test_cli_confidence_adds_the_section_to_the_report_and_json(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["plan", SMALL, "--confidence", "0.9", "--format", "json"]) == 0
    document = json.loads(capsys.readouterr().out)
    inputs = load_plan_inputs(SMALL)
    assert inputs.uncertainty is not None
    expected = plan_under_uncertainty(inputs.plan(), inputs.uncertainty, options=inputs.options)
    section = document["uncertainty"]
    assert section["confidence"] == 0.9 and section["draws"] == inputs.uncertainty.draws
    total = next(r for r in section["replicas"] if r["class"] == "total")
    assert total["at_p90"] == expected.total > document["total_replicas"]
    assert section["sensitivity"][0]["input"] == expected.sensitivity["input"].iloc[0]
    assert section["pool_per_replica"] == expected.pool_per_replica is not None

    report = tmp_path / "report.html"
    assert main(["plan", SMALL, "--confidence", "0.95", "--out", str(report)]) == 0
    text = capsys.readouterr().out
    assert "## Under uncertainty" in text and "at_p95" in text
    page = report.read_text()
    assert "<h2>Under uncertainty</h2>" in page
    assert 'alt="Under uncertainty: tornado: total replicas needed; ' in page


def test_cli_without_the_section_or_the_level_in_range_exits_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    plain = _file(tmp_path, "")
    assert main(["plan", str(plain), "--confidence", "0.9"]) == 2
    assert "has no uncertainty: section" in capsys.readouterr().err
    assert main(["plan", *SLA_FILES, "--service-time", "a=30ms", "--confidence", "0.9"]) == 2
    assert "--confidence: give a plan file" in capsys.readouterr().err
    assert main(["plan", SMALL, "--confidence", "1.5"]) == 2
    assert "confidence must be in (0, 1)" in capsys.readouterr().err
    unknown = _file(tmp_path, "  uncertainty: {scv: {batch: {low: 1, high: 2}}}\n")
    assert main(["plan", str(unknown), "--confidence", "0.9"]) == 2
    assert "uncertainty.scv: no operation class ['batch']" in capsys.readouterr().err


def test_the_plan_is_unchanged_without_confidence(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["plan", SMALL, "--format", "json"]) == 0
    document = json.loads(capsys.readouterr().out)
    assert document["uncertainty"] is None


def test_importing_the_package_loads_no_heavy_module() -> None:
    code = (
        "import sys, capplan.uncertainty, capplan.uncertainty.section\n"
        "print([m for m in ('scipy.stats', 'matplotlib', 'pandas') if m in sys.modules])"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_a_fitted_service_distribution_is_sized_as_size_replicas_does() -> None:
    service = stats.lognorm(s=0.6, scale=0.015)  # a skewed service time kept as a distribution
    model = ClassModel(TARGETS, 4, 0.7, redundancy=1, zones=3, service=service)
    rates = np.array([300.0, 1500.0])  # size_replicas takes seconds per call with a distribution
    got = replicas_required(model, rates, None, np.ones(2))
    expected = [
        size_replicas(
            r, TARGETS, workers=4, service=service, max_utilization=0.7, redundancy=1, zones=3
        ).replicas
        for r in rates
    ]
    assert got.tolist() == expected


def test_the_cache_at_the_confidence_scales_its_misses_with_the_throughput() -> None:
    # The bundled plan's LRU cache (data/capacity-plan.yaml): Che's hit ratio does not depend on
    # the request rate, so at the rate's p90 the misses are the plan's times p90 / planned rate,
    # and the miss pool is size_pool's at that rate with the plan's budget and quantile.
    inputs = load_plan_inputs(DATA / "capacity-plan.yaml")
    plan = inputs.plan()
    rate = lognormal_through(0.05, 9000.0, 0.95, 13000.0)
    result = plan_under_uncertainty(plan, UncertainInputs(rate=rate, draws=60), options=inputs.options)
    cache, planned = result.cache, plan.cache
    assert cache is not None and planned is not None and planned.pool is not None
    load = rate.quantile(0.9) / plan.arrival_rate
    assert load > 1.0 and cache.load == pytest.approx(load, rel=1e-12)
    assert cache.backend_rate == pytest.approx(planned.backend_rate * load, rel=1e-12)
    query_time = inputs.options["query_time"]
    pool = size_pool(
        cache.backend_rate, query_time, budget=planned.pool.budget, quantile=planned.pool.quantile
    )
    assert cache.pool == pool.pool_size >= planned.pool.pool_size
    assert any(line.startswith("cache at p90: ") for line in result.describe())
    assert result.to_dict()["cache"]["pool"] == cache.pool
