"""The schema of a plan's ``overload`` section (client timeouts and retries, breaker, shedding, spike).

Read by :func:`capplan.plan.overload_settings.parse_overload`, inline in a plan-inputs file or in
a file of its own (``overload.yaml``: the section under a top-level ``overload`` key).  Durations
take a unit (a bare number is seconds), shares a ``%`` (or a fraction).
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict

from capplan.schema._types import Range, absent, duration, integer, number, percent
from capplan.schema.limits import MAX_RETRIES

__all__ = [
    "Backoff",
    "CircuitBreaker",
    "OverloadFile",
    "OverloadSection",
    "RetryBudget",
    "Shedding",
    "Spike",
]

_DAY = Range(0.0, 86400.0, "s", low_open=True)
_WAIT = Range(0.0, 86400.0, "s")
_SHARE = Range(0.0, 1.0)
_MILLION = 1_000_000


def _seconds(rng: Range, description: str) -> object:
    return duration(rng, description, bare_seconds=True)


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Backoff(_Strict):
    """Delay before retry n: ``min(cap, base * multiplier**n)``, with jitter."""

    base: Annotated[float, _seconds(_WAIT, "Delay before the first retry.")] = absent()
    multiplier: Annotated[float, number(1.0, 1000.0, "Growth of the delay per retry (1: fixed).")] = absent()
    cap: Annotated[float, _seconds(_WAIT, "Longest delay.")] = absent()
    jitter: Literal["none", "full", "equal"] = absent(description="Randomization of each delay.")


class RetryBudget(_Strict):
    """Retries allowed as a share of first attempts, with a burst of tokens."""

    ratio: Annotated[float, percent(_SHARE, "Retries per first attempt.", bare_fraction=True)] = absent()
    burst: Annotated[float, number(1.0, 1e9, "Tokens available at once.")] = absent()


class CircuitBreaker(_Strict):
    """The breaker, field by field as the seed's Go ``Config``."""

    failure_threshold: Annotated[int, integer(1, _MILLION, "Consecutive failures that open it.")] = absent()
    success_threshold: Annotated[int, integer(1, _MILLION, "Successes in half-open that close it.")] = (
        absent()
    )
    timeout: Annotated[float, _seconds(_DAY, "Open -> half-open after this long.")] = absent()
    response_time_threshold: Annotated[float, _seconds(_DAY, "A slower call counts as a failure.")] = absent()
    error_rate_threshold: Annotated[
        float, percent(_SHARE, "Error rate over the window that opens it.", bare_fraction=True)
    ] = absent()
    window: Annotated[int, integer(1, _MILLION, "Calls in the error-rate window.")] = absent()
    slow_call_is_error: bool = absent(description="Count a slow call as an error (default false).")


class Shedding(_Strict):
    """Load shedding at the server: a queue bound, CoDel-style target and interval."""

    max_queue: Annotated[int, integer(0, 1_000_000_000, "Requests waiting at most (per replica).")] = absent()
    target: Annotated[float, _seconds(_DAY, "Queueing delay the shedder holds to.")] = absent()
    interval: Annotated[float, _seconds(_DAY, "Interval of the delay check.")] = absent()
    drop_expired: bool = absent(description="Drop requests whose client has timed out.")


class Spike(_Strict):
    """A spike the fleet must survive."""

    rate: Annotated[
        float,
        number(
            0.0,
            1e9,
            "First attempts per second, all classes (default: the SLA's burst).",
            unit="requests/s",
            low_open=True,
        ),
    ] = absent()
    duration: Annotated[float, _seconds(_DAY, "How long the spike lasts.")] = absent()


class OverloadSection(_Strict):
    """``overload``: what the plan checks past the planned load."""

    timeout: Annotated[float, _seconds(_DAY, "The client's timeout per attempt.")]
    timeouts: dict[str, Annotated[float, _seconds(_DAY, "This class's timeout per attempt.")]] = absent(
        description="Per operation class, where it differs from timeout."
    )
    retries: Annotated[int, integer(0, MAX_RETRIES, "Retries after a timeout or a refusal.")] = absent()
    backoff: Backoff = absent()
    retry_budget: (
        Annotated[float, percent(_SHARE, "Retries per first attempt.", bare_fraction=True)] | RetryBudget
    ) = absent(description="A share ('10%') or {ratio, burst}.")
    circuit_breaker: CircuitBreaker = absent()
    shedding: Shedding = absent()
    spike: Spike = absent()


class OverloadFile(_Strict):
    """A file holding just the ``overload`` section."""

    model_config = ConfigDict(extra="forbid", frozen=True, title="capplan overload settings")

    overload: OverloadSection
