"""How a sizing call describes the service time: a mean with an SCV, a distribution, or samples."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from capplan._validate import nonnegative, positive
from capplan.errors import ParameterError

__all__ = ["describe_service", "service_distribution"]

_HISTOGRAM_BINS = 200


def service_distribution(service: Any) -> Any:
    """None for a mean+SCV description; a distribution object otherwise.

    Samples (a sequence or array of measured times) become an empirical distribution
    (``scipy.stats.rv_histogram`` over log-spaced bins, so skewed latency samples keep their tail).
    """
    if service is None or hasattr(service, "ppf"):
        return service
    try:
        samples = np.asarray(service, dtype=np.float64).ravel()
    except (TypeError, ValueError) as exc:
        raise ParameterError(f"service must be a distribution or samples of times, got {service!r}") from exc
    if samples.size < 2:
        raise ParameterError(f"service needs at least 2 samples, got {samples.size}")
    if not np.all(np.isfinite(samples)) or np.any(samples <= 0):
        raise ParameterError("service samples must be finite positive times (seconds)")
    lo, hi = float(samples.min()), float(samples.max())
    if hi <= lo:
        raise ParameterError("service samples are all equal: give the constant as service_time with scv 0")
    edges = np.geomspace(lo, hi * (1 + 1e-9), _HISTOGRAM_BINS + 1)
    from scipy import stats  # noqa: PLC0415 - slow to import; only samples need it

    return stats.rv_histogram(np.histogram(samples, bins=edges), density=False)


def describe_service(
    mean: float | None, scv: float, service: Any, *, names: tuple[str, str, str]
) -> tuple[float | None, float, Any]:
    """``(service rate, SCV, distribution)`` from a mean time with an SCV, or from ``service``.

    ``names`` are the caller's parameter names for the mean, the SCV and the distribution, so
    errors speak the caller's language (``hold_time``, ``service_time``, ...).  With a distribution
    (or samples) the rate is None: :func:`capplan.queueing.queue_model` takes it from ``service``.
    """
    mean_name, scv_name, dist_name = names
    dist = service_distribution(service)
    if dist is None:
        rate = 1.0 / float(positive(mean_name, mean if mean is not None else math.nan))
        return rate, float(nonnegative(scv_name, scv)), None
    if mean is not None:
        raise ParameterError(
            f"give {mean_name} (with {scv_name}) or {dist_name} (a distribution or samples), not both"
        )
    return None, 1.0, dist
