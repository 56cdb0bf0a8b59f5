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

Units are parsed here; every error names the key path.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any, TypeVar

from capplan._sources import read_path
from capplan._yaml_input import load_yaml
from capplan.errors import CapplanError, ParameterError
from capplan.overload.policy import (
    Backoff,
    CircuitBreaker,
    ClientPolicy,
    LoadShedding,
    RetryBudget,
    RetryPolicy,
)
from capplan.units import parse_duration, parse_percent

__all__ = ["OverloadSettings", "load_overload", "parse_overload"]

T = TypeVar("T")

_KEYS = ("timeout", "timeouts", "retries", "backoff", "retry_budget", "circuit_breaker", "shedding", "spike")
_BREAKER_KEYS = (
    "failure_threshold",
    "success_threshold",
    "timeout",
    "response_time_threshold",
    "error_rate_threshold",
    "window",
    "slow_call_is_error",
)


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


def _seconds(value: Any) -> float:
    return parse_duration(value) if isinstance(value, str) else _float(value)


def _share(value: Any) -> float:
    return parse_percent(value) if isinstance(value, str) else _float(value)


def _float(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValueError(f"must be a number, got {value!r}")
    return float(value)


def _count(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not float(value).is_integer():
        raise ValueError(f"must be a whole number, got {value!r}")
    return int(value)


def _retries(value: Any) -> int:
    count = _count(value)
    if count < 0:
        raise ValueError(f"must be 0 or more, got {value!r}")
    return count


def _positive(parse: Callable[[Any], float]) -> Callable[[Any], float]:
    def check(value: Any) -> float:
        x = parse(value)
        if not (math.isfinite(x) and x > 0):
            raise ValueError(f"must be positive and finite, got {value!r}")
        return x

    return check


def _flag(value: Any) -> bool:
    if not isinstance(value, bool):
        raise ValueError(f"must be true or false, got {value!r}")
    return value


class _Section:
    """A mapping of the section and its key path, converting values with errors that name the key."""

    def __init__(self, data: Any, path: str, allowed: tuple[str, ...]) -> None:
        if not isinstance(data, Mapping):
            raise ParameterError(f"{path}: must be a mapping, got {type(data).__name__}")
        unknown = sorted(str(k) for k in set(data) - set(allowed))
        if unknown:
            raise ParameterError(f"{path}: unknown keys {unknown}; allowed: {', '.join(allowed)}")
        self.data, self.path = data, path

    def get(self, key: str, parse: Callable[[Any], Any], default: Any = None) -> Any:
        value = self.data.get(key)
        if value is None:
            return default
        try:
            return parse(value)
        except (CapplanError, ValueError, TypeError) as exc:
            raise ParameterError(f"{self.path}.{key}: {exc}") from None

    def build(self, make: Callable[..., T], **kwargs: Any) -> T:
        """``make(**kwargs)`` without the ``None`` values; its ParameterError gains the key path."""
        try:
            return make(**{k: v for k, v in kwargs.items() if v is not None})
        except ParameterError as exc:
            raise ParameterError(f"{self.path}: {exc}") from None


def _backoff(data: Any, path: str) -> Backoff:
    node = _Section(data, path, ("base", "multiplier", "cap", "jitter"))
    jitter = node.get("jitter", str)
    return node.build(
        Backoff,
        base=node.get("base", _seconds),
        multiplier=node.get("multiplier", _float),
        cap=node.get("cap", _seconds),
        jitter=jitter,
    )


def _budget(data: Any, path: str) -> RetryBudget:
    if not isinstance(data, Mapping):
        data = {"ratio": data}
    node = _Section(data, path, ("ratio", "burst"))
    return node.build(RetryBudget, ratio=node.get("ratio", _share), burst=node.get("burst", _float))


def _breaker(data: Any, path: str) -> CircuitBreaker:
    node = _Section(data, path, _BREAKER_KEYS)
    return node.build(
        CircuitBreaker,
        failure_threshold=node.get("failure_threshold", _count),
        success_threshold=node.get("success_threshold", _count),
        timeout=node.get("timeout", _seconds),
        response_time_threshold=node.get("response_time_threshold", _seconds),
        error_rate_threshold=node.get("error_rate_threshold", _share),
        window=node.get("window", _count),
        slow_call_is_error=node.get("slow_call_is_error", _flag),
    )


def _shedding(data: Any, path: str) -> LoadShedding:
    node = _Section(data, path, ("max_queue", "target", "interval", "drop_expired"))
    return node.build(
        LoadShedding,
        max_queue=node.get("max_queue", _count),
        target=node.get("target", _seconds),
        interval=node.get("interval", _seconds),
        drop_expired=node.get("drop_expired", _flag),
    )


def parse_overload(data: Any, path: str = "overload") -> OverloadSettings:
    """Read an ``overload`` section (a mapping, see the module docstring) into settings.

    Raises :class:`~capplan.errors.ParameterError` whose message starts with the key path.
    """
    node = _Section(data, path, _KEYS)
    if node.data.get("timeout") is None:
        raise ParameterError(f"{path}.timeout: is required (the client's timeout per attempt)")
    backoff = (
        _backoff(node.data["backoff"], f"{path}.backoff") if node.data.get("backoff") is not None else None
    )
    budget = (
        _budget(node.data["retry_budget"], f"{path}.retry_budget")
        if node.data.get("retry_budget") is not None
        else None
    )
    retry = node.build(
        RetryPolicy, max_retries=node.get("retries", _retries, 0), backoff=backoff, budget=budget
    )
    client = node.build(ClientPolicy, timeout=node.get("timeout", _positive(_seconds)), retry=retry)
    breaker = (
        _breaker(node.data["circuit_breaker"], f"{path}.circuit_breaker")
        if node.data.get("circuit_breaker") is not None
        else None
    )
    shedding = (
        _shedding(node.data["shedding"], f"{path}.shedding")
        if node.data.get("shedding") is not None
        else None
    )
    timeouts = {}
    if node.data.get("timeouts") is not None:
        given = node.data["timeouts"]
        names = tuple(str(k) for k in given) if isinstance(given, Mapping) else ()
        per_class = _Section(given, f"{path}.timeouts", names)
        timeouts = {str(k): per_class.get(str(k), _positive(_seconds)) for k in per_class.data}
    spike_rate = spike_duration = None
    if node.data.get("spike") is not None:
        spike = _Section(node.data["spike"], f"{path}.spike", ("rate", "duration"))
        spike_rate = spike.get("rate", _positive(_float))
        spike_duration = spike.get("duration", _positive(_seconds))
    return node.build(
        OverloadSettings,
        client=client,
        breaker=breaker,
        shedding=shedding,
        spike_rate=spike_rate,
        spike_duration=spike_duration,
        timeouts=timeouts,
    )


def load_overload(path: str | os.PathLike[str]) -> OverloadSettings:
    """Read a YAML file whose top-level ``overload`` mapping holds the settings.

    Errors name the file and the key path.
    """
    label = str(path)
    text = read_path(path, what="an overload-settings YAML file", error=ParameterError)
    document = load_yaml(text, label=label, error=ParameterError, what="an overload-settings file")
    if not isinstance(document, Mapping) or "overload" not in document:
        raise ParameterError(f"{label}: expected a mapping under the top-level key 'overload'")
    try:
        return parse_overload(document["overload"])
    except ParameterError as exc:
        raise ParameterError(f"{label}: {exc}") from None
