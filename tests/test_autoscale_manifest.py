"""load_hpa: the seed's manifest, API defaults, and errors that name the field."""

from __future__ import annotations

from pathlib import Path

import pytest

from capplan.autoscale import HPA, ManifestError, MetricSpec, ScalingPolicy, load_hpa
from capplan.autoscale.manifest import DEFAULT_SCALE_DOWN, DEFAULT_SCALE_UP

DATA = Path(__file__).resolve().parents[1] / "data"

MINIMAL = """\
apiVersion: autoscaling/v2
kind: HorizontalPodAutoscaler
metadata: {name: web}
spec:
  scaleTargetRef: {apiVersion: apps/v1, kind: Deployment, name: web}
  maxReplicas: 10
"""


def test_seed_manifest_is_read_exactly() -> None:
    # Source: the seed document's "Predictive Auto-Scaling" block, bundled as data/hpa.yaml.
    hpa = load_hpa(DATA / "hpa.yaml")
    assert (hpa.name, hpa.min_replicas, hpa.max_replicas) == ("performance-based-hpa", 3, 50)
    assert hpa.metrics == (
        MetricSpec("Resource", "cpu", "Utilization", 70.0),
        MetricSpec("Resource", "memory", "Utilization", 80.0),
        MetricSpec("Pods", "response_time_95th_percentile", "AverageValue", 0.2),  # "200m"
        MetricSpec("Pods", "error_rate", "AverageValue", 1.0),
    )
    assert hpa.behavior is not None
    up, down = hpa.behavior.scale_up, hpa.behavior.scale_down
    assert (up.stabilization_window_seconds, up.select_policy) == (60, "Max")
    assert up.policies == (ScalingPolicy("Percent", 100, 15), ScalingPolicy("Pods", 5, 60))
    assert (down.stabilization_window_seconds, down.select_policy) == (300, "Min")
    assert down.policies == (ScalingPolicy("Percent", 10, 60), ScalingPolicy("Pods", 2, 60))


def test_api_defaults() -> None:
    # Source: kubernetes pkg/apis/autoscaling/v2/defaults.go -- minReplicas 1, CPU 80% when no
    # metrics; and the HPAScalingRules API reference: "If not set, use the default values: For
    # scale up: allow doubling the number of pods, or an absolute change of 4 pods in a 15s
    # window. For scale down: allow all pods to be removed in a 15s window", selectPolicy Max,
    # scale-up stabilization 0.
    hpa = load_hpa(MINIMAL)
    assert hpa.min_replicas == 1
    assert hpa.metrics == (MetricSpec("Resource", "cpu", "Utilization", 80.0),)
    assert hpa.behavior is None  # no behavior: the controller's legacy rules
    with_behavior = load_hpa(MINIMAL + "  behavior:\n    scaleDown:\n      stabilizationWindowSeconds: 60\n")
    assert with_behavior.behavior is not None
    assert with_behavior.behavior.scale_up == DEFAULT_SCALE_UP
    assert with_behavior.behavior.scale_down.stabilization_window_seconds == 60
    assert with_behavior.behavior.scale_down.policies == DEFAULT_SCALE_DOWN.policies
    assert DEFAULT_SCALE_UP.policies == (ScalingPolicy("Pods", 4, 15), ScalingPolicy("Percent", 100, 15))
    assert DEFAULT_SCALE_DOWN.policies == (ScalingPolicy("Percent", 100, 15),)


