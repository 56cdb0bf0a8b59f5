"""The plan's overload settings: client timeouts and retries, the breaker, shedding, the spike.

Read from the ``overload`` section of a plan-inputs file (or a file holding just that section,
``capplan plan ... --overload overload.yaml``)::

    overload:
      timeout: 1s                    # per attempt, at the client ...
      timeouts: {batch_operations: 60s}   # ... and per operation class where it differs
      retries: 3                     # retries after a timeout or a refusal
      backoff: {base: 50ms, multiplier: 2, cap: 1s, jitter: full}
      retry_budget: 10%              # or {ratio: 10%, burst: 10}
      circuit_breaker:               # the seed's Go Config, field by field
        failure_threshold: 5         # FailureThreshold
        success_threshold: 2         # SuccessThreshold
        timeout: 30s                 # Timeout (open -> half-open)
        response_time_threshold: 500ms   # ResponseTimeThreshold
        error_rate_threshold: 50%    # ErrorRateThreshold
        window: 100                  # calls in the error-rate window
      shedding: {max_queue: 100, target: 5ms, interval: 100ms, drop_expired: true}
      spike: {rate: 15000, duration: 30s}   # default rate: the SLA's burst of the planned throughput

Keys, units and ranges are those of :class:`capplan.schema.overload.OverloadSection`; every
error names the key path.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any, TypeVar

from capplan._sources import read_path
from capplan._yaml_input import load_yaml
from capplan.errors import ParameterError
from capplan.overload.policy import (
    Backoff,
    CircuitBreaker,
    ClientPolicy,
    LoadShedding,
    RetryBudget,
    RetryPolicy,
)

if TYPE_CHECKING:
    from pydantic import BaseModel

    from capplan.schema.overload import OverloadSection

__all__ = ["OverloadSettings", "load_overload", "overload_settings", "parse_overload"]

T = TypeVar("T")


@dataclass(frozen=True)
class OverloadSettings:
    """What the plan checks past the planned load.

    ``client`` is every class's policy, except that ``timeouts`` sets the timeout of the classes
    it names.  ``spike_rate`` is the fleet's first attempts per second during a spike (all
    classes; each class takes its share), ``None`` for the SLA's burst rate of the planned
    throughput; ``spike_duration`` a spike length the fleet must survive (``None``: only report
    how long it can be).
    """

    client: ClientPolicy
    breaker: CircuitBreaker | None = None
    shedding: LoadShedding | None = None
    spike_rate: float | None = None
    spike_duration: float | None = None
    timeouts: Mapping[str, float] = field(default_factory=dict)

    def client_for(self, op_class: str) -> ClientPolicy:
        """The client policy of ``op_class`` (its own timeout if ``timeouts`` names it)."""
        if op_class in self.timeouts:
            return replace(self.client, timeout=self.timeouts[op_class])
        return self.client

    def __post_init__(self) -> None:
        if not isinstance(self.client, ClientPolicy):
            raise ParameterError(f"overload.client must be a ClientPolicy, got {type(self.client).__name__}")
        if not math.isfinite(self.client.timeout):
            raise ParameterError("overload.timeout is required: without a client timeout nothing is retried")
        for op_class, value in self.timeouts.items():
            if not (isinstance(value, (int, float)) and math.isfinite(value) and value > 0):
                raise ParameterError(
                    f"overload.timeouts[{op_class!r}] must be positive and finite, got {value!r}"
                )
        for name in ("spike_rate", "spike_duration"):
            value = getattr(self, name)
            if value is not None and not (math.isfinite(value) and value > 0):
                raise ParameterError(f"overload.{name} must be positive and finite, got {value!r}")


def _build(make: Callable[..., T], path: str, section: BaseModel | None, **extra: Any) -> T:
    """``make`` with the section's given fields (and ``extra``); its ParameterError gains the path."""
    given = {} if section is None else section.model_dump(exclude_none=True)
    try:
        return make(**given, **{k: v for k, v in extra.items() if v is not None})
    except ParameterError as exc:
        raise ParameterError(f"{path}: {exc}") from None


def parse_overload(data: Any, path: str = "overload") -> OverloadSettings:
    """Read an ``overload`` section (a mapping, see the module docstring) into settings.

    The section is checked against :class:`capplan.schema.overload.OverloadSection` (keys, types,
    units, ranges).  Raises :class:`~capplan.errors.ParameterError` whose message starts with the
    key path.
    """
    from capplan.schema.overload import OverloadSection  # noqa: PLC0415 - pydantic loads only to read
    from capplan.schema.validation import validate  # noqa: PLC0415

    section = validate(OverloadSection, data, label="", error=ParameterError, prefix=path.split("."))
    return overload_settings(section, path)


def overload_settings(s: OverloadSection, path: str = "overload") -> OverloadSettings:
    """Settings from a validated section (:class:`capplan.schema.overload.OverloadSection`); a
    model's ParameterError names the key path."""
    budget = s.retry_budget
    retry = _build(
        RetryPolicy,
        path,
        None,
        max_retries=s.retries,
        backoff=None if s.backoff is None else _build(Backoff, f"{path}.backoff", s.backoff),
        budget=(
            None
            if budget is None
            else RetryBudget(ratio=budget)
            if isinstance(budget, float)
            else _build(RetryBudget, f"{path}.retry_budget", budget)
        ),
    )
    breaker, shedding, spike = s.circuit_breaker, s.shedding, s.spike
    return _build(
        OverloadSettings,
        path,
        None,
        client=_build(ClientPolicy, path, None, timeout=s.timeout, retry=retry),
        breaker=None if breaker is None else _build(CircuitBreaker, f"{path}.circuit_breaker", breaker),
        shedding=None if shedding is None else _build(LoadShedding, f"{path}.shedding", shedding),
        spike_rate=None if spike is None else spike.rate,
        spike_duration=None if spike is None else spike.duration,
        timeouts=s.timeouts or {},
    )


def load_overload(path: str | os.PathLike[str]) -> OverloadSettings:
    """Read a YAML file whose top-level ``overload`` mapping holds the settings.

    Errors name the file and the key path.
    """
    from capplan.schema.overload import OverloadFile  # noqa: PLC0415 - pydantic loads only to read
    from capplan.schema.validation import validate  # noqa: PLC0415

    label = str(path)
    text = read_path(path, what="an overload-settings YAML file", error=ParameterError)
    document = load_yaml(text, label=label, error=ParameterError, what="an overload-settings file")
    if not isinstance(document, Mapping) or "overload" not in document:
        raise ParameterError(f"{label}: expected a mapping under the top-level key 'overload'")
    validate(OverloadFile, document, label=label, error=ParameterError)
    try:
        return parse_overload(document["overload"])
    except ParameterError as exc:
        raise ParameterError(f"{label}: {exc}") from None