@pytest.mark.parametrize(
    ("patch", "field"),
    [
        ("  minReplicas: 12\n", "spec.maxReplicas"),
        ("  minReplicas: 0\n", "spec.minReplicas"),
        (
            "  metrics:\n  - type: Foo\n    foo: {}\n",
            "spec.metrics[0].type",
        ),
        (
            "  metrics:\n  - type: Pods\n    pods:\n      metric: {name: rps}\n"
            "      target: {type: Utilization, averageUtilization: 50}\n",
            "spec.metrics[0].pods.target.type",
        ),
        (
            "  metrics:\n  - type: Resource\n    resource:\n      name: cpu\n"
            "      target: {type: Utilization}\n",
            "spec.metrics[0].resource.target.averageUtilization",
        ),
        (
            "  metrics:\n  - type: Pods\n    pods:\n      metric: {name: rps}\n"
            "      target: {type: AverageValue, averageValue: 12x}\n",
            "spec.metrics[0].pods.target.averageValue",
        ),
        (
            "  behavior:\n    scaleDown:\n      policies:\n"
            "      - {type: Pods, value: 2, periodSeconds: 60}\n"
            "      - {type: Percent, value: 10, periodSeconds: 0}\n",
            "spec.behavior.scaleDown.policies[1].periodSeconds",
        ),
        (
            "  behavior:\n    scaleUp:\n      policies:\n"
            "      - {type: Pods, value: -1, periodSeconds: 60}\n",
            "spec.behavior.scaleUp.policies[0].value",
        ),
        ("  behavior:\n    scaleUp:\n      selectPolicy: Fastest\n", "spec.behavior.scaleUp.selectPolicy"),
        (
            "  behavior:\n    scaleDown:\n      stabilizationWindowSeconds: 4000\n",
            "spec.behavior.scaleDown.stabilizationWindowSeconds",
        ),
        ("  behavior:\n    scaleUp:\n      policies: []\n", "spec.behavior.scaleUp.policies"),
    ],
)
def test_bad_manifests_name_the_field(patch: str, field: str) -> None:
    # Source: kubernetes pkg/apis/autoscaling/validation (minReplicas >= 1, maxReplicas >=
    # minReplicas, periodSeconds in (0, 1800], value > 0, stabilizationWindowSeconds <= 3600,
    # selectPolicy Max/Min/Disabled, at least one policy, Pods metrics only AverageValue).
    with pytest.raises(ManifestError, match=field.replace("[", r"\[").replace("]", r"\]")) as info:
        load_hpa(MINIMAL + patch)
    assert "<HPA manifest text>" in str(info.value)


def test_file_errors_name_the_file(tmp_path: Path) -> None:
    with pytest.raises(ManifestError, match="file not found"):
        load_hpa(tmp_path / "missing.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("apiVersion: autoscaling/v2\nkind: HorizontalPodAutoscaler\nspec: [unclosed\n")
    with pytest.raises(
        ManifestError,
        match=r"bad\.yaml: line 4, column 1: YAML syntax error: did not find expected .,. or .\].",
    ):
        load_hpa(bad)
    v1 = tmp_path / "v1.yaml"
    v1.write_text(MINIMAL.replace("autoscaling/v2", "autoscaling/v1"))
    with pytest.raises(ManifestError, match=r"v1\.yaml: apiVersion: expected 'autoscaling/v2'"):
        load_hpa(v1)
    none = tmp_path / "none.yaml"
    none.write_text("apiVersion: v1\nkind: Service\n")
    with pytest.raises(ManifestError, match="found 0"):
        load_hpa(none)


def test_dataclass_validates_too() -> None:
    cpu = (MetricSpec("Resource", "cpu", "Utilization", 70.0),)
    with pytest.raises(ManifestError, match=r"spec\.maxReplicas: must be >= minReplicas \(5\), got 2"):
        HPA("x", 5, 2, cpu)
    with pytest.raises(ManifestError, match=r"spec\.metrics\[0\]\.type: unknown metric type 'Custom'"):
        HPA("x", 1, 2, (MetricSpec("Custom", "q", "Value", 1.0),))
    hpa = HPA("x", 1, 5, cpu)
    with pytest.raises(ManifestError, match=r"spec\.minReplicas"):
        hpa.replace(min_replicas=0)


def test_duplicate_field_and_deep_nesting_are_refused() -> None:
    twice = MINIMAL + "  minReplicas: 2\n  maxReplicas: 20\n"
    with pytest.raises(ManifestError) as info:
        load_hpa(twice)
    assert str(info.value) == (
        "<HPA manifest text>: line 8: spec: key 'maxReplicas' is given twice (lines 6 and 8); "
        "YAML would silently keep the last"
    )
    with pytest.raises(ManifestError, match=r"line 6, column \d+: mappings and lists nested more than 64"):
        load_hpa(MINIMAL.replace("maxReplicas: 10", "maxReplicas: " + "[" * 2_000))
